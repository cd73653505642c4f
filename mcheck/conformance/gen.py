"""`mcheck gen-tests`: a conformance suite from the model's reachable graph.

1. A covering walk over action *instances*: every reachable (action, parameters,
   outcome) is taken at least once (not every distinct transition: where most commands
   have several permitted answers and most answers are self-loops, that would be
   millions). At each state the walk takes the uncovered instances that stay there, then
   one that moves on; with none left, the shortest path to the nearest state that has
   one. The walk is cut into runs of at most `run_length` steps; each run starts from
   power-on with the exploration's shortest path to where it begins.
2. Negative probes: the first time the walk reaches a state, it asks the device to do
   each device-internal action (fetch, complete, notify, PME, PCI read) the model forbids
   there (expected "not done") or allows without a state change.
3. Fault points: for every distinct view of one member (its mode, phase, parts, queues
   and objects; the nearest state that shows it), a test that reaches the state and
   injects a member FLR and a PM transition (each with a DEV_MODE_SET sent during it,
   which the device must hold until the end), and one with a member reset; each ends with
   probes and the member's DEV_PARTS_GET where an object allows it.

A command step carries one answer the model permits; the runner judges the device's
actual answer by replaying it against the model (mcheck.conformance.runner), so answers the
model leaves free (which error, which qualifier, EAGAIN) never fail a device.

Each test is a trace file (driver-side events plus the expected device answers: the
AdminCommand records carry the expected writable bytes; a held command is an
AdminSubmit whose AdminComplete comes later; workload steps and probes are annotations
`step {json}`); suite.json lists the tests, the model, its parameters and the coverage.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from mcheck.device.protocol import INJECT_TYPES
from mcheck.errors import InputError
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.explore.codegen import Layout
from mcheck.model.build import LoadedModel
from mcheck.model.evaluate import evaluate
from mcheck.model.expr import slots_of
from mcheck.model.registry import find_model_class, load_model
from mcheck.replay.stepper import step_functions
from mcheck.trace.codec import Codec
from mcheck.trace.events import (
    AdminCommand,
    AdminComplete,
    AdminSubmit,
    Annotation,
    TraceHeader,
)
from mcheck.trace.io import write_trace
from mcheck.trace.profile import load_profile

SUITE_VERSION = 1


def adapter_for(model: LoadedModel) -> Any:
    """The conformance adapter module the model names (`Model.conformance_adapter`)."""
    name = type(model.model).conformance_adapter
    if name is None:
        raise InputError(f"model {model.name}: no device adapter (its class names no conformance_adapter module)")
    return import_module(name)


def suite_params(spec: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` over the suite defaults of the model's adapter (SUITE_DEFAULTS: e.g. one
    member, so that a suite stays small) for the parameters the model has."""
    cls = find_model_class(spec)
    if cls.conformance_adapter is None:
        return dict(params)
    names = {p.name for p in cls.params}
    defaults = getattr(import_module(cls.conformance_adapter), "SUITE_DEFAULTS", {})
    return {**{k: v for k, v in defaults.items() if k in names}, **params}


@dataclass
class TestCase:
    name: str
    kind: str
    actions: list[int] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    clauses: set[str] = field(default_factory=set)
    probes: int = 0
    holds: bool = False      # a command is sent during a fault and must be held


