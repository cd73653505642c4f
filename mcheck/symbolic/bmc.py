"""Bounded model checking: init(s0) & T(s0,s1) & ... & T(sk-1,sk), for k = 0, 1, ..., K.

Depths are tried in order, so the first depth at which a property breaks is its shortest
counterexample, the same length as the explicit engine's breadth-first one. At each depth
one query asks whether *any* open property breaks; only when it does are the broken ones
read off the Z3 model (and the query repeated for the rest). Every finding is replayed
concretely before it is reported (`witness.Replayer.confirm`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from mcheck.model.build import LoadedModel
from mcheck.symbolic.system import DEADLOCK, Check, System
from mcheck.symbolic.witness import Replayer, State
from mcheck.verdict import (
    BOUNDED,
    HOLDS,
    VIOLATED,
    PropertyVerdict,
    Verdict,
    CheckResult,
    Violation,
    overall,
)


class Budget:
    """A wall-clock deadline shared by every query of one run."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.start = time.monotonic()
        self.deadline = None if timeout is None else self.start + timeout
        self.expired = False

    def solve(self, ctx: z3.Context, assertions: list[z3.BoolRef]) -> z3.ModelRef | None:
        """A model of `assertions`, or None when unsat or when the budget runs out (then `expired`).

        Each query gets a fresh solver: after push/pop Z3 switches to its incremental core,
        which measured 10-40x slower on these bit-vector queries than a one-shot solve.
        """
        solver = z3.Solver(ctx=ctx)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.expired = True
                return None
            solver.set(timeout=max(1, int(left * 1000)))
        solver.add(assertions)
        result = solver.check()
        if result == z3.unknown:
            self.expired = True
        return solver.model() if result == z3.sat else None

    def bound(self) -> str:
        return f"timeout {self.timeout:g} s"

    def seconds(self) -> float:
        return time.monotonic() - self.start


@dataclass(kw_only=True)
class Finding:
    check: Check
    depth: int
    states: list[State]
    actions: list[int]


@dataclass(kw_only=True)
class Search:
    """What a bounded search established."""

    findings: dict[str, Finding] = field(default_factory=dict)   # broken safety checks
    reached: dict[str, int] = field(default_factory=dict)        # goal -> depth first reached
    depth: int = -1                                              # deepest depth fully searched


def search(system: System, replayer: Replayer, budget: Budget, *, depth: int, goal_depth: int | None = None) -> Search:
    """Shortest violations of every safety check up to `depth`, goals up to `goal_depth`."""
    goal_depth = depth if goal_depth is None else goal_depth
    out = Search()
    path = [system.at(system.init, 0), system.at(system.domain, 0)]
    open_checks = list(system.checks)
    open_goals = list(system.goals)
    for k in range(max(depth, goal_depth) + 1):
        if k:
            path.append(system.at(system.trans, k - 1))
            ranges = [system.range_check] if system.range_check is not None and k <= depth else []
            if not _sweep(path, system, replayer, budget, ranges, k, out.findings, goal=False):
                return out
            path.append(system.at(system.domain, k))
        if k <= depth and not _sweep(path, system, replayer, budget, open_checks, k, out.findings, goal=False):
            return out
        if k <= goal_depth:
            reached: dict[str, Finding] = {}
            if not _sweep(path, system, replayer, budget, open_goals, k, reached, goal=True):
                return out
            out.reached.update({name: k for name in reached})
        out.depth = k
        if not open_goals and (k >= depth or not open_checks):
            break
    return out


def _sweep(path: list[z3.BoolRef], system: System, replayer: Replayer, budget: Budget, checks: list[Check], k: int,
           found: dict[str, Finding], *, goal: bool) -> bool:
    """Move every check of `checks` that breaks (goal: holds) at depth k into `found`; False on timeout."""
    while True:
        active = [c for c in checks if k >= 1 or not c.step]
        if not active:
            return True
        terms = {c.name: system.bad_at(c, k) for c in active}
        m = budget.solve(system.enc.ctx, path + [z3.Or(list(terms.values()))])
        if m is None:
            return not budget.expired
        states, actions = replayer.path(m, k)
        for c in active:
            if z3.is_true(m.eval(terms[c.name], model_completion=True)):
                replayer.confirm(c, states, actions, goal=goal)
                found[c.name] = Finding(check=c, depth=k, states=states, actions=actions)
                checks.remove(c)


def violation_of(replayer: Replayer, f: Finding) -> Violation:
    """A finding in the explicit engine's format (its message and its witness replay)."""
    c = f.check
    if c.kind == "deadlock":
        message = "no action is enabled in the last state, and it is not a declared end state"
    else:
        what = "invariant" if c.kind == "invariant" else "transition property"
        message = f"{what} {c.name} is violated" + (f": {c.doc.splitlines()[0]}" if c.doc else "")
    return Violation(property=c.name, kind=c.kind, clauses=list(c.clauses), message=message,
                     witness=replayer.witness(f.states, f.actions))


def property_rows(model: LoadedModel) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(name, kind, clauses, description) of every property, deadlock freedom last, as the explicit engine lists them."""
    rows = [(p.name, p.kind, p.clauses, p.doc.splitlines()[0] if p.doc else "") for p in model.properties]
    rows.append((DEADLOCK, "deadlock", (), "every state has an enabled action or is a declared end state"))
    return rows


def verdict_rows(model: LoadedModel, replayer: Replayer, found: Search, unviolated: Callable[[str], Verdict],
                 auxiliary: tuple[str, ...] = ()) -> tuple[list[PropertyVerdict], list[Violation]]:
    """Per-property verdicts after a BMC search: goals reached hold, violations found are
    violated (with their replayed witness), and every other property gets `unviolated(name)`."""
    verdicts: list[PropertyVerdict] = []
    violations: list[Violation] = []
    for name, kind, clauses, desc in property_rows(model):
        if kind == "sometimes":
            v = HOLDS if name in found.reached else BOUNDED
        elif name in found.findings:
            v = VIOLATED
            violations.append(violation_of(replayer, found.findings[name]))
        else:
            v = unviolated(name)
        if name in auxiliary:
            desc = f"(auxiliary) {desc}".rstrip()
        verdicts.append(PropertyVerdict(name=name, kind=kind, clauses=list(clauses), verdict=v, description=desc))
    return verdicts, violations


def bmc(model: LoadedModel, *, depth: int = 10, timeout: float | None = None) -> CheckResult:
    """Search every safety property and goal of `model` up to `depth` steps."""
    budget = Budget(timeout)
    system = System(model)
    replayer = Replayer(system)
    found = search(system, replayer, budget, depth=depth)
    verdicts, violations = verdict_rows(model, replayer, found, lambda name: BOUNDED)
    bounds = [f"bmc depth {depth}"] + ([budget.bound()] if budget.expired else [])
    notes = [f"bmc: searched every depth up to {found.depth} of {depth}"]
    notes += [f"goal {g} reached at depth {d}" for g, d in found.reached.items()]
    return CheckResult(model=model.name, params=model.params.as_dict(), engine="bmc",
                  verdict=overall([v.verdict for v in verdicts], True), states=None, transitions=None,
                  depth=max(found.depth, 0), seconds=round(budget.seconds(), 6), bounds_hit=bounds,
                  properties=verdicts, violations=violations, notes=notes)
