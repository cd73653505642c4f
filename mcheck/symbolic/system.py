"""A loaded model as a symbolic transition system, and its unrolling into numbered states.

Everything is translated once over template variables (`cur`, `nxt`, the action
indicator `tid`); the copy for step k is made by `z3.substitute` inside Z3, so the
Python-side cost does not grow with the depth. State k's variables are named
`<slot>@k` and step k's action indicator `tid@k` (mypyvy's `tid_`): its value in a Z3
model is the index of the `ActionInstance` that fired, which is what a witness replays.

Each action contributes `tid == i => guard_i`; each slot's next value is one `If` chain
over the actions that assign it, so the relation grows with the sum of assignments, not
with actions x slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import z3

from mcheck.model.build import LoadedModel, PropertyInstance
from mcheck.model.expr import IntSort, Sort
from mcheck.symbolic.translate import Encoding, Translator, int_width

DEADLOCK = "deadlock_free"
RANGES = "value_ranges"


@dataclass(frozen=True, kw_only=True)
class Check:
    """One safety property or goal as the condition that breaks (or reaches) it.

    `kind` is invariant, transition, deadlock or range. `bad` is over `cur` for state
    checks; for step checks (`step=True`) it is over `cur`, `nxt` and `tid`, and is
    instantiated at the step *into* the state it is checked at.
    """

    name: str
    kind: str
    clauses: tuple[str, ...]
    doc: str
    bad: z3.BoolRef
    step: bool
    prop_index: int | None  # position in model.properties (None for deadlock and range)

    def prop(self, model: LoadedModel) -> PropertyInstance:
        """The property of `model` this check stands for (not for deadlock and range checks)."""
        if self.prop_index is None:
            raise ValueError(f"check {self.name} ({self.kind}) stands for no property of the model")
        return model.properties[self.prop_index]


def _fits(value: Sort, target: Sort) -> bool:
    return not isinstance(target, IntSort) or (
        isinstance(value, IntSort) and target.lo <= value.lo and value.hi <= target.hi)


class System:
    """The symbolic form of one loaded model."""

    def __init__(self, model: LoadedModel, ctx: z3.Context | None = None) -> None:
        self.model = model
        exprs = [a.guard for a in model.actions] + [e for a in model.actions for e in a.assigns.values()]
        exprs += [p.expr for p in model.properties if p.expr is not None]
        exprs += [e for p in model.properties for e in p.per_action.values()] + [model.end_state]
        self.enc = Encoding(int_width(exprs, (s.sort for s in model.slots)), ctx)
        ctx = self.enc.ctx
        n = len(model.actions)
        self.tid_width = max(1, (n - 1).bit_length())
        self.cur = [self.enc.var(s.name, s.sort) for s in model.slots]
        self.nxt = [self.enc.var(s.name + "'", s.sort) for s in model.slots]
        self.tid = z3.BitVec("tid", self.tid_width, ctx)
        self._states: dict[int, list[z3.ExprRef]] = {}
        self._tids: dict[int, z3.BitVecRef] = {}
        self.translator = tr = Translator(self.enc, self.cur)

        self.init = z3.And([z3.Or([v == self.enc.value(s.sort, x) for x in s.init]) for s, v in zip(model.slots, self.cur, strict=True)]
                           + [z3.BoolVal(True, ctx)])
        self.domain = self._domain(self.cur)

        picks = [self.tid == z3.BitVecVal(a.index, self.tid_width, ctx) for a in model.actions]
        self.guards = guards = [tr(a.guard) for a in model.actions]
        parts = [z3.ULT(self.tid, z3.BitVecVal(n, self.tid_width, ctx))] if n < (1 << self.tid_width) else []
        parts += [z3.Implies(p, g) for p, g in zip(picks, guards, strict=True)]
        writers: dict[int, list[int]] = {}
        risky: set[int] = set()
        for a in model.actions:
            for slot, e in a.assigns.items():
                writers.setdefault(slot, []).append(a.index)
                if not _fits(e.sort, model.slots[slot].sort):
                    risky.add(slot)
        for slot, info in enumerate(model.slots):
            value: z3.ExprRef = self.cur[slot]
            for i in reversed(writers.get(slot, [])):
                value = z3.If(picks[i], tr.as_sort(model.actions[i].assigns[slot], info.sort), value)
            parts.append(self.nxt[slot] == value)
        self.trans = z3.And(parts)

        self.checks: list[Check] = []
        self.goals: list[Check] = []
        for k, p in enumerate(model.properties):
            if p.kind == "transition":
                bad = z3.Or([z3.And(picks[i], z3.Not(tr(c))) for i, c in p.per_action.items()] + [z3.BoolVal(False, ctx)])
                self.checks.append(Check(name=p.name, kind=p.kind, clauses=p.clauses, doc=p.doc, bad=bad, step=True,
                                         prop_index=k))
            elif p.kind == "invariant":
                assert p.expr is not None
                self.checks.append(Check(name=p.name, kind=p.kind, clauses=p.clauses, doc=p.doc,
                                         bad=z3.Not(tr(p.expr)), step=False, prop_index=k))
            else:
                assert p.expr is not None
                self.goals.append(Check(name=p.name, kind=p.kind, clauses=p.clauses, doc=p.doc, bad=tr(p.expr),
                                        step=False, prop_index=k))
        stuck = z3.And([z3.Not(tr(model.end_state))] + [z3.Not(g) for g in guards])
        self.checks.append(Check(name=DEADLOCK, kind="deadlock", clauses=(), doc="", bad=stuck, step=False,
                                 prop_index=None))
        # An Int slot whose assignment can leave its range: the explorer raises there, so
        # it is a property here, checked before the next state's range is assumed.
        self.risky = frozenset(risky)
        self.range_check: Check | None = None
        if risky:
            out = z3.Or([z3.Not(c) for j in sorted(risky)
                         if (c := self.enc.domain(model.slots[j].sort, self.nxt[j])) is not None])
            self.range_check = Check(name=RANGES, kind="range", clauses=(), doc="", bad=out, step=True,
                                     prop_index=None)

    def _domain(self, state: Sequence[z3.ExprRef]) -> z3.BoolRef:
        cons = [c for s, v in zip(self.model.slots, state, strict=True) if (c := self.enc.domain(s.sort, v)) is not None]
        return z3.And(cons + [z3.BoolVal(True, self.enc.ctx)])

    # -- unrolling
    def state(self, k: int) -> list[z3.ExprRef]:
        """The variables of state k (`<slot>@k`)."""
        if k not in self._states:
            self._states[k] = [self.enc.var(f"{s.name}@{k}", s.sort) for s in self.model.slots]
        return self._states[k]

    def tid_at(self, k: int) -> z3.BitVecRef:
        """The action indicator of the step from state k to state k+1."""
        if k not in self._tids:
            self._tids[k] = z3.BitVec(f"tid@{k}", self.tid_width, self.enc.ctx)
        return self._tids[k]

    def at(self, term: z3.ExprRef, k: int) -> z3.ExprRef:
        """`term` with `cur` as state k, `nxt` as state k+1 and `tid` as step k's indicator."""
        pairs = list(zip(self.cur, self.state(k), strict=True)) + list(zip(self.nxt, self.state(k + 1), strict=True))
        pairs.append((self.tid, self.tid_at(k)))
        return z3.substitute(term, *pairs)

    def bad_at(self, check: Check, k: int) -> z3.ExprRef:
        """`check` broken at state k (for a step check: by the step into state k, k >= 1)."""
        return self.at(check.bad, k - 1 if check.step else k)

    def decode_state(self, m: z3.ModelRef, k: int) -> tuple[int, ...]:
        return tuple(self.enc.decode(s.sort, m.eval(v, model_completion=True))
                     for s, v in zip(self.model.slots, self.state(k), strict=True))

    def decode_actions(self, m: z3.ModelRef, steps: int) -> list[int]:
        return [m.eval(self.tid_at(i), model_completion=True).as_long() for i in range(steps)]
