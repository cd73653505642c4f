"""The parts of replay-batch that need no cluster: sources, rows, resume, summary, CI files."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.fleet.ci import junit_fleet, sarif_fleet
from mcheck.fleet.judge import JudgeOptions, judge
from mcheck.fleet.sources import expand_sources
from mcheck.fleet.summary import NO_BUG, summarise
from mcheck.fleet.table import Journal, judged, new_row, read_rows

ROOT = Path(__file__).resolve().parents[2]
CLEAN = ROOT / "traces/linux/r0-pf-bringup.jsonl"


def test_sources_directory_glob_and_manifest(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/x.jsonl", "a/y.pcapng", "a/notes.txt"):
        (tmp_path / name).write_text("")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,firmware,host\na/x.jsonl,1.2,h1\n")
    got = expand_sources([str(tmp_path / "a"), str(manifest)])
    assert [Path(c.path).name for c in got] == ["x.jsonl", "y.pcapng"]
    assert got[0].meta == {"firmware": "1.2", "host": "h1"}   # the manifest's metadata is kept
    assert [Path(c.path).name for c in expand_sources([str(tmp_path / "a/*.pcapng")])] == ["y.pcapng"]


@pytest.mark.parametrize("text, message", [
    ("file,host\nx,1\n", "no 'path' column"),
    ("path,colour\nx,red\n", "unknown manifest column 'colour'"),
    ("path,host\n,h\n", "line 2: empty path"),
])
def test_bad_manifest_is_one_line_naming_the_line(tmp_path, text, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(InputError, match=message):
        expand_sources([str(manifest)])


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no such file, directory or pattern"):
        expand_sources([str(tmp_path / "nope")])
    with pytest.raises(InputError, match="matches no"):
        expand_sources([str(tmp_path / "*.jsonl")])


def test_judge_rows_for_clean_corrupt_and_unknown_profile(tmp_path):
    opts = JudgeOptions()
    row = judge(str(CLEAN), {"firmware": "9"}, "h", opts)
    assert (row["verdict"], row["events"], row["firmware"], row["profile"]) == ("conforming", 17, "9", "virtio-1.4")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("garbage\n")
    row = judge(str(bad), {}, "h", opts)
    assert (row["verdict"], row["error_kind"]) == ("error", "corrupt") and "bad trace header" in row["reason"]
    unk = tmp_path / "unk.jsonl"
    unk.write_text('{"mcheck_trace": 1, "profile": "acme-9", "members": [1], "queues": 2}\n')
    assert judge(str(unk), {}, "h", opts)["error_kind"] == "unknown-profile"
    half = tmp_path / "half.jsonl"
    data = CLEAN.read_bytes()
    half.write_bytes(data[: len(data) // 2 + 7])
    row = judge(str(half), {}, "h", opts)
    assert (row["verdict"], row["error_kind"]) == ("error", "corrupt") and "half-written" in row["reason"]
    assert judge(str(tmp_path / "gone.jsonl"), {}, "h", opts)["error_kind"] in ("unreadable", "corrupt")


def test_timeout_is_an_error_row(tmp_path):
    # a long clean capture: the R1 pre-copy flow's events repeated
    from mcheck.trace.io import read_trace, write_trace
    import dataclasses
    trace = read_trace(ROOT / "traces/linux/r1-precopy-source.jsonl")
    events = list(trace.events)
    long = []
    for k in range(100):
        long += [dataclasses.replace(e, index=len(long) + j, timestamp=e.timestamp + k * 10**9) for j, e in enumerate(events)]
    path = tmp_path / "long.jsonl"
    write_trace(path, trace.header, long)
    row = judge(str(path), {}, "h", JudgeOptions(timeout=1e-4))
    assert (row["verdict"], row["error_kind"]) == ("error", "timeout")


def test_header_metadata_and_manifest_precedence(tmp_path):
    from mcheck.trace.io import read_trace, write_trace
    import dataclasses
    trace = read_trace(CLEAN)
    header = dataclasses.replace(trace.header, doc={"fleet": {"host": "hdr-host", "firmware": "hdr-fw"}})
    path = tmp_path / "c.pcapng"
    write_trace(path, header, list(trace.events))
    row = judge(str(path), {"firmware": "manifest-fw"}, "h", JudgeOptions())
    assert (row["host"], row["firmware"]) == ("hdr-host", "manifest-fw")


def test_resume_skips_final_verdicts_only(tmp_path):
    j = Journal(str(tmp_path))
    for digest, verdict, kind in (("a", "conforming", None), ("b", "error", "timeout"), ("c", "error", "corrupt")):
        row = new_row(f"/{digest}", digest, {})
        row.update(verdict=verdict, error_kind=kind)
        j.write(row)
    j.close()
    with open(tmp_path / "journal.jsonl", "a") as fh:
        fh.write('{"schema": "mcheck-fleet-row/1", "verd')   # killed while writing
    assert set(judged(str(tmp_path))) == {"a", "c"}
    assert len(read_rows(tmp_path / "journal.jsonl")) == 3
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="not a replay-batch output"):
        judged(str(tmp_path / "x"))


def _rows():
    rows = []
    for k, (fw, verdict, bugs, clauses, ts) in enumerate([
            ("1.0", "conforming", [], [], 0), ("1.0", "divergent", ["dma-after-stop"], ["D-DP-10"], 1),
            ("1.1", "divergent", [], ["D-GA-1"], 2), ("1.1", "error", [], [], 3)]):
        row = new_row(f"/c{k}.jsonl", f"{k:064x}", {"device_model": "vf", "firmware": fw})
        row.update(verdict=verdict, suspected_bugs=bugs, clauses=clauses, timestamp=1_790_000_000 * 10**9 + ts * 86_400 * 10**9)
        if verdict == "error":
            row.update(error_kind="corrupt", reason="bad <header>")
        rows.append(row)
    return rows


def test_summary_groups_and_trend():
    s = summarise(_rows())
    assert s["tally"] == {"conforming": 1, "divergent": 2, "error": 1} and s["inputs"] == 4
    assert {g["bug"]: g["by_firmware"][0]["firmware"] for g in s["by_bug"]} == {"dma-after-stop": "1.0", NO_BUG: "1.1"}
    assert [g["clause"] for g in s["by_clause"]] == ["D-DP-10", "D-GA-1"]
    assert s["errors"][0]["kind"] == "corrupt" and s["errors"][0]["representative"]["reason"] == "bad <header>"
    assert [d["day"] for d in s["trend"]] == sorted(d["day"] for d in s["trend"]) and len(s["trend"]) == 4


def test_junit_and_sarif_summaries():
    s = summarise(_rows())
    suite = ET.fromstring(junit_fleet(s).split("?>", 1)[1]).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "1")
    sarif = sarif_fleet(s)
    assert sorted(r["ruleId"] for r in sarif["runs"][0]["results"]) == [
        "bug/(no catalogue bug)", "bug/dma-after-stop", "capture-error/corrupt"]
    assert sarif["runs"][0]["properties"]["tally"] == s["tally"]
    json.dumps(sarif)
