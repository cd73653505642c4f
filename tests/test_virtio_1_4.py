"""The virtio 1.4 model: the correct device holds, every catalogue bug is found with its clauses."""

from __future__ import annotations

import pytest

from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.registry import find_model_class, load_model
from mcheck.models.virtio_1_4 import Virtio14

# bug -> (property that must be violated, clauses its counterexample must cite, shortest length),
# checked at members=1 with every enabled-set class (sets=exact)
EXPECTED = {
    "dma-after-stop": ("no_dma_while_stopped", {"D-DP-9", "D-DP-16"}, 6),
    "notify-after-stop": ("no_notification_while_stopped", {"D-DP-16"}, 4),
    "set-while-running": ("set_takes_effect_at_resume", {"I-DP-5"}, 5),
    "inflight-not-written-back": ("stopped_member_has_nothing_in_flight", {"D-DP-10", "D-DP-11"}, 5),
    "flr-keeps-parts": ("reset_returns_parts_to_default", {"D-DP-22"}, 2),
    "mode-set-during-flr": ("no_answer_during_flr_or_reset", {"D-DP-17"}, 3),
    "mode-set-during-pm": ("no_answer_during_flr_or_reset", {"D-DP-19"}, 3),
    "einval-side-effect": ("failed_command_has_no_side_effect", {"D-GA-3", "I-DP-7"}, 2),
    "stop-not-idempotent": ("mode_set_is_idempotent", {"D-DP-20"}, 3),
    "parts-out-of-order": ("get_returns_parts_in_order", {"D-DP-3"}, 5),
    "parts-missing-vq": ("get_returns_every_part", {"I-DP-8"}, 5),
    "fetch-after-stop": ("no_queue_access_while_stopped", {"D-DP-16"}, 5),
    "member-checked-first": ("validation_order", {"D-GA-1"}, 1),
    "set-lost-at-resume": ("resume_applies_pending_parts", {"I-DP-5"}, 6),
    "create-beyond-limit": ("create_within_limit", {"I-RO-1"}, 2),
    "ok-with-qualifier": ("ok_carries_no_qualifier", {"I-GA-1"}, 2),
    "disabled-list-query": ("disabled_opcode_refused", {"D-GA-9"}, 2),
    "list-use-ignored": ("list_use_replaces_enabled_set", {"D-GA-8"}, 1),
    "pme-while-stopped": ("no_pme_while_stopped", {"D-DP-15"}, 3),
    "bad-read-while-stopped": ("pci_reads_valid", {"D-DP-13"}, 3),
    "owner-reset-keeps-objects": ("owner_reset_clears_owner_state", {"D-RO-8"}, 5),
    "query-wrong-type": ("query_returns_last_data", {"D-RO-7"}, 5),
    "get-bad-part-length": ("get_parts_well_formed", {"D-DP-6", "I-DP-8"}, 5),
    "features-not-optional": ("get_parts_well_formed", {"I-DP-8"}, 5),
    "parts-missing-notify": ("get_returns_every_part", {"I-DP-8"}, 5),
    "selected-returns-all": ("get_selected_returns_only_asked", {"I-DP-4", "D-DP-23"}, 5),
    "list-query-omits": ("list_query_reports_command_set", {"D-DP-1"}, 1),
    "destroy-other-member": ("destroy_only_own_object", {"I-DP-2"}, 5),
    "set-during-flr": ("no_answer_during_flr_or_reset", {"D-DP-17"}, 3),
    "stop-no-used-index": ("stopped_member_has_nothing_in_flight", {"D-DP-10", "D-DP-11"}, 5),
}
# bugs that need more than one member to show (another member's object), checked at
# members=2 with the coarse classes and a depth bound (the shortest witness is shorter)
BUG_SIZE = {"destroy-other-member": ({"members": 2, "sets": "coarse"}, Bounds(max_depth=6))}


def test_catalogue_is_covered_by_expectations():
    assert set(EXPECTED) == set(Virtio14.bugs)
    assert set(find_model_class("virtio-1.4").bugs) == set(EXPECTED)


@pytest.mark.parametrize("params,states", [({"members": 1}, 4096), ({"members": 1, "sets": "exact"}, 40960),
                                           ({"members": 2}, 393216)])
def test_correct_device_holds(params, states, explored):
    result = explored("virtio-1.4", params)   # members=2: the session's shared reference run
    assert result.verdict == "holds", [v.property for v in result.violations]
    assert result.states == states  # pinned: a change here is a change of the model's semantics
    assert all(p.verdict == "holds" for p in result.properties)


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_catalogue_bug_is_found_with_its_clauses(bug):
    prop, clauses, length = EXPECTED[bug]
    params, bounds = BUG_SIZE.get(bug, ({}, Bounds()))
    result, _ = check(load_model("virtio-1.4", {"members": 1, "sets": "exact", "bug": bug, **params}), bounds)
    assert result.violations
    found = {v.property: v for v in result.violations}
    assert prop in found, f"{bug}: violated {sorted(found)}"
    violation = found[prop]
    assert clauses <= set(violation.clauses)
    assert len(violation.witness.steps) == length  # shortest (breadth-first)


def test_counterexample_steps_show_decoded_command_and_changes():
    result, _ = check(load_model("virtio-1.4", {"members": 1, "bug": "einval-side-effect"}))
    witness = next(v for v in result.violations if v.property == "failed_command_has_no_side_effect").witness
    last = witness.steps[-1]
    assert last.event["cmd"] == "DEV_MODE_SET" and last.event["status"] == "EINVAL"
    assert last.event["qualifier"] == "INVALID_FIELD" and last.event["flags"] & 0x02  # a reserved bit (Q5)
    assert [(c.field, c.before, c.after) for c in last.changes] == [("mode[1]", "running", "stopped")]


def test_every_property_and_clause_is_exercised_by_some_bug():
    model = load_model("virtio-1.4", {"members": 1})
    violated_by_bugs = {prop for prop, _, _ in EXPECTED.values()}
    # auxiliary invariants only strengthen induction (they follow from the Int ranges)
    safety = {p.name for p in model.properties if p.kind != "sometimes"} - set(Virtio14.auxiliary)
    assert safety <= violated_by_bugs


class _NoSet(Virtio14):
    """A model that cannot write parts: the restore goal must become unreachable."""

    def parts_set(self, *args):  # not decorated: removes the action
        return None


def test_sometimes_goal_catches_a_vacuous_model():
    from mcheck.model.build import build_model
    result, _ = check(build_model(_NoSet, {"members": 1}))
    assert result.verdict == "violated"
    assert [v.property for v in result.violations] == ["restore_reachable"]


@pytest.mark.parametrize("params", [
    {"mode_after_reset": "keep"},
    {"mode_after_reset": "running"},
    {"objects_after_flr": "destroyed"},
    {"get_during_flr": "defer"},
    {"get_during_flr": "answer"},
    {"reserved_flags": "ignore"},
    {"reserved_flags": "reject"},
    {"owner_reset_mode": "running"},
    {"owner_reset_pending": "drop"},
    {"get_after_set": "set"},
    {"features_mismatch": "reject"},
    {"caps_on_sriov": "accept", "self_enabled": "implicit"},
    {"queues": 2},
    {"objects": 2},
])
def test_spec_choices_keep_the_correct_device_correct(params):
    result, _ = check(load_model("virtio-1.4", {"members": 1, **params}))
    assert result.verdict == "holds", (params, [v.property for v in result.violations])
