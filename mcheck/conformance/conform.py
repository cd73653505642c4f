"""`mcheck gen-tests` and `mcheck conform`: generate a suite from the model, run it on a device."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from mcheck.device.backend import DEFAULT_TIMEOUT, DeviceError, seconds
from mcheck.conformance.modelbackend import open_backend
from mcheck.conformance.runner import INJECTED, Judge, Outcome, run_test
from mcheck.errors import InputError
from mcheck.model.params import parse_assignments
from mcheck.model.registry import BUILTIN, load_model
from mcheck.options import declare, refuse_inapplicable
from mcheck.report.outputs import Outputs, add_output_arguments, emit
from mcheck.trace import safejson
from mcheck.trace.codec import Codec
from mcheck.trace.io import read_trace
from mcheck.trace.profile import load_profile
from mcheck.verdict import HOLDS, VIOLATED, ClauseResult, ConformCoverage, ConformResult, PropertyVerdict, Violation, Witness

def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("gen-tests", help="derive a conformance suite covering every reachable action instance of a model")
    g.add_argument("model", metavar="MODEL", help="virtio-1.4 or draft-v1")
    g.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter (default for virtio-1.4: members=1)")
    g.add_argument("--out", required=True, metavar="DIR", help="directory for suite.json and the test traces")
    g.add_argument("--run-length", type=_run_length, default=1500, metavar="N",
                   help="walk steps per test, 1..1000000 (default 1500)")
    g.add_argument("--no-faults", action="store_true", help="leave out the FLR / member-reset tests")
    g.add_argument("--classes-only", action="store_true",
                   help="only the targeted tests (virtio-1.4: enabled-set classes, object ownership across members), "
                        "without exploring the model: quick at any size")
    g.set_defaults(run=run_gen)

    c = sub.add_parser("conform", help="run a conformance suite against a device")
    c.add_argument("suite", metavar="SUITE", help="directory written by gen-tests")
    c.add_argument("--backend", required=True, metavar="B", help="emulator:unix:PATH | emulator:tcp:HOST:PORT | model")
    c.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="S", help="seconds per request (default 2)")
    c.add_argument("--only", metavar="NAME", action="append", help="run only these tests (repeatable)")
    c.add_argument("--fail-fast", action="store_true", help="stop at the first failing test")
    c.add_argument("--model", metavar="FILE", default=None,
                   help="judge with this model file instead of the suite's model (needed when the suite names a "
                        "model that is not built in: model files are Python code, a suite never loads one)")
    c.add_argument("--readings", action="store_true",
                   help="also report which reading of each open question (model parameters whose default is "
                        "'either': Q1, Q5, Q7, Q8, ...) the device's answers are consistent with; re-judges every "
                        "passing test once per reading, which takes about as long as the run")
    add_output_arguments(c, quiet_help="print only the summary and the failing tests")
    c.set_defaults(run=run_conform)
    declare("conform", c)


def run_gen(args: argparse.Namespace) -> int:
    from mcheck.conformance.gen import generate, suite_params, write_suite
    params = suite_params(args.model, parse_assignments(args.params))
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


def _run_length(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1..1000000")
    return value


def load_suite(path: str, model_file: str | None = None) -> tuple[dict[str, Any], Path]:
    """A suite is data: its `model` must be a built-in model unless the user names the model
    file on the command line (`model_file`: model files are Python code, and a suite from
    elsewhere must not run any), and every test file must lie inside the suite directory.
    Every field the runner reads is checked here, so a damaged suite.json is one line
    naming the field."""
    root = Path(path)
    manifest = root / "suite.json" if root.is_dir() else root
    try:
        data = safejson.loads(manifest.read_bytes())
    except OSError:
        raise InputError(f"{path}: no suite.json (write one with mcheck gen-tests)") from None
    except ValueError as exc:
        raise InputError(f"{manifest}: not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("mcheck_suite") != 1:
        raise InputError(f"{manifest}: not an mcheck suite (mcheck_suite: 1)")
    named = data.get("model")
    if not isinstance(named, str):
        raise InputError(f"{manifest}: field model must be a model name")
    _check_manifest(data, manifest)
    if model_file is not None:
        data = {**data, "model": model_file}
    elif named not in BUILTIN:
        raise InputError(f"{manifest}: model {named!r} is not a built-in model; a suite does not load code: "
                         "pass the model file yourself with --model FILE if you trust it")
    base = manifest.parent.resolve()
    for i, t in enumerate(data["tests"]):
        if not (base / t["file"]).resolve().is_relative_to(base):
            raise InputError(f"{manifest}: tests[{i}].file {t['file']!r} must be a path inside the suite directory")
    return data, manifest.parent


#: the suite coverage counts the conformance summary shows and the result carries
_COVERAGE_COUNTS = ("states", "transitions", "clauses_model", "clauses_covered", "action_instances_reachable",
                    "action_instances_covered")


def _check_manifest(data: dict[str, Any], manifest: Path) -> None:
    """The types of the suite.json fields the runner reads (InputError naming the first bad one)."""
    def need(ok: bool, where: str, what: str) -> None:
        if not ok:
            raise InputError(f"{manifest}: field {where} must be {what}")

    need(isinstance(data.get("profile"), str), "profile", "a profile name")
    for key in ("params", "judge_params", "device"):
        if key not in data and key != "params":
            continue
        value: Any = data.get(key)
        need(isinstance(value, dict), key, "an object of parameter names and values")
        for name, v in value.items():
            need(isinstance(v, (str, bool)) or (isinstance(v, int) and 0 <= v < 2 ** 32),
                 f"{key}.{name}", "a string, a boolean or an integer 0..2**32-1")
    if "coverage" in data:      # shown and copied into the result: counts, and lists of clause ids
        need(isinstance(data["coverage"], dict), "coverage", "an object")
        for name, v in data["coverage"].items():
            if name in _COVERAGE_COUNTS:
                need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"coverage.{name}", "a count")
            elif name == "clauses_not_covered":
                need(isinstance(v, list) and all(isinstance(c, str) for c in v), f"coverage.{name}",
                     "a list of clause ids")
    tests: Any = data.get("tests")
    need(isinstance(tests, list), "tests", "a list")
    names: set[str] = set()
    for i, t in enumerate(tests):
        need(isinstance(t, dict), f"tests[{i}]", "an object")
        need(isinstance(t.get("file"), str) and bool(t["file"]), f"tests[{i}].file",
             "a path inside the suite directory")
        need(isinstance(t.get("name"), str) and bool(t["name"]), f"tests[{i}].name", "a non-empty string")
        need(t["name"] not in names, f"tests[{i}].name", f"unique ({t['name']!r} is used twice)")
        names.add(t["name"])
        clauses = t.get("clauses", [])
        need(isinstance(clauses, list) and all(isinstance(c, str) for c in clauses), f"tests[{i}].clauses",
             "a list of clause ids")
        t.setdefault("clauses", [])


_LOADED: dict[tuple[str, float, str | None], tuple] = {}


def _loaded(suite_dir: str, model_file: str | None = None) -> tuple[dict[str, Any], Path, Judge, dict[Any, list[Any]]]:
    """The suite, its model judge and its parsed tests, kept per process (a kill matrix runs one
    suite many times)."""
    from mcheck.conformance.gen import adapter_for
    data, root = load_suite(suite_dir, model_file)
    key = (str(root.resolve()), (root / "suite.json").stat().st_mtime, model_file)
    if key not in _LOADED:
        model = load_model(data["model"], data.get("judge_params", data["params"]))
        judge = Judge(model, adapter_for(model), Codec(load_profile(data["profile"])))
        _LOADED.clear()
        _LOADED[key] = (data, root, judge, {})
    return _LOADED[key]


#: the JSON annotations of a test file the runner acts on, and the type of each of their fields
_NOTE_FIELDS: dict[str, dict[str, type]] = {
    "step ": {"op": str, "member": int, "queue": int, "expect": bool, "clauses": list},
    "check ": {"op": str, "member": int, "queue": int, "clauses": list},
}


def test_events(cache: dict[str, Any], root: Path, file: str, profile: str) -> list[Any]:
    """The events of one test file (read once per process), its `step`/`check` annotations
    checked: a damaged test file is one line naming the file and the event."""
    events = cache.get(file)
    if events is None:
        events = list(read_trace(root / file, profile=profile).events)
        for ev in events:
            if ev.KIND == "annotation":
                _check_note(ev, root / file)
        cache[file] = events
    return events


def _check_note(ev: Any, path: Path) -> None:
    for prefix, fields in _NOTE_FIELDS.items():
        if not ev.text.startswith(prefix):
            continue
        where = f"{path}: event {ev.index}: {prefix.strip()} annotation"
        try:
            note = safejson.loads(ev.text[len(prefix):])
        except ValueError as exc:
            raise InputError(f"{where} is not JSON: {exc}") from None
        if not isinstance(note, dict):
            raise InputError(f"{where} must be a JSON object")
        for key, typ in fields.items():
            value: Any = note.get(key)
            ok = isinstance(value, typ) and (typ is bool or not isinstance(value, bool))
            if typ is int and ok:
                ok = 0 <= value < 256
            if typ is list and ok:
                ok = all(isinstance(c, str) for c in value)
            if not ok:
                raise InputError(f"{where}: field {key} must be " + {str: "a string", int: "an integer 0..255",
                                 bool: "true or false", list: "a list of clause ids"}[typ])


def exercised_clauses(judge: Judge, events: list[Any]) -> list[str]:
    """The clauses a test exercises: those the model actions behind its expected events cite
    (each admin answer, each held command's answer, each injected event: Judge.expected_clauses)
    and those its workload steps, probes and guest-memory checks name."""
    from mcheck.trace.events import AdminCommand
    out: set[str] = set()
    submitted = {ev.tag: ev.readable for ev in events if ev.KIND == "submit"}
    model = getattr(judge.model, "model", None)
    saved = model.__dict__.pop("_obs", None) if model is not None and hasattr(model, "__dict__") else None
    try:         # a stateful observation (virtio-1.4) sees these events on a fresh observer
        for ev in events:
            kind = ev.KIND
            if kind == "annotation":
                if ev.text.startswith(("step ", "check ")):
                    out.update(json.loads(ev.text.split(" ", 1)[1]).get("clauses") or ())
                continue
            if kind == "complete" and ev.tag in submitted:
                ev = AdminCommand(index=ev.index, timestamp=ev.timestamp, readable=submitted[ev.tag],
                                  writable=ev.writable, codec=judge.codec)
                kind = "admin"
            if kind == "admin" or kind in INJECTED:
                out.update(judge.expected_clauses(ev))
    finally:
        if saved is not None:
            model.__dict__["_obs"] = saved
    return sorted(out)


def run_suite(suite_dir: str, backend_spec: str, *, timeout: float = DEFAULT_TIMEOUT, only: list[str] | None = None,
              progress: Any = None, fail_fast: bool = False, readings: bool | list[str] = False,
              model_file: str | None = None) -> tuple[ConformResult, list[Outcome], dict[str, Any]]:
    """Run the suite's tests (or `only` these) against the backend. The result's coverage
    carries per-clause results (`clause_results`) and, with `readings`, which reading of
    each open question the device followed (`readings`: True for every open parameter, or a
    list of parameter names; see detect_readings)."""
    data, root, judge, cache = _loaded(suite_dir, model_file)
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

    from mcheck.conformance.runner import Failure
    gone: str | None = None
    backend = connect()          # no device at all: a one-line error (exit 2)
    try:
        for t in tests:
            if gone is not None:           # the device is gone: the rest fail at once, no retries
                o = Outcome(name=t["name"], passed=False)
                o.failures.append(Failure(-1, f"not run: {gone}", []))
                outcomes.append(o)
                continue
            events = test_events(cache, root, t["file"], data["profile"])
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
    exercised: dict[str, list[str]] = {}
    for t in tests[: len(outcomes)]:
        key = ("clauses", t["file"])
        if key not in cache:
            cache[key] = exercised_clauses(judge, test_events(cache, root, t["file"], data["profile"]))
        exercised[t["name"]] = cache[key]
    result = to_result(data, tests, outcomes, seconds, exercised)
    if readings:
        found = detect_readings(data, outcomes, None if readings is True else list(readings))
        result.coverage["readings"] = found
        result.notes.append("readings: " + "; ".join(reading_line(r) for r in found))
    return result, outcomes, data


def detect_readings(data: dict[str, Any], outcomes: list[Outcome],
                    params: list[str] | None = None) -> list[dict[str, Any]]:
    """Which reading of each open question the device followed (issue 12: "this device
    follows reading X of Q5"). For every model parameter whose value in the judging model
    is "either" (every reading allowed: Q1 mode_after_reset, Q5 reserved_flags, Q7
    get_during_flr, Q8 owner_reset_mode, ...), each passing test's observed exchange
    (Outcome.observed) is replayed against the model built with each single value. A value
    is consistent when every test replays clean under it; among the consistent values the
    device follows those whose replays need the fewest SHOULD departures (a member kept
    stopped after its FLR is also a running one declining all work, but one that accepts a
    SET while running against D-DP-4's SHOULD). One entry per parameter: `param`,
    `question`, `values` (value -> consistent, the first test and divergence that rule it
    out, `should`: clause -> SHOULD departures it needs), `follows` and `verdict`:
    `follows` (one value), `some` (several, not all), `not exercised` (every value: no test
    told them apart) or `mixed` (none: the device took different readings at different
    times, which the spec permits). `params`: only these parameters (default: every open one)."""
    import re

    from mcheck.conformance.gen import adapter_for
    base = dict(data.get("judge_params", data["params"]))
    loaded = load_model(data["model"], base)
    passed = [o for o in outcomes if o.passed and o.observed]
    codec = Codec(load_profile(data["profile"]))
    found: list[dict[str, Any]] = []
    for param in getattr(loaded.model, "params", ()):
        if param.kind != "choice" or "either" not in param.choices or base.get(param.name) != "either":
            continue
        if params is not None and param.name not in params:
            continue
        q = re.match(r"\s*((?:Q|T)\d+)", param.doc or "")
        entry: dict[str, Any] = {"param": param.name, "question": q.group(1) if q else param.name, "values": {}}
        for value in (c for c in param.choices if c != "either"):
            model = load_model(data["model"], {**base, param.name: value})
            judge = Judge(model, adapter_for(model), codec)
            verdict: dict[str, Any] = {"consistent": True, "test": None, "message": None, "should": {}}
            for o in passed:
                model.model.__dict__.pop("_obs", None)    # a fresh observation per test
                bad, warned = _replay_keeping_caches(judge, o.observed)
                for c, n in warned.items():
                    verdict["should"][c] = verdict["should"].get(c, 0) + n
                if bad is not None:
                    verdict.update(consistent=False, test=o.name, message=bad[2])
                    break
            entry["values"][value] = verdict
        consistent = {v: r for v, r in entry["values"].items() if r["consistent"]}
        # among the consistent readings, those under which the device departs least from a
        # SHOULD: a device that keeps a stopped member stopped after its FLR is also a running
        # one that declines all work, but then accepts a SET while running (D-DP-4's SHOULD)
        fewest = min((sum(r["should"].values()) for r in consistent.values()), default=0)
        entry["follows"] = [v for v, r in consistent.items() if sum(r["should"].values()) == fewest]
        n = len(entry["follows"])
        entry["verdict"] = "mixed" if not consistent else (
            "not exercised" if n == len(entry["values"]) else ("follows" if n == 1 else "some"))
        entry["tests"] = len(passed)
        found.append(entry)
    return found


# the replayer's caches (pure functions of the model: closures, steps, matching actions); kept
# from test to test when re-judging, since the tests share most of their prefixes
_REPLAY_CACHES = ("_closures", "_step_cache", "_match_cache", "_cache_weight")


def _replay_keeping_caches(judge: Judge, observed: list[Any]) -> tuple[tuple[int, list[str], str] | None,
                                                                      dict[str, int]]:
    """Judge.replay, with the replayer's caches kept across calls (about 3x faster over a
    suite); also the SHOULD departures (clause -> count) the replay had to assume."""
    from mcheck.replay.engine import Findings
    kept = {k: getattr(judge.replayer, k) for k in _REPLAY_CACHES if hasattr(judge.replayer, k)}
    fresh = judge._fresh
    judge._fresh = {k: v for k, v in fresh.items() if k not in kept}
    judge._fresh["warnings"] = Findings()
    try:
        return judge.replay(observed), dict(judge.replayer.warnings.counts)
    finally:
        judge._fresh = fresh


def reading_line(r: dict[str, Any]) -> str:
    """One line of the readings report: `follows reading keep of Q1 (mode_after_reset)`."""
    label = f"{r['question']} ({r['param']})" if r["question"] != r["param"] else r["param"]
    if r["verdict"] in ("follows", "some"):
        why = []
        for v, x in r["values"].items():
            if not x["consistent"]:
                why.append(f"{v} ruled out by {x['test']}")
            elif v not in r["follows"]:
                why.append(f"{v} only with SHOULD departures ({', '.join(f'{c} x{n}' for c, n in x['should'].items())})")
        return f"reading: follows reading {' or '.join(r['follows'])} of {label} ({'; '.join(why)})"
    if r["verdict"] == "not exercised":
        return f"reading: {label} not exercised (every reading is consistent with the {r['tests']} passing tests)"
    ruled = ", ".join(f"{v} by {x['test']}" for v, x in r["values"].items())
    return f"reading: {label} mixed: no single reading explains every test ({ruled} ruled out); the spec permits either"


def _clause_order(clause: str) -> tuple[Any, ...]:
    """D-DP-2 before D-DP-10: the numbers in a clause id compared as numbers."""
    import re
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", clause))


def to_result(data: dict[str, Any], tests: list[dict[str, Any]], outcomes: list[Outcome], seconds: float,
              exercised: dict[str, list[str]] | None = None) -> ConformResult:
    """The run as a ConformResult. `exercised`: test name -> the clauses it exercises (exercised_clauses;
    without it, the clauses the suite lists for the test). Per clause, `coverage.clause_results`
    lists the tests that exercised it (or whose failure names it), how many passed and failed,
    and how many failures name the clause (`blamed`)."""
    props, violations = [], []
    for t, o in zip(tests, outcomes, strict=False):   # a device error may end the run early
        clauses = sorted({c for f in o.failures for c in f.clauses}) or t["clauses"][:8]
        props.append(PropertyVerdict(name=t["name"], kind="test", clauses=clauses if not o.passed else [],
                                     verdict=HOLDS if o.passed else VIOLATED,
                                     description=f"{t['kind']} test, {o.steps} steps"))
        for f in o.failures[:3]:
            where = f"step {f.step}: " if f.step >= 0 else ""
            violations.append(Violation(property=t["name"], kind="conformance", clauses=f.clauses,
                                        message=f"{where}{f.message}", witness=Witness(initial={}, steps=[]),
                                        event_index=f.step if f.step >= 0 else None))
    per_clause: dict[str, ClauseResult] = {}
    for t, o in zip(tests, outcomes, strict=False):   # a device error may end the run early
        named = {c for f in o.failures for c in f.clauses}
        mine = exercised.get(t["name"], t["clauses"]) if exercised is not None else t["clauses"]
        for c in set(mine) | named:
            cell = per_clause.setdefault(c, {"clause": c, "tests": [], "passed": 0, "failed": 0, "blamed": 0})
            cell["tests"].append(t["name"])
            cell["passed" if o.passed else "failed"] += 1
            cell["blamed"] += c in named
    clause_results = [per_clause[c] for c in sorted(per_clause, key=_clause_order)]
    cov = ConformCoverage(suite=dict(data.get("coverage", {})),
                          clauses={r["clause"]: {"tests": len(r["tests"]), "passed": r["passed"], "failed": r["failed"]}
                                   for r in clause_results},
                          clause_results=clause_results)
    failed = sum(not o.passed for o in outcomes)
    steps, commands = sum(o.steps for o in outcomes), sum(o.commands for o in outcomes)
    return ConformResult(model=data["model"], params=data["params"], engine="conform",
                         verdict=VIOLATED if failed else HOLDS, tests=len(outcomes), passed=len(outcomes) - failed,
                         failed=failed, steps=steps, commands=commands, seconds=round(seconds, 6), properties=props,
                         violations=violations, coverage=cov,
                         notes=[f"{len(outcomes)} tests, {steps:,} steps, {commands:,} admin commands"])


def render_conform(result: ConformResult, outcomes: list[Outcome], quiet: bool) -> str:
    cov = result.coverage
    suite = cov.get("suite", {})
    lines = [f"conform: {result.model} ({' '.join(f'{k}={v}' for k, v in result.params.items())}), "
             f"{result.tests} tests, {result.steps:,} steps in {result.seconds:.2f} s"]
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
        for o, p in zip(outcomes, result.properties, strict=False):
            kind = p.description.split(" ", 1)[0]
            cell = kinds.setdefault(kind, [0, 0])
            cell[0] += 1
            cell[1] += o.passed
        lines.append("  " + "; ".join(f"{k} tests: {v[1]}/{v[0]} passed" for k, v in kinds.items())
                     + " (every test's verdict: --junit)")
        lines.append("")
        lines.append("  clause        tests  passed  failed  blamed")
        for r in cov["clause_results"]:
            lines.append(f"  {r['clause']:<12} {len(r['tests']):>6}  {r['passed']:>6}  {r['failed']:>6}  {r['blamed']:>6}")
        lines.append("  (tests: those whose expected events' model actions cite the clause, or whose failure names it; "
                     "blamed: failures naming it)")
    for reading in cov.get("readings", []):
        lines.append(reading_line(reading))
    total = suite.get("clauses_model")
    if total and "clauses_covered" in suite:      # the suite's own coverage, when suite.json has it
        lines.append(f"clause coverage of the suite: {suite['clauses_covered']}/{total}"
                     + (f" (not exercised: {', '.join(suite['clauses_not_covered'])})"
                        if suite.get("clauses_not_covered") else ""))
    if suite.get("action_instances_reachable") and "action_instances_covered" in suite:
        lines.append(f"action-instance coverage of the suite: {suite['action_instances_covered']}/"
                     f"{suite['action_instances_reachable']} reachable")
    lines.append(f"passed {result.passed}/{result.tests}, failed {result.failed}")
    lines.append(f"verdict: {'PASS' if result.verdict == HOLDS else 'FAIL'}")
    return "\n".join(lines)


def run_conform(args: argparse.Namespace) -> int:
    refuse_inapplicable("conform", args)
    outputs = Outputs.from_args(args)
    result, outcomes, _data = run_suite(args.suite, args.backend, timeout=args.timeout, only=args.only,
                                         fail_fast=args.fail_fast, readings=args.readings, model_file=args.model)
    return emit(result, outputs, args.model, text=lambda r, quiet: render_conform(result, outcomes, quiet))
