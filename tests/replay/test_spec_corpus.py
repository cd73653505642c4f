"""The hand-written oracle corpus traces/spec/: every capture replays to the verdict its header
states. The captures were written from the virtio 1.4 text, not from the model, so these
tests are the non-circular evidence that the model allows what the spec allows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "traces" / "spec"
FILES = sorted(SPEC.glob("*.jsonl"))
CLAUSE = re.compile(r"^[DRI]-[A-Z]+-\d+\b")


def header(path: Path) -> dict:
    with path.open() as f:
        return json.loads(f.readline())


def finding_clauses(findings) -> set[str]:
    return {clause for finding in findings for clause in finding["clauses"]}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_capture_replays_to_expected_verdict(path: Path):
    from mcheck.replay import replay_file

    head = header(path)
    expect = head["expect"]
    params = expect.get("params") or head.get("params") or {}
    result = replay_file(path, params=params)

    if expect["verdict"] == "conforms":
        assert result.verdict == "holds", [v.message for v in result.violations]
    else:
        assert expect["verdict"] == "divergent"
        assert result.verdict == "violated", "the model accepted a capture the spec forbids"
        first = result.violations[0]
        assert first.event_index == expect["index"], first.message
        assert expect["clause"] in first.clauses, (first.clauses, first.message)
        if "explained_by" in expect:
            assert expect["explained_by"] in first.message, first.message

    warnings = getattr(result, "warnings", None)
    assert warnings is not None, "Result.warnings is missing"
    if "warnings" in expect:
        assert finding_clauses(warnings) == set(expect["warnings"]), warnings
    elif expect["verdict"] == "conforms":
        assert warnings == [], warnings

    driver = getattr(result, "driver_findings", None)
    assert driver is not None, "Result.driver_findings is missing"
    if "driver" in expect:
        assert finding_clauses(driver) == set(expect["driver"]), driver
    elif expect["verdict"] == "conforms":
        assert driver == [], driver


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_event_cites_a_clause(path: Path):
    lines = path.read_text().splitlines()
    head = json.loads(lines[0])
    assert head["mcheck_trace"] == 1 and head["profile"] == "virtio-1.4"
    assert head["title"] and head["spec"]
    expect = head["expect"]
    assert expect["verdict"] in ("conforms", "divergent")
    if expect["verdict"] == "divergent":
        assert isinstance(expect["index"], int) and CLAUSE.match(expect["clause"])
    for key in ("warnings", "driver"):
        for clause in expect.get(key, []):
            assert CLAUSE.match(clause), clause
    events = [json.loads(line) for line in lines[1:]]
    assert 3 <= len(events) <= 25, len(events)
    if expect["verdict"] == "divergent":
        assert expect["index"] < len(events)
    for n, event in enumerate(events):
        assert event.get("i", n) == n
        cite = event.get("cite")
        assert isinstance(cite, str) and cite.strip(), f"event {n} has no cite"
        assert CLAUSE.match(cite), f"event {n}: cite does not start with a clause id: {cite!r}"


def test_corpus_size():
    verdicts = [header(p)["expect"]["verdict"] for p in FILES]
    assert len(FILES) >= 45, len(FILES)
    assert verdicts.count("divergent") >= 15
    assert verdicts.count("conforms") >= 15


def test_readme_lists_every_capture():
    readme = (SPEC / "README.md").read_text()
    for path in FILES:
        assert path.name in readme, path.name
