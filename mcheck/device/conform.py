"""`mcheck gen-tests` and `mcheck conform`: generate a suite from the model, run it on a device."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from mcheck.device.backend import DEFAULT_TIMEOUT, DeviceError, open_backend
from mcheck.device.runner import Judge, Outcome, run_test
from mcheck.errors import InputError
from mcheck.model.params import parse_assignments
from mcheck.model.registry import load_model
from mcheck.report.outputs import add_output_arguments, emit_outputs
from mcheck.trace.codec import Codec
from mcheck.trace.io import read_trace
from mcheck.trace.profile import load_profile
from mcheck.verdict import HOLDS, VIOLATED, PropertyVerdict, Result, Violation, Witness

DEFAULT_SIZES = {"virtio-1.4": {"members": 1}, "draft-v1": {"members": 1}}


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("gen-tests", help="derive a conformance suite covering every reachable action instance of a model")
    g.add_argument("model", metavar="MODEL", help="virtio-1.4 or draft-v1")
    g.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter (default for virtio-1.4: members=1)")
    g.add_argument("--out", required=True, metavar="DIR", help="directory for suite.json and the test traces")
    g.add_argument("--run-length", type=int, default=1500, metavar="N", help="walk steps per test (default 1500)")
    g.add_argument("--no-faults", action="store_true", help="leave out the FLR / member-reset tests")
    g.add_argument("--classes-only", action="store_true",
                   help="only the targeted tests (virtio-1.4: enabled-set classes, object ownership across members), "
                        "without exploring the model: quick at any size")
    g.set_defaults(run=run_gen)

    c = sub.add_parser("conform", help="run a conformance suite against a device")
    c.add_argument("suite", metavar="SUITE", help="directory written by gen-tests")
    c.add_argument("--backend", required=True, metavar="B", help="emulator:unix:PATH | emulator:tcp:HOST:PORT | model")
    c.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S", help="seconds per request (default 2)")
    c.add_argument("--only", metavar="NAME", action="append", help="run only these tests (repeatable)")
    c.add_argument("--fail-fast", action="store_true", help="stop at the first failing test")
    c.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    add_output_arguments(c)
    c.set_defaults(run=run_conform)


def run_gen(args: argparse.Namespace) -> int:
    from mcheck.device.gen import generate, write_suite
    params = parse_assignments(args.params)
    if args.model in DEFAULT_SIZES:
        params = {**DEFAULT_SIZES[args.model], **params}
    suite = generate(args.model, params, run_length=args.run_length, faults=not args.no_faults,
                     classes_only=args.classes_only)
    path = write_suite(suite, args.out)
    cov = suite.coverage
    print(f"{suite.model.name} ({' '.join(f'{k}={v}' for k, v in suite.model.params.as_dict().items())})")
    if args.classes_only:
        print(f"{cov['tests']} targeted tests, {cov['probes']:,} probes, clause coverage "
              f"{cov['clauses_covered']}/{cov['clauses_model']}, in {suite.seconds:.2f} s -> {path}")
        return 0
    print(f"reachable: {cov['states']:,} states, {cov['transitions']:,} transitions, "
          f"{cov['action_instances_reachable']:,} action instances")
    print(f"action instances covered: {cov['action_instances_covered']}/{cov['action_instances_reachable']} reachable "
          f"({cov['states_visited']:,} states visited)")
    print(f"clause coverage: {cov['clauses_covered']}/{cov['clauses_model']}"
          + (f" (not exercised: {', '.join(cov['clauses_not_covered'])})" if cov["clauses_not_covered"] else ""))
    print(f"{cov['tests']} tests, {cov['walk_steps']:,} walk steps, {cov['probes']:,} probes, in {suite.seconds:.2f} s -> {path}")
    return 0 if cov["action_instances_covered"] == cov["action_instances_reachable"] else 1


def load_suite(path: str) -> tuple[dict[str, Any], Path]:
    root = Path(path)
    manifest = root / "suite.json" if root.is_dir() else root
    try:
        data = json.loads(manifest.read_text())
    except OSError:
        raise InputError(f"{path}: no suite.json (write one with mcheck gen-tests)") from None
    except ValueError as exc:
        raise InputError(f"{manifest}: not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("mcheck_suite") != 1:
        raise InputError(f"{manifest}: not an mcheck suite (mcheck_suite: 1)")
    return data, manifest.parent


_LOADED: dict[tuple[str, float], tuple] = {}


def _loaded(suite_dir: str) -> tuple[dict[str, Any], Path, Judge, dict[str, list[Any]]]:
    """The suite, its model judge and its parsed tests, kept per process (a kill matrix runs one
    suite many times)."""
    from mcheck.device.gen import adapter_for
    data, root = load_suite(suite_dir)
    key = (str(root.resolve()), (root / "suite.json").stat().st_mtime)
    if key not in _LOADED:
        model = load_model(data["model"], data.get("judge_params", data["params"]))
        judge = Judge(model, adapter_for(model), Codec(load_profile(data["profile"])))
        _LOADED.clear()
        _LOADED[key] = (data, root, judge, {})
    return _LOADED[key]


def run_suite(suite_dir: str, backend_spec: str, *, timeout: float = DEFAULT_TIMEOUT, only: list[str] | None = None,
              progress: Any = None, fail_fast: bool = False) -> tuple[Result, list[Outcome], dict[str, Any]]:
    data, root, judge, cache = _loaded(suite_dir)
    tests = [t for t in data["tests"] if not only or t["name"] in only]
    if only and len(tests) != len(set(only)):
        missing = sorted(set(only) - {t["name"] for t in tests})
        raise InputError(f"no test named {missing[0]!r} in {suite_dir}")
    start = time.monotonic()
    outcomes: list[Outcome] = []
    backend = None

    def connect() -> Any:
        return open_backend(backend_spec, timeout=timeout, profile=data["profile"],
                            params=data.get("judge_params", data["params"]))

    from mcheck.device.runner import Failure
    gone: str | None = None
    backend = connect()          # no device at all: a one-line error (exit 2)
    try:
        for t in tests:
            if gone is not None:           # the device is gone: the rest fail at once, no retries
                o = Outcome(name=t["name"], passed=False)
                o.failures.append(Failure(-1, f"not run: {gone}", []))
                outcomes.append(o)
                continue
            events = cache.get(t["file"])
            if events is None:
                events = cache[t["file"]] = list(read_trace(root / t["file"], profile=data["profile"]).events)
            if backend is None:
                try:
                    backend = connect()
                except DeviceError as exc:
                    gone = str(exc)
                    o = Outcome(name=t["name"], passed=False)
                    o.failures.append(Failure(-1, str(exc), []))
                    outcomes.append(o)
                    continue
            o = run_test(backend, judge, events, t["name"], data["device"])
            outcomes.append(o)
            if any(f.step == -1 for f in o.failures):   # the connection is no longer trustworthy
                backend.close()
                backend = None
            if progress:
                progress(len(outcomes), len(tests))
            if fail_fast and not o.passed:
                tests = tests[: len(outcomes)]
                break
    finally:
        if backend is not None:
            backend.close()
    seconds = time.monotonic() - start
    return to_result(data, tests, outcomes, seconds), outcomes, data


def to_result(data: dict[str, Any], tests: list[dict[str, Any]], outcomes: list[Outcome], seconds: float) -> Result:
    props, violations = [], []
    for t, o in zip(tests, outcomes):
        clauses = sorted({c for f in o.failures for c in f.clauses}) or t["clauses"][:8]
        props.append(PropertyVerdict(name=t["name"], kind="test", clauses=clauses if not o.passed else [],
                                     verdict=HOLDS if o.passed else VIOLATED,
                                     description=f"{t['kind']} test, {o.steps} steps"))
        for f in o.failures[:3]:
            where = f"step {f.step}: " if f.step >= 0 else ""
            violations.append(Violation(property=t["name"], kind="conformance", clauses=f.clauses,
                                        message=f"{where}{f.message}", witness=Witness(initial={}, steps=[]),
                                        event_index=f.step if f.step >= 0 else None))
    per_clause: dict[str, list[int]] = {}
    for t, o in zip(tests, outcomes):
        failed = {c for f in o.failures for c in f.clauses}
        for c in set(t["clauses"]) | failed:
            cell = per_clause.setdefault(c, [0, 0])
            cell[0] += 1
            cell[1] += c in failed
    cov = dict(data.get("coverage", {}))
    cov.update(tests=len(outcomes), passed=sum(o.passed for o in outcomes),
               failed=sum(not o.passed for o in outcomes), steps=sum(o.steps for o in outcomes),
               commands=sum(o.commands for o in outcomes),
               clauses={c: {"tests": v[0], "failed": v[1]} for c, v in sorted(per_clause.items())})
    failed = [o for o in outcomes if not o.passed]
    return Result(model=data["model"], params=data["params"], engine="conform", verdict=VIOLATED if failed else HOLDS,
                  states=cov.get("states", 0), transitions=cov.get("transitions", 0), depth=cov["steps"],
                  seconds=round(seconds, 6), properties=props, violations=violations, coverage=cov,
                  notes=[f"{len(outcomes)} tests, {cov['steps']:,} steps, {cov['commands']:,} admin commands"])


def render_conform(result: Result, outcomes: list[Outcome], quiet: bool) -> str:
    cov = result.coverage
    lines = [f"conform: {result.model} ({' '.join(f'{k}={v}' for k, v in result.params.items())}), "
             f"{cov['tests']} tests, {cov['steps']:,} steps in {result.seconds:.2f} s"]
    shown = 0
    failed_total = sum(1 for o in outcomes if not o.passed)
    for o in outcomes:
        if not o.passed and shown == 25:
            lines.append(f"  ... and {failed_total - shown} more failing tests (see --junit)")
            shown += 1
        if not o.passed and shown < 25:
            shown += 1
            f = o.failures[0]
            where = f" step {f.step}" if f.step >= 0 else ""
            lines.append(f"  FAIL {o.name}{where}: {f.message} [{', '.join(f.clauses) or 'no clause'}]")
            for extra in o.failures[1:3]:
                lines.append(f"       step {extra.step}: {extra.message} [{', '.join(extra.clauses) or 'no clause'}]")
    if not quiet:
        kinds: dict[str, list[int]] = {}
        for o, p in zip(outcomes, result.properties):
            kind = p.description.split(" ", 1)[0]
            cell = kinds.setdefault(kind, [0, 0])
            cell[0] += 1
            cell[1] += o.passed
        lines.append("  " + "; ".join(f"{k} tests: {v[1]}/{v[0]} passed" for k, v in kinds.items())
                     + " (every test's verdict: --junit)")
        lines.append("")
        lines.append("  clause        tests  failed")
        for c, v in cov["clauses"].items():
            lines.append(f"  {c:<12} {v['tests']:>6}  {v['failed']:>6}")
    total = cov.get("clauses_model")
    if total:
        lines.append(f"clause coverage of the suite: {cov['clauses_covered']}/{total}"
                     + (f" (not exercised: {', '.join(cov['clauses_not_covered'])})" if cov.get("clauses_not_covered") else ""))
    if cov.get("action_instances_reachable"):
        lines.append(f"action-instance coverage of the suite: {cov['action_instances_covered']}/"
                     f"{cov['action_instances_reachable']} reachable")
    lines.append(f"passed {cov['passed']}/{cov['tests']}, failed {cov['failed']}")
    lines.append(f"verdict: {'PASS' if result.verdict == HOLDS else 'FAIL'}")
    return "\n".join(lines)


def run_conform(args: argparse.Namespace) -> int:
    result, outcomes, _data = run_suite(args.suite, args.backend, timeout=args.timeout, only=args.only,
                                         fail_fast=args.fail_fast)
    emit_outputs(args, result, None)
    print(render_conform(result, outcomes, args.quiet))
    sys.stdout.flush()
    return result.exit_code
