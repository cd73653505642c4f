"""k-induction: prove safety properties for every reachable state, not just to a depth.

Base case: bounded model checking to depth k (`bmc.search`). Step case: for states
t0..tk in range, linked by the transition relation, where every candidate property holds
in t0..tk-1 (transition properties: on every step into t1..tk-1), no candidate breaks in
tk (or on the step into it). Deadlock freedom and, when some assignment can leave an
Int range, `value_ranges` are candidates like the model's own properties.

Candidates are proved together, each assumed while proving the others (mutual
induction). When the step case fails, the properties broken in tk are dropped (from goals
*and* assumptions, which keeps the rest sound) and the step is retried (Houdini). A
dropped property keeps its counterexample to induction (CTI): the states t0..tk, which
need not be reachable, and the property that broke. Models name helper (strengthening)
invariants in a class attribute `auxiliary = ("name", ...)`: they are candidates like any
other and must be proved too; they are listed as auxiliary in the result.

k runs from 1 up to the requested k and stops at the first k where everything is proved.
"""

from __future__ import annotations

import z3

from mcheck.errors import ModelDefinitionError
from mcheck.model.build import LoadedModel, attr_where
from mcheck.symbolic.bmc import Budget, Search, search, verdict_rows
from mcheck.symbolic.sliced import SlicedStep
from mcheck.symbolic.system import RANGES, Check, System
from mcheck.symbolic.witness import Cti, Replayer, describe_steps
from mcheck.verdict import (
    BOUNDED,
    PROVED,
    VIOLATED,
    CheckResult,
    Violation,
    Witness,
)

DEFAULT_K = 3


def auxiliary(model: LoadedModel) -> tuple[str, ...]:
    """The model's helper invariants (`auxiliary = (...)` on the class), validated."""
    names = tuple(getattr(model.model, "auxiliary", ()))
    invariants = {p.name for p in model.properties if p.kind == "invariant"}
    for name in names:
        if name not in invariants:
            raise ModelDefinitionError(
                f"{attr_where(type(model.model), 'auxiliary')}: auxiliary names {name!r}, which is not an @invariant of {model.name} "
                f"(invariants: {', '.join(sorted(invariants)) or 'none'})")
    return names


def step_case(system: System, replayer: Replayer, budget: Budget, candidates: list[Check],
              k: int) -> tuple[list[Check], dict[str, Cti]]:
    """The candidates proved inductive at `k` (Houdini), and a CTI for each one dropped.

    When the budget runs out the proved list is empty (nothing is claimed).
    """
    path = [t for i in range(k) for t in (system.at(system.domain, i), system.at(system.trans, i))]
    in_range_k = system.at(system.domain, k)
    ctis: dict[str, Cti] = {}
    live = list(candidates)
    while live:
        assumed = [z3.Not(system.bad_at(c, i)) for c in live for i in range(1 if c.step else 0, k)]
        # a value leaving its range is a break by itself; anything else only counts in range
        terms = {c.name: (system.bad_at(c, k) if c.kind == "range" else z3.And(in_range_k, system.bad_at(c, k)))
                 for c in live}
        m = budget.solve(system.enc.ctx, path + assumed + [z3.Or(list(terms.values()))])
        if m is None:
            return ([] if budget.expired else live), ctis
        states, actions = replayer.path(m, k)
        for c in [c for c in live if z3.is_true(m.eval(terms[c.name], model_completion=True))]:
            replayer.confirm_cti(c, states, actions)
            ctis[c.name] = Cti(check=c, k=k, states=states, actions=actions)
            live.remove(c)
    return [], ctis


def describe_cti(system: System, cti: Cti) -> str:
    """The CTI as text: every field of the first state, then each step's action and changes."""
    first = system.model.decode_state(cti.states[0])
    lines = [f"counterexample to induction for {cti.check.name} (k={cti.k}); the states need not be reachable:",
             "  state 0: " + ", ".join(f"{name}={value}" for name, value in first.items())]
    for step in describe_steps(system, cti.states, cti.actions):
        changes = ", ".join(f"{ch.field}: {ch.before} -> {ch.after}" for ch in step.changes) or "no change"
        lines.append(f"  step {step.number}: {step.label}: {changes}")
    lines.append(f"  {cti.check.name} breaks {'on the last step' if cti.check.step else 'in the last state'}; "
                 "an auxiliary invariant that is false in state 0 would exclude this")
    return "\n".join(lines)


