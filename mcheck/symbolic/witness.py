"""Turn a Z3 model into a witness, replaying it concretely first (mypyvy's smoke test).

Every symbolic path is re-run through the explorer's generated `successors` function:
each replayed state must equal the state Z3 decoded, and the property must fail (or the
goal hold) concretely at the end. A mismatch is a bug in the translation, never in the
model, and raises `EngineBug` rather than being reported as a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import z3

from mcheck.errors import McheckError
from mcheck.explore.check import build_witness
from mcheck.explore.codegen import generate
from mcheck.model.evaluate import evaluate
from mcheck.model.expr import BitVecSort, Sort
from mcheck.symbolic.system import Check, System
from mcheck.verdict import Change, Step, Witness

State = tuple[int, ...]


class EngineBug(McheckError):
    """The symbolic engine and the concrete semantics disagree: a bug in mcheck.symbolic."""


@dataclass(kw_only=True)
class Cti:
    """A counterexample to induction: `states[0..k]` linked by `actions`, `check` breaks at the end."""

    check: Check
    k: int
    states: list[State]
    actions: list[int]


class Replayer:
    """Concrete replay of symbolic paths for one model."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.model = system.model
        self.compiled = generate(self.model, record_edges=False)
        self.layout = self.compiled.layout

    def path(self, m: z3.ModelRef, steps: int) -> tuple[list[State], list[int]]:
        """States 0..steps and the actions between them, as Z3 decoded them."""
        return ([self.system.decode_state(m, k) for k in range(steps + 1)], self.system.decode_actions(m, steps))

    def confirm(self, check: Check, states: Sequence[State], actions: Sequence[int], *, goal: bool = False) -> None:
        """Replay and evaluate concretely; raise `EngineBug` unless `check` really breaks (or the goal holds)."""
        what = f"{'goal' if goal else 'property'} {check.name} at depth {len(actions)}"
        self._replay(states, actions, what)  # a range break raises the model's own ModelRuntimeError here
        if check.kind == "range" or not self._breaks(check, states, actions, goal):
            raise EngineBug(f"symbolic engine bug: {what}: Z3 found it, the concrete evaluation disagrees")

    def confirm_cti(self, check: Check, states: Sequence[State], actions: Sequence[int]) -> None:
        """Check a counterexample to induction step by step with the reference evaluator.

        Not through the explorer's `successors`: that evaluates every enabled action and
        raises if any of them leaves a range, which an unreachable CTI state may well do.
        """
        what = f"counterexample to induction for {check.name}"
        slots = self.model.slots
        for k, a in enumerate(actions, 1):
            act, before = self.model.actions[a], states[k - 1]
            expected = list(before)
            for j, e in act.assigns.items():
                v, sort = evaluate(e, before), slots[j].sort
                expected[j] = v & sort.mask if isinstance(sort, BitVecSort) else v
            if not evaluate(act.guard, before) or tuple(expected) != tuple(states[k]):
                raise EngineBug(f"symbolic engine bug: {what}: step {k} ({act.label}) differs from the evaluator")
        if check.kind == "range":
            ok = bool(actions) and any(not _in_sort(slots[j].sort, states[-1][j]) for j in self.model.actions[actions[-1]].assigns)
        else:
            ok = self._breaks(check, states, actions, False)
        if not ok:
            raise EngineBug(f"symbolic engine bug: {what}: the property holds concretely")

    def _breaks(self, check: Check, states: Sequence[State], actions: Sequence[int], goal: bool) -> bool:
        last = states[-1]
        if check.kind == "deadlock":
            enabled = any(evaluate(a.guard, last) for a in self.model.actions)
            return not enabled and not evaluate(self.model.end_state, last)
        p = check.prop(self.model)
        if check.kind == "transition":
            cond = p.per_action.get(actions[-1]) if actions else None
            return cond is not None and not evaluate(cond, states[-2])
        assert p.expr is not None
        return bool(evaluate(p.expr, last)) == goal

    def _replay(self, states: Sequence[State], actions: Sequence[int], what: str) -> None:
        x = self.layout.pack(states[0])
        for k, a in enumerate(actions, 1):
            nxt = [y for b, y in self.compiled.successors(x) if b == a]
            if not nxt:
                raise EngineBug(f"symbolic engine bug: {what}: action {self.model.actions[a].label} "
                                f"is not enabled at step {k} of the concrete replay")
            x = nxt[0]
            if self.layout.unpack(x) != tuple(states[k]):
                diff = [s.name for s, u, v in zip(self.model.slots, self.layout.unpack(x), states[k], strict=True) if u != v]
                raise EngineBug(f"symbolic engine bug: {what}: after step {k} the concrete replay differs "
                                f"from Z3 in {', '.join(diff)}")

    def witness(self, states: Sequence[State], actions: Sequence[int]) -> Witness:
        """The explicit engine's witness format, built by its own replay."""
        initial = tuple(states[0])
        index = self.model.initial.index(initial) if initial in self.model.initial else 0
        return build_witness(self.model, self.compiled.successors, self.layout.unpack, self.layout.pack(initial),
                             list(actions), index)


def _in_sort(sort: Sort, value: int) -> bool:
    lo, hi = sort.code_range()
    return lo <= value <= hi


def describe_steps(system: System, states: Sequence[State], actions: Sequence[int]) -> list[Step]:
    """Steps between arbitrary (possibly unreachable) states, e.g. a counterexample to induction."""
    model = system.model
    steps = []
    for number, a in enumerate(actions, 1):
        act = model.actions[a]
        before, after = states[number - 1], states[number]
        changes = [Change(field=s.name, before=s.sort.decode(u), after=s.sort.decode(v))
                   for s, u, v in zip(model.slots, before, after, strict=True) if u != v]
        steps.append(Step(number=number, action=act.name, params=dict(act.params), label=act.label,
                          event=dict(act.event) if act.event else None, clauses=list(act.clauses), changes=changes))
    return steps