class Builder:
    """Turns model actions into test events with expected answers."""

    def __init__(self, model: LoadedModel, adapter: Any) -> None:
        self.model = model
        self.adapter = adapter
        self.codec = Codec(load_profile(adapter.PROFILE))
        self.layout = Layout.of(model)
        self.steps = step_functions(model, self.layout)
        self.queues = model.params.as_dict().get("queues", 1)
        self.pages = model.params.as_dict().get("pages", 1)
        self.internal = [a for a in model.actions if adapter.probe_actions(a)]
        self.prop_clauses: dict[int, set[str]] = {}
        for prop in model.properties:
            if prop.kind == "transition":
                for a in prop.per_action:
                    self.prop_clauses.setdefault(a, set()).update(prop.clauses)
        self.invariant_clauses = {c for prop in model.properties if prop.kind == "invariant" for c in prop.clauses}
        self.by_label: dict[tuple, list[int]] = {}
        for act in model.actions:
            self.by_label.setdefault((act.name, tuple(sorted((k, v) for k, v in act.params.items() if k != "outcome"))),
                                     []).append(act.index)
        for lst in self.by_label.values():   # `find` prefers the answer a device can be led to: success, no warning
            lst.sort(key=lambda a: _preference(model.actions[a].event))
        self.admin_labels = [(label, lst) for label, lst in self.by_label.items()
                             if all((model.actions[a].event or {}).get("kind") == "admin"
                                    for a in lst)]
        self.by_name: dict[str, list[int]] = {}
        for (name, _), lst in self.by_label.items():
            self.by_name.setdefault(name, []).extend(lst)
        for lst in self.by_name.values():
            lst.sort(key=lambda a: _preference(model.actions[a].event))

    def new(self, name: str, kind: str) -> TestCase:
        t = TestCase(name=name, kind=kind)
        t.events.append(Annotation(index=0, timestamp=1000, text=f"test {name} ({kind})"))
        return t

    def _add(self, t: TestCase, cls: type, **fields: Any) -> Any:
        n = len(t.events)
        ev = cls(index=n, timestamp=(n + 1) * 1000, **fields)
        t.events.append(ev)
        return ev

    def take(self, t: TestCase, a: int, after: int | None = None) -> None:
        """Append the inputs of model action `a` (expected answers included); `after` is the
        packed state the action leads to (some answers, a device context, depend on it)."""
        act = self.model.actions[a]
        blame = self.blame(t, list(act.guards)) if act.event is None or act.event.get("kind") != "admin" else []
        t.actions.append(a)
        t.clauses.update(act.clauses)
        t.clauses.update(self.prop_clauses.get(a, ()))
        if hasattr(self.adapter, "extra_clauses"):
            t.clauses.update(self.adapter.extra_clauses(act))
        if getattr(self.adapter, "NEEDS_MODEL", False):
            steps = self.adapter.steps_of(self.codec, act, self.queues, self.model)
        elif getattr(self.adapter, "NEEDS_STATE", False):
            state = self.model.decode_state(self.layout.unpack(after)) if after is not None else None
            steps = self.adapter.steps_of(self.codec, act, self.queues, state, self.pages)
        else:
            steps = self.adapter.steps_of(self.codec, act, self.queues)
        for step in steps:
            if step[0] == "admin":
                self._add(t, AdminCommand, readable=step[1], writable=step[2], codec=self.codec)
            elif step[0] == "inject":
                kind, m, q = step[1], step[2], step[3]
                fields: dict[str, Any] = {} if kind == "owner_reset" else {"member": m}
                if kind == "doorbell":
                    fields["queue"] = q
                self._add(t, INJECT_TYPES[kind], **fields)
            elif step[0] == "check":   # the runner reads guest memory and judges it (adapter.judge_check)
                check = {"op": step[1], "member": step[2], "queue": step[3],
                         "clauses": list(self.adapter.CHECK_CLAUSES.get(step[1], []))}
                t.clauses.update(check["clauses"])
                self._add(t, Annotation, text="check " + json.dumps(check, separators=(",", ":")))
            else:      # a refusal is blamed on the last action that set what this one needs
                self.step_note(t, step[1], step[2], step[3], True, blame)

    def step_note(self, t: TestCase, op: str, m: int, q: int, expect: bool, clauses: list[str]) -> None:
        text = json.dumps({"op": op, "member": m, "queue": q, "expect": expect, "clauses": clauses}, separators=(",", ":"))
        self._add(t, Annotation, text=f"step {text}")

    def focus(self, a: int) -> set[str]:
        """The clauses action `a` stands for: its chosen outcome's, what it cites, its properties'."""
        act = self.model.actions[a]
        guarded = {c for g in act.guards for c in g.clauses}
        last = [g for g in act.guards if g.clauses]
        return (set(act.clauses) - guarded) | (set(last[-1].clauses) if last else set()) | self.prop_clauses.get(a, set())

    def blame(self, t: TestCase, guards: list[Any]) -> list[str]:
        """For a refusal whose guards name no clause: the clauses of the most recent action
        in the test that wrote a variable those guards read."""
        read = set().union(*(slots_of(g.cond) for g in guards)) if guards else set()
        for a in reversed(t.actions):
            if read & set(self.model.actions[a].assigns):
                found = self.focus(a)
                if found:
                    return sorted(found)
        return []

    def probe(self, t: TestCase, x: int) -> None:
        """Ask for every device-internal action the model forbids in packed state x (expect
        "refused"), and for those it allows without changing the state (expect "done")."""
        values = self.layout.unpack(x)
        for act in self.internal:
            y = self.steps[act.index](x)
            p = act.params
            if hasattr(self.adapter, "probe_request"):
                op, member, arg = self.adapter.probe_request(act)
            else:
                op, member, arg = self.adapter.probe_actions(act), p.get("m", 0), p.get("q", 0)
            if y is None:
                failing = [g for g in act.guards if not evaluate(g.cond, values)]
                if hasattr(self.adapter, "skip_probe") and self.adapter.skip_probe(self.model, failing):
                    continue
                refusing = sorted({c for g in failing for c in g.clauses})
                self.step_note(t, op, member, arg, False, refusing or self.blame(t, failing))
                t.clauses.update(refusing)
                t.probes += 1
            elif y == x:
                self.step_note(t, op, member, arg, True, self.blame(t, list(act.guards)))
                t.probes += 1

    def admin_probe(self, t: TestCase, x: int) -> None:
        """Send every admin command the model must refuse in packed state x (no successful
        answer is enabled, every permitted answer leaves the state as it is), with its
        first permitted answer: a device that accepts one, or refuses it the wrong way,
        fails wherever the walk happens to have covered that answer's instance."""
        for (_name, _params), lst in self.admin_labels:
            enabled = [a for a in lst if self.steps[a](x) is not None]
            if not enabled or any((self.model.actions[a].event or {}).get("ok") for a in enabled):
                continue
            if any(self.steps[a](x) != x for a in enabled):
                continue
            self.take(t, enabled[0])
            t.probes += 1

    def find(self, x: int, name: str, **params: Any) -> int | None:
        """The enabled action instance `name(params)` in state x (any outcome, successful
        first; parameters left out take any value)."""
        want = params.items()
        for a in self.by_name.get(name, ()):
            if want <= self.model.actions[a].params.items() and self.steps[a](x) is not None:
                return a
        return None

    def hold(self, t: TestCase, a_later: int, readable: bytes, tag: int) -> None:
        self._add(t, AdminSubmit, tag=tag, readable=readable, codec=self.codec)

    def complete_raw(self, t: TestCase, tag: int, writable: bytes, clauses: list[str]) -> None:
        t.clauses.update(clauses)
        self._add(t, AdminComplete, tag=tag, writable=writable)

    def complete(self, t: TestCase, a: int, tag: int) -> None:
        act = self.model.actions[a]
        t.actions.append(a)
        t.clauses.update(act.clauses)
        t.clauses.update(self.adapter.HOLD_CLAUSES)
        self._add(t, AdminComplete, tag=tag, writable=self.adapter.result_bytes(self.codec, act.event, self.queues))


