"""The hand-written pair captures traces/migration/ replay against the migration pair model to
the verdict their headers state (written from the spec text and the Linux flows, not from
the model or the emulator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "traces" / "migration").glob("*.jsonl"))


def _expect(path: Path) -> dict:
    with path.open() as f:
        return json.loads(f.readline())["expect"]


def test_the_corpus_has_both_verdicts():
    verdicts = {_expect(p)["verdict"] for p in FILES}
    assert verdicts == {"conforms", "divergent"}, verdicts


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_pair_capture_replays_to_expected_verdict(path: Path):
    from mcheck.replay import replay_file

    expect = _expect(path)
    result = replay_file(path, model=expect["model"])
    if expect["verdict"] == "conforms":
        assert result.verdict == "holds", [v.message for v in result.violations]
        return
    assert result.verdict == "violated", "the pair model accepted a capture the spec forbids"
    first = result.violations[0]
    assert first.event_index == expect["index"], first.message
    assert expect["clause"] in first.clauses, (first.clauses, first.message)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_pair_event_cites_a_clause(path: Path):
    lines = path.read_text().splitlines()
    for line in lines[1:]:
        event = json.loads(line)
        assert event["cite"].split(":")[0].strip(), event
        assert event.get("member") in (1, 2) or event["cmd"]["member"] in (1, 2)
