"""k-induction: proofs, auxiliary invariants, counterexamples to induction, timeouts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mcheck.errors import ModelDefinitionError
from mcheck.model.build import build_model
from mcheck.model.registry import find_model_class, load_model
from mcheck.symbolic.bmc import Budget
from mcheck.symbolic.induction import prove, step_case
from mcheck.symbolic.system import System
from mcheck.symbolic.witness import Replayer

ROOT = Path(__file__).resolve().parents[2]

COUNTER = str(ROOT / "tests" / "models" / "counter.py")
WIDE = str(ROOT / "tests" / "symbolic" / "models" / "wide_ring.py")
WideRing = find_model_class(WIDE)


class WithoutHelper(WideRing):
    """The wide ring without its auxiliary invariant: inflight_bounded is not inductive."""

    auxiliary = ()

    def inflight_matches_indices(self, s):  # not decorated: no longer a property
        return True


class BadAuxiliary(WideRing):
    auxiliary = ("no_such_invariant",)


def test_counter_is_proved() -> None:
    result = prove(load_model(COUNTER, {"members": 2}))
    assert result.verdict == "proved" and result.exit_code == 0
    assert {p.verdict for p in result.properties if p.kind != "sometimes"} == {"proved"}


def test_wide_ring_is_proved_for_every_16_bit_index() -> None:
    result = prove(load_model(WIDE, {"members": 2}))
    assert result.verdict == "proved", result.notes
    verdicts = {p.name: p.verdict for p in result.properties}
    assert verdicts["index_continuity"] == verdicts["ring_page_aligned"] == "proved"
    assert "auxiliary invariants: inflight_matches_indices" in result.notes
    assert next(p for p in result.properties if p.name == "inflight_matches_indices").description.startswith("(auxiliary)")


def test_missing_helper_gives_a_counterexample_to_induction() -> None:
    result = prove(build_model(WithoutHelper, {"members": 2}))
    assert result.verdict == "bounded" and result.exit_code == 3
    assert {p.name: p.verdict for p in result.properties}["inflight_bounded"] == "bounded"
    (cti,) = [v for v in result.violations if v.kind == "induction"]
    assert cti.property == "inflight_bounded"
    assert cti.message.startswith("counterexample to induction for inflight_bounded")
    assert len(cti.witness.steps) == 3  # the last k tried (default 3)
    last = cti.witness.steps[-1]
    assert last.action in ("fetch", "complete")
    assert any(c.field == f"inflight[{last.params['m']}]" for c in last.changes)
    assert any(n.startswith("counterexample to induction for inflight_bounded") for n in result.notes)
    assert any("step case fails for inflight_bounded" in b for b in result.bounds_hit)


def test_k1_counterexample_is_a_pair_of_states() -> None:
    result = prove(build_model(WithoutHelper, {"members": 2}), k=1)
    (cti,) = [v for v in result.violations if v.kind == "induction"]
    (step,) = cti.witness.steps
    m = step.params["m"]
    before = cti.witness.initial
    assert (before[f"last_avail_idx[{m}]"] - before[f"used_idx[{m}]"]) % 65536 != before[f"inflight[{m}]"]


def test_monolithic_step_case_agrees_with_the_sliced_one() -> None:
    for cls, inductive in ((WideRing, True), (WithoutHelper, False)):
        system = System(build_model(cls, {"members": 2}))
        proved, ctis = step_case(system, Replayer(system), Budget(None), list(system.checks), 2)
        assert (len(proved) == len(system.checks)) is inductive
        assert inductive or set(ctis) == {"inflight_bounded"}


def test_k2_proves_what_k1_cannot() -> None:
    model = load_model(str(ROOT / "tests" / "symbolic" / "models" / "needs_k2.py"))
    one = prove(model, k=1)
    assert one.verdict == "bounded"
    ctis = {v.property: v for v in one.violations if v.kind == "induction"}
    # once never_three is dropped, nothing rules out the stuck state x=3 either
    assert ctis["deadlock_free"].witness.initial == {"x": 3} and not ctis["deadlock_free"].witness.steps
    cti = ctis["never_three"]
    assert cti.witness.initial == {"x": 2} and [s.action for s in cti.witness.steps] == ["go"]
    two = prove(model, k=2)
    assert two.verdict == "proved" and not two.violations
    assert any(n.startswith("k-induction at k=2") for n in two.notes)


def test_base_case_violation_is_reported_as_violated() -> None:
    result = prove(load_model(WIDE, {"members": 2, "bug": "complete-unfetched"}))
    assert result.verdict == "violated"
    depths = {v.property: len(v.witness.steps) for v in result.violations if v.kind != "induction"}
    assert depths["index_continuity"] == 1


def test_auxiliary_must_name_an_invariant() -> None:
    with pytest.raises(ModelDefinitionError, match="no_such_invariant"):
        prove(build_model(BadAuxiliary, {"members": 1}))


def test_timeout_ends_bounded_and_claims_nothing() -> None:
    start = time.monotonic()
    result = prove(load_model(WIDE, {"members": 8}), timeout=0.05)
    assert time.monotonic() - start < 5
    assert result.verdict == "bounded" and any(b.startswith("timeout") for b in result.bounds_hit)
    assert "proved" not in {p.verdict for p in result.properties}


@pytest.mark.slow
def test_wide_ring_at_64_members_is_proved_quickly() -> None:
    start = time.monotonic()
    result = prove(load_model(WIDE, {"members": 64}))
    assert result.verdict == "proved"
    assert time.monotonic() - start < 30
