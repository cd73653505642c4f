"""Spec-conformant captures outside the profile's tables, the PM / PCI side-band kinds,
header params and per-event `cite`: read, converted without loss, shown, and applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.errors import InputError
from mcheck.replay import model_for_trace
from mcheck.trace.events import AdminCommand, AdminComplete, AdminSubmit, DmaWrite, PciRead, PmBegin, PmEnd, Pme, TraceHeader
from mcheck.trace.io import read_trace

HAND = Path(__file__).resolve().parent / "data" / "hand-written-corners.jsonl"
MEMBER_MAX = (1 << 64) - 1


def test_hand_written_trace_reads_to_the_end() -> None:
    trace = read_trace(HAND)
    assert trace.header.params == {"objects": 2, "compat": "linux"}
    assert trace.header.doc["spec"] == "virtio 1.4 device parts" and trace.header.doc["expect"].startswith("the trace layer")
    events = list(trace.events)
    assert [e.KIND for e in events] == [
        "admin", "admin", "submit", "complete", "pm_begin", "admin", "pm_end", "pci_read", "pci_read", "pme", "dma_write",
    ]
    assert [e.index for e in events] == list(range(11))
    future = events[0]
    assert isinstance(future, AdminCommand) and future.result is not None
    cmd = future.command
    assert (cmd.opcode, cmd.name, cmd.group_type, cmd.group_type_name, cmd.member) == (0x13, None, 2, None, MEMBER_MAX)
    assert cmd.fields == {"raw": bytes.fromhex("0a0b0c0d")}
    res = future.result
    assert (res.status, res.status_name, res.qualifier, res.qualifier_name) == (99, None, 9, None)
    assert res.fields == {"raw": bytes.fromhex("01020304")}
    missing = events[1]
    assert isinstance(missing, AdminCommand) and missing.writable is None and missing.command.opcode == 0x12
    vendor = events[2]
    assert isinstance(vendor, AdminSubmit) and vendor.command.opcode == 0x8000 and vendor.command.group_type == 0xFFFF
    assert isinstance(events[3], AdminComplete)
    assert events[4] == PmBegin(index=4, timestamp=50, member=1)
    stopped = events[5]
    assert isinstance(stopped, AdminCommand) and stopped.command.name == "DEV_MODE_SET" and stopped.command.group_type == 2
    assert stopped.result is not None and (stopped.result.status_name, stopped.result.qualifier) == ("EBUSY", 0x1234)
    assert events[6] == PmEnd(index=6, timestamp=70, member=1)
    assert events[7] == PciRead(index=7, timestamp=80, member=1, offset=16, length=4, value=b"\xff" * 4)
    assert events[8] == PciRead(index=8, timestamp=90, member=2, offset=4096, length=0, value=b"")
    assert events[9] == Pme(index=9, timestamp=100, member=1)
    assert isinstance(events[10], DmaWrite)


def test_conversion_through_pcapng_is_lossless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mid, back, again = tmp_path / "mid.pcapng", tmp_path / "back.jsonl", tmp_path / "again.pcapng"
    assert main(["convert", str(HAND), str(mid)]) == 0
    assert main(["convert", str(mid), str(back)]) == 0
    assert main(["convert", str(back), str(again)]) == 0
    assert "11 events" in capsys.readouterr().out
    original = read_trace(HAND)
    for path in (mid, back, again):
        trace = read_trace(path)
        assert trace.header == original.header
        assert list(trace.events) == list(read_trace(HAND).events)
    assert again.read_bytes() == mid.read_bytes()
    lines = [json.loads(line) for line in back.read_text().splitlines()]
    assert lines[0]["params"] == {"objects": 2, "compat": "linux"} and lines[0]["title"].startswith("hand-written")
    assert lines[1]["cmd"] == {"opcode": 19, "group_type": 2, "member": MEMBER_MAX, "fields": {"raw": "0a0b0c0d"}}
    assert lines[1]["result"] == {"status": 99, "qualifier": 9, "fields": {"raw": "01020304"}}
    assert lines[8] == {"i": 7, "t": 80, "kind": "pci_read", "member": 1, "offset": 16, "length": 4, "value": "ffffffff"}
    assert all("cite" not in line for line in lines)  # read and ignored, not part of the event


def test_show_prints_unknown_opcodes_and_the_new_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(HAND)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# profile virtio-1.4, members [1, 2], queues 1, params objects=2 compat=linux"
    assert lines[2].split()[2:] == [
        "admin", "unknown", "opcode", "0x13", "group=2", f"member={MEMBER_MAX}", "raw=0a0b0c0d", "->", "99/9", "raw=01020304",
    ]
    assert "submit        unknown opcode 0x8000 group=65535 member=1" in lines[4]
    assert lines[6].split()[2:] == ["pm_begin", "member=1"]
    assert lines[9].split()[2:] == ["pci_read", "member=1", "offset=16", "length=4", "value=ffffffff"]
    assert lines[11].split()[2:] == ["pme", "member=1"]


def test_header_params_set_up_the_model_and_the_command_line_wins() -> None:
    header = TraceHeader(profile="virtio-1.4", members=(1, 2), queues=1, params={"objects": 2})
    assert model_for_trace(header, None, {}).params.as_dict()["objects"] == 2
    loaded = model_for_trace(header, None, {"objects": "1"})
    assert loaded.params.as_dict()["objects"] == 1
    assert loaded.params.as_dict()["members"] == 2  # the topology still sizes the model
    assert model_for_trace(TraceHeader(profile="virtio-1.4", params={"members": 3}), None, {}).params.as_dict()["members"] == 3


def test_a_header_param_the_model_rejects_is_named() -> None:
    header = TraceHeader(profile="virtio-1.4", members=(1,), queues=1, params={"objcts": 2})
    with pytest.raises(InputError, match=r"^trace header params: unknown parameter 'objcts' for model virtio-1.4"):
        model_for_trace(header, None, {})
    header = TraceHeader(profile="virtio-1.4", members=(1,), queues=1, params={"objects": 9})
    with pytest.raises(InputError, match=r"^trace header params: parameter objects=9 .*out of range"):
        model_for_trace(header, None, {})
    assert model_for_trace(header, None, {"objects": "3"}).params.as_dict()["objects"] == 3
