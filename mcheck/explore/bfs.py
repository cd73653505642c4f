"""Breadth-first exploration over packed states, with parent links.

Every state is stored once as a packed int (`ids`: state -> id); `parent` and `via` are
flat arrays, so a counterexample is the chain of (action) links back to an initial
state, and because the search is breadth-first it is a shortest one. States are checked
when they are taken from the frontier; the search goes on after a violation until every
property has its verdict or the space or a bound is exhausted.

With symmetry (`mcheck.explore.symmetry`) the stored states are canonical
representatives; with a checkpoint directory (`mcheck.explore.checkpoint`) the search is
saved at level boundaries and, on Ctrl-C, rolled back to the start of the interrupted
level and saved before `SearchInterrupted` is raised. Several workers are
`mcheck.explore.parallel`.
"""

from __future__ import annotations

import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Callable

from mcheck.errors import McheckError
from mcheck.explore import checkpoint as ckpt
from mcheck.explore.codegen import Compiled, generate
from mcheck.explore.symmetry import SymmetryPlan, compile_canon, plan_symmetry
from mcheck.model.build import LoadedModel


@dataclass(frozen=True, kw_only=True)
class Bounds:
    max_states: int | None = None
    max_depth: int | None = None
    timeout: float | None = None
    max_edges: int | None = None      # with recorded edges: stop once more are recorded


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
    symmetry: SymmetryPlan | None = None
    canon: Callable[[int], int] | None = None
    keys: Callable[[int], tuple[int, ...]] | None = None
    store_bytes: int = 0              # measured size of the state store at the end
    workers: int = 1

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

    def chain(self, sid: int) -> list[int]:
        """State ids from an initial state to `sid`."""
        out = [sid]
        while self.parent[sid] >= 0:
            sid = self.parent[sid]
            out.append(sid)
        out.reverse()
        return out


class SearchInterrupted(McheckError):
    """Ctrl-C during a search that had a checkpoint directory: the search was saved."""

    def __init__(self, directory: str, depth: int, states: int) -> None:
        super().__init__(f"interrupted; the search up to depth {depth} ({states:,} states) is saved in {directory}; "
                         f"continue it with --resume {directory}")
        self.directory = directory


@dataclass(frozen=True, kw_only=True)
class Search:
    """The generated code for one search configuration and what it needs at run time."""

    compiled: Compiled
    plan: SymmetryPlan | None
    canon: Callable[[int], int] | None
    keys: Callable[[int], tuple[int, ...]] | None

    def initial_states(self, model: LoadedModel) -> list[int]:
        pack = self.compiled.layout.pack
        return [self.canon(pack(v)) if self.canon else pack(v) for v in model.initial]


def prepare(model: LoadedModel, *, symmetry: bool = False, record_edges: bool = False, workers: int = 1) -> Search:
    plan = plan_symmetry(model) if symmetry else None
    compiled = generate(model, record_edges=record_edges, order=plan.order if plan else None,
                        canon_slots=plan.key_slots if plan else None, workers=workers)
    canon = keys = None
    if plan is not None:
        lay = compiled.layout
        canon, keys = compile_canon(plan, lay.offsets, lay.widths, lay.lows, model=model.name)
    return Search(compiled=compiled, plan=plan, canon=canon, keys=keys)


def store_size(ids: dict[int, int], states: list[int], parent: array, via: array) -> int:
    """Bytes held by the state store: the dict, the list, the packed ints, the link arrays."""
    return (sys.getsizeof(ids) + sys.getsizeof(states) + sum(map(sys.getsizeof, states))
            + parent.buffer_info()[1] * parent.itemsize + via.buffer_info()[1] * via.itemsize)


@dataclass(frozen=True, kw_only=True)
class Checkpointing:
    directory: str
    every: float = 60.0   # seconds between saves (taken at the next level boundary)


