"""k-induction proofs of draft-v1 (issue 4, items 3 and 4).

draft-v1 declares eight strengthening invariants (`DraftV1.auxiliary`); with them every
safety property is 1-inductive at members=1 and 2. With `index_width=16` the ring indices
are real 16-bit split-ring indices (modulo 2^16), and the same proof covers queue-index
continuity for every index value, including a destination that resumes at 0xFFFF and
consumes across the wrap to 0. Without one of the lemmas the step case fails with a
counterexample to induction.
"""

from __future__ import annotations

import pytest

from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.build import build_model
from mcheck.model.definition import sometimes
from mcheck.model.expr import And
from mcheck.model.registry import load_model
from mcheck.engines.dispatch import run
from mcheck.symbolic.induction import prove
from mcheck.models.draft_v1 import DraftV1

# BMC depth for the goals: completes_after_flr is first reached at depth 12 (the default is 10)
GOALS = 14
WIDE = {"index_width": "16", "index_start": 0xFFFE}  # every source index wraps after two buffers


def safety(result):
    return {p.name: p.verdict for p in result.properties if p.kind != "sometimes"}


def assert_proved(result):
    assert result.verdict == "proved", "\n".join(result.notes)
    assert set(safety(result).values()) == {"proved"}
    assert not result.violations


def test_draft_v1_is_proved_at_members_1():
    result = prove(load_model("draft-v1"), depth=GOALS)
    assert_proved(result)
    assert {"continuity", "context_complete", "no_lost_writes", "context_frozen", "flr_resets_member",
            "deadlock_free"} <= set(safety(result))
    aux = {p.name for p in result.properties if p.description.startswith("(auxiliary)")}
    assert aux == set(DraftV1.auxiliary)


def test_default_goal_depth_still_proves_every_safety_property():
    # at the default goal depth (10) one goal is not reached yet: bounded, but nothing unproved
    result = prove(load_model("draft-v1"))
    assert set(safety(result).values()) == {"proved"}
    assert result.bounds_hit == ["bmc depth 10 for goals"]


@pytest.mark.parametrize("params", [
    {"members": 2},
    {"queues": 2},
    {"transitions": "via-stop", "flr_tracking": "keep-recording"},
    {"faults": 2, "pages": 3, "buffers": 3},
])
def test_draft_v1_is_proved_with_other_parameters(params):
    assert_proved(prove(load_model("draft-v1", params), depth=GOALS))


class Wrapping(DraftV1):
    """draft-v1 with one more goal: the migration happens across the 16-bit wrap."""

    @sometimes("DRAFT-VQ-1")
    def resumed_across_wrap(self, s):
        """The source stopped at last_avail 0xFFFF; the destination resumed there and consumed past 0."""
        return And(s.ph[1] == "DONE", s.x_last_avail[1][0] == 0xFFFF, s.last_avail[1]["dst"][0] == 0,
                   s.taken[1][0] == 0)


def test_continuity_with_16_bit_indices_across_the_wrap():
    result = prove(build_model(Wrapping, WIDE), depth=GOALS)
    assert_proved(result)
    goals = {p.name: p.verdict for p in result.properties if p.kind == "sometimes"}
    assert goals["resumed_across_wrap"] == "holds"  # BMC reached the wrapped resume, no property broke


def test_continuity_with_16_bit_indices_from_zero():
    assert_proved(prove(load_model("draft-v1", {"index_width": "16"}), depth=GOALS))


@pytest.mark.slow
def test_continuity_with_16_bit_indices_at_members_2():
    assert_proved(prove(load_model("draft-v1", {**WIDE, "members": 2}), depth=GOALS))


def test_16_bit_explicit_run_is_bounded_and_reaches_the_wrap():
    result, _ = check(build_model(Wrapping, WIDE), Bounds(max_depth=GOALS))
    assert result.verdict == "bounded" and not result.violations
    assert {p.name: p.verdict for p in result.properties}["resumed_across_wrap"] == "holds"


def test_16_bit_proof_is_not_vacuous():
    # the context without used_idx: the destination restarts the used index at 0, not at 0xFFFE
    result = run(load_model("draft-v1", {**WIDE, "bug": "ctx-missing-used-idx"}), "bmc", depth=10)
    assert result.verdict == "violated"
    assert {"continuity", "context_complete"} <= {v.property for v in result.violations}


class WithoutTransferLemma(DraftV1):
    """draft-v1 without `transfer_is_source`: a transferred context that differs from the frozen
    source's is no longer excluded, so the destination can be loaded with other indices."""

    auxiliary = tuple(a for a in DraftV1.auxiliary if a != "transfer_is_source")

    def transfer_is_source(self, s):  # not decorated: removed
        return None


def test_without_a_lemma_induction_fails_with_a_counterexample():
    result = prove(build_model(WithoutTransferLemma, {}), depth=GOALS)
    assert result.verdict == "bounded"  # nothing refuted: the states of a CTI need not be reachable
    assert "transfer_is_source" not in {p.name for p in result.properties}
    assert all(v.kind == "induction" for v in result.violations)
    assert {"context_complete", "continuity"} <= {v.property for v in result.violations}
    assert any(n.startswith("counterexample to induction for continuity") for n in result.notes)
