"""The hand-written draft-v1 pair captures traces/draft/ replay against the draft-v1 model to
the verdict their headers state. They are written from the seed summary and the DRAFT-*
clause table (docs/draft-v1.md), each event citing its clause, never produced by mcheck's
emulator. `expect.clauses` must all be cited by the first divergence (`"match": "any"`: at
least one of them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "traces" / "draft").glob("*.jsonl"))


def _header(path: Path) -> dict:
    with path.open() as f:
        return json.loads(f.readline())


def test_the_corpus_has_both_verdicts():
    verdicts = {_header(p)["expect"]["verdict"] for p in FILES}
    assert verdicts == {"conforms", "divergent"}, verdicts


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_draft_capture_replays_to_expected_verdict(path: Path):
    from mcheck.replay import replay_file

    expect = _header(path)["expect"]
    assert expect["model"] == "draft-v1"
    result = replay_file(path, model=expect["model"])
    if expect["verdict"] == "conforms":
        assert result.verdict == "holds", [v.message for v in result.violations]
        return
    assert result.verdict == "violated", "the draft-v1 model accepted a capture the draft rules forbid"
    first = result.violations[0]
    assert first.event_index == expect["index"], first.message
    cited = [c for c in expect["clauses"] if c in first.clauses]
    if expect.get("match") == "any":
        assert cited, (first.clauses, first.message)
    else:
        assert cited == expect["clauses"], (first.clauses, first.message)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_draft_event_cites_a_clause(path: Path):
    header = _header(path)
    assert header["profile"] == "draft-v1" and header["members"] == [1, 2]
    for line in path.read_text().splitlines()[1:]:
        event = json.loads(line)
        cite = event["cite"].split(":")[0]
        assert "DRAFT-" in cite or "seed §" in cite, event
        assert event.get("member") in (1, 2) or event["cmd"]["member"] in (1, 2)


def test_chunks_add_up_to_the_context():
    """Read chunks count remaining_ctx_size down to 0; the d01 write chunks split exactly the bytes read."""
    events = [json.loads(line) for line in (ROOT / "traces/draft/d01-chunked-migration.jsonl").read_text().splitlines()[1:]]
    reads = [e["result"]["fields"] for e in events if e["kind"] == "admin" and e["cmd"]["name"] == "DEV_CTX_READ"]
    writes = [e["cmd"]["fields"]["context"] for e in events if e["kind"] == "admin" and e["cmd"]["name"] == "DEV_CTX_WRITE"]
    assert [r["remaining_ctx_size"] for r in reads] == [61, 21, 0]
    total = sum(r["size"] for r in reads)
    assert all(len(r["context"]) == 2 * r["size"] for r in reads)
    assert len(writes) == 2 and "".join(writes) == "".join(r["context"] for r in reads)
    assert total == 101 == sum(r["size"] for r in reads[:1]) + reads[0]["remaining_ctx_size"]
