"""`mcheck convert`, `mcheck show`, `mcheck dissector` through the top-level CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.trace.pyshark_reader import DISSECTOR_PATH

REFERENCE_DIR = Path(__file__).resolve().parent / "data"


def test_convert_round_trip_is_byte_identical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = REFERENCE_DIR / "draft-v1-migration.pcapng"
    assert main(["convert", str(src), str(tmp_path / "a.jsonl")]) == 0
    assert main(["convert", str(tmp_path / "a.jsonl"), str(tmp_path / "b.pcapng")]) == 0
    assert (tmp_path / "b.pcapng").read_bytes() == src.read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() == (REFERENCE_DIR / "draft-v1-migration.jsonl").read_bytes()
    assert "17 events" in capsys.readouterr().out


def test_show_prints_one_decoded_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(REFERENCE_DIR / "virtio14-source.jsonl")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# profile virtio-1.4, members [1, 2, 7], queues 2"
    assert len(lines) == 1 + 21
    stop = next(line for line in lines if " DEV_MODE_SET " in line)
    assert stop.split() == ["14", "1700000000.000014000", "admin", "DEV_MODE_SET", "group=SRIOV", "member=1", "flags=0x1", "->", "OK"]
    assert lines[-1].endswith("DEV_MODE_SET group=SRIOV member=7 flags=0x1 -> EINVAL/INVALID_MEMBER")
    assert any("dma_write     member=1 address=0x12000 length=1514" in line for line in lines)


def test_show_marks_short_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(REFERENCE_DIR / "virtio14-destination.pcapng")]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.endswith("DEV_MODE_SET group=SRIOV member=2 flags=0x0 [1 readable bytes missing, read as zero] -> OK")


def test_show_join(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--join", str(REFERENCE_DIR / "virtio14-split-records.pcapng")]) == 0
    out = capsys.readouterr().out
    assert "DEV_MODE_SET group=SRIOV member=1 flags=0x1 tag=1 -> EBUSY" in out
    assert "DEV_PARTS_METADATA_GET group=SRIOV member=1 obj_type=0 obj_id=0 type=0 tag=3 -> (no completion)" in out


def test_dissector_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dissector", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(DISSECTOR_PATH)
    assert DISSECTOR_PATH.is_file()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text((REFERENCE_DIR / "virtio14-source.jsonl").read_text() + "{oops\n")
    out = tmp_path / "out.pcapng"
    assert main(["convert", str(bad), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mcheck: error: ") and "(line 23)" in err
    assert not out.exists()  # no half-written output
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes((REFERENCE_DIR / "virtio14-source.pcapng").read_bytes()[:-10])
    assert main(["show", str(cut)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "event 20 (byte offset " in captured.err and "truncated block" in captured.err
    assert "LIST_USE" in captured.out  # the events before the bad one were shown


def test_show_names_opcodes_outside_the_profile(capsys: pytest.CaptureFixture[str]) -> None:
    # A virtio-1.4 capture read as draft-v1: 0x7 and up are not draft opcodes.
    assert main(["show", str(REFERENCE_DIR / "virtio14-source.pcapng"), "--profile", "draft-v1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "LIST_USE group=SRIOV" in lines[3]
    assert lines[4].split()[3:8] == ["unknown", "opcode", "0x7", "group=SELF", "member=0"]


def test_undecodable_command_is_named_by_show_and_kept_by_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readable = bytes.fromhex("0f000100") + bytes(12) + (1).to_bytes(8, "little") + bytes(8) + b"\x01" + bytes(7)
    writable = bytes(8) + bytes.fromhex("0401000000000000000000002000000000")  # a VQ_CFG part cut short
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1], "queues": 1}\n'
        f'{{"i": 0, "t": 0, "kind": "admin", "readable": "{readable.hex()}", "writable": "{writable.hex()}"}}\n'
    )
    assert main(["show", str(trace)]) == 2
    assert "event 0: cannot decode: device part at data offset 0: length 32 runs past the end" in capsys.readouterr().err
    assert main(["convert", str(trace), str(tmp_path / "t.pcapng")]) == 0
    assert main(["convert", str(tmp_path / "t.pcapng"), str(tmp_path / "back.jsonl")]) == 0
    line = (tmp_path / "back.jsonl").read_text().splitlines()[1]
    assert '"decode_error":"device part at data offset 0' in line and writable.hex() in line
