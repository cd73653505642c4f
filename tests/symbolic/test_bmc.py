"""Bounded model checking: shortest witnesses in the explicit format, replay, timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.errors import ModelRuntimeError
from mcheck.explore.check import check
from mcheck.model.registry import load_model
from mcheck.symbolic.bmc import bmc
from mcheck.symbolic.system import System
from mcheck.symbolic.witness import EngineBug, Replayer

ROOT = Path(__file__).resolve().parents[2]

COUNTER = str(ROOT / "tests" / "models" / "counter.py")
MODELS = ROOT / "tests" / "symbolic" / "models"


def test_bug_is_found_with_the_explicit_step_format() -> None:
    model = load_model(COUNTER, {"members": 2, "bug": "dma-after-stop"})
    result = bmc(model, depth=6)
    assert result.verdict == "violated" and result.engine == "bmc"
    (v,) = result.violations
    assert v.property == "no_dma_while_stopped" and v.clauses == ["D-DP-9", "D-DP-16"]
    assert [s.action for s in v.witness.steps] == ["mode_set", "post", "dma_write"]
    assert v.witness.steps[0].changes[0].field.startswith("mode[")
    assert v.witness.steps[-1].event == {"kind": "dma_write", "member": v.witness.steps[-1].params["m"]}
    explicit, _ = check(model)
    assert v.message == explicit.violations[0].message


def test_correct_model_is_bounded_and_goal_reached() -> None:
    result = bmc(load_model(COUNTER, {"members": 2}), depth=7)
    verdicts = {p.name: p.verdict for p in result.properties}
    assert result.verdict == "bounded" and result.bounds_hit == ["bmc depth 7"]
    assert verdicts == {"no_dma_while_stopped": "bounded",
                        "some_dma": "holds", "deadlock_free": "bounded"}
    assert "goal some_dma reached at depth 6" in result.notes


def test_goal_beyond_the_depth_stays_bounded() -> None:
    result = bmc(load_model(COUNTER, {"members": 1}), depth=5)
    assert {p.name: p.verdict for p in result.properties}["some_dma"] == "bounded"


def test_wide_ring_wraps_its_16_bit_and_64_bit_fields() -> None:
    result = bmc(load_model(str(MODELS / "wide_ring.py"), {"members": 2}), depth=6)
    assert result.verdict == "bounded"
    assert "goal used_index_wraps reached at depth 6" in result.notes
    assert "goal address_wraps reached at depth 2" in result.notes


def test_leaving_an_int_range_stops_like_the_explorer() -> None:
    model = load_model(str(MODELS / "overflow.py"))
    with pytest.raises(ModelRuntimeError, match="sets n to 3"):
        check(model)
    with pytest.raises(ModelRuntimeError, match="sets n to 3"):
        bmc(model, depth=5)


def test_timeout_ends_bounded() -> None:
    result = bmc(load_model(COUNTER, {"members": 2}), depth=50, timeout=0)
    assert result.verdict == "bounded"
    assert "timeout 0 s" in result.bounds_hit


def test_replay_that_diverges_from_z3_is_an_engine_bug() -> None:
    model = load_model(COUNTER, {"members": 1, "bug": "dma-after-stop"})
    system = System(model)
    replayer = Replayer(system)
    post = next(a.index for a in model.actions if a.name == "post")
    claimed = [model.initial[0], model.initial[0]]  # Z3 "claims" post changed nothing
    with pytest.raises(EngineBug, match="differs from Z3 in inflight"):
        replayer.confirm(system.checks[0], claimed, [post])
