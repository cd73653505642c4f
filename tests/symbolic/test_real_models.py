"""k-induction on the built-in models.

virtio-1.4 (the spec-exact oracle: answer sets, per-group enabled sets, Q readings
defaulting to "either") declares one strengthening invariant (buffers are conserved per
queue) as `auxiliary`; with it every safety property is proved at k=1 (about 4 s at 2
members), also with other readings (sets=exact, compat=linux), without it induction fails
with a counterexample to induction. No catalogue bug variant is proved (the properties are
not vacuous). Whatever a model's state, an unproved property must come with a
counterexample to induction, never a silent `bounded`.
"""

from __future__ import annotations

import json
from typing import Any
from pathlib import Path

import pytest

from mcheck.cli import main

from mcheck.model.build import build_model
from mcheck.model.registry import find_model_class, load_model
from mcheck.symbolic.induction import prove


@pytest.mark.parametrize("name", ["virtio-1.4", "draft-v1"])
def test_the_built_in_models_are_proved_at_their_defaults(name: str, tmp_path: Path) -> None:
    """`mcheck check NAME --engine prove` with no flag: exit 0, every safety property proved."""
    out = tmp_path / "r.json"
    assert main(["check", name, "--engine", "prove", "-q", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["verdict"] == "proved", result["notes"]
    unproved = {p["name"] for p in result["properties"] if p["kind"] != "sometimes" and p["verdict"] != "proved"}
    assert not unproved and not result["violations"]


# the spec-exact model's safety properties (each must be among the proved ones)
VIRTIO_SAFETY = {
    "no_dma_while_stopped", "no_queue_access_while_stopped", "no_notification_while_stopped",
    "no_pme_while_stopped", "pci_reads_valid", "stopped_member_has_nothing_in_flight",
    "set_takes_effect_at_resume", "failed_command_has_no_side_effect", "mode_set_is_idempotent",
    "ok_carries_no_qualifier", "no_answer_during_flr_or_reset", "reset_returns_parts_to_default",
    "get_returns_parts_in_order", "get_returns_every_part", "validation_order",
    "list_use_replaces_enabled_set", "disabled_opcode_refused", "owner_reset_clears_owner_state",
    "query_returns_last_data", "create_within_limit", "resume_applies_pending_parts",
    "buffers_conserved", "deadlock_free",
}


@pytest.mark.parametrize("params", [{}, {"sets": "exact"}, {"compat": "linux"}],
                         ids=["default", "sets-exact", "compat-linux"])
def test_virtio_1_4_is_proved(params: dict[str, Any]) -> None:
    result = prove(load_model("virtio-1.4", {"members": 2, **params}))
    assert result.verdict == "proved", result.notes
    assert all(p.verdict == "proved" for p in result.properties if p.kind != "sometimes")
    proved = {p.name for p in result.properties if p.verdict == "proved"}
    assert VIRTIO_SAFETY <= proved, VIRTIO_SAFETY - proved
    assert "auxiliary invariants: buffers_conserved" in result.notes


def _virtio_bugs() -> list[str]:
    return sorted(find_model_class("virtio-1.4").bugs)


@pytest.mark.slow
@pytest.mark.parametrize("bug", _virtio_bugs())
def test_no_virtio_1_4_bug_is_proved(bug: str) -> None:
    """Each catalogue bug breaks some property: the proof is either violated (base case) or
    stops at a counterexample to induction for a property the bug breaks; never proved."""
    # sets=coarse cannot show disabled-list-query (LIST_USE leaves class `other`, where
    # LIST_QUERY may be enabled), so that bug is proved harmless there; exact sets show it
    params = {"sets": "exact"} if bug == "disabled-list-query" else {}
    result = prove(load_model("virtio-1.4", {"members": 2, "bug": bug, **params}))
    assert result.verdict in ("violated", "bounded"), bug
    assert result.violations


@pytest.mark.slow
def test_virtio_1_4_is_proved_at_64_members() -> None:
    result = prove(load_model("virtio-1.4", {"members": 64}))
    assert result.verdict == "proved", result.notes


def test_without_its_strengthening_invariant_induction_fails_with_a_counterexample() -> None:
    base = find_model_class("virtio-1.4")

    class Unstrengthened(base):  # type: ignore[misc, valid-type]  # a class found at run time
        auxiliary = ()

        def buffers_conserved(self, s):  # not decorated: removed
            return None

    result = prove(build_model(Unstrengthened, {"members": 2}))
    assert result.verdict == "bounded"
    assert "proved" not in {p.verdict for p in result.properties}  # value_ranges unproved: nothing claimed
    (cti,) = [v for v in result.violations if v.kind == "induction"]
    # post_buffer keeps avail+inflight <= buffers and nothing else raises it, so only a first
    # state that breaks the removed invariant can push a counter out of its range
    assert cti.property == "value_ranges"
    first = cti.witness.initial
    assert any(first[f"avail[{m}][0]"] + first[f"inflight[{m}][0]"] > 1 for m in (1, 2)), first