def _preference(ev: Mapping[str, Any] | None) -> tuple[bool, bool, bool]:
    if ev is None:
        return (False, False, False)
    return (not ev.get("ok", True), bool(ev.get("transient")), "should" in ev)


def instance_walk(edges: list[tuple[int, int, int]], start: int) -> list[list[tuple[int, int, int]]]:
    """Runs of (source, action, target) that together take every reachable action instance
    (every (action, parameters, outcome)) at least once. At each state the walk takes the
    uncovered instances that stay there (mostly refusals), then one that moves on; with
    none left here, the shortest path (BFS) to the nearest state that has one."""
    out_by_src: dict[int, list[tuple[int, int]]] = {}
    succ: dict[int, dict[int, int]] = {}
    sources: dict[int, list[int]] = {}
    for u, v, a in edges:
        out_by_src.setdefault(u, []).append((a, v))
        sources.setdefault(a, []).append(u)
        if u != v:
            succ.setdefault(u, {}).setdefault(v, a)
    left = {u: len(lst) for u, lst in out_by_src.items()}   # edges of u whose instance is uncovered
    uncovered = set(sources)

    def cover(a: int) -> None:
        if a in uncovered:
            uncovered.discard(a)
            for u in sources[a]:
                left[u] -= 1

    runs: list[list[tuple[int, int, int]]] = [[]]
    cur = start
    while uncovered:
        moved = False
        if left.get(cur):
            onward = None
            for a, v in out_by_src[cur]:
                if a not in uncovered:
                    continue
                if v == cur:
                    runs[-1].append((cur, a, v))
                    cover(a)
                elif onward is None:
                    onward = (a, v)
            if onward is not None and onward[0] in uncovered:
                a, v = onward
                runs[-1].append((cur, a, v))
                cover(a)
                cur = v
                moved = True
        if moved or not uncovered:
            continue
        path = _bfs_to_uncovered(succ, left, cur)
        if path is None:
            if cur == start:
                break         # what is left is not reachable (cannot happen for a BFS edge list)
            runs.append([])
            cur = start
            continue
        for u, a, v in path:
            runs[-1].append((u, a, v))
            cover(a)
        cur = path[-1][2]
    return [r for r in runs if r]


