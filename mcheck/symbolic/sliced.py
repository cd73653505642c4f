"""The k=1 step case, one small query per action (what makes 64 members fast).

The monolithic step query (every property of every member at t0, every action, every
property at t1) grows with members squared in practice and took 30 s at 64 members.
But an action only writes a few slots, so at t1 only the invariant conjuncts that read
those slots can break (the rest are unchanged and assumed at t0), and only the conjuncts
sharing slots with the action or those goals are worth assuming. Each action gets a
query over that slice. Dropping assumptions only adds behaviours, so an unsat slice is a
proof; a sat slice is re-checked with the full (unsliced) query for that action before a
counterexample to induction is reported.

Deadlock freedom is settled separately as a state query: no state in range that
satisfies every proved invariant is stuck.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from mcheck.model.expr import Expr, Op, slots_of
from mcheck.symbolic.bmc import Budget
from mcheck.symbolic.system import Check, System
from mcheck.symbolic.translate import Translator
from mcheck.symbolic.witness import Cti, Replayer


@dataclass(frozen=True)
class _Conjunct:
    check: Check
    expr: Expr
    slots: frozenset[int]


def _conjuncts(system: System, checks: list[Check]) -> list[_Conjunct]:
    out: list[_Conjunct] = []
    for c in checks:
        expr = c.prop(system.model).expr if c.kind == "invariant" else None
        if expr is None:
            continue
        parts = expr.args if isinstance(expr, Op) and expr.op == "and" else (expr,)
        out.extend(_Conjunct(c, e, frozenset(slots_of(e))) for e in parts)
    return out


class SlicedStep:
    """Per-action 1-induction over the candidates still alive (Houdini, like `step_case`)."""

    def __init__(self, system: System, replayer: Replayer, budget: Budget) -> None:
        self.system = system
        self.replayer = replayer
        self.budget = budget
        self.ctx = system.enc.ctx
        self.cur = system.cur
        self.dom = [system.enc.domain(s.sort, v) for s, v in zip(system.model.slots, system.cur, strict=True)]

    def run(self, candidates: list[Check]) -> tuple[list[Check], dict[str, Cti]]:
        live = [c for c in candidates if c.kind != "deadlock"]
        ctis: dict[str, Cti] = {}
        while True:
            broken = self._sweep(live)
            if broken is None:
                return [], ctis  # out of time: claim nothing
            if not broken:
                break
            for cti in broken.values():
                ctis[cti.check.name] = cti
                live.remove(cti.check)
        deadlock = [c for c in candidates if c.kind == "deadlock"]
        for d in deadlock:
            stuck = self._stuck(live, d)
            if stuck is None and self.budget.expired:
                return [], ctis
            if stuck is None:
                live.append(d)
            else:
                ctis[d.name] = stuck
        return live, ctis

    def _sweep(self, live: list[Check]) -> dict[str, Cti] | None:
        """CTIs found at the first action with one ({} when every action is fine); None on timeout."""
        conj = _conjuncts(self.system, live)
        by_slot: dict[int, list[_Conjunct]] = {}
        for cj in conj:
            for j in cj.slots:
                by_slot.setdefault(j, []).append(cj)
        for act in self.system.model.actions:
            writes = set(act.assigns)
            goals = {id(cj): cj for j in writes for cj in by_slot.get(j, [])}
            trans = [c for c in live
                     if c.kind == "transition" and act.index in c.prop(self.system.model).per_action]
            risky = writes & self.system.risky if any(c.kind == "range" for c in live) else set()
            if not (goals or trans or risky):
                continue
            query = self._slice(act.index, list(goals.values()), trans, risky, by_slot)
            m = self.budget.solve(self.ctx, query)
            if m is None:
                if self.budget.expired:
                    return None
                continue
            broken = self._confirm(act.index, live)
            if broken is None and self.budget.expired:
                return None
            if broken:
                return broken
        return {}

    def _slice(self, a: int, goals: list[_Conjunct], trans: list[Check], risky: set[int],
               by_slot: dict[int, list[_Conjunct]]) -> list[z3.BoolRef]:
        system, act = self.system, self.system.model.actions[a]
        tr = system.translator
        after = list(self.cur)
        for j, e in act.assigns.items():
            after[j] = tr.as_sort(e, system.model.slots[j].sort)
        tr1 = Translator(system.enc, after)
        relevant = set(slots_of(act.guard)).union(*(slots_of(e) for e in act.assigns.values()), act.assigns)
        for cj in goals:
            relevant |= cj.slots
        assumed = {id(cj): cj for j in relevant for cj in by_slot.get(j, [])}
        used = relevant.union(*(cj.slots for cj in assumed.values()))
        in_range = [d for j in act.assigns if (d := system.enc.domain(system.model.slots[j].sort, after[j])) is not None]
        bad = [z3.And(in_range + [z3.Not(tr1(cj.expr))]) for cj in goals]
        bad += [z3.Not(tr(c.prop(system.model).per_action[a])) for c in trans]
        bad += [z3.Not(d) for j in risky if (d := system.enc.domain(system.model.slots[j].sort, after[j])) is not None]
        return ([self.dom[j] for j in used if self.dom[j] is not None] + [system.guards[a]]
                + [tr(cj.expr) for cj in assumed.values()] + [z3.Or(bad)])

    def _confirm(self, a: int, live: list[Check]) -> dict[str, Cti] | None:
        """The full 1-step query for action `a`: the CTIs it has ({} if the slice was too coarse)."""
        s = self.system
        in_range = s.at(s.domain, 1)
        terms = {c.name: (s.bad_at(c, 1) if c.kind == "range" else z3.And(in_range, s.bad_at(c, 1))) for c in live}
        query = [s.at(s.domain, 0), s.at(s.trans, 0), s.tid_at(0) == a]
        query += [z3.Not(s.bad_at(c, 0)) for c in live if not c.step]
        m = self.budget.solve(self.ctx, query + [z3.Or(list(terms.values()))])
        if m is None:
            return None if self.budget.expired else {}
        states, actions = self.replayer.path(m, 1)
        out = {}
        for c in live:
            if z3.is_true(m.eval(terms[c.name], model_completion=True)):
                self.replayer.confirm_cti(c, states, actions)
                out[c.name] = Cti(check=c, k=1, states=states, actions=actions)
        return out

    def _stuck(self, live: list[Check], deadlock: Check) -> Cti | None:
        """A state in range, satisfying every live invariant, where nothing is enabled (k=0 CTI)."""
        s = self.system
        query = [s.domain, deadlock.bad] + [z3.Not(c.bad) for c in live if not c.step]
        m = self.budget.solve(self.ctx, [s.at(q, 0) for q in query])
        if m is None:
            return None
        states = [s.decode_state(m, 0)]
        self.replayer.confirm(deadlock, states, [])
        return Cti(check=deadlock, k=0, states=states, actions=[])
