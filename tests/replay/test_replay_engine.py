"""Replayer behaviour on hand-made traces: missing completions, split submit/complete
records, damaged tails, hidden steps, the candidate bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.replay import replay_file
from mcheck.trace.events import DmaWrite, FlrBegin, FlrEnd

from ._support import MANIFEST, TRACES, Hand, flows, write

F = flows()


STOP, RESUME = {"flags": 0x01}, {"flags": 0x00}
SET_RECORD = {"obj_id": 0, "parts": [{"type": "DEVICE_STATUS", "flags": 0, "value": 0}]}


@pytest.mark.parametrize("ext", [".jsonl", ".pcapng"])
def test_missing_completion_matches_any_answer(tmp_path: Path, ext: str) -> None:
    h = Hand().bring_up()
    h.admin("DEV_MODE_SET", STOP, complete=False)     # lost completion: the stop may or may not have happened
    h.admin("RESOURCE_OBJ_DESTROY", {"obj_id": 0})
    h.admin("DEV_PARTS_SET", SET_RECORD, complete=False)   # on no object, maybe running: any answer will do
    h.admin("DEV_MODE_SET", RESUME)
    h.side(DmaWrite, member=1, address=0x1000, length=8)
    result = replay_file(h.write(tmp_path / f"lost{ext}"))
    assert result.verdict == "holds", [v.message for v in result.violations]


def test_missing_completion_of_a_command_the_device_defers(tmp_path: Path) -> None:
    """A MODE_SET sent during an FLR has no answer yet when the capture ends: fine."""
    h = Hand().bring_up()
    h.side(FlrBegin, member=1)
    h.admin("DEV_MODE_SET", STOP, complete=False)
    result = replay_file(h.write(tmp_path / "deferred.jsonl"))
    assert result.verdict == "holds", [v.message for v in result.violations]


def test_a_completed_command_still_needs_an_allowed_answer(tmp_path: Path) -> None:
    h = Hand().bring_up()
    h.admin("DEV_PARTS_SET", SET_RECORD)   # on a GET object: the device must refuse it (I-DP-1)
    result = replay_file(h.write(tmp_path / "bad.jsonl"))
    assert result.verdict == "violated"
    (v,) = result.violations
    assert v.event_index == 5 and "I-DP-1" in v.clauses, (v.event_index, v.clauses)   # the SET, after bring-up's 5


@pytest.mark.parametrize("ext", [".jsonl", ".pcapng"])
def test_split_records_join_at_the_completion(tmp_path: Path, ext: str) -> None:
    """R6: a MODE_SET that arrives during the FLR is answered after it ends (D-DP-17)."""
    h = Hand().bring_up()
    h.admin("DEV_MODE_SET", STOP)
    h.side(FlrBegin, member=1)
    h.submit(7, "DEV_MODE_SET", STOP)
    h.side(FlrEnd, member=1)
    h.complete(7, "DEV_MODE_SET")
    h.admin("RESOURCE_OBJ_DESTROY", {"obj_id": 0})
    h.admin("DEV_MODE_SET", RESUME)
    result = replay_file(h.write(tmp_path / f"split{ext}"))
    assert result.verdict == "holds", [v.message for v in result.violations]


@pytest.mark.parametrize("ext", [".jsonl", ".pcapng"])
def test_split_record_answered_during_the_flr_is_flagged_at_its_completion(tmp_path: Path, ext: str) -> None:
    h = Hand().bring_up()
    h.side(FlrBegin, member=1)
    h.submit(7, "DEV_MODE_SET", STOP)
    done = h.complete(7, "DEV_MODE_SET")
    h.side(FlrEnd, member=1)
    result = replay_file(h.write(tmp_path / f"split-early{ext}"))
    assert [v.event_index for v in result.violations] == [done]
    assert "D-DP-17" in result.violations[0].clauses


@pytest.mark.parametrize("keep_going", [False, True])
def test_truncated_pcapng_reports_the_divergences_before_the_damage(tmp_path: Path, keep_going: bool) -> None:
    data = (TRACES / "faulty/two-divergences.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[:-10])
    result = replay_file(cut, keep_going=keep_going)
    assert result.verdict == "error" and result.exit_code == 2
    two = [d["index"] for d in MANIFEST["faulty"]["faulty/two-divergences"]["divergences"]]
    expected = two if keep_going else two[:1]
    assert [v.event_index for v in result.violations] == expected
    assert any("trace damaged after" in n and "byte offset" in n for n in result.notes)


def test_truncated_clean_trace_is_an_error_not_a_pass(tmp_path: Path) -> None:
    data = (TRACES / "linux/r1-precopy-source.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: len(data) // 2])
    result = replay_file(cut)
    assert result.verdict == "error" and not result.violations


def test_hidden_kinds_decide_what_may_happen_unseen(tmp_path: Path) -> None:
    """With doorbells not hidden, a DMA write needs a captured doorbell before it."""
    f = F.Flow()
    f.r0()
    f.side(DmaWrite, member=F.V, address=0x1000, length=8)
    path = write(f, tmp_path / "dma.jsonl")
    assert replay_file(path).verdict == "holds"
    strict = replay_file(path, hidden_kinds=())
    assert [v.event_index for v in strict.violations] == [f.events[-1].index]


def test_candidate_bound_gives_bounded(tmp_path: Path) -> None:
    result = replay_file(TRACES / "linux/r0-pf-bringup.jsonl", max_candidates=1)
    assert result.verdict == "bounded" and result.exit_code == 3
    assert "max-candidates" in result.bounds_hit


def test_replay_of_a_bug_variant_accepts_its_faulty_trace() -> None:
    """The catalogue bug's model explains its faulty capture (the suspects rely on it)."""
    result = replay_file(TRACES / "faulty/stop-not-idempotent.jsonl", params={"bug": "stop-not-idempotent"})
    assert result.verdict == "holds"


def test_caches_change_nothing_but_speed(monkeypatch) -> None:
    """Cached, uncached and constantly evicted caches give the same verdict and coverage."""
    from mcheck.replay import engine
    from mcheck.replay import model_for_trace, open_trace

    def run(**kw):
        trace = open_trace(TRACES / "linux/r1-precopy-source.pcapng")
        model = model_for_trace(trace.header, None, {})
        r = engine.Replayer(model, **kw)
        for event in trace.events:
            observed = model.model.observe(event)
            if observed is not None:
                assert r.advance(observed, event.index)
        return r.fired, r.max_seen, sorted(r.candidates)

    cached = run()
    assert run(cache=False) == cached
    monkeypatch.setattr(engine, "CACHE_LIMIT", 2)
    assert run() == cached
    monkeypatch.setattr(engine, "CACHE_LIMIT", 50_000)
    monkeypatch.setattr(engine, "CACHE_WEIGHT", 5)
    assert run() == cached
