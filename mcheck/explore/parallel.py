"""Breadth-first search spread over worker processes (`--workers N`).

Each worker owns the states whose packed int falls in its partition
(`state % PARTITION_PRIME % N`): it keeps their store in a `bfs.Core` (the serial
search's core), expands them, stores successors it owns at once and sends the others to
their owner. The search is level-synchronous:
every worker finishes level d and merges what it was sent before any starts level d + 1,
so each state gets a parent one level closer to an initial state and counterexamples are
still shortest. Counts and verdicts equal one worker's; which of several equally short
counterexamples is reported may differ. Processes are forked (the generated code is
inherited, not pickled); at the end each worker ships its store back and the
coordinator joins the stores into one `Exploration`, so witnesses are built as usual.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from array import array
from typing import Any
from collections.abc import Callable

from mcheck.errors import ModelRuntimeError
from mcheck.explore.bfs import Bounds, Core, Exploration, Found, Search, prepare
from mcheck.explore.codegen import PARTITION_PRIME
from mcheck.model.build import LoadedModel


def explore_parallel(model: LoadedModel, bounds: Bounds, workers: int, *, symmetry: bool = False,
                     progress: Callable[[int, int, int, float], None] | None = None) -> Exploration:
    search = prepare(model, symmetry=symmetry, workers=workers)
    ctx = mp.get_context("fork")
    inboxes = [ctx.Queue() for _ in range(workers)]
    commands = [ctx.Queue() for _ in range(workers)]
    reports: Any = ctx.Queue()
    start = time.monotonic()
    deadline = start + bounds.timeout if bounds.timeout else None
    procs = [ctx.Process(target=_worker, args=(w, workers, model, search, inboxes, commands[w], reports, deadline),
                         daemon=True) for w in range(workers)]
    for p in procs:
        p.start()
    try:
        return _coordinate(model, bounds, workers, search, commands, reports, start, deadline, progress)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()


def _coordinate(model: LoadedModel, bounds: Bounds, workers: int, search: Search, commands: list, reports: Any,
                start: float, deadline: float | None, progress: Callable | None) -> Exploration:
    depth = 0
    bounds_hit: list[str] = []
    while True:
        at_bound = bounds.max_depth is not None and depth >= bounds.max_depth
        for q in commands:
            q.put("check" if at_bound else "expand")
        level = [_receive(reports) for _ in range(workers)]
        states = sum(r["states"] for r in level)
        frontier = sum(r["frontier"] for r in level)
        if progress is not None:
            progress(states, frontier, depth, time.monotonic() - start)
        if at_bound:
            bounds_hit.append(f"max-depth {bounds.max_depth}")
            break
        if any(r["timed_out"] for r in level):
            bounds_hit.append(f"timeout {bounds.timeout:g} s")
            break
        if not frontier:
            break
        if bounds.max_states is not None and states >= bounds.max_states:
            bounds_hit.append(f"max-states {bounds.max_states}")
            break
        if deadline is not None and time.monotonic() > deadline:
            bounds_hit.append(f"timeout {bounds.timeout:g} s")
            break
        depth += 1
    for q in commands:
        q.put("finish")
    parts = sorted((_receive(reports) for _ in range(workers)), key=lambda r: r["worker"])
    return _join(model, search, parts, workers, depth, bounds_hit, time.monotonic() - start)


def _receive(reports: Any) -> dict:
    msg = reports.get()
    if "error" in msg:
        raise ModelRuntimeError(msg["error"])
    return msg


def _join(model: LoadedModel, search: Search, parts: list[dict], workers: int, depth: int,
          bounds_hit: list[str], seconds: float) -> Exploration:
    """One store from the workers' stores: worker w's local id i (global id i*N + w) becomes offset[w] + i."""
    offset, total = [], 0
    for part in parts:
        offset.append(total)
        total += len(part["states"])

    def local(g: int) -> int:
        return offset[g % workers] + g // workers

    states: list[int] = []
    parent, via = array("q"), array("l")
    for part in parts:
        states.extend(part["states"])
        parent.extend(-1 if g < 0 else local(g) for g in part["parent"])
        via.extend(part["via"])
    # several workers may find the same property in the same level: the lowest (depth, id) wins
    first_found: dict[int, tuple[int, int, int | None]] = {}
    first_reached: dict[int, tuple[int, int]] = {}
    first_deadlock: tuple[int, int] | None = None
    for part in parts:
        for k, (d, g, a) in part["found"].items():
            if k not in first_found or (d, local(g)) < first_found[k][:2]:
                first_found[k] = (d, local(g), a)
        for k, (d, g) in part["reached"].items():
            if k not in first_reached or (d, local(g)) < first_reached[k]:
                first_reached[k] = (d, local(g))
        if part["deadlock"] is not None:
            d, g = part["deadlock"]
            if first_deadlock is None or (d, local(g)) < first_deadlock:
                first_deadlock = (d, local(g))
    found = {k: Found(prop=k, state=sid, action=a) for k, (_, sid, a) in first_found.items()}
    reached = {k: sid for k, (_, sid) in first_reached.items()}
    deadlock = Found(prop=-1, state=first_deadlock[1]) if first_deadlock else None
    coverage = [sum(c) for c in zip(*(part["coverage"] for part in parts), strict=True)]
    initial = search.initial_states(model)
    # a worker stores its initial states first, so they are found among its first len(initial) states
    init_ids = [offset[w] + parts[w]["states"].index(x, 0, len(initial))
                for x in initial for w in [x % PARTITION_PRIME % workers]]
    return Exploration(model=model, compiled=search.compiled, states=states, parent=parent, via=via, depth=depth,
                       transitions=sum(p["transitions"] for p in parts), seconds=seconds, complete=not bounds_hit,
                       bounds_hit=bounds_hit, found=found, deadlock=deadlock, reached=reached, coverage=coverage,
                       edges=None, init_ids=init_ids, symmetry=search.plan, canon=search.canon, keys=search.keys,
                       store_bytes=sum(p["store_bytes"] for p in parts), workers=workers)


def _worker(me: int, workers: int, model: LoadedModel, search: Search, inboxes: list, commands: Any, reports: Any,
            deadline: float | None) -> None:
    try:
        _work(me, workers, model, search, inboxes, commands, reports, deadline)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # the coordinator reports it as one line
        reports.put({"worker": me, "error": f"worker {me}: {type(exc).__name__}: {exc}"})


def _work(me: int, workers: int, model: LoadedModel, search: Search, inboxes: list, commands: Any, reports: Any,
          deadline: float | None) -> None:
    outboxes: list[dict[int, int]] = [{} for _ in range(workers)]
    core = Core(model, search, me=me, workers=workers, outboxes=outboxes)
    nactions = len(model.actions)
    for x in search.initial_states(model):
        if x % PARTITION_PRIME % workers == me:
            core.add(x)
    core.next_level()

    def poll() -> bool:
        return deadline is not None and time.monotonic() > deadline

    while True:
        command = commands.get()
        if command == "finish":
            reports.put({"worker": me, "states": core.states, "parent": core.parent, "via": core.via,
                         "found": core.found, "reached": core.reached, "deadlock": core.deadlock,
                         "coverage": core.cov, "transitions": core.transitions, "store_bytes": core.size()})
            return
        timed_out = False
        if command == "check":
            core.check_level()
        else:
            timed_out = core.expand_level(poll)
            for w in range(workers):
                if w != me:
                    inboxes[w].put(outboxes[w])
                    outboxes[w] = {}
            for _ in range(workers - 1):
                for y, link in inboxes[me].get().items():
                    pid, a = divmod(link, nactions)
                    core.add(y, pid, a)
            core.next_level()
            core.depth += 1
        reports.put({"worker": me, "states": len(core.states), "frontier": len(core.frontier),
                     "timed_out": timed_out})