def explore(model: LoadedModel, bounds: Bounds = Bounds(), *, record_edges: bool = False,
            progress: Callable[[int, int, int, float], None] | None = None, symmetry: bool = False,
            checkpoint: Checkpointing | None = None, resume: str | None = None) -> Exploration:
    """Breadth-first search; `resume` is a checkpoint directory to continue from."""
    search = prepare(model, symmetry=symmetry, record_edges=record_edges)
    compiled = search.compiled
    ident = ckpt.identity(model, symmetry) if (checkpoint or resume) else {}
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

    init_ids = []
    for x in search.initial_states(model):
        if x not in ids:
            ids[x] = len(states)
            states.append(x)
            parent.append(-1)
            via.append(-1)
            frontier.append(ids[x])
        init_ids.append(ids[x])
    depth = 0
    transitions = 0
    before = 0.0   # seconds spent by earlier sessions of a resumed search
    if resume is not None:
        snap = ckpt.load(resume, ident)
        states[:] = snap.states
        ids.clear()
        ids.update(zip(states, range(len(states))))
        parent, via = snap.parent, snap.via
        frontier, depth, transitions, before = snap.frontier, snap.depth, snap.transitions, snap.seconds
        cov[:] = snap.coverage
        for k, (sid, a) in snap.found.items():
            found_flags[k] = 1
            found[k] = Found(prop=k, state=sid, action=a)
        for k, sid in snap.reached.items():
            reached_flags[k] = 1
            reached[k] = sid
        if snap.deadlock is not None:
            deadlock.append(Found(prop=-1, state=snap.deadlock))
    expand = compiled.expand_factory()(ids, states, parent, via, nxt, cov, edges, reached_flags, found_flags,
                                       inv_fail, tp_fail, goal_hit, on_deadlock, search.canon)
    check = compiled.check_state()(reached_flags, found_flags, inv_fail, goal_hit)

    start = time.monotonic()
    deadline = start + bounds.timeout if bounds.timeout else None
    max_states = bounds.max_states
    bounds_hit: list[str] = []
    every = 2048
    last_save = start

    def mark() -> tuple:
        """The search at this level boundary, cheaply: states only grow, so a length is enough."""
        return (len(states), list(frontier), depth, transitions, before + time.monotonic() - start, cov[:],
                {k: (f.state, f.action) for k, f in found.items()}, dict(reached),
                deadlock[0].state if deadlock else None)

    def snapshot(m: tuple) -> ckpt.Snapshot:
        count, front, d, trans, secs, cv, fnd, rch, dl = m
        return ckpt.Snapshot(identity=ident, states=states[:count], parent=parent[:count], via=via[:count],
                             frontier=front, depth=d, transitions=trans, seconds=secs, coverage=cv, found=fnd,
                             reached=rch, deadlock=dl, state_bytes=max(1, (compiled.layout.total_bits + 7) // 8))

    level_start = mark() if checkpoint else None
    try:
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
                    if edges is not None and bounds.max_edges is not None and len(edges) > bounds.max_edges:
                        bounds_hit.append(f"max-edges {bounds.max_edges}")
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
            if checkpoint is not None:
                level_start = mark()
                if frontier and time.monotonic() - last_save >= checkpoint.every:
                    ckpt.save(checkpoint.directory, snapshot(level_start))
                    last_save = time.monotonic()
    except KeyboardInterrupt:
        if checkpoint is None or level_start is None:
            raise
        ckpt.save(checkpoint.directory, snapshot(level_start))
        raise SearchInterrupted(checkpoint.directory, level_start[2], level_start[0]) from None
    complete = not bounds_hit
    seconds = before + time.monotonic() - start
    return Exploration(model=model, compiled=compiled, states=states, parent=parent, via=via, depth=depth,
                       transitions=transitions, seconds=seconds, complete=complete, bounds_hit=bounds_hit,
                       found=found, deadlock=deadlock[0] if deadlock else None, reached=reached, coverage=cov,
                       edges=edges, init_ids=init_ids, symmetry=search.plan, canon=search.canon, keys=search.keys,
                       store_bytes=store_size(ids, states, parent, via))