def cti_violation(system: System, cti: Cti) -> Violation:
    """The CTI in the witness format (kind `induction`: not a reachable violation)."""
    steps = describe_steps(system, cti.states, cti.actions)
    witness = Witness(initial=system.model.decode_state(cti.states[0]), steps=steps, action_indices=list(cti.actions))
    return Violation(property=cti.check.name, kind="induction", clauses=list(cti.check.clauses),
                     message=describe_cti(system, cti), witness=witness)


def prove(model: LoadedModel, *, k: int | None = None, depth: int = 10, timeout: float | None = None) -> CheckResult:
    """k-induction for every safety property; goals are searched by BMC up to `depth`."""
    k_max = DEFAULT_K if k is None else k
    if k_max < 1:
        raise ModelDefinitionError(f"k-induction needs k >= 1, got {k_max}")
    aux = auxiliary(model)
    budget = Budget(timeout)
    system = System(model)
    replayer = Replayer(system)
    base = search(system, replayer, budget, depth=k_max, goal_depth=depth)
    candidates = [c for c in system.checks if c.name not in base.findings]
    if system.range_check is not None:
        candidates.append(system.range_check)
    proved: list[Check] = []
    ctis: dict[str, Cti] = {}
    used_k = 0
    if not budget.expired:
        for used_k in range(1, k_max + 1):
            if used_k == 1:
                proved, ctis = SlicedStep(system, replayer, budget).run(candidates)
            else:
                proved, ctis = step_case(system, replayer, budget, candidates, used_k)
            if budget.expired or len(proved) == len(candidates):
                break
    return _result(model, system, replayer, budget, base, proved, ctis, aux, used_k, k_max, len(candidates))


def _result(model: LoadedModel, system: System, replayer: Replayer, budget: Budget, base: Search,
            proved: list[Check], ctis: dict[str, Cti], aux: tuple[str, ...], used_k: int, k_max: int,
            n_candidates: int) -> CheckResult:
    names = {c.name for c in proved}
    ranges_ok = system.range_check is None or RANGES in names
    verdicts, violations = verdict_rows(model, replayer, base,
                                        lambda name: PROVED if name in names and ranges_ok else BOUNDED, aux)
    notes: list[str] = []
    bounds: list[str] = []
    for name, cti in ctis.items():
        if name not in names:
            violations.append(cti_violation(system, cti))
            notes.append(describe_cti(system, cti))
    if not ranges_ok:
        notes.append(f"{RANGES} is not proved, so no property is: some step may leave an Int variable's range")
    if budget.expired:
        bounds.append(budget.bound())
    elif any(v.verdict == BOUNDED and v.kind != "sometimes" for v in verdicts):
        bounds.append(f"k-induction k={used_k}: step case fails for " + ", ".join(sorted(ctis)))
    if any(v.verdict == BOUNDED and v.kind == "sometimes" for v in verdicts):
        bounds.append(f"bmc depth {max(base.depth, 0)} for goals")
    if not budget.expired:
        notes.append(f"k-induction at k={used_k} (tried up to {k_max}): {len(names)} of {n_candidates} candidates "
                     f"inductive; base case by bmc to depth {k_max}")
    if aux:
        notes.append("auxiliary invariants: " + ", ".join(aux))
    all_verdicts = [v.verdict for v in verdicts]
    if VIOLATED in all_verdicts:
        verdict = VIOLATED
    elif BOUNDED in all_verdicts or budget.expired:
        verdict = BOUNDED
    else:
        verdict = PROVED
    return CheckResult(model=model.name, params=model.params.as_dict(), engine="prove", verdict=verdict,
                  states=None, transitions=None, depth=max(base.depth, 0), seconds=round(budget.seconds(), 6), bounds_hit=bounds,
                  properties=verdicts, violations=violations, notes=notes)
