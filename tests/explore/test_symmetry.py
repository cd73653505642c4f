"""Symmetry reduction: pinned reduced counts, exact orbit sums, unchanged verdicts, concrete witnesses."""

from __future__ import annotations

import pytest

from mcheck.errors import InputError, ModelDefinitionError
from mcheck.explore.check import check
from mcheck.model.build import build_model
from mcheck.model.definition import Array, Model, Ref, action, invariant
from mcheck.model.expr import Enum, Int
from mcheck.model.registry import find_model_class, load_model
from tests.explore.conftest import replay_on_unreduced, verdicts



@pytest.mark.parametrize("members,reduced,full", [(1, 4096, 4096), (2, 197632, 393216)])
def test_virtio_reduced_counts_are_pinned_and_orbits_add_up(members, reduced, full, explored):
    result = explored("virtio-1.4", {"members": members}, symmetry=True)
    assert result.verdict == "holds"
    assert result.states == reduced
    # the canonical form is exact: the orbits of the stored states are exactly the unreduced space
    assert result.coverage["symmetry"]["orbit_states"] == full


# a member-local bug, an owner-level one and one found through an FLR: each run explores the
# 393,216-state space twice, so not every catalogue bug (tests/test_virtio_1_4.py has them all).
# The runs of none and dma-after-stop are the session's shared reference runs (`explored`:
# checkpoint, workers and pinned-count tests use them too); flr-keeps-parts needs two runs of
# its own for the same property on the same code path, so it is a slow row.
@pytest.mark.parametrize("bug", ["none", "dma-after-stop", pytest.param("flr-keeps-parts", marks=pytest.mark.slow)])
def test_virtio_verdicts_do_not_change_and_witnesses_are_concrete(bug, explored):
    params = {"members": 2, "bug": bug}
    model = load_model("virtio-1.4", params)
    plain = explored("virtio-1.4", params)
    reduced = explored("virtio-1.4", params, symmetry=True)
    assert verdicts(reduced) == verdicts(plain)
    assert reduced.states < plain.states
    # breadth-first on the quotient: counterexamples are as short as without symmetry
    assert {v.property: len(v.witness.steps) for v in reduced.violations} == \
           {v.property: len(v.witness.steps) for v in plain.violations}
    replay_on_unreduced(model, reduced)


@pytest.mark.parametrize("members", [2, 3])
@pytest.mark.parametrize("bug", ["none", "dma-after-stop"])
def test_counter_keeps_the_member_its_goal_names_fixed(counter_model_path, members, bug):
    model = load_model(counter_model_path, {"members": str(members), "bug": bug})
    plain, _ = check(model)
    reduced, _ = check(model, symmetry=True)
    assert verdicts(reduced) == verdicts(plain)
    assert reduced.coverage["symmetry"]["fixed"] == [1]          # some_dma reads dma[1]
    assert reduced.coverage["symmetry"]["orbit_states"] == plain.states
    assert any("some_dma not symmetric" in n for n in reduced.notes)
    replay_on_unreduced(model, reduced)


@pytest.mark.parametrize("bug", ["none", *find_model_class("draft-v1").bugs])
def test_draft_v1_verdicts_do_not_change(bug):
    model = load_model("draft-v1", {"members": 1, "bug": bug})
    plain, _ = check(model)
    reduced, _ = check(model, symmetry=True)
    assert verdicts(reduced) == verdicts(plain) and reduced.states == plain.states
    replay_on_unreduced(model, reduced)


MODE = Enum("mode", "idle", "busy")


def _owner_model(*, ref: bool, ordered: bool = False, biased: bool = False):
    class Owner(Model):
        """Two members compete for one lock; `holder` names the member holding it."""

        name = "owner"

        def setup(self):
            m = self.index_set("members", (1, 2, 3), symmetric=True)
            self.var("mode", Array(m, MODE), init="idle")
            self.var("holder", Ref(m) if ref else Int(0, 3), init=0)

        @action(m="members")
        def take(self, s, m):
            s.require(s.holder == 0)
            if biased and m == 1:
                s.require(s.mode[2] == "idle")
            s.holder = m
            s.mode[m] = "busy"

        @action(m="members")
        def give(self, s, m):
            s.require(s.holder == m)
            s.holder = 0
            s.mode[m] = "idle"

        @invariant("T-1")
        def one_busy(self, s):
            if ordered:
                return s.holder < 3
            return (s.holder == 0) | (s.mode[1] == "busy") | (s.mode[2] == "busy") | (s.mode[3] == "busy")
    return Owner


def test_ref_values_are_renamed_with_their_members():
    result, _ = check(build_model(_owner_model(ref=True)), symmetry=True)
    assert result.verdict == "holds"
    assert result.states == 2 and result.coverage["symmetry"]["orbit_states"] == 4


def test_an_int_holding_member_ids_is_refused():
    with pytest.raises(InputError, match="has no counterpart"):
        check(build_model(_owner_model(ref=False)), symmetry=True)


def test_an_asymmetric_action_is_refused():
    with pytest.raises(InputError, match="declared symmetric, but action take"):
        check(build_model(_owner_model(ref=True, biased=True)), symmetry=True)


def test_ordering_on_a_member_reference_keeps_the_ids_fixed():
    result, _ = check(build_model(_owner_model(ref=True, ordered=True)), symmetry=True)
    assert result.coverage["symmetry"]["permuted"] == []
    assert result.states == 4


def test_a_model_without_symmetric_index_set_is_refused():
    class Plain(Model):
        name = "plain"

        def setup(self):
            self.var("x", Int(0, 1), init=0)

        @action()
        def flip(self, s):
            s.x = 1 - s.x

    with pytest.raises(InputError, match="declares no symmetric index set"):
        check(build_model(Plain), symmetry=True)


def test_ref_none_must_not_be_an_id():
    class Bad(Model):
        name = "bad"

        def setup(self):
            m = self.index_set("members", (1, 2), symmetric=True)
            self.var("holder", Ref(m, none=1), init=0)

    with pytest.raises(ModelDefinitionError, match="'none' must not be an id"):
        build_model(Bad)
