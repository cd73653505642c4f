"""The explicit-state check: explore, then turn what was found into a `Result`.

Witnesses are rebuilt by replaying action indices through the generated `successors`
function (states are never stored twice); if a replay step cannot be found, the model
is nondeterministic in a way the explorer cannot trust, and that is reported as such.
"""

from __future__ import annotations

from typing import Any, Callable

from mcheck.errors import ModelRuntimeError
from mcheck.explore.bfs import Bounds, Exploration, explore
from mcheck.model.build import LoadedModel
from mcheck.verdict import (
    BOUNDED, HOLDS, VIOLATED, Change, PropertyVerdict, Result, Step, Violation, Witness, overall,
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
                   for s, b, c in zip(model.slots, before, after) if b != c]
        steps.append(Step(number=number, action=act.name, params=dict(act.params), label=act.label,
                          event=dict(act.event) if act.event else None, clauses=list(act.clauses),
                          changes=changes))
        before = after
    return Witness(initial=model.decode_state(unpack(start)), steps=steps, action_indices=list(actions),
                   initial_index=initial_index)


def _witness(exp: Exploration, sid: int, extra: int | None = None) -> Witness:
    root = exp.root(sid)
    actions = exp.path(sid) + ([extra] if extra is not None else [])
    return build_witness(exp.model, exp.compiled.successors, exp.compiled.layout.unpack, exp.states[root], actions,
                         exp.init_ids.index(root) if root in exp.init_ids else 0)


def coverage(model: LoadedModel, counts: list[int]) -> dict[str, Any]:
    by_name: dict[str, dict[str, int]] = {}
    for act, n in zip(model.actions, counts):
        entry = by_name.setdefault(act.name, {"instances": 0, "fired_instances": 0, "transitions": 0})
        entry["instances"] += 1
        entry["fired_instances"] += 1 if n else 0
        entry["transitions"] += n
    all_clauses = sorted({c for a in model.actions for c in a.clauses} | {c for p in model.properties for c in p.clauses})
    fired = {c for a, n in zip(model.actions, counts) if n for c in a.clauses}
    return {
        "actions": by_name,
        "never_fired": [a.label for a, n in zip(model.actions, counts) if not n],
        "clauses": {c: (c in fired) for c in sorted({c for a in model.actions for c in a.clauses})},
        "all_clauses": all_clauses,
    }


def result_of(exp: Exploration, engine: str = "explicit") -> Result:
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
                                        witness=_witness(exp, f.state, f.action)))
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
    return Result(model=model.name, params=model.params.as_dict(), engine=engine, verdict=verdict,
                  states=len(exp.states), transitions=exp.transitions, depth=exp.depth,
                  seconds=round(exp.seconds, 6), bounds_hit=list(exp.bounds_hit), properties=verdicts,
                  violations=violations, coverage=coverage(model, exp.coverage))


def check(model: LoadedModel, bounds: Bounds = Bounds(), *, record_edges: bool = False,
          progress: Callable[[int, int, int, float], None] | None = None) -> tuple[Result, Exploration]:
    exp = explore(model, bounds, record_edges=record_edges, progress=progress)
    return result_of(exp), exp
