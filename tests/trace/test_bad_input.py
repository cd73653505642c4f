"""Bad traces: one InputError naming the place, after every good event before it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.trace.codec import Codec
from mcheck.trace.events import AdminCommand, AdminComplete, DmaWrite, Event, PciRead, TraceHeader
from mcheck.trace.io import read_trace, write_trace
from mcheck.trace.pcapng import LINKTYPE_USER0
from mcheck.trace.profile import load_profile

REFERENCE_DIR = Path(__file__).resolve().parent / "data"
HEADER = TraceHeader(profile="virtio-1.4", members=(1, 2), queues=1)
V14 = Codec(load_profile("virtio-1.4"))


def _drain(path: Path) -> tuple[list[Event], InputError]:
    """Read until the error; return the events yielded before it and the error."""
    got: list[Event] = []
    with pytest.raises(InputError) as info:
        for event in read_trace(path).events:
            got.append(event)
    return got, info.value


def _dma(i: int, t: int | None = None) -> DmaWrite:
    return DmaWrite(index=i, timestamp=i * 10 if t is None else t, member=1, address=0x1000, length=8)


def _jsonl(tmp_path: Path, lines: list[str], end: str = "\n") -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(HEADER.to_json()) + "\n" + "\n".join(lines) + end)
    return path


def _good_lines(n: int) -> list[str]:
    return [json.dumps({"i": i, "t": i * 10, "kind": "dma_write", "member": 1, "address": 4096, "length": 8}) for i in range(n)]


def test_truncated_pcapng_yields_the_good_events_first(tmp_path: Path) -> None:
    src = (REFERENCE_DIR / "virtio14-source.pcapng").read_bytes()
    path = tmp_path / "cut.pcapng"
    path.write_bytes(src[:-10])
    got, error = _drain(path)
    expected = list(read_trace(REFERENCE_DIR / "virtio14-source.pcapng").events)
    assert got == expected[:-1]
    assert f"event {expected[-1].index} (byte offset " in str(error)
    assert "truncated block" in str(error) and str(path) in str(error)


def test_wrong_link_type(tmp_path: Path) -> None:
    data = bytearray((REFERENCE_DIR / "virtio14-source.pcapng").read_bytes())
    shb_len = int.from_bytes(data[4:8], "little")
    assert int.from_bytes(data[shb_len + 8 : shb_len + 10], "little") == LINKTYPE_USER0
    data[shb_len + 8 : shb_len + 10] = (1).to_bytes(2, "little")  # Ethernet
    path = tmp_path / "eth.pcapng"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=rf"byte offset {shb_len} \(before event 0\): interface 0 has link type 1; .*LINKTYPE_USER0 \(147\)"):
        read_trace(path)


def test_not_a_pcapng_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))  # classic pcap magic
    with pytest.raises(InputError, match="not a pcapng file"):
        read_trace(path)


def test_bad_record_magic(tmp_path: Path) -> None:
    path = tmp_path / "t.pcapng"
    write_trace(path, HEADER, [_dma(0), _dma(1)])
    data = bytearray(path.read_bytes())
    last = data.rindex(b"MCKT")
    data[last : last + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    got, error = _drain(path)
    assert got == [_dma(0)]
    assert f"event 1 (byte offset {last - 28}): bad record magic" in str(error)


def test_garbage_json_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, _good_lines(2) + ["{this is not json"] + _good_lines(1))
    got, error = _drain(path)
    assert got == [_dma(0), _dma(1)]
    assert f"{path}: event 2 (line 4): not valid JSON" in str(error)


def test_half_written_last_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, _good_lines(3) + ['{"i": 3, "t": 30, "kind": "dma_wr'], end="")
    got, error = _drain(path)
    assert len(got) == 3
    assert "event 3 (line 5): half-written last line (no newline at the end of the file)" in str(error)


def test_an_opcode_outside_the_profile_is_not_an_error(tmp_path: Path) -> None:
    # A draft-v1 capture read with the virtio-1.4 profile: its 0x7fxx opcodes decode as raw data.
    events = list(read_trace(REFERENCE_DIR / "draft-v1-migration.pcapng", profile="virtio-1.4").events)
    wr_caps = events[1]
    assert isinstance(wr_caps, AdminCommand) and wr_caps.command.name is None and wr_caps.command.opcode == 0x7F07
    assert wr_caps.command.fields == {"raw": b""} and wr_caps.result is not None and "raw" in wr_caps.result.fields


def test_completion_without_submission(tmp_path: Path) -> None:
    path = tmp_path / "t.pcapng"
    write_trace(path, HEADER, [_dma(0), AdminComplete(index=1, timestamp=10, tag=9, writable=bytes(8))])
    got, error = _drain(path)
    assert got == [_dma(0)]
    assert "event 1 (byte offset " in str(error) and "completion of tag 9 without a submission" in str(error)


def test_timestamps_going_backwards(tmp_path: Path) -> None:
    path = tmp_path / "t.pcapng"
    write_trace(path, HEADER, [_dma(0, 100), _dma(1, 200), _dma(2, 150)])
    got, error = _drain(path)
    assert got == [_dma(0, 100), _dma(1, 200)]
    assert "event 2 (byte offset " in str(error) and "timestamp 150 ns goes backwards (previous event: 200 ns)" in str(error)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"i": 0, "t": 1, "kind": "teleport"}', "unknown event kind 'teleport'"),
        ('{"i": 0, "t": -1, "kind": "owner_reset"}', "key 't' must be an integer in 0..2**64-1, got -1"),
        ('{"i": 0, "t": 1, "kind": "admin", "aq": 65536, "readable": "1100"}', "key 'aq' must be an integer in 0..2**16-1"),
        ('{"i": 0, "t": 1, "kind": "dma_write", "member": 1, "address": 1}', "key 'length' must be"),
        ('{"i": 0, "t": 1, "kind": "admin", "readable": "zz"}', "key 'readable' is not valid hex"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"name": "DEV_MODE_SET", "group_type": "SRIOV", "fields": {"flagz": 1}}}', "unknown fields"),
        ('{"i": 0, "t": 1, "kind": "dma_write", "member": 5, "address": 1, "length": 1}', "member 5 is not in the header's members"),
        ('[1, 2]', "must be a JSON object"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"opcode": 19, "group_type": 0, "fields": {"flags": 1}}}', "outside the profile the only field is 'raw'"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"opcode": 65536, "group_type": 0}}', "key 'cmd.opcode' must be an integer in 0..2**16-1"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"name": null, "group_type": 0}}', "key 'cmd.opcode' must be an integer in 0..2**16-1, got None"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"opcode": 19, "group_type": [1]}}', "group type [1] is neither a known name nor a number"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"name": "DEV_MODE_SET", "opcode": 19, "group_type": 0}}', "'cmd.opcode' 19 is not the opcode of DEV_MODE_SET"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"opcode": 19, "group_type": 65536}}', "group type 65536 is neither a known name nor a number in 0..0xffff"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"opcode": 19, "group_type": 0, "member": 18446744073709551616}}', "key 'cmd.member' must be an integer"),
        ('{"i": 0, "t": 1, "kind": "admin", "cmd": {"opcode": 19, "group_type": 0}, "result": {"status": -1}}', "status -1 is neither a known name"),
        ('{"i": 0, "t": 1, "kind": "pm_begin"}', "key 'member' must be an integer"),
        ('{"i": 0, "t": 1, "kind": "pm_end", "member": "1"}', "key 'member' must be an integer"),
        ('{"i": 0, "t": 1, "kind": "pme", "member": 5}', "member 5 is not in the header's members"),
        ('{"i": 0, "t": 1, "kind": "pci_read", "offset": 0, "length": 4, "value": "ffffffff"}', "key 'member' must be an integer"),
        ('{"i": 0, "t": 1, "kind": "pci_read", "member": 1, "offset": 0, "length": 4, "value": "fffffffg"}', "key 'value' is not valid hex"),
        ('{"i": 0, "t": 1, "kind": "pci_read", "member": 1, "offset": 0, "length": 4}', "key 'value' must be a hex string"),
        ('{"i": 0, "t": 1, "kind": "pci_read", "member": 1, "length": 4, "value": "ffffffff"}', "key 'offset' must be an integer"),
        ('{"i": 0, "t": 1, "kind": "pci_read", "member": 1, "offset": 0, "length": 2, "value": "ffffffff"}', "pci_read value has 4 bytes but its length is 2"),
        ('{"i": 0, "t": 1, "kind": "pci_read", "member": 2, "offset": 0, "length": 0, "value": "", "cite": 13}', "key 'cite' must be a string"),
    ],
)
def test_bad_jsonl_events(tmp_path: Path, line: str, message: str) -> None:
    path = _jsonl(tmp_path, [line])
    with pytest.raises(InputError, match=r"event 0 \(line 2\): .*" + re.escape(message)):
        list(read_trace(path).events)


@pytest.mark.parametrize(
    ("first", "message"),
    [
        ("garbage", "line 1: bad trace header"),
        ('{"mcheck_trace": 2, "profile": "virtio-1.4"}', "format version 2 is not supported"),
        ('{"mcheck_trace": 1, "profile": "virtio-7"}', "not a built-in profile"),
        ('{"mcheck_trace": 1, "profile": "virtio-1.4", "colour": 1}', "unknown header keys"),
        ('{"mcheck_trace": 1, "profile": "virtio-1.4", "params": [1]}', "line 1: bad trace header: header key 'params' must be an object"),
        ('{"mcheck_trace": 1, "profile": "virtio-1.4", "params": {"objects": 1.5}}', "line 1: bad trace header: header key 'params': parameter 'objects' must be a string, integer or boolean"),
        ('{"mcheck_trace": 1, "profile": "virtio-1.4", "params": {"compat": null}}', "parameter 'compat' must be a string, integer or boolean"),
        ('{"mcheck_trace": 1, "profile": "virtio-1.4", "title": 7}', "header key 'title' must be a string"),
    ],
)
def test_bad_jsonl_header(tmp_path: Path, first: str, message: str) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(first + "\n")
    with pytest.raises(InputError, match=message):
        read_trace(path)


def test_pci_read_length_mismatch_in_pcapng_names_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "t.pcapng"
    write_trace(path, HEADER, [_dma(0), PciRead(index=1, timestamp=10, member=1, offset=0, length=4, value=b"\xff" * 4)])
    data = bytearray(path.read_bytes())
    last = data.rindex(b"MCKT")
    data[last + 48 : last + 56] = (2).to_bytes(8, "little")  # arg1 = length
    path.write_bytes(bytes(data))
    got, error = _drain(path)
    assert got == [_dma(0)]
    assert f"event 1 (byte offset {last - 28}): pci_read value has 4 bytes but its length is 2" in str(error)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown trace format '.txt'"):
        write_trace(tmp_path / "a.txt", HEADER, [])
    with pytest.raises(InputError, match="no such trace file"):
        read_trace(tmp_path / "missing.pcapng")
