"""The faulty captures (traces/faulty/): each is flagged at the right event with the right
clause, the catalogue bug that explains it is named with the event where the fault
shows, and --keep-going finds both divergences of the trace that holds two."""

from __future__ import annotations

import pytest

from mcheck.replay import replay_file

from ._support import FAULTY, MANIFEST, TRACES, need_pyshark

SINGLE = [n for n in FAULTY if len(MANIFEST["faulty"][n]["divergences"]) == 1]
# Every capture's .pcapng holds the events of its .jsonl, through the fast reader and
# through pyshark (test_replay_reference.py::test_pyshark_reader_gives_the_fast_readers_events,
# every faulty capture): replaying it again from the .pcapng is the same replay of the same
# events. The default run replays every .jsonl, and these through the other readers; the
# other .pcapng rows are slow.
THROUGH_PCAPNG = ("faulty/dma-after-stop", "faulty/mode-set-during-flr")


def _pcapng_row(*values, name: str, id: str):
    return pytest.param(*values, id=id, marks=[] if name in THROUGH_PCAPNG else [pytest.mark.slow])

# every catalogue bug an emulator-generated capture can show has its faulty trace
REQUIRED_BUGS = {"dma-after-stop", "notify-after-stop", "parts-out-of-order", "parts-missing-vq",
                 "mode-set-during-flr", "mode-set-during-pm", "stop-not-idempotent", "ok-with-qualifier",
                 "member-checked-first", "create-beyond-limit", "disabled-list-query", "list-use-ignored",
                 "owner-reset-keeps-objects", "query-ignores-modify", "pme-while-stopped", "bad-read-while-stopped"}


def _check(result, expected: list[dict]) -> None:
    assert result.verdict == "violated"
    assert [v.event_index for v in result.violations] == [d["index"] for d in expected]
    for v, d in zip(result.violations, expected, strict=True):
        assert d["clause"] in v.clauses, (v.event_index, v.clauses)
        assert v.kind == "divergence" and v.expected and v.candidates
        assert f"event {d['index']} (t=" in v.message
        suspects = [s for s in result.coverage["suspects"] if s["divergence"] == d["index"]]
        mine = [s for s in suspects if s["bug"] == d["bug"]]
        assert mine, (d["bug"], suspects)
        assert mine[0]["event_index"] == d["fault_index"]
        assert d["fault_clause"] in mine[0]["clauses"]
        assert d["fault_clause"] in v.clauses


def test_every_capturable_bug_has_a_faulty_trace() -> None:
    bugs = {MANIFEST["faulty"][n]["bug"] for n in FAULTY}
    assert REQUIRED_BUGS <= bugs


@pytest.mark.parametrize("ext,name", [pytest.param(".jsonl", n, id=f".jsonl-{n}") for n in SINGLE] +
                         [_pcapng_row(".pcapng", n, name=n, id=f".pcapng-{n}") for n in SINGLE])
def test_faulty_trace_is_flagged_at_the_right_event_and_clause(name: str, ext: str) -> None:
    entry = MANIFEST["faulty"][name]
    _check(replay_file(TRACES / f"{name}{ext}", params=entry["params"]), entry["divergences"])


@pytest.mark.parametrize("name", [_pcapng_row(n, name=n, id=n) for n in SINGLE])
def test_faulty_trace_through_pyshark(name: str) -> None:
    need_pyshark()
    entry = MANIFEST["faulty"][name]
    _check(replay_file(TRACES / f"{name}.pcapng", params=entry["params"], reader="pyshark"), entry["divergences"])


@pytest.mark.parametrize("ext", [".jsonl", pytest.param(".pcapng", marks=pytest.mark.slow)])
def test_keep_going_finds_both_divergences(ext: str) -> None:
    entry = MANIFEST["faulty"]["faulty/two-divergences"]
    assert len(entry["divergences"]) == 2
    _check(replay_file(TRACES / f"faulty/two-divergences{ext}", params=entry["params"], keep_going=True),
           entry["divergences"])
    first_only = replay_file(TRACES / f"faulty/two-divergences{ext}", params=entry["params"])
    assert [v.event_index for v in first_only.violations] == [entry["divergences"][0]["index"]]