def _bfs_to_uncovered(succ: dict[int, dict[int, int]], left: dict[int, int], src: int) -> list[tuple[int, int, int]] | None:
    parent: dict[int, tuple[int, int] | None] = {src: None}
    todo = deque([src])
    while todo:
        u = todo.popleft()
        if left.get(u) and u != src:
            path = []
            while (step := parent[u]) is not None:
                p, a = step
                path.append((p, a, u))
                u = p
            return path[::-1]
        for v, a in succ.get(u, {}).items():
            if v not in parent:
                parent[v] = (u, a)
                todo.append(v)
    return None


def tree_path(exp: Any, sid: int) -> list[tuple[int, int, int]]:
    """The exploration's shortest path from an initial state to state `sid`, as (u, action, v) steps."""
    chain = []
    while exp.parent[sid] >= 0:
        chain.append((exp.parent[sid], exp.via[sid], sid))
        sid = exp.parent[sid]
    return chain[::-1]


@dataclass
class Suite:
    model: LoadedModel
    tests: list[TestCase]
    coverage: dict[str, Any]
    seconds: float


def generate(model_spec: str, params: dict[str, Any], *, run_length: int = 1500, faults: bool = True,
             edge_cap: int = 20_000_000, classes_only: bool = False) -> Suite:
    start_t = time.monotonic()
    model = load_model(model_spec, params)
    if model.params.as_dict().get("bug", "none") not in ("none", None):
        raise InputError("gen-tests derives suites from the correct model; drop -p bug=...")
    adapter = adapter_for(model)
    if classes_only:
        return _class_suite(model, adapter, params, start_t)
    result, exp = check(model, Bounds(max_edges=edge_cap), record_edges=True)
    too_many = InputError(f"model {model.name}: more than {edge_cap:,} transitions (the covering walk keeps every "
                          f"one in memory); choose smaller parameters, or --classes-only for the targeted tests")
    if any(b.startswith("max-edges") for b in result.bounds_hit):
        raise too_many
    if result.bounds_hit:
        raise InputError(f"model {model.name}: exploration hit a bound ({', '.join(result.bounds_hit)}); choose smaller parameters")
    if exp.transitions > edge_cap:
        raise too_many
    assert exp.edges is not None       # record_edges=True
    all_edges = exp.edges
    start = exp.init_ids[0]
    states = exp.states
    b = Builder(model, adapter)
    tests: list[TestCase] = []
    probed: set[Any] = set()     # states (u), or (u, epoch) when the runner replays
    replayed = hasattr(adapter, "DRIVEN")     # the runner judges every step through the replay
    if replayed:
        runs = instance_walk(all_edges, start)
    else:
        # a runner that judges by the walk's own states (draft-v1) walks every distinct
        # transition: the walk covers each edge as if it were its own instance
        edges = list(all_edges)
        runs = [[(u, edges[k][2], v) for u, k, v in run]
                for run in instance_walk([(u, v, k) for k, (u, v, _a) in enumerate(edges)], start)]
    epoch = 0
    chunks = [run[i : i + run_length] for run in runs for i in range(0, len(run), run_length)]
    for n, chunk in enumerate(chunks, 1):
        t = b.new(f"walk-{n:03d}", "walk")
        t.clauses.update(b.invariant_clauses)
        for _u, a, v in tree_path(exp, chunk[0][0]):
            b.take(t, a, states[v])
        for i, (u, a, v) in enumerate(chunk):
            if i == 0 or chunk[i - 1][2] == u:
                if replayed:
                    # device work the model forbids here, wherever the walk arrives: what the
                    # device holds (fetched buffers, its mode) may differ from the walk's state
                    if i == 0 or chunk[i - 1][0] != u:
                        b.probe(t, states[u])
                    if (u, epoch) not in probed:
                        probed.add((u, epoch))
                        b.admin_probe(t, states[u])
                elif u not in probed:
                    probed.add(u)
                    b.probe(t, states[u])
            b.take(t, a, states[v])
            if replayed and u != v:
                if model.actions[a].name in b.adapter.EPOCH_ACTIONS:
                    epoch += 1            # the device may keep what the model forgot: probe again
                b.adapter.observe_state(b, t, states[v])
        tests.append(t)
    if hasattr(adapter, "class_tests"):      # targeted tests (virtio-1.4 enabled-set classes, draft-v1 refusals)
        targeted = adapter.class_tests(model, params)
        # draft-v1: right after the first walk, so a --fail-fast run reaches them early
        tests = tests + targeted if replayed else tests[:1] + targeted + tests[1:]
    if faults:
        # the first fault tests that hold a command go right after the first walk, so a
        # --fail-fast run finds a device that answers during an FLR early
        extra = fault_tests(model, b, exp, fault_points(model, b, exp))
        early = [t for t in extra if t.holds][:8]
        tests = tests[:1] + early + tests[1:] + [t for t in extra if t not in early]
    reachable = {a for _, _, a in all_edges}     # edges are (source, target, action)
    walked = {a for c in chunks for (_, a, _) in c}
    fired = {a for t in tests for a in t.actions}
    model_clauses = sorted({c for a in model.actions for c in a.clauses} | {c for p in model.properties for c in p.clauses})
    suite_clauses = {c for t in tests for c in t.clauses}
    coverage = {
        "states": len(states), "transitions": exp.transitions,
        "walk_steps": sum(len(c) for c in chunks), "action_instances": len(model.actions),
        "action_instances_reachable": len(reachable), "action_instances_covered": len(fired & reachable),
        "action_instances_walked": len(walked & reachable),
        "states_visited": len({u for c in chunks for (u, _, v) in c} | {v for c in chunks for (_, _, v) in c}),
        "probes": sum(t.probes for t in tests),
        "clauses_model": len(model_clauses), "clauses_covered": len([c for c in model_clauses if c in suite_clauses]),
        "clauses_not_covered": [c for c in model_clauses if c not in suite_clauses],
        "tests": len(tests),
    }
    return Suite(model=model, tests=tests, coverage=coverage, seconds=time.monotonic() - start_t)


