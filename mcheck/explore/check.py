"""The explicit-state check: explore, then turn what was found into a `CheckResult`.

Witnesses are rebuilt by replaying action indices through the generated `successors`
function (states are never stored twice); if a replay step cannot be found, the model
is nondeterministic in a way the explorer cannot trust, and that is reported as such.
Under symmetry the stored path is one of canonical states; it is made concrete by
walking the unreduced model from its initial state, at each step taking a successor
whose canonical form is the next stored state, so every witness replays on the
unreduced model.
"""

from __future__ import annotations

from typing import Any, cast
from collections.abc import Callable

from mcheck.errors import InputError, ModelRuntimeError
from mcheck.explore.bfs import Bounds, Checkpointing, Exploration, explore
from mcheck.explore.symmetry import orbit_states
from mcheck.model.build import LoadedModel
from mcheck.verdict import (
    BOUNDED, HOLDS, VIOLATED, Change, CheckCoverage, CheckResult, PropertyVerdict, Step, Violation, Witness,
    overall,
)

DEADLOCK = "deadlock_free"


def build_witness(model: LoadedModel, successors: Callable[[int], list[tuple[int, int]]],
                  unpack: Callable[[int], tuple[int, ...]], start: int, actions: list[int],
                  initial_index: int = 0) -> Witness:
    """Replay `actions` from packed state `start`, recording each step's changes."""
    x = start
    before = unpack(x)
    steps = []
    for number, a in enumerate(actions, 1):
        nxt = [y for (b, y) in successors(x) if b == a]
        act = model.actions[a]
        if not nxt:
            raise ModelRuntimeError(
                f"{model.source}: replaying a witness, action {act.label} is not enabled at step {number}; "
                "the model is nondeterministic (does a guard depend on something outside the state?)")
        x = nxt[0]
        after = unpack(x)
        changes = [Change(field=s.name, before=s.sort.decode(b), after=s.sort.decode(c))
                   for s, b, c in zip(model.slots, before, after, strict=True) if b != c]
        steps.append(Step(number=number, action=act.name, params=dict(act.params), label=act.label,
                          event=dict(act.event) if act.event else None, clauses=list(act.clauses),
                          changes=changes))
        before = after
    return Witness(initial=model.decode_state(unpack(start)), steps=steps, action_indices=list(actions),
                   initial_index=initial_index)


def _witness(exp: Exploration, sid: int, extra: int | None = None, prop: int | None = None) -> Witness:
    """The witness ending at stored state `sid` (then action `extra`, which breaks transition property `prop`)."""
    if exp.canon is not None:
        start, actions, initial_index = _concrete_path(exp, sid, prop if extra is not None else None)
    else:
        root = exp.root(sid)
        start, actions = exp.states[root], exp.path(sid) + ([extra] if extra is not None else [])
        initial_index = exp.init_ids.index(root) if root in exp.init_ids else 0
    return build_witness(exp.model, exp.compiled.successors, exp.compiled.layout.unpack, start, actions, initial_index)


def _concrete_path(exp: Exploration, sid: int, prop: int | None) -> tuple[int, list[int], int]:
    """A concrete initial state and actions whose states have the canonical forms of the stored path."""
    canon, pack, successors = exp.canon, exp.compiled.layout.pack, exp.compiled.successors
    assert canon is not None
    chain = exp.chain(sid)
    starts = [k for k, v in enumerate(exp.model.initial) if canon(pack(v)) == exp.states[chain[0]]]
    initial_index = starts[0]
    x = start = pack(exp.model.initial[initial_index])
    actions = []
    for number, target in enumerate(chain[1:], 1):
        want = exp.states[target]
        step = next(((a, y) for a, y in successors(x) if canon(y) == want), None)
        if step is None:
            raise ModelRuntimeError(f"{exp.model.source}: making a symmetric witness concrete failed at step {number}; "
                                    "the model is not symmetric as declared")
        actions.append(step[0])
        x = step[1]
    if prop is not None:
        breaking = [a for a, k in exp.compiled.transition_failures(x) if k == prop]
        if not breaking:
            raise ModelRuntimeError(f"{exp.model.source}: no action breaks {exp.model.properties[prop].name} in the "
                                    "concrete state of a symmetric witness; the property is not symmetric")
        actions.append(breaking[0])
    return start, actions, initial_index


