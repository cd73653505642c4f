"""Breadth-first exploration over packed states, with parent links.

Every state is stored once as a packed int (`ids`: state -> id); `parent` and `via` are
flat arrays, so a counterexample is the chain of (action) links back to an initial
state, and because the search is breadth-first it is a shortest one. States are checked
when they are taken from the frontier; the search goes on after a violation until every
property has its verdict or the space or a bound is exhausted.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field
from typing import Callable

from mcheck.explore.codegen import Compiled, generate
from mcheck.model.build import LoadedModel


@dataclass(frozen=True, kw_only=True)
class Bounds:
    max_states: int | None = None
    max_depth: int | None = None
    timeout: float | None = None


@dataclass(kw_only=True)
class Found:
    """The first (shortest) violation of one property: state id, plus the last action for steps."""

    prop: int
    state: int
    action: int | None = None  # transition properties: the offending action from `state`


@dataclass(kw_only=True)
class Exploration:
    model: LoadedModel
    compiled: Compiled
    states: list[int]
    parent: array
    via: array
    depth: int
    transitions: int
    seconds: float
    complete: bool
    bounds_hit: list[str]
    found: dict[int, Found]
    deadlock: Found | None
    reached: dict[int, int]           # sometimes-goal property index -> state id
    coverage: list[int]               # per action instance: times fired
    edges: list[tuple[int, int, int]] | None
    init_ids: list[int] = field(default_factory=list)

    def path(self, sid: int) -> list[int]:
        """Action indices from an initial state to `sid`."""
        out = []
        while self.parent[sid] >= 0:
            out.append(self.via[sid])
            sid = self.parent[sid]
        out.reverse()
        return out

    def root(self, sid: int) -> int:
        while self.parent[sid] >= 0:
            sid = self.parent[sid]
        return sid


def explore(model: LoadedModel, bounds: Bounds = Bounds(), *, record_edges: bool = False,
            progress: Callable[[int, int, int, float], None] | None = None) -> Exploration:
    compiled = generate(model, record_edges=record_edges)
    layout = compiled.layout
    ids: dict[int, int] = {}
    states: list[int] = []
    parent = array("q")
    via = array("l")
    frontier: list[int] = []
    nxt: list[int] = []
    nprops = len(model.properties)
    cov = [0] * len(model.actions)
    edges: list[tuple[int, int, int]] | None = [] if record_edges else None
    reached_flags = [0] * nprops
    found_flags = [0] * nprops
    for k, p in enumerate(model.properties):
        if p.kind != "sometimes":
            reached_flags[k] = 1
        if p.kind == "sometimes":
            found_flags[k] = 1
    found: dict[int, Found] = {}
    reached: dict[int, int] = {}
    deadlock: list[Found] = []

    def inv_fail(k: int, pid: int) -> None:
        found_flags[k] = 1
        found[k] = Found(prop=k, state=pid)

    def tp_fail(k: int, pid: int, a: int, y: int) -> None:
        found_flags[k] = 1
        found[k] = Found(prop=k, state=pid, action=a)

    def goal_hit(k: int, pid: int) -> None:
        reached_flags[k] = 1
        reached[k] = pid

    def on_deadlock(pid: int) -> None:
        if not deadlock:
            deadlock.append(Found(prop=-1, state=pid))

    expand = compiled.expand_factory()(ids, states, parent, via, nxt, cov, edges, reached_flags, found_flags,
                                       inv_fail, tp_fail, goal_hit, on_deadlock)
    check = compiled.check_state()(reached_flags, found_flags, inv_fail, goal_hit)

    init_ids = []
    for values in model.initial:
        x = layout.pack(values)
        if x not in ids:
            ids[x] = len(states)
            states.append(x)
            parent.append(-1)
            via.append(-1)
            frontier.append(ids[x])
        init_ids.append(ids[x])

    start = time.monotonic()
    deadline = start + bounds.timeout if bounds.timeout else None
    max_states = bounds.max_states
    bounds_hit: list[str] = []
    depth = 0
    transitions = 0
    every = 2048
    while frontier:
        if bounds.max_depth is not None and depth >= bounds.max_depth:
            # states at the bound are checked, but their successors are not looked at
            for sid in frontier:
                check(states[sid], sid)
            bounds_hit.append(f"max-depth {bounds.max_depth}")
            break
        for n, sid in enumerate(frontier, 1):
            transitions += expand(states[sid], sid)
            if n % every == 0:
                if deadline is not None and time.monotonic() > deadline:
                    bounds_hit.append(f"timeout {bounds.timeout:g} s")
                    break
                if max_states is not None and len(states) >= max_states:
                    bounds_hit.append(f"max-states {max_states}")
                    break
                if progress is not None:
                    progress(len(states), len(nxt), depth, time.monotonic() - start)
        if bounds_hit:
            break
        if nxt and max_states is not None and len(states) >= max_states:
            bounds_hit.append(f"max-states {max_states}")
            break
        if nxt and deadline is not None and time.monotonic() > deadline:
            bounds_hit.append(f"timeout {bounds.timeout:g} s")
            break
        frontier = list(nxt)
        del nxt[:]
        if frontier:
            depth += 1
    complete = not bounds_hit
    seconds = time.monotonic() - start
    return Exploration(model=model, compiled=compiled, states=states, parent=parent, via=via, depth=depth,
                       transitions=transitions, seconds=seconds, complete=complete, bounds_hit=bounds_hit,
                       found=found, deadlock=deadlock[0] if deadlock else None, reached=reached, coverage=cov,
                       edges=edges, init_ids=init_ids)