def _class_suite(model: LoadedModel, adapter: Any, params: dict[str, Any], start_t: float) -> Suite:
    """Only the adapter's targeted tests (enabled-set classes, object ownership), built
    from the initial state without exploring the model: quick at any size."""
    if not hasattr(adapter, "class_tests"):
        raise InputError(f"--classes-only: model {model.name} has no targeted tests")
    tests = adapter.class_tests(model, params)
    model_clauses = sorted({c for a in model.actions for c in a.clauses} | {c for p in model.properties for c in p.clauses})
    suite_clauses = {c for t in tests for c in t.clauses}
    coverage = {"tests": len(tests), "probes": sum(t.probes for t in tests), "classes_only": True,
                "clauses_model": len(model_clauses),
                "clauses_covered": len([c for c in model_clauses if c in suite_clauses]),
                "clauses_not_covered": [c for c in model_clauses if c not in suite_clauses]}
    return Suite(model=model, tests=tests, coverage=coverage, seconds=time.monotonic() - start_t)


def fault_points(model: LoadedModel, b: Builder, exp: Any) -> list[tuple[int, int]]:
    """(state id, member) pairs where a fault is worth injecting: the first state (BFS order,
    so the nearest) for every distinct view of one member (its own variables and the
    objects it owns); the owner's enabled sets and limits do not change what a fault does."""
    members = list(model.index_sets["members"].values)
    seen: set[tuple] = set()
    out = []
    for sid, x in enumerate(exp.states):
        state = model.decode_state(b.layout.unpack(x))    # flat: "mode[1]", "avail[1][0]", "obj_member[0]"
        for m in members:
            mine = tuple(sorted((k, v) for k, v in state.items()
                                if k.split("[", 1)[0] in b.adapter.MEMBER_VARS and k.split("[")[1] == f"{m}]"))
            owned = tuple(sorted(state[k.replace("obj_member", "obj_kind")] for k, v in state.items()
                                 if k.startswith("obj_member[") and v == m))
            key = (m, mine, owned)
            if key not in seen:
                seen.add(key)
                out.append((sid, m))
    return out


