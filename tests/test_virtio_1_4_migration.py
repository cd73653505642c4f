"""The virtio 1.4 migration pair model: the correct device holds under the Linux flows and (to a
depth bound) the free hypervisor; each catalogue bug is found, shortest, with its clauses."""

from __future__ import annotations

import pytest

from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.registry import load_model
from mcheck.models.migration_observe import pair_of
from mcheck.models.virtio_1_4_migration import Virtio14Migration

MODEL = "virtio-1.4-migration"
FREE_DEPTH = Bounds(max_depth=14)   # the free hypervisor's space is explored to this depth

# bug -> (first property violated in the Linux flow, clauses it cites, shortest length)
EXPECTED = {
    "get-wrong-queue-address": ("get_returns_parts", {"D-DP-2", "I-DP-8"}, 6),
    "get-drops-feature": ("get_returns_parts", {"D-DP-2", "I-DP-8"}, 5),
    "stop-no-used-index": ("stop_writes_back", {"D-DP-10", "D-DP-11"}, 7),
    "dst-stale-position": ("positions_continuous", {"MIG-VQ-1", "D-DP-11"}, 13),
    "resume-no-notify": ("guest_not_left_waiting", {"MIG-VQ-2"}, 13),
    "set-applied-early": ("set_waits_for_resume", {"I-DP-5"}, 5),
    "accepts-unoffered-features": ("record_is_source", {"D-DP-7"}, 8),
}
# the end-to-end consequences, reached later in the same runs
END_TO_END = {
    "get-wrong-queue-address": "destination_has_source_parts",
    "get-drops-feature": "destination_has_source_parts",
    "stop-no-used-index": "each_buffer_used_once",
    "dst-stale-position": "each_buffer_used_once",
    "accepts-unoffered-features": "runs_offered_features",
}


def _violations(params, bounds=None):
    result, _ = check(load_model(MODEL, params), bounds or Bounds())
    return result, {v.property: v for v in result.violations}


def test_catalogue_is_covered():
    assert set(EXPECTED) == set(Virtio14Migration.bugs)


def test_correct_device_holds_under_the_linux_flows():
    result, found = _violations({})
    assert result.verdict == "holds", sorted(found)
    assert result.states == 224_012   # pinned: a change here is a change of the model's semantics
    names = {p.name for p in result.properties}
    assert {"destination_has_source_parts", "each_buffer_used_once", "guest_not_left_waiting",
            "cancel_keeps_source", "runs_offered_features", "migration_completes", "cancel_after_switchover",
            "mismatch_refused_path", "flr_during_stop_copy"} <= names


def test_correct_device_holds_for_the_free_hypervisor_to_the_depth_bound():
    result, found = _violations({"flow": "free"}, FREE_DEPTH)
    assert not found, sorted(found)
    assert result.verdict == "bounded"


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_bug_is_found_shortest_with_its_clauses(bug):
    prop, clauses, length = EXPECTED[bug]
    _, found = _violations({"bug": bug})
    first = min((v for v in found.values() if v.kind != "sometimes"), key=lambda v: len(v.witness.steps))
    assert first.property == prop, sorted(found)
    assert clauses <= set(first.clauses)
    assert len(first.witness.steps) == length
    if bug in END_TO_END:
        assert END_TO_END[bug] in found, sorted(found)


FREE_FIRST = {"accepts-unoffered-features": "runs_offered_features"}   # no Linux phases in the free flow


@pytest.mark.parametrize("bug", [
    "set-applied-early",
    pytest.param("get-drops-feature", marks=pytest.mark.slow),
    pytest.param("stop-no-used-index", marks=pytest.mark.slow),
    pytest.param("accepts-unoffered-features", marks=pytest.mark.slow),
])
def test_device_side_bug_is_found_with_the_free_hypervisor(bug):
    prop = FREE_FIRST.get(bug, EXPECTED[bug][0])
    _, found = _violations({"bug": bug, "flow": "free"}, FREE_DEPTH)
    assert prop in found, sorted(found)


def test_a_driver_that_looks_itself_does_not_need_the_resume_notification():
    # Q21 read as "left to the driver": the lost notification is not a device fault
    result, found = _violations({"bug": "resume-no-notify", "resume_notify": "driver"})
    assert result.verdict == "holds", sorted(found)


def test_a_strict_feature_check_never_lets_a_narrower_destination_run():
    # D-DP-7 read strictly: DEV_FEATURES that differ are refused, so a destination offering
    # fewer features never completes a migration (and the goal says so)
    result, found = _violations({"dst_features": "fewer", "features_mismatch": "reject", "faults": 0})
    assert set(found) == {"migration_completes"}, sorted(found)


def test_wire_members_pair_up():
    assert [pair_of(m) for m in (1, 2, 3, 4)] == [(1, "src"), (1, "dst"), (2, "src"), (2, "dst")]


def test_replay_sizes_the_model_from_the_capture():
    assert Virtio14Migration.topology_params([1, 2, 3, 4], 2) == {"pairs": 2, "queues": 2}


@pytest.mark.parametrize("params", [{}, {"pairs": 2, "queues": 2}])
def test_k_induction_proves_the_end_to_end_properties_with_16_bit_rings(params):
    """Every safety property, end to end ones included, for every reachable state of the real
    split ring (indices wrapping from 0xFFFE), by k-induction with the auxiliary invariants."""
    from mcheck.symbolic.induction import prove

    model = load_model(MODEL, {"index_bits": 16, "index_start": 0xFFFE, **params})
    result = prove(model, depth=14)
    safety = [p for p in result.properties if p.kind != "sometimes"]
    assert {p.name for p in safety} >= {"destination_has_source_parts", "each_buffer_used_once",
                                        "guest_not_left_waiting", "cancel_keeps_source", "runs_offered_features"}
    assert all(p.verdict == "proved" for p in safety), [(p.name, p.verdict) for p in safety]
    assert result.verdict == "proved"
