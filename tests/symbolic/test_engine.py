"""`run` and `run_all`: the functions behind `--engine bmc|prove|all`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.explore.check import check
from mcheck.model.registry import load_model
from mcheck.engines.dispatch import merge, run, run_all
from mcheck.symbolic.induction import prove

ROOT = Path(__file__).resolve().parents[2]

COUNTER = str(ROOT / "tests" / "models" / "counter.py")


def test_run_dispatches() -> None:
    model = load_model(COUNTER, {"members": 2})
    assert run(model, "bmc", depth=3).bounds_hit == ["bmc depth 3"]
    assert run(model, "prove", k=1).verdict == "proved"
    with pytest.raises(InputError, match="unknown symbolic engine"):
        run(model, "spin")


def test_all_on_a_correct_model_is_proved() -> None:
    result = run_all(load_model(COUNTER, {"members": 2}))
    assert result.engine == "all" and result.verdict == "proved" and result.exit_code == 0
    assert result.states > 0  # the explicit part ran
    assert {p.verdict for p in result.properties if p.kind != "sometimes"} == {"proved"}


def test_all_on_a_bug_keeps_the_explicit_witness() -> None:
    model = load_model(COUNTER, {"members": 2, "bug": "dma-after-stop"})
    result = run_all(model)
    explicit, _ = check(model)
    assert result.verdict == "violated" and result.exit_code == 1
    assert result.violations == explicit.violations


def test_exhaustive_but_not_inductive_is_holds() -> None:
    model = load_model(str(ROOT / "tests" / "symbolic" / "models" / "needs_k2.py"))
    explicit, _ = check(model)
    proof = prove(model, k=1)
    assert explicit.verdict == "holds" and proof.verdict == "bounded"
    merged = merge(explicit, proof)
    assert merged.verdict == "holds"
    assert {p.name: p.verdict for p in merged.properties}["never_three"] == "holds"
    assert not [v for v in merged.violations if v.kind == "induction"]
    assert any("counterexample to induction" in n for n in merged.notes)


def test_all_with_a_timeout_never_hangs() -> None:
    result = run_all(load_model(str(ROOT / "tests" / "symbolic" / "models" / "wide_ring.py"), {"members": 4}),
                     timeout=0.5)
    assert result.verdict == "bounded"
    assert any("timeout" in b for b in result.bounds_hit)
