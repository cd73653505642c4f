"""Helpers for the scaling tests: load models, and replay a witness on the unreduced model."""

from __future__ import annotations

from mcheck.explore.check import build_witness
from mcheck.explore.codegen import generate
from mcheck.model.build import LoadedModel
from mcheck.model.evaluate import evaluate
from mcheck.verdict import Result


def replay_on_unreduced(model: LoadedModel, result: Result) -> None:
    """Every violation's witness replays step by step on the unreduced model and ends in a violation."""
    plain = generate(model, record_edges=False)
    unpack, pack = plain.layout.unpack, plain.layout.pack
    by_name = {p.name: (k, p) for k, p in enumerate(model.properties)}
    for v in result.violations:
        w = v.witness
        if v.kind == "sometimes":
            continue
        start = pack(model.initial[w.initial_index])
        again = build_witness(model, plain.successors, unpack, start, w.action_indices, w.initial_index)
        assert [s.label for s in again.steps] == [s.label for s in w.steps]
        x = start
        for a in w.action_indices[:-1] if v.kind == "transition" else w.action_indices:
            x = next(y for b, y in plain.successors(x) if b == a)
        if v.kind == "invariant":
            assert not evaluate(by_name[v.property][1].expr, unpack(x)), v.property
        elif v.kind == "transition":
            k = by_name[v.property][0]
            assert (w.action_indices[-1], k) in plain.transition_failures(x), v.property
        else:  # deadlock
            assert plain.successors(x) == [] and not evaluate(model.end_state, unpack(x))


def verdicts(result: Result) -> dict[str, str]:
    return {p.name: p.verdict for p in result.properties}
