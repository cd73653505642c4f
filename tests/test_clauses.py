"""`mcheck clauses`: catalogue coverage, file:line of each encoding, bug and capture kills."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from mcheck.clauses.analysis import default_trace_dirs
from mcheck.cli import main
from mcheck.model.registry import load_model

TEST_MODEL = Path(__file__).resolve().parent / "models" / "cited.py"
CAPTURE = Path(__file__).resolve().parents[1] / "traces" / "spec" / "d10-dma-while-stopped.jsonl"
SUMMARY = re.compile(r"^device-side MUST clauses: (\d+) encoded and killed, (\d+) encoded not killed, "
                     r"(\d+) out of scope, (\d+) not encoded$", re.M)


def _line_of(text: str) -> int:
    return next(n for n, line in enumerate(TEST_MODEL.read_text().splitlines(), 1) if text in line)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["clauses", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _test_model(capsys, tmp_path: Path) -> tuple[str, dict]:
    target = tmp_path / "clauses.json"
    code, out, err = _run(capsys, str(TEST_MODEL), "--json", str(target), "--traces", str(tmp_path))
    assert code == 0, err
    return out, {row["clause"]: row for row in json.loads(target.read_text())["clauses"]}


def test_property_and_guard_sites_carry_the_model_file_and_line(capsys, tmp_path):
    _, rows = _test_model(capsys, tmp_path)
    where = {(s["kind"], Path(s["file"]).name, s["line"]) for s in rows["T-1"]["encoded"]}
    assert ("property", "cited.py", _line_of('@transition_property("T-1")')) in where
    assert ("guard", "cited.py", _line_of('s.require(s.mode[m] == "running", "T-1")')) in where


def test_sites_are_recorded_on_the_loaded_model():
    model = load_model(str(TEST_MODEL), {"members": 1})
    stop = next(a for a in model.actions if a.name == "stop")
    (site,) = stop.sites["T-2"]
    assert (site.kind, Path(site.file).name, site.line) == ("guard", "cited.py", _line_of('"T-2", "T-99"'))
    assert stop.guards[0].site == site
    assert model.properties[0].site.line == _line_of('@transition_property("T-1")')


def test_a_bug_that_violates_a_property_kills_its_clauses(capsys, tmp_path):
    _, rows = _test_model(capsys, tmp_path)
    assert rows["T-1"]["killed_by"]["bugs"] == ["write-while-stopped"]
    assert rows["T-1"]["status"] == "encoded+killed"
    assert rows["T-2"]["status"] == "encoded-not-killed"


def test_uncited_clause_is_not_encoded_and_out_of_scope_keeps_its_reason(capsys, tmp_path):
    out, rows = _test_model(capsys, tmp_path)
    assert rows["T-3"]["status"] == "not-encoded" and rows["T-3"]["encoded"] == []
    assert rows["T-4"]["status"] == "out-of-scope"
    assert re.search(r"^T-3\s.*NOT ENCODED$", out, re.M)
    assert "out-of-scope(not expressible in the test model)" in out
    assert SUMMARY.search(out).groups() == ("1", "1", "1", "1")


def test_clause_missing_from_the_catalogue_is_an_error_line(capsys, tmp_path):
    out, _ = _test_model(capsys, tmp_path)
    line = _line_of('"T-2", "T-99"')
    assert re.search(rf"^error: unknown clause T-99 at \S*cited\.py:{line}$", out, re.M)


def test_virtio_1_4_table_with_bug_and_capture_kills(capsys, tmp_path):
    """Every catalogue bug is run; the captures are one divergent hand-written capture of
    traces/spec (a replay cannot be cut short and explaining a divergence tries every
    catalogue bug: the default directories, checked below, cost half a minute more)."""
    spec = tmp_path / "traces" / "spec"
    spec.mkdir(parents=True)
    shutil.copy(CAPTURE, spec / CAPTURE.name)
    target = tmp_path / "v.json"
    code, out, _ = _run(capsys, "virtio-1.4", "--json", str(target), "--traces", str(spec))
    assert code == 0
    assert SUMMARY.search(out)
    report = json.loads(target.read_text())
    assert report["schema"] == "mcheck-clauses/1" and report["errors"] == []
    rows = {r["clause"]: r for r in report["clauses"]}
    assert rows["D-AQ-6"]["status"] == "out-of-scope"
    assert any(r["killed_by"]["bugs"] for r in rows.values())
    assert [c["capture"] for c in report["captures"]] == ["spec/d10-dma-while-stopped"]
    assert "spec/d10-dma-while-stopped" in rows["D-DP-9"]["killed_by"]["captures"]
    assert report["summary"]["device_must"]["encoded_killed"] > 0
    # without --traces: the repo's captures, where present (a source checkout)
    assert [d.name for d in default_trace_dirs()][:2] == ["faulty", "spec"]


def test_draft_v1_knows_the_merged_clauses_it_cites(capsys, tmp_path):
    target = tmp_path / "d.json"
    code, out, _ = _run(capsys, "draft-v1", "--json", str(target), "--traces", str(tmp_path))
    assert code == 0 and "error:" not in out
    rows = {r["clause"]: r for r in json.loads(target.read_text())["clauses"]}
    assert rows["DRAFT-MODE-1"]["status"] == "encoded+killed"
    assert rows["D-DP-9"]["catalogue"] == "virtio-1.4"


def test_bad_model_name_is_one_line_exit_2(capsys):
    code, out, err = _run(capsys, "no-such-model")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "unknown model 'no-such-model'" in err


def test_html_report_of_a_check_has_the_clause_table(tmp_path, capsys):
    code = main(["check", str(TEST_MODEL), "-p", "bug=write-while-stopped", "-q", "--report", str(tmp_path)])
    capsys.readouterr()
    assert code == 1
    page = (tmp_path / "index.html").read_text()
    assert 'id="clause-table"' in page
    assert re.search(r"<td>T-1</td>.*?encoded\+killed", page)
    assert re.search(r"<td>T-3</td>.*?not-encoded", page)
