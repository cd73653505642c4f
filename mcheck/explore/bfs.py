"""Breadth-first exploration over packed states, with parent links.

Every state is stored once as a packed int (`ids`: state -> id); `parent` and `via` are
flat arrays, so a counterexample is the chain of (action) links back to an initial
state, and because the search is breadth-first it is a shortest one. States are checked
when they are taken from the frontier; the search goes on after a violation until every
property has its verdict or the space or a bound is exhausted.

With symmetry (`mcheck.explore.symmetry`) the stored states are canonical
representatives; with a checkpoint directory (`mcheck.explore.checkpoint`) the search is
saved at level boundaries and, on Ctrl-C, rolled back to the start of the interrupted
level and saved before `SearchInterrupted` is raised. `Core` holds the store and expands
one level; `explore` drives one `Core`, and each worker of `mcheck.explore.parallel`
(`--workers N`) drives its own over its partition of the states.
"""

from __future__ import annotations

import sys
import time
from array import array
from dataclasses import dataclass, field
from collections.abc import Callable

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


#: states expanded between two looks at the clock and the bounds
POLL_EVERY = 2048


class Core:
    """The breadth-first core shared by the serial search and each parallel worker: a
    state store (packed state -> id, flat parent and action arrays), the frontier and
    the generated `expand` and `check` functions, one level at a time.

    A worker `me` of `workers` gives its states the global ids `id * workers + me` and
    sends successors it does not own through `outboxes`; the serial search is worker 0
    of 1. Findings are kept as (depth, global id, action)."""

    def __init__(self, model: LoadedModel, search: Search, *, edges: list[tuple[int, int, int]] | None = None,
                 me: int = 0, workers: int = 1, outboxes: list[dict[int, int]] | None = None) -> None:
        self.me, self.workers = me, workers
        self.ids: dict[int, int] = {}
        self.states: list[int] = []
        self.parent = array("q")
        self.via = array("l")
        self.frontier: list[int] = []
        self.nxt: list[int] = []
        self.cov = [0] * len(model.actions)
        self.edges = edges
        self.reached_flags = [0 if p.kind == "sometimes" else 1 for p in model.properties]
        self.found_flags = [1 if p.kind == "sometimes" else 0 for p in model.properties]
        self.found: dict[int, tuple[int, int, int | None]] = {}
        self.reached: dict[int, tuple[int, int]] = {}
        self.deadlock: tuple[int, int] | None = None
        self.depth = 0
        self.transitions = 0
        extra: tuple = (me, outboxes) if workers > 1 else ()
        self.expand = search.compiled.expand_factory()(
            self.ids, self.states, self.parent, self.via, self.nxt, self.cov, edges, self.reached_flags,
            self.found_flags, self._inv_fail, self._tp_fail, self._goal_hit, self._on_deadlock, search.canon, *extra)
        self.check = search.compiled.check_state()(self.reached_flags, self.found_flags, self._inv_fail,
                                                   self._goal_hit)

    def _inv_fail(self, k: int, pid: int) -> None:
        self.found_flags[k] = 1
        self.found[k] = (self.depth, pid, None)

    def _tp_fail(self, k: int, pid: int, a: int, y: int) -> None:
        self.found_flags[k] = 1
        self.found[k] = (self.depth, pid, a)

    def _goal_hit(self, k: int, pid: int) -> None:
        self.reached_flags[k] = 1
        self.reached[k] = (self.depth, pid)

    def _on_deadlock(self, pid: int) -> None:
        if self.deadlock is None:
            self.deadlock = (self.depth, pid)

    def add(self, x: int, parent: int = -1, action: int = -1) -> int:
        """Store `x` (unless stored) for the next level; its local id."""
        sid = self.ids.get(x)
        if sid is None:
            sid = self.ids[x] = len(self.states)
            self.states.append(x)
            self.parent.append(parent)
            self.via.append(action)
            self.nxt.append(sid)
        return sid

    def expand_level(self, poll: Callable[[], bool] | None = None) -> bool:
        """Expand the frontier into `nxt`; every POLL_EVERY states `poll()` may stop it early
        (True). Whether it was stopped."""
        expand, states, workers, me = self.expand, self.states, self.workers, self.me
        transitions = 0
        try:
            for n, sid in enumerate(self.frontier, 1):
                transitions += expand(states[sid], sid * workers + me)
                if n % POLL_EVERY == 0 and poll is not None and poll():
                    return True
        finally:
            self.transitions += transitions
        return False

    def check_level(self) -> None:
        """Check the frontier's states without expanding them (the depth bound)."""
        check, states, workers, me = self.check, self.states, self.workers, self.me
        for sid in self.frontier:
            check(states[sid], sid * workers + me)

    def next_level(self) -> None:
        self.frontier = list(self.nxt)
        del self.nxt[:]

    def size(self) -> int:
        return store_size(self.ids, self.states, self.parent, self.via)


