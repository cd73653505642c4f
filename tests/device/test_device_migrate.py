"""`mcheck migrate-demo`: both profiles migrate cleanly; a buggy source makes the check fail and say why."""

from __future__ import annotations

import pytest

from mcheck.conformance.migrate import run_demo


@pytest.mark.parametrize("profile", ["virtio-1.4", "draft-v1"])
def test_clean_migration_passes_and_captures_replay_clean(tmp_path, profile):
    ok, demo, replays = run_demo(profile, [], tmp_path)
    assert ok, demo.problems
    assert demo.posted >= 3
    assert all(len(demo.completions[s]) == 1 for s in range(demo.posted))
    assert set(replays.values()) == {"holds"}
    assert (tmp_path / "source.jsonl").is_file() and (tmp_path / "destination.jsonl").is_file()
    assert (tmp_path / "merged.jsonl").is_file()       # both profiles write the merged two-host capture
    if profile == "virtio-1.4":                        # the source's final record is checked against its state
        assert not any("reports no parts in its state" in n for n in demo.notes)


def test_unreported_write_on_the_draft_source_fails(tmp_path):
    ok, demo, _ = run_demo("draft-v1", ["unreported-write"], tmp_path)
    assert not ok
    assert any("differs between source and destination" in p and "not reported" in p for p in demo.problems)


@pytest.mark.parametrize("profile,bug", [("virtio-1.4", "dma-after-stop"), ("draft-v1", "write-while-frozen")])
def test_dma_after_stop_fails_and_says_why(tmp_path, profile, bug):
    ok, demo, replays = run_demo(profile, [bug], tmp_path)
    assert not ok
    assert any("wrote guest memory after it was stopped" in p for p in demo.problems)
    assert replays["source"] == "violated"


def test_payload_ring_indices_unwrap_past_65535_buffers():
    """Issue 15 item 8: the payload carries the 16-bit ring index; the demo's sequence is unbounded."""
    from mcheck.conformance.migrate import unwrap_index
    assert unwrap_index(5, 10) == 5
    assert unwrap_index(0, 65_537) == 65_536          # the 65,537th buffer wrapped to index 0
    assert unwrap_index(65_535, 65_537) == 65_535     # its predecessor is not confused with it
    assert unwrap_index(3, 200_000) == 196_611        # 3 + 3 * 65_536
    assert {unwrap_index(i % 0x10000, 70_000) for i in range(69_000, 70_000)} == set(range(69_000, 70_000))


@pytest.mark.slow
def test_migrate_demo_with_more_than_65535_buffers_passes(tmp_path):
    from mcheck.cli import main
    assert main(["migrate-demo", "--buffers", "70000", "--out", str(tmp_path)]) == 0
