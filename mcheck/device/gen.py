"""`mcheck gen-tests`: a conformance suite from the model's reachable graph.

1. A covering walk: from the initial state, take an uncovered transition if the current
   state has one, else the shortest path (BFS) to the nearest state that has one, until
   every reachable transition (every edge of the networkx graph, self-loops included) is
   taken. The walk is cut into runs of at most `run_length` steps; a run after the first
   starts from power-on with the shortest path to where the previous one stopped.
2. Negative probes: the first time the walk reaches a state, it asks the device to do
   each device-internal action (fetch, complete, notify) the model forbids there; the
   expected answer is "not done".
3. Fault points: for every reachable state and every member, a test that reaches the
   state, injects a member FLR (with a DEV_MODE_SET sent during it, which the device
   must hold until the FLR ends), and one that injects a member reset; both end with
   probes and the member's DEV_PARTS_GET where an object allows it.

Each test is a trace file (driver-side events plus the expected device answers: the
AdminCommand records carry the expected writable bytes; a held command is an
AdminSubmit whose AdminComplete comes later; workload steps and probes are annotations
`step {json}`); suite.json lists the tests, the model, its parameters and the coverage.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcheck.device.backend import INJECT_TYPES
from mcheck.errors import InputError
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.explore.codegen import Layout
from mcheck.explore.graph import build_graph
from mcheck.model.build import LoadedModel
from mcheck.model.evaluate import evaluate
from mcheck.model.expr import slots_of
from mcheck.model.registry import load_model
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
    if model.model.profile == "virtio-1.4":
        from mcheck.device import adapt14
        return adapt14
    if model.model.profile == "draft-v1":
        from mcheck.device import adaptdraft
        return adaptdraft
    raise InputError(f"model {model.name}: no device adapter for profile {model.model.profile!r}")


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
        for a in model.actions:
            self.by_label.setdefault((a.name, tuple(sorted((k, v) for k, v in a.params.items() if k != "outcome"))), []).append(a.index)

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
        if getattr(self.adapter, "NEEDS_STATE", False):
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

    def find(self, x: int, name: str, **params: Any) -> int | None:
        """The enabled action instance `name(params)` in state x (any outcome)."""
        key = (name, tuple(sorted(params.items())))
        for a in self.by_label.get(key, ()):
            if self.steps[a](x) is not None:
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


def covering_walk(g: Any, start: int) -> list[list[tuple[int, int, int]]]:
    """Runs of (source, action, target) that together take every edge of g at least once."""
    uncovered: dict[int, list[tuple[int, int]]] = {}
    for u, v, data in g.edges(data=True):
        uncovered.setdefault(u, []).append((data["index"], v))
    for lst in uncovered.values():
        lst.sort(key=lambda e: (e[1] != -1, e[0]))
    succ: dict[int, list[tuple[int, int]]] = {}
    for u, v, data in g.edges(data=True):
        succ.setdefault(u, [])
    for u in g.nodes:
        seen: dict[int, int] = {}
        for _, v, data in g.out_edges(u, data=True):
            if v not in seen:
                seen[v] = data["index"]
        succ[u] = [(a, v) for v, a in seen.items()]
    left = sum(len(v) for v in uncovered.values())
    runs: list[list[tuple[int, int, int]]] = [[]]
    cur = start
    while left:
        if uncovered.get(cur):
            a, v = uncovered[cur].pop()
            left -= 1
            runs[-1].append((cur, a, v))
            cur = v
            continue
        path = _bfs_to_uncovered(succ, uncovered, cur)
        if path is None:          # nothing left reachable from here: start again from power-on
            runs.append([])
            cur = start
            continue
        for u, a, v in path:
            runs[-1].append((u, a, v))
            _discard(uncovered, u, a, v)
        left = sum(len(v) for v in uncovered.values())
        cur = path[-1][2]
    return [r for r in runs if r]


def _discard(uncovered: dict[int, list[tuple[int, int]]], u: int, a: int, v: int) -> None:
    lst = uncovered.get(u)
    if lst and (a, v) in lst:
        lst.remove((a, v))


def _bfs_to_uncovered(succ: dict[int, list[tuple[int, int]]], uncovered: dict[int, list], src: int) -> list[tuple[int, int, int]] | None:
    parent: dict[int, tuple[int, int] | None] = {src: None}
    todo = deque([src])
    while todo:
        u = todo.popleft()
        if uncovered.get(u) and u != src:
            path = []
            while parent[u] is not None:
                p, a = parent[u]
                path.append((p, a, u))
                u = p
            return path[::-1]
        for a, v in succ.get(u, ()):
            if v not in parent:
                parent[v] = (u, a)
                todo.append(v)
    return None


def shortest_paths(g: Any, start: int) -> dict[int, list[tuple[int, int, int]]]:
    """For every node, the shortest path from start as (u, action, v) steps."""
    parent: dict[int, tuple[int, int] | None] = {start: None}
    order = deque([start])
    while order:
        u = order.popleft()
        for _, v, data in g.out_edges(u, data=True):
            if v not in parent:
                parent[v] = (u, data["index"])
                order.append(v)
    paths: dict[int, list[tuple[int, int, int]]] = {start: []}

    def path(n: int) -> list[tuple[int, int, int]]:
        if n in paths:
            return paths[n]
        chain = []
        x = n
        while x not in paths:
            p, a = parent[x]
            chain.append((p, a, x))
            x = p
        out = paths[x] + chain[::-1]
        paths[n] = out
        return out

    for n in parent:
        path(n)
    return paths


@dataclass
class Suite:
    model: LoadedModel
    tests: list[TestCase]
    coverage: dict[str, Any]
    seconds: float


def generate(model_spec: str, params: dict[str, Any], *, run_length: int = 1500, faults: bool = True,
             graph_cap: int = 2_000_000) -> Suite:
    start_t = time.monotonic()
    model = load_model(model_spec, params)
    if model.params.as_dict().get("bug", "none") not in ("none", None):
        raise InputError("gen-tests derives suites from the correct model; drop -p bug=...")
    adapter = adapter_for(model)
    result, exp = check(model, Bounds(), record_edges=True)
    if result.bounds_hit:
        raise InputError(f"model {model.name}: exploration hit a bound ({', '.join(result.bounds_hit)}); choose smaller parameters")
    if len(exp.states) + exp.transitions > graph_cap:
        raise InputError(f"model {model.name}: {len(exp.states):,} states and {exp.transitions:,} transitions exceed the graph cap")
    g = build_graph(exp)
    start = exp.init_ids[0]
    states = exp.states
    b = Builder(model, adapter)
    tests: list[TestCase] = []
    paths = shortest_paths(g, start)
    probed: set[tuple] = set()
    covered_edges = 0
    runs = covering_walk(g, start)
    # cut long runs
    chunks: list[list[tuple[int, int, int]]] = []
    for run in runs:
        for i in range(0, len(run), run_length):
            chunks.append(run[i : i + run_length])
    for n, chunk in enumerate(chunks, 1):
        t = b.new(f"walk-{n:03d}", "walk")
        t.clauses.update(b.invariant_clauses)
        first = chunk[0][0]
        for _u, a, v in paths[first]:
            b.take(t, a, states[v])
        if (None, first) not in probed:
            probed.add((None, first))
            b.probe(t, states[first])
        for _u, a, v in chunk:
            b.take(t, a, states[v])
            covered_edges += 1
            ev = model.actions[a].event
            key = (model.actions[a].name, ev.get("status") if ev else None, ev.get("qualifier") if ev else None, v)
            if key not in probed:
                probed.add(key)
                b.probe(t, states[v])
        tests.append(t)
    if faults:
        # the first fault tests that hold a command go right after the first walk, so a
        # --fail-fast run finds a device that answers during an FLR early
        extra = fault_tests(model, b, g, paths, states)
        early = [t for t in extra if t.holds][:8]
        tests = tests[:1] + early + tests[1:] + [t for t in extra if t not in early]
    total_edges = g.number_of_edges()
    fired = {a for t in tests for a in t.actions}
    model_clauses = sorted({c for a in model.actions for c in a.clauses} | {c for p in model.properties for c in p.clauses})
    suite_clauses = sorted({c for t in tests for c in t.clauses})
    coverage = {
        "states": g.number_of_nodes(), "transitions": total_edges, "transitions_covered": min(total_edges, covered_edges),
        "walk_steps": sum(len(c) for c in chunks), "action_instances": len(model.actions),
        "action_instances_reachable": len({d["index"] for _, _, d in g.edges(data=True)}),
        "action_instances_covered": len(fired), "probes": sum(t.probes for t in tests),
        "clauses_model": len(model_clauses), "clauses_covered": len([c for c in model_clauses if c in set(suite_clauses)]),
        "clauses_not_covered": [c for c in model_clauses if c not in set(suite_clauses)],
        "tests": len(tests),
    }
    covered = {(u, d["index"], v) for c in chunks for (u, a, v) in c for d in [{"index": a}]}
    all_edges = {(u, d["index"], v) for u, v, d in g.edges(data=True)}
    coverage["transitions_covered"] = len(all_edges & covered)
    coverage["transitions_distinct"] = len(all_edges)
    return Suite(model=model, tests=tests, coverage=coverage, seconds=time.monotonic() - start_t)


def fault_tests(model: LoadedModel, b: Builder, g: Any, paths: dict, states: list[int]) -> list[TestCase]:
    """An FLR (with a DEV_MODE_SET during it) and a member reset at every protocol point."""
    tests = []
    adapter = b.adapter
    members = list(model.index_sets["members"].values) if hasattr(model.index_sets["members"], "values") else []
    for sid in sorted(paths):
        x = states[sid]
        for m in members:
            for kind in adapter.FAULTS:
                plan = adapter.fault_plan(b, x, m, kind)
                if plan is None:
                    continue
                t = b.new(f"{kind}-s{sid}-m{m}", kind)
                t.clauses.update(adapter.FAULT_CLAUSES)
                for _u, a, v in paths[sid]:
                    b.take(t, a, states[v])
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