def explore(model: LoadedModel, bounds: Bounds = Bounds(), *, record_edges: bool = False,
            progress: Callable[[int, int, int, float], None] | None = None, symmetry: bool = False,
            checkpoint: Checkpointing | None = None, resume: str | None = None) -> Exploration:
    """Breadth-first search; `resume` is a checkpoint directory to continue from."""
    search = prepare(model, symmetry=symmetry, record_edges=record_edges)
    compiled = search.compiled
    ident = ckpt.identity(model, symmetry) if (checkpoint or resume) else {}
    core = Core(model, search, edges=[] if record_edges else None)
    states, edges = core.states, core.edges
    init_ids = [core.add(x) for x in search.initial_states(model)]
    core.next_level()
    before = 0.0   # seconds spent by earlier sessions of a resumed search
    if resume is not None:
        snap = ckpt.load(resume, ident)
        states[:] = snap.states
        core.ids.clear()
        core.ids.update(zip(states, range(len(states)), strict=True))
        for mine, saved in ((core.parent, snap.parent), (core.via, snap.via)):   # the arrays `expand` holds
            mine[:] = saved if saved.typecode == mine.typecode else array(mine.typecode, saved)
        core.frontier, core.depth, core.transitions, before = snap.frontier, snap.depth, snap.transitions, snap.seconds
        core.cov[:] = snap.coverage
        for k, (sid, a) in snap.found.items():
            core.found_flags[k] = 1
            core.found[k] = (snap.depth, sid, a)
        for k, sid in snap.reached.items():
            core.reached_flags[k] = 1
            core.reached[k] = (snap.depth, sid)
        if snap.deadlock is not None:
            core.deadlock = (snap.depth, snap.deadlock)

    start = time.monotonic()
    deadline = start + bounds.timeout if bounds.timeout else None
    max_states = bounds.max_states
    bounds_hit: list[str] = []
    last_save = start

    def poll() -> bool:
        if deadline is not None and time.monotonic() > deadline:
            bounds_hit.append(f"timeout {bounds.timeout:g} s")
        elif max_states is not None and len(states) >= max_states:
            bounds_hit.append(f"max-states {max_states}")
        elif edges is not None and bounds.max_edges is not None and len(edges) > bounds.max_edges:
            bounds_hit.append(f"max-edges {bounds.max_edges}")
        elif progress is not None:
            progress(len(states), len(core.nxt), core.depth, time.monotonic() - start)
        return bool(bounds_hit)

    def mark() -> tuple:
        """The search at this level boundary, cheaply: states only grow, so a length is enough."""
        return (len(states), list(core.frontier), core.depth, core.transitions, before + time.monotonic() - start,
                core.cov[:], {k: (sid, a) for k, (_, sid, a) in core.found.items()},
                {k: sid for k, (_, sid) in core.reached.items()}, core.deadlock[1] if core.deadlock else None)

    def snapshot(m: tuple) -> ckpt.Snapshot:
        count, front, d, trans, secs, cv, fnd, rch, dl = m
        return ckpt.Snapshot(identity=ident, states=states[:count], parent=core.parent[:count],
                             via=core.via[:count], frontier=front, depth=d, transitions=trans, seconds=secs,
                             coverage=cv, found=fnd, reached=rch, deadlock=dl,
                             state_bytes=max(1, (compiled.layout.total_bits + 7) // 8))

    level_start = mark() if checkpoint else None
    try:
        while core.frontier:
            if bounds.max_depth is not None and core.depth >= bounds.max_depth:
                # states at the bound are checked, but their successors are not looked at
                core.check_level()
                bounds_hit.append(f"max-depth {bounds.max_depth}")
                break
            core.expand_level(poll)
            if bounds_hit:
                break
            if core.nxt and max_states is not None and len(states) >= max_states:
                bounds_hit.append(f"max-states {max_states}")
                break
            if core.nxt and deadline is not None and time.monotonic() > deadline:
                bounds_hit.append(f"timeout {bounds.timeout:g} s")
                break
            core.next_level()
            if core.frontier:
                core.depth += 1
            if checkpoint is not None:
                level_start = mark()
                if core.frontier and time.monotonic() - last_save >= checkpoint.every:
                    ckpt.save(checkpoint.directory, snapshot(level_start))
                    last_save = time.monotonic()
    except KeyboardInterrupt:
        if checkpoint is None or level_start is None:
            raise
        ckpt.save(checkpoint.directory, snapshot(level_start))
        raise SearchInterrupted(checkpoint.directory, level_start[2], level_start[0]) from None
    seconds = before + time.monotonic() - start
    return Exploration(model=model, compiled=compiled, states=states, parent=core.parent, via=core.via,
                       depth=core.depth, transitions=core.transitions, seconds=seconds, complete=not bounds_hit,
                       bounds_hit=bounds_hit,
                       found={k: Found(prop=k, state=sid, action=a) for k, (_, sid, a) in core.found.items()},
                       deadlock=Found(prop=-1, state=core.deadlock[1]) if core.deadlock else None,
                       reached={k: sid for k, (_, sid) in core.reached.items()}, coverage=core.cov, edges=edges,
                       init_ids=init_ids, symmetry=search.plan, canon=search.canon, keys=search.keys,
                       store_bytes=core.size())
