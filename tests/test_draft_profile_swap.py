"""The draft profile is wire numbering only: another numbering changes what a capture's
bytes look like, never a verdict (issue 3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcheck.model.registry import load_model
from mcheck.replay.engine import replay_events
from mcheck.trace.codec import Codec
from mcheck.trace.describe import describe_event as describe
from mcheck.trace.events import AdminCommand, DmaWrite
from mcheck.trace.profile import load_profile

DEFAULT = Path(__file__).resolve().parent.parent / "models" / "profiles" / "draft-v1.toml"


@pytest.fixture(scope="module")
def vendor_profile(tmp_path_factory) -> Path:
    """The placeholder profile with every draft opcode moved and the mode values renumbered."""
    text = DEFAULT.read_text()
    text = re.sub(r"= 0x7F(0[0-9A-B])", lambda m: f"= 0x7E{m.group(1)}", text)
    text = text.replace('name = "draft-v1"', 'name = "vendor-x"')
    text = re.sub(r"\[modes\]\nACTIVE = \d+\nSTOP = \d+\nFREEZE = \d+", "[modes]\nACTIVE = 5\nSTOP = 6\nFREEZE = 7", text)
    path = tmp_path_factory.mktemp("profiles") / "vendor-x.toml"
    path.write_text(text)
    return path


def _capture(codec: Codec, stop_mode_first: bool):
    """A source member stopped and frozen, a DMA write while frozen, its mode read back."""
    modes = codec.profile.modes
    events = []

    def admin(name, member, fields, result=None):
        events.append(AdminCommand(index=len(events), timestamp=1000 * len(events), codec=codec,
                                   readable=codec.encode_command(name, "SRIOV", member, fields),
                                   writable=codec.encode_result(name, "OK", "OK", result or {})))
    if stop_mode_first:
        admin("DEV_MODE_SET", 1, {"mode": modes["STOP"]})
    admin("DEV_MODE_SET", 1, {"mode": modes["FREEZE"]})
    admin("DEV_MODE_GET", 1, {}, {"mode": modes["FREEZE"]})
    events.append(DmaWrite(index=len(events), timestamp=1000 * len(events), member=1, address=0, length=64))
    return events


@pytest.mark.parametrize("stop_first", [True, False])
def test_vendor_numbering_changes_bytes_not_verdicts(vendor_profile, stop_first):
    model = load_model("draft-v1", {"flow": "free"})
    results, shown = [], []
    for profile in ("draft-v1", str(vendor_profile)):
        codec = Codec(load_profile(profile))
        events = _capture(codec, stop_first)
        shown.append([describe(e) for e in events])
        outcome = replay_events(model, iter(events), hidden_kinds=model.model.unobserved)
        results.append(outcome.result)
    default, vendor = results
    assert default.verdict == vendor.verdict == "violated"  # the DMA write while frozen
    assert [v.event_index for v in default.violations] == [v.event_index for v in vendor.violations] == [len(shown[0]) - 1]
    assert default.violations[0].clauses == vendor.violations[0].clauses
    assert shown[0] != shown[1]  # the decoded output shows the other numbering


def test_the_model_is_independent_of_any_profile():
    from mcheck.explore.check import check
    first, _ = check(load_model("draft-v1", {}))
    assert first.verdict == "holds"
    # the model names commands only; loading it never opens a profile file
    import mcheck.models.draft_v1 as draft
    assert "load_profile" not in Path(draft.__file__).read_text()
