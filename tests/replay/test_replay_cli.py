"""`mcheck replay`: exit codes 0/1/2 (3 bounded), JSON output valid against the result schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcheck.cli import main

from ._support import MANIFEST, TRACES, need_pyshark

TWO = [d["index"] for d in MANIFEST["faulty"]["faulty/two-divergences"]["divergences"]]

from tests.result_schema import validate_result


@pytest.fixture(scope="module", autouse=True)
def _variant_cache_starts_empty() -> None:
    """The replayer keeps the catalogue-bug variants it builds to explain a divergence (up to
    VARIANT_LIMIT, then it drops them all). Emptied here, the first compat=linux divergence's
    variants are all still there for test_json_to_stdout whatever ran before this module;
    speed only: a rebuilt variant is the same model."""
    from mcheck.replay import engine
    engine._VARIANTS.clear()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _valid(path: Path) -> dict:
    return validate_result(json.loads(path.read_text()), "replay")


def test_clean_trace_exits_0(capsys, tmp_path: Path) -> None:
    code, out, _ = _run(capsys, str(TRACES / "linux/r2-precopy-destination.pcapng"), "--json", str(tmp_path / "r.json"))
    assert code == 0 and "verdict: HOLDS" in out
    doc = _valid(tmp_path / "r.json")
    assert doc["verdict"] == "holds" and doc["engine"] == "replay"


def test_divergence_exits_1_with_report(capsys, tmp_path: Path) -> None:
    code, out, _ = _run(capsys, str(TRACES / "faulty/two-divergences.jsonl"), "--keep-going",
                        "--json", str(tmp_path / "r.json"))
    assert code == 1
    first, second = TWO
    assert f"DIVERGENCE at event {first}" in out and f"DIVERGENCE at event {second}" in out
    doc = _valid(tmp_path / "r.json")
    assert [v["event_index"] for v in doc["violations"]] == [first, second]
    assert {s["bug"] for s in doc["coverage"]["suspects"]} >= {"dma-after-stop", "stop-not-idempotent"}


# runs right after the replay above, whose catalogue-bug variants (same parameters: compat=linux
# from the faulty captures' headers) explain this divergence too; the compat=none test
# below builds its own and may fill the cache
def test_json_to_stdout(capsys) -> None:
    code, out, _ = _run(capsys, str(TRACES / "faulty/mode-set-during-flr.jsonl"), "--json", "-")
    assert code == 1
    doc = validate_result(json.loads(out), "replay")
    entry = MANIFEST["faulty"]["faulty/mode-set-during-flr"]["divergences"][0]
    assert doc["violations"][0]["event_index"] == entry["index"] and entry["clause"] in doc["violations"][0]["clauses"]


def test_parameters_from_the_command_line(capsys) -> None:
    """The command line wins over the header's compat=linux: the strict reading diverges at
    Linux's first Self capability command and names the relaxation that explains it."""
    code, out, _ = _run(capsys, str(TRACES / "linux/r1-precopy-source.jsonl"), "-p", "compat=none")
    assert code == 1 and "compat=none" in out and "D-GA-9" in out
    assert "conforms under compat=linux (T1b" in out


def test_missing_file_exits_2(capsys, tmp_path: Path) -> None:
    code, _, err = _run(capsys, str(tmp_path / "nope.pcapng"))
    assert code == 2 and "no such trace file" in err and "Traceback" not in err


def test_garbage_exits_2(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not json\n")
    code, _, err = _run(capsys, str(bad))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_truncated_tail_exits_2_after_reporting_the_divergences(capsys, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes((TRACES / "faulty/two-divergences.pcapng").read_bytes()[:-10])
    code, out, err = _run(capsys, str(cut), "--keep-going", "--json", str(tmp_path / "r.json"))
    assert code == 2
    first, second = TWO
    assert f"DIVERGENCE at event {first}" in out and f"DIVERGENCE at event {second}" in out
    assert "byte offset" in err and "Traceback" not in err
    doc = _valid(tmp_path / "r.json")
    assert doc["verdict"] == "error" and len(doc["violations"]) == 2


def test_bounded_exits_3(capsys) -> None:
    code, out, _ = _run(capsys, str(TRACES / "linux/r0-pf-bringup.jsonl"), "--max-candidates", "1", "-q")
    assert code == 3 and "BOUNDED" in out


@pytest.mark.parametrize("name", ["linux/r6-flr-during-stopcopy-source", "faulty/mode-set-during-flr"])
def test_pyshark_reader_from_the_cli(capsys, name: str) -> None:
    need_pyshark()
    code, out, _ = _run(capsys, str(TRACES / f"{name}.pcapng"), "--reader", "pyshark", "-q")
    assert code == (0 if name.startswith("linux") else 1)


def test_hidden_none_makes_every_emitting_action_visible(capsys, tmp_path: Path) -> None:
    """R0 has guest I/O without captured doorbells: fine by default, a divergence when
    doorbells must be seen."""
    trace = str(TRACES / "linux/r0-pf-bringup.jsonl")
    assert _run(capsys, trace, "-q")[0] == 0
    code, out, _ = _run(capsys, trace, "--hidden", "none", "--json", str(tmp_path / "r.json"))
    assert code == 0   # R0's I/O has its doorbells in the capture
    code, _, _ = _run(capsys, str(TRACES / "faulty/dma-after-stop.jsonl"), "--hidden", "none", "-q")
    assert code == 1


def _with_undecodable_parts_set(tmp_path: Path, suffix: str) -> Path:
    """two-divergences.jsonl plus, after it, a DEV_PARTS_SET whose part header runs past the
    end of the command (decoded lazily, when the model looks at it) and one more event."""
    from mcheck.trace.io import read_trace, write_trace
    from mcheck.trace.events import AdminCommand, OwnerReset

    trace = read_trace(TRACES / "faulty/two-divergences.jsonl")
    events = list(trace.events)
    last = events[-1]
    header = bytes.fromhex("1000" "0100" + "00" * 12 + "0100000000000000")   # DEV_PARTS_SET, SR-IOV, member 1
    data = bytes(8) + bytes.fromhex("0001" "0000" "c8000000") + bytes(4)     # a part claiming 200 bytes, 12 there
    events.append(AdminCommand(index=last.index + 1, timestamp=last.timestamp + 1000, aq=0, tag=None,
                               readable=header + data, writable=bytes(8), codec=trace.codec))
    events.append(OwnerReset(index=last.index + 2, timestamp=last.timestamp + 2000))
    path = tmp_path / f"damaged{suffix}"
    write_trace(path, trace.header, events, codec=trace.codec)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".pcapng"])
def test_undecodable_record_keeps_the_divergences_found_before_it(capsys, tmp_path: Path, suffix: str) -> None:
    """Issue 15 item 1: a record the model cannot decode (lazy decoding) ends the replay
    with verdict error after the readable part; the divergences and the JSON result stay."""
    path = _with_undecodable_parts_set(tmp_path, suffix)
    code, out, err = _run(capsys, str(path), "--keep-going", "--json", str(tmp_path / "r.json"))
    assert code == 2
    first, second = TWO
    assert f"DIVERGENCE at event {first}" in out and f"DIVERGENCE at event {second}" in out
    assert "internal error" not in err and "Traceback" not in err and err.count("\n") == 1
    assert f"{path}: event 38: cannot decode: device part" in err
    doc = _valid(tmp_path / "r.json")
    assert doc["verdict"] == "error" and [v["event_index"] for v in doc["violations"]] == [first, second]
    assert any("event 38: cannot decode" in n for n in doc["notes"])
