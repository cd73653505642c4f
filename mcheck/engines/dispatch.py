"""Engine dispatch for `mcheck check --engine bmc|prove|all`.

`run_all` runs the explicit explorer, then k-induction, and merges the two results per
property, keeping the strongest *honest* verdict:

* violated, if either engine has a (replayed) counterexample: the explicit one is kept
  when both have one, since breadth-first search gives a shortest witness;
* else proved, if k-induction proved it (true of every reachable state);
* else holds, if the explicit search was exhaustive;
* else bounded.

The run's verdict is violated if any property is; bounded if any property is; proved
if every safety property is proved (and every goal reached); holds otherwise (for
instance: the explicit search was exhaustive but some property is not inductive).
Counterexamples to induction go to the notes there, since the explicit result already
settled those properties.
"""

from __future__ import annotations

import dataclasses
import time

from mcheck.errors import InputError
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.build import LoadedModel
from mcheck.verdict import BOUNDED, HOLDS, PROVED, VIOLATED, PropertyVerdict, CheckResult

ENGINES = ("bmc", "prove")
BMC_DEPTH = 10
# how deep prove looks for the sometimes goals when no depth is given: the search stops as soon
# as every goal is reached, so a deep default costs only when a goal is unreachable (a vacuous
# model), where --timeout bounds it
GOAL_DEPTH = 40


def run(model: LoadedModel, engine: str, *, depth: int | None = None, k: int | None = None,
        timeout: float | None = None) -> CheckResult:
    """Run one symbolic engine: "bmc" (to `depth`, default 10) or "prove" (k-induction up to `k`,
    goals to `depth`, default GOAL_DEPTH)."""
    if engine == "bmc":
        from mcheck.symbolic.bmc import bmc  # Z3 is imported only when asked for
        return bmc(model, depth=BMC_DEPTH if depth is None else depth, timeout=timeout)
    if engine == "prove":
        from mcheck.symbolic.induction import prove
        return prove(model, k=k, depth=GOAL_DEPTH if depth is None else depth, timeout=timeout)
    raise InputError(f"unknown symbolic engine {engine!r}; choose one of {', '.join(ENGINES)}")


_RANK = {VIOLATED: 3, PROVED: 2, HOLDS: 1, BOUNDED: 0}


def run_all(model: LoadedModel, *, depth: int | None = None, k: int | None = None, timeout: float | None = None,
            bounds: Bounds | None = None) -> CheckResult:
    """Explicit exploration, then k-induction within what is left of `timeout`; one merged result."""
    start = time.monotonic()
    bounds = bounds or Bounds()
    if timeout is not None:
        bounds = dataclasses.replace(bounds, timeout=timeout if bounds.timeout is None else min(timeout, bounds.timeout))
    from mcheck.symbolic.induction import prove
    explicit, _ = check(model, bounds)
    left = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
    proof = prove(model, k=k, depth=GOAL_DEPTH if depth is None else depth, timeout=left)
    return merge(explicit, proof)


def merge(explicit: CheckResult, proof: CheckResult) -> CheckResult:
    """One result from an explicit and a k-induction result of the same model (see the module doc)."""
    by_name = {p.name: p for p in proof.properties}
    rows: list[PropertyVerdict] = []
    for e in explicit.properties:
        p = by_name.get(e.name)
        best = e.verdict if p is None or _RANK[e.verdict] >= _RANK[p.verdict] else p.verdict
        rows.append(dataclasses.replace(e, verdict=best))
    found = {v.property for v in explicit.violations}
    violations = list(explicit.violations)
    violations += [v for v in proof.violations if v.kind != "induction" and v.property not in found]
    verdicts = [r.verdict for r in rows]
    if VIOLATED in verdicts:
        verdict = VIOLATED
    elif BOUNDED in verdicts:
        verdict = BOUNDED
    elif all(r.verdict == PROVED for r in rows if r.kind != "sometimes"):
        verdict = PROVED
    else:
        verdict = HOLDS
    return CheckResult(model=explicit.model, params=explicit.params, engine="all", verdict=verdict,
                  states=explicit.states, transitions=explicit.transitions, depth=explicit.depth,
                  seconds=round(explicit.seconds + proof.seconds, 6),
                  bounds_hit=[f"explicit: {b}" for b in explicit.bounds_hit] + [f"prove: {b}" for b in proof.bounds_hit],
                  properties=rows, violations=violations, coverage=explicit.coverage,
                  notes=[f"explicit: {n}" for n in explicit.notes] + [f"prove: {n}" for n in proof.notes])
