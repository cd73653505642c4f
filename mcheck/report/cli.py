"""`mcheck report RESULT.json --html DIR`: reports from a result saved with `--json`.

A run in CI saves its result once; the HTML report (and JUnit or SARIF, if they were not
asked for at the time) can then be made later, elsewhere, without running the check
again. The result is read back into the type of its kind (`CheckResult`, `ReplayResult`,
`ConformResult`, `DeviceReplayResult`), the same the commands produce; a result of the
earlier format `mcheck-result/1` (no kind) is read too, its kind told by its engine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING, Any, TypeVar

from mcheck.errors import InputError
from mcheck.paths import check_output, check_output_dir
from mcheck.trace.safejson import loads
from mcheck.report.html import write_report
from mcheck.report.junit import write_junit
from mcheck.report.sarif import write_sarif
from mcheck.verdict import RESULT_TYPES, SCHEMA, Change, Kind, PropertyVerdict, Result, Step, Violation, Witness

DERIVED = {"schema", "kind", "states_per_second"}  # written by Result.to_dict, recomputed on use

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write HTML, JUnit or SARIF reports from a result saved with --json")
    p.add_argument("result", metavar="RESULT.json", help="a result written by check, replay or conform --json")
    p.add_argument("--html", metavar="DIR", help="write a self-contained HTML report to DIR/index.html")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--sarif", metavar="FILE", help="write SARIF 2.1.0")
    p.add_argument("--source", metavar="FILE", help="the model or trace file, for SARIF locations and the summary")
    p.set_defaults(run=run_report)


def _build(cls: type[T], data: dict[str, Any]) -> T:
    """Construct `cls` from its fields; keys it does not declare (fields a newer writer
    added, such as a divergence's `event_index`) are kept as attributes, not dropped."""
    names = {f.name for f in dataclasses.fields(cls)}
    obj = cls(**{k: v for k, v in data.items() if k in names})
    for key, value in data.items():
        if key not in names and key not in DERIVED:
            setattr(obj, key, value)
    return obj


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A `mcheck-result/1` result in the current format: its engine tells its kind, and the
    counters it kept in `states`/`transitions`/`depth` get their own names."""
    data = dict(data)
    counts = {k: data.pop(k, 0) for k in ("states", "transitions", "depth")}
    cov = dict(data.get("coverage") or {})
    engine = data.get("engine")
    if engine == "replay":
        cov.pop("events", None)
        cov.pop("max_candidates", None)
        data.update(kind=Kind.REPLAY, events=counts["depth"], max_candidates=counts["states"],
                    model_steps=counts["transitions"], hidden_kinds=[])
    elif engine == "replay-device":
        data.update(kind=Kind.DEVICE_REPLAY, backend="", requests=0, observed_events=counts["depth"])
        data.pop("warnings", None)
        data.pop("driver_findings", None)
    elif engine == "conform":
        names = ("tests", "passed", "failed", "steps", "commands")
        data.update({k: cov.pop(k, 0) for k in names}, kind=Kind.CONFORM)
        keep = {"clauses", "clause_results", "readings"}
        cov = {"suite": {k: v for k, v in cov.items() if k not in keep}, **{k: v for k, v in cov.items() if k in keep}}
    else:
        data.update(kind=Kind.CHECK, **counts)
    if data["kind"] != Kind.REPLAY:
        data.pop("warnings", None)
        data.pop("driver_findings", None)
    data["coverage"] = cov
    data["schema"] = SCHEMA
    return data


def _counts_valid(result: Result) -> None:
    for name, value in result.counts().items():
        if not (value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)):
            raise InputError(f"malformed mcheck result: {name} must be a count, not {value!r}")
    if not isinstance(result.seconds, (int, float)) or isinstance(result.seconds, bool):
        raise InputError(f"malformed mcheck result: seconds must be a number, not {result.seconds!r}")


def result_from_dict(data: dict[str, Any]) -> Result:
    """The inverse of `Result.to_dict()`, for every kind (and for `mcheck-result/1`)."""
    if data.get("schema") == "mcheck-result/1":
        try:
            data = upgrade_v1(data)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"malformed mcheck result: {type(exc).__name__}: {exc}") from None
    if data.get("schema") != SCHEMA:
        raise InputError(f"not an mcheck result (schema {data.get('schema')!r}, expected {SCHEMA!r})")
    try:
        cls = RESULT_TYPES[Kind(str(data.get("kind")))]
    except ValueError:
        raise InputError(f"not an mcheck result: kind {data.get('kind')!r} is not one of "
                         f"{', '.join(k.value for k in Kind)}") from None
    try:
        violations = []
        for v in data.get("violations", []):
            w = v["witness"]
            steps = [_build(Step, {**s, "changes": [_build(Change, c) for c in s["changes"]]}) for s in w["steps"]]
            violations.append(_build(Violation, {**v, "witness": _build(Witness, {**w, "steps": steps})}))
        properties = [_build(PropertyVerdict, p) for p in data.get("properties", [])]
        result = _build(cls, {**data, "properties": properties, "violations": violations})
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"malformed mcheck result: {type(exc).__name__}: {exc}") from None
    except ValueError as exc:   # a verdict outside the enum
        raise InputError(f"malformed mcheck result: {exc}") from None
    _counts_valid(result)
    return result


def load_result(path: str) -> Result:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        data = loads(raw)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    except ValueError as exc:   # nested too deep, a lone surrogate, not UTF-8
        raise InputError(f"{path}: not an mcheck result: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not an mcheck result (expected a JSON object)")
    return result_from_dict(data)


def run_report(args: argparse.Namespace) -> int:
    if not (args.html or args.junit or args.sarif):
        raise InputError("nothing to write: give --html DIR, --junit FILE or --sarif FILE")
    check_output_dir(args.html, "--html")
    check_output(args.junit, "--junit")
    check_output(args.sarif, "--sarif")
    result = load_result(args.result)
    if args.html:
        print(write_report(result, args.html, source=args.source))
    if args.junit:
        write_junit(result, args.junit)
    if args.sarif:
        write_sarif(result, args.sarif, args.source)
    return 0
