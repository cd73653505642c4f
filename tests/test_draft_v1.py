"""The draft-v1 model: the correct device with the draft flow holds, the broken flow loses a
page, every catalogue bug is found with its clauses, and state counts are pinned."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

import pytest

from mcheck.explore.check import check
from mcheck.model.build import build_model
from mcheck.model.definition import action
from mcheck.model.registry import find_model_class, load_model
from mcheck.models.draft_v1 import DraftV1

ROOT = Path(__file__).resolve().parent.parent

# bug -> {property that must be violated: (clauses its counterexample must cite, shortest length)}
# (draft flow, members=1, other parameters at their defaults; the three bugs the draft flow never
# exercises, because its hypervisor never sends such a command, with the free hypervisor)
FREE_ONLY = {"orphan-chunk-accepted", "resume-partial-context", "unknown-mode-accepted"}
LOST = {"no_lost_writes", "transparent_migration"}
EXPECTED = {
    "write-while-frozen": {"no_dma_while_stopped": ({"DRAFT-MODE-1", "D-DP-9", "D-DP-16"}, 7),
                           "no_lost_writes": ({"DRAFT-FLOW-1", "DRAFT-WR-1"}, 13),
                           "transparent_migration": ({"DRAFT-FLR-3"}, 13)},
    "notify-while-stopped": {"no_notify_while_stopped": ({"DRAFT-MODE-2", "D-DP-16"}, 3)},
    "unreported-write": {"writes_recorded": ({"DRAFT-WR-1"}, 4),
                         "no_lost_writes": ({"DRAFT-FLOW-1", "DRAFT-WR-1"}, 13)},
    "unreported-ring-write": {"writes_recorded": ({"DRAFT-WR-1", "DRAFT-WR-4"}, 4),
                              "no_lost_writes": ({"DRAFT-FLOW-1", "DRAFT-WR-1"}, 13)},
    "context-changes-while-frozen": {"context_frozen": ({"DRAFT-FRZ-1"}, 5),
                                     "context_complete": ({"DRAFT-CTX-4"}, 11)},
    "frozen-accepts-access": {"context_frozen": ({"DRAFT-FRZ-1"}, 5),
                              "frozen_context_migrates": ({"DRAFT-FRZ-2"}, 11)},
    "ctx-write-while-active": {"ctx_write_only_in_freeze": ({"DRAFT-CTX-3", "D-DP-4"}, 7)},
    "ctx-missing-used-idx": {"read_returns_context": ({"DRAFT-CTX-1"}, 8),
                             "context_complete": ({"DRAFT-CTX-4", "DRAFT-CTX-1"}, 13),
                             "frozen_context_migrates": ({"DRAFT-FRZ-2"}, 13),
                             "continuity": ({"DRAFT-VQ-1"}, 13)},
    "orphan-chunk-accepted": {"orphan_chunk_refused": ({"DRAFT-CTX-5"}, 2)},
    "resume-partial-context": {"resume_needs_whole_context": ({"DRAFT-CTX-6"}, 3)},
    "unknown-mode-accepted": {"unknown_mode_refused": ({"DRAFT-MODE-3"}, 1)},
    "report-not-cleared": {"report_clears": ({"DRAFT-WR-3"}, 5)},
    "report-drops-concurrent-write": {"report_atomic": ({"DRAFT-WR-2", "DRAFT-WR-3"}, 5),
                                      "no_lost_writes": ({"DRAFT-FLOW-1"}, 13)},
    "flr-wrong-mode": {"flr_resets_member": ({"DRAFT-FLR-1", "D-DP-22"}, 3),
                       "transparent_migration": ({"DRAFT-FLR-3"}, 16)},
    "flr-clears-record": {"flr_resets_member": ({"DRAFT-FLR-1", "D-DP-22"}, 2),
                          "transparent_migration": ({"DRAFT-FLR-3"}, 15)},
    "flr-answers-early": {"no_answer_during_flr": ({"DRAFT-FLR-2", "D-DP-17", "D-DP-18"}, 3)},
    "wr-stop-ignored": {"cancel_restores_source": ({"DRAFT-FLOW-3"}, 3)},
}

COMMANDS = {"DEV_MODE_GET", "DEV_MODE_SET", "DEV_CTX_SIZE_GET", "DEV_CTX_READ", "DEV_CTX_WRITE",
            "DEV_CTX_FIELDS_QUERY", "DEV_CTX_DISCARD", "WR_CAPS_QUERY", "WR_START", "WR_STOP",
            "WR_PENDING", "WR_REPORT"}


@cache
def run(**params):
    result, _ = check(load_model("draft-v1", params))
    return result


def violations(result):
    return {v.property: v for v in result.violations}


def test_registry_and_catalogue():
    cls = find_model_class("draft-v1")
    assert cls is DraftV1
    assert cls.profile == "draft-v1"
    assert set(EXPECTED) == set(cls.bugs)
    defaults = {p.name: p.default for p in cls.declared_params()}
    assert defaults == {"members": 1, "pages": 2, "queues": 1, "buffers": 2, "faults": 1, "flow": "draft",
                        "transitions": "any", "flr_tracking": "keep-recording", "flr_mode": "keep",
                        "flr_visible": "no", "event_idx": "off", "index_width": "small", "index_start": 0,
                        "bug": "none"}


# pinned (Stateright style): a change here is a change of the model's semantics
@pytest.mark.parametrize("params,states", [
    ({}, 2232),
    ({"transitions": "via-stop"}, 2232),
    ({"flr_visible": "yes"}, 2232),
    ({"event_idx": "on"}, 2328),
    ({"faults": 0}, 792),
    ({"faults": 2}, 3684),
    ({"buffers": 1}, 908),
    ({"pages": 4}, 4920),
    ({"queues": 2}, 26292),
    # a P-FLR reading that loses pages is safe when nothing resets the member
    ({"faults": 0, "flr_tracking": "stop-and-clear", "flr_mode": "active"}, 792),
    # P-TRANS via-stop makes a blind hypervisor's FREEZE fail after an unseen FLR to ACTIVE:
    # it cancels instead of losing pages (docs/draft-v1.md, Findings)
    ({"transitions": "via-stop", "flr_mode": "active"}, 2267),
])
def test_correct_device_holds_members_1(params, states):
    result = run(**params)
    assert result.verdict == "holds", sorted(violations(result))
    assert result.states == states
    assert all(p.verdict == "holds" for p in result.properties)


def test_correct_device_holds_members_2():
    # the full default (buffers=2) is 2232**2 states; buffers=1 faults=0 keeps the suite quick
    result = run(members=2, buffers=1, faults=0)
    assert result.verdict == "holds", sorted(violations(result))
    single = run(buffers=1, faults=0).states
    assert result.states == single ** 2  # the two migrations are independent: the product space


def test_free_hypervisor_keeps_device_properties():
    result = run(flow="free", pages=1, buffers=1)
    assert result.verdict == "holds", sorted(violations(result))
    assert result.states == 250352
    assert not result.coverage["never_fired"]


def test_skip_final_report_loses_a_page():
    result = run(flow="skip-final-report")
    assert result.verdict == "violated"
    found = violations(result)
    assert set(found) - set(DraftV1.auxiliary) == LOST
    v = found["no_lost_writes"]
    assert {"DRAFT-FLOW-1", "DRAFT-WR-1"} <= set(v.clauses)
    steps = v.witness.steps
    assert len(steps) == 12
    assert steps[-1].action == "switchover"
    # the lost page: a DMA write makes the destination copy stale, and nothing after it
    # (no report, so no copy) makes it fresh again before the switchover
    writes = [s for s in steps if s.action == "dma_write"]
    assert writes
    page = writes[-1].params["p"]
    stale = f"stale[1][{page}]"
    assert any(c.field == stale and c.after is True for c in writes[-1].changes)
    later = steps[steps.index(writes[-1]) + 1:]
    assert not any(c.field == stale for s in later for c in s.changes)
    assert not any(s.event and s.event.get("cmd") == "WR_REPORT" for s in later)
    # the device was stopped after the write, then frozen, read and transferred
    cmds = [(s.event["cmd"], s.event.get("mode")) for s in later if s.event and s.event["kind"] == "admin"]
    assert cmds[0] == ("DEV_MODE_SET", "STOP")
    assert ("DEV_CTX_READ", None) in cmds and ("DEV_CTX_WRITE", None) in cmds


@pytest.mark.parametrize("params,length", [
    ({"flr_tracking": "stop-and-clear"}, 15),
    ({"flr_mode": "active"}, 16),
    ({"flr_visible": "yes", "flr_tracking": "stop-and-clear"}, 15),   # a reset stays unseen
    ({"flr_visible": "yes", "flr_mode": "active"}, 16),
])
def test_p_flr_readings_that_lose_pages_under_a_blind_hypervisor(params, length):
    """Findings for the draft (docs/draft-v1.md): only faults that keep the mode and the record
    keep a migration transparent."""
    result = run(**params)
    found = violations(result)
    assert set(found) - set(DraftV1.auxiliary) == LOST
    v = found["transparent_migration"]
    assert "DRAFT-FLR-3" in v.clauses
    steps = v.witness.steps
    assert len(steps) == length and steps[-1].action == "switchover"
    assert any(s.action == "fault_begin" for s in steps)
    # the hypervisor did not restart: no second WR_START
    assert sum(1 for s in steps if s.event and s.event.get("cmd") == "WR_START") == 1


def test_draft_flow_reports_the_page_the_broken_flow_loses():
    # same model, correct flow: the final report after the stop carries the page
    result = run()
    assert result.verdict == "holds"
    assert next(p for p in result.properties if p.name == "page_reported").verdict == "holds"


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_catalogue_bug_is_found_with_its_clauses(bug):
    result = run(bug=bug, **({"flow": "free", "pages": 1, "buffers": 1} if bug in FREE_ONLY else {}))
    assert result.verdict == "violated"
    found = violations(result)
    for prop, (clauses, length) in EXPECTED[bug].items():
        assert prop in found, f"{bug}: violated {sorted(found)}"
        assert clauses <= set(found[prop].clauses)
        assert len(found[prop].witness.steps) == length  # shortest (breadth-first)


def test_every_property_has_a_satisfying_and_a_violating_case():
    props = {p.name: p.kind for p in run().properties if p.kind != "deadlock"}
    violated = {prop for bug in EXPECTED for prop in EXPECTED[bug]} | LOST
    violated |= set(violations(run(bug="unreported-write")))  # page_reported becomes unreachable
    # the auxiliary (strengthening) invariants are lemmas for k-induction, not checked behaviour
    safety = {name for name, kind in props.items() if kind != "sometimes"} - set(DraftV1.auxiliary)
    assert safety <= violated, safety - violated
    assert "page_reported" in violated


def test_ctx_write_while_active_in_free_flow_is_one_step():
    result = run(flow="free", pages=1, buffers=1, bug="ctx-write-while-active")
    v = violations(result)["ctx_write_only_in_freeze"]
    (step,) = v.witness.steps
    assert step.event["cmd"] == "DEV_CTX_WRITE" and step.event["side"] == "dst" and step.event["status"] == "OK"
    assert step.event["part"] == "first"


def test_refused_transition_is_einval_under_via_stop():
    model = load_model("draft-v1", {"transitions": "via-stop", "flow": "free"})
    by_label = {a.label: a for a in model.actions}
    refused = by_label["dev_mode_set(m=1, d=dst, frm=ACTIVE, target=FREEZE)"]
    assert refused.event["status"] == "EINVAL" and not refused.assigns
    ok = by_label["dev_mode_set(m=1, d=dst, frm=ACTIVE, target=STOP)"]
    assert ok.event["status"] == "OK"
    direct = load_model("draft-v1", {"flow": "free"})
    assert {a.label: a for a in direct.actions}[refused.label].event["status"] == "OK"


def test_events_are_concrete_and_commands_are_in_the_profile():
    model = load_model("draft-v1", {"flow": "free", "queues": 2, "pages": 3})
    profile = tomllib.loads((ROOT / "models" / "profiles" / "draft-v1.toml").read_text())
    cmds = set()
    for act in model.actions:
        ev = act.event
        if ev is None:
            continue
        assert all(not hasattr(v, "sort") for v in ev.values()), act.label
        if ev["kind"] == "admin":
            assert ev["status"] in profile["status"], act.label
            cmds.add(ev["cmd"])
    assert cmds == COMMANDS
    assert COMMANDS <= set(profile["opcodes"])
    reports = [a for a in model.actions if a.event and a.event.get("cmd") == "WR_REPORT"]
    assert sorted(a.event["bitmap"] for a in reports) == list(range(16))   # 3 data pages + the used-ring page


def test_report_outcomes_match_the_record():
    # one WR_REPORT instance per bitmap over the data pages and the used-ring page, each
    # enabled only when the record equals it
    model = load_model("draft-v1", {})
    reports = [a for a in model.actions if a.name == "wr_report"]
    assert [a.params["bitmap"] for a in reports] == list(range(8))
    assert {a.event["range_pages"] for a in reports} == {3}


class _NeverSwitches(DraftV1):
    @action(m="members")
    def switchover(self, s, m):
        s.require(False)


class _NoFaults(DraftV1):
    @action(m="members", d="side", kind=("flr", "reset"))
    def fault_begin(self, s, m, d, kind):
        s.require(False)


class _NeverCancels(DraftV1):
    @action(m="members")
    def cancel(self, s, m):
        s.require(False)


@pytest.mark.parametrize("cls,unreached", [
    (_NeverSwitches, {"migration_completes", "completes_after_flr"}),
    (_NoFaults, {"flr_mid_migration", "completes_after_flr"}),
    (_NeverCancels, {"migration_cancelled"}),
])
def test_sometimes_goals_catch_a_vacuous_variant(cls, unreached):
    result, _ = check(build_model(cls, {}))
    found = violations(result)
    assert unreached <= set(found)
    assert all(found[name].kind == "sometimes" for name in unreached)


def test_every_draft_clause_is_documented():
    model = load_model("draft-v1", {"flow": "free"})
    used = {c for a in model.actions for c in a.clauses} | {c for p in model.properties for c in p.clauses}
    used |= {c for p in run().properties for c in p.clauses}
    doc = (ROOT / "docs" / "draft-v1.md").read_text()
    missing = {c for c in used if c.startswith("DRAFT-") and f"| {c} |" not in doc}
    assert not missing, missing