def coverage(model: LoadedModel, counts: list[int], orbit: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Per-action and per-clause coverage from `counts` (non-zero: the action instance fired;
    the explorer keeps flags, not counts, because counting costs a third of its time). Under symmetry (`orbit`: action -> its orbit's
    representative) an instance counts as fired when any instance of its orbit fired,
    since the search only expands canonical states."""
    on = list(counts)
    if orbit is not None:
        fired_orbits = {orbit[a] for a, n in enumerate(counts) if n}
        on = [1 if orbit[a] in fired_orbits else 0 for a in range(len(counts))]
    by_name: dict[str, dict[str, int]] = {}
    for act, f in zip(model.actions, on, strict=True):
        entry = by_name.setdefault(act.name, {"instances": 0, "fired_instances": 0})
        entry["instances"] += 1
        entry["fired_instances"] += 1 if f else 0
    all_clauses = sorted({c for a in model.actions for c in a.clauses} | {c for p in model.properties for c in p.clauses})
    fired = {c for a, f in zip(model.actions, on, strict=True) if f for c in a.clauses}
    return {
        "actions": by_name,
        "never_fired": [a.label for a, f in zip(model.actions, on, strict=True) if not f],
        "clauses": {c: (c in fired) for c in sorted({c for a in model.actions for c in a.clauses})},
        "all_clauses": all_clauses,
    }


def _scale_facts(exp: Exploration, result: CheckResult) -> None:
    """Memory per state and, under symmetry, what the reduction permuted and saved."""
    n = len(exp.states)
    result.coverage["memory"] = {"store_bytes": exp.store_bytes,
                                 "bytes_per_state": round(exp.store_bytes / n, 1) if n else None}
    result.notes.append(f"state store: {exp.store_bytes / max(n, 1):.0f} bytes/state"
                        + (f" over {exp.workers} workers" if exp.workers > 1 else ""))
    plan = exp.symmetry
    if plan is None:
        return
    facts: dict[str, Any] = {"index_set": plan.index_set, "permuted": list(plan.permuted), "fixed": list(plan.fixed),
                             "exact": plan.exact}
    result.notes.extend(plan.notes)
    what = f"symmetry over {plan.index_set} ({'ids ' + ', '.join(map(str, plan.permuted)) if plan.permuted else 'no ids'} permuted)"
    if plan.exact and exp.keys is not None:
        full = orbit_states(exp.states, exp.keys, len(plan.permuted))
        facts["orbit_states"] = full
        facts["reduction"] = round(full / n, 2) if n else None
        result.notes.append(f"{what}: {n:,} canonical states stand for {full:,} states, reduction {full / max(n, 1):.1f}x")
    else:
        result.notes.append(what)
    result.coverage["symmetry"] = facts


def result_of(exp: Exploration, engine: str = "explicit") -> CheckResult:
    model = exp.model
    verdicts: list[PropertyVerdict] = []
    violations: list[Violation] = []
    for k, p in enumerate(model.properties):
        if p.kind == "sometimes":
            if k in exp.reached:
                v = HOLDS
            elif exp.complete:
                v = VIOLATED
                violations.append(Violation(property=p.name, kind=p.kind, clauses=list(p.clauses),
                                            message=f"goal {p.name} is never reached: the model may be vacuous",
                                            witness=Witness(initial=model.decode_state(model.initial[0]), steps=[])))
            else:
                v = BOUNDED
        elif k in exp.found:
            f = exp.found[k]
            v = VIOLATED
            what = "invariant" if p.kind == "invariant" else "transition property"
            violations.append(Violation(property=p.name, kind=p.kind, clauses=list(p.clauses),
                                        message=f"{what} {p.name} is violated" + (f": {p.doc.splitlines()[0]}" if p.doc else ""),
                                        witness=_witness(exp, f.state, f.action, k)))
        else:
            v = HOLDS if exp.complete else BOUNDED
        verdicts.append(PropertyVerdict(name=p.name, kind=p.kind, clauses=list(p.clauses), verdict=v,
                                        description=p.doc.splitlines()[0] if p.doc else ""))
    if exp.deadlock is not None:
        verdicts.append(PropertyVerdict(name=DEADLOCK, kind="deadlock", clauses=[], verdict=VIOLATED,
                                        description="every state has an enabled action or is a declared end state"))
        violations.append(Violation(property=DEADLOCK, kind="deadlock", clauses=[],
                                    message="no action is enabled in the last state, and it is not a declared end state",
                                    witness=_witness(exp, exp.deadlock.state)))
    else:
        verdicts.append(PropertyVerdict(name=DEADLOCK, kind="deadlock", clauses=[],
                                        verdict=HOLDS if exp.complete else BOUNDED,
                                        description="every state has an enabled action or is a declared end state"))
    verdict = overall([v.verdict for v in verdicts], not exp.complete)
    result = CheckResult(model=model.name, params=model.params.as_dict(), engine=engine, verdict=verdict,
                    states=len(exp.states), transitions=exp.transitions, depth=exp.depth,
                    seconds=round(exp.seconds, 6), bounds_hit=list(exp.bounds_hit), properties=verdicts,
                    violations=violations,
                    coverage=cast(CheckCoverage, coverage(model, exp.coverage,
                                                          exp.symmetry.action_orbit if exp.symmetry else None)))
    _scale_facts(exp, result)
    return result


def check(model: LoadedModel, bounds: Bounds | None = None, *, record_edges: bool = False,
          progress: Callable[[int, int, int, float], None] | None = None, symmetry: bool = False,
          workers: int = 1, checkpoint: Checkpointing | None = None,
          resume: str | None = None) -> tuple[CheckResult, Exploration]:
    """Explore and judge. `workers` > 1 runs `mcheck.explore.parallel` (no edges, no checkpoints)."""
    bounds = bounds or Bounds()
    if workers > 1:
        if record_edges or checkpoint or resume:
            raise InputError("--workers N > 1 cannot record the graph or checkpoint; use one worker for that")
        from mcheck.explore.parallel import explore_parallel
        exp = explore_parallel(model, bounds, workers, symmetry=symmetry, progress=progress)
    else:
        exp = explore(model, bounds, record_edges=record_edges, progress=progress, symmetry=symmetry,
                      checkpoint=checkpoint, resume=resume)
    return result_of(exp), exp