def fault_tests(model: LoadedModel, b: Builder, exp: Any, points: list[tuple[int, int]]) -> list[TestCase]:
    """Each fault kind of the adapter (FLR with a DEV_MODE_SET during it, member reset, PM
    transition) at every fault point."""
    tests = []
    adapter = b.adapter
    for sid, m in points:
        x = exp.states[sid]
        for kind in adapter.FAULTS:
            plan = adapter.fault_plan(b, x, m, kind)
            if plan is None:
                continue
            t = b.new(f"{kind}-s{sid}-m{m}", kind)
            t.clauses.update(adapter.FAULT_CLAUSES)
            for _u, a, v in tree_path(exp, sid):
                b.take(t, a, exp.states[v])
            if kind == adapter.FAULTS[0]:          # the fault point's state, probed once
                b.probe(t, x)
                if hasattr(b.adapter, "DRIVEN"):
                    b.admin_probe(t, x)
            plan(t)
            tests.append(t)
    return tests


def write_suite(suite: Suite, out: str | Path) -> Path:
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror}") from None
    model = suite.model
    adapter = adapter_for(model)
    params = model.params.as_dict()
    members = tuple(range(1, adapter.device_config(params)["members"] + 1))
    header = TraceHeader(profile=adapter.PROFILE, members=members, queues=params.get("queues", 1))
    codec = Codec(load_profile(adapter.PROFILE))
    entries = []
    for t in suite.tests:
        name = f"{t.name}.jsonl"
        write_trace(out / name, header, t.events, codec=codec)
        entries.append({"name": t.name, "file": name, "kind": t.kind, "events": len(t.events),
                        "clauses": sorted(t.clauses)})
    judge = adapter.judge_params(params) if hasattr(adapter, "judge_params") else params
    manifest = {"mcheck_suite": SUITE_VERSION, "model": model.name, "params": params, "judge_params": judge,
                "profile": adapter.PROFILE,
                "device": adapter.device_config(params), "coverage": suite.coverage, "tests": entries}
    (out / "suite.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out / "suite.json"
