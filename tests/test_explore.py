"""The explicit engine on tiny models: pinned counts, shortest witnesses, bounds, deadlocks."""

from __future__ import annotations

import pytest

from mcheck.explore.bfs import Bounds
from mcheck.explore.check import build_witness, check
from mcheck.model.build import build_model
from mcheck.model.definition import Model, action, invariant, sometimes
from mcheck.model.expr import Int
from mcheck.model.registry import load_model


def counter(path, **params):
    return load_model(path, {k: str(v) for k, v in params.items()})


@pytest.mark.parametrize("members,states", [(1, 24), (2, 576), (3, 13824)])
def test_state_counts_are_pinned(counter_model_path, members, states):
    result, _ = check(counter(counter_model_path, members=members))
    assert result.verdict == "holds" and result.states == states


def test_counterexample_is_shortest_and_replays(counter_model_path):
    result, exp = check(counter(counter_model_path, members=2, bug="dma-after-stop"))
    (v,) = result.violations
    assert [s.label for s in v.witness.steps] == ["mode_set(m=1, flags=1)", "post(m=1)", "dma_write(m=1)"]
    again = build_witness(exp.model, exp.compiled.successors, exp.compiled.layout.unpack,
                          exp.states[0], v.witness.action_indices)
    assert [s.label for s in again.steps] == [s.label for s in v.witness.steps]
    assert again.steps[-1].changes[-1].field == "dma[1]"


@pytest.mark.parametrize("bounds,hit", [
    (Bounds(max_depth=3), "max-depth 3"),
    (Bounds(max_states=100), "max-states 100"),
])
def test_bounds_give_bounded_never_holds(counter_model_path, bounds, hit):
    result, _ = check(counter(counter_model_path, members=3), bounds)
    assert result.verdict == "bounded"
    assert result.bounds_hit == [hit]
    assert {p.verdict for p in result.properties if p.kind != "sometimes"} == {"bounded"}


def test_violation_found_within_bounds_is_still_violated(counter_model_path):
    result, _ = check(counter(counter_model_path, members=3, bug="dma-after-stop"), Bounds(max_depth=5))
    assert result.verdict == "violated"


def _chain(end_ok: bool):
    class Chain(Model):
        name = "chain"

        def setup(self):
            self.var("x", Int(0, 3), init=0)

        @action()
        def step(self, s):
            s.require(s.x < 3)
            s.x = s.x + 1

        @invariant("T-1")
        def small(self, s):
            return s.x <= 3

        @sometimes("T-2")
        def reaches_three(self, s):
            return s.x == 3

        def end_state(self, s):
            return s.x == 3 if end_ok else False
    return Chain


def test_deadlock_is_reported_with_its_path():
    result, _ = check(build_model(_chain(end_ok=False)))
    assert result.verdict == "violated"
    (v,) = result.violations
    assert v.property == "deadlock_free" and len(v.witness.steps) == 3


def test_declared_end_state_is_not_a_deadlock():
    result, _ = check(build_model(_chain(end_ok=True)))
    assert result.verdict == "holds" and result.states == 4 and result.depth == 3


def test_coverage_counts_fired_actions(counter_model_path):
    result, _ = check(counter(counter_model_path, members=1))
    assert result.coverage["actions"]["post"] == {"instances": 1, "fired_instances": 1}
    assert result.coverage["never_fired"] == []
    assert result.coverage["clauses"]["D-DP-9"] is True
