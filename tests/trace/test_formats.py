"""JSONL and pcapng: round trips, lossless conversion, byte order, streaming."""

from __future__ import annotations

import importlib.util
import json
import struct
import tracemalloc
from pathlib import Path
from types import ModuleType

import pytest

from mcheck.trace.codec import Codec
from mcheck.trace.events import AdminCommand, AdminSubmit, DmaWrite, OwnerReset, TraceHeader
from mcheck.trace.io import read_trace, write_trace
from mcheck.trace.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DIR = ROOT / "tests" / "trace" / "data"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_reference", ROOT / "tests" / "trace" / "make_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER = _load_builder()
NAMES = list(BUILDER.REFERENCE)


def test_committed_reference_traces_match_the_builder(tmp_path: Path) -> None:
    for path in BUILDER.write_all(tmp_path):
        committed = REFERENCE_DIR / path.name
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale: run PYTHONPATH=. python tests/trace/make_fixtures.py"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ext", [".jsonl", ".pcapng"])
def test_write_then_read_gives_the_same_events(tmp_path: Path, name: str, ext: str) -> None:
    header, events = BUILDER.REFERENCE[name]()
    path = tmp_path / f"t{ext}"
    assert write_trace(path, header, events) == len(events)
    trace = read_trace(path)
    assert trace.header == header
    assert list(trace.events) == events


@pytest.mark.parametrize("name", NAMES)
def test_conversion_is_lossless_both_ways(tmp_path: Path, name: str) -> None:
    original_jsonl = REFERENCE_DIR / f"{name}.jsonl"
    original_pcapng = REFERENCE_DIR / f"{name}.pcapng"
    for src, mid, back in ((original_jsonl, ".pcapng", ".jsonl"), (original_pcapng, ".jsonl", ".pcapng")):
        trace = read_trace(src)
        write_trace(tmp_path / f"mid{mid}", trace.header, trace.events)
        trace = read_trace(tmp_path / f"mid{mid}")
        write_trace(tmp_path / f"back{back}", trace.header, trace.events)
        assert (tmp_path / f"back{back}").read_bytes() == src.read_bytes()


def test_decoded_fields_are_in_the_jsonl() -> None:
    lines = (REFERENCE_DIR / "virtio14-source.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    assert header == {"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1, 2, 7], "queues": 2}
    stop = next(json.loads(line) for line in lines[1:] if '"DEV_MODE_SET"' in line)
    assert stop["readable"] == "11000100" + "00" * 12 + "0100000000000000" + "01"
    assert stop["cmd"] == {"name": "DEV_MODE_SET", "group_type": "SRIOV", "member": 1, "fields": {"flags": 1}}
    assert stop["result"] == {"status": "OK", "qualifier": "OK", "fields": {}}


def test_jsonl_events_with_decoded_fields_only_are_encoded(tmp_path: Path) -> None:
    path = tmp_path / "hand.jsonl"
    path.write_text(
        '{"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1], "queues": 1}\n'
        '{"t": 5, "kind": "admin", "cmd": {"name": "DEV_MODE_SET", "group_type": "SRIOV", "member": 1, "fields": {"flags": 1}}, "result": {"status": "OK", "qualifier": "OK", "fields": {}}}\n'
        '{"t": 6, "kind": "admin", "cmd": {"name": "DEV_PARTS_GET", "group_type": "SRIOV", "member": 1, "fields": {"obj_id": 0, "type": 1}},'
        ' "result": {"status": "OK", "fields": {"parts": [{"type": "DEVICE_STATUS", "flags": 0, "value": 15}, {"type": 512, "flags": 0, "value": "0102"}]}}}\n'
        '{"t": 7, "kind": "admin", "cmd": {"name": "DEVICE_CAP_GET", "group_type": "SELF", "fields": {"id": 0}}}\n'
    )
    first, second, third = list(read_trace(path).events)
    assert isinstance(first, AdminCommand) and first.index == 0
    assert first.readable == bytes.fromhex("11000100") + bytes(12) + bytes.fromhex("0100000000000000") + b"\x01"
    assert first.writable == bytes(8)
    assert second.result is not None and second.result.fields["parts"][1]["value"] == b"\x01\x02"
    assert len(second.writable or b"") == 8 + 17 + 18
    assert third.writable is None and third.command.member == 0


def _to_big_endian(data: bytes) -> bytes:
    """Rewrite a little-endian pcapng written by mcheck into big-endian byte order."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        body = data[pos + 8 : pos + blen - 4]
        if btype == 0x0A0D0D0A:
            magic, major, minor, slen = struct.unpack_from("<IHHq", body)
            fixed, opts = struct.pack(">IHHq", magic, major, minor, slen), body[16:]
        elif btype == 1:
            fixed, opts = struct.pack(">HHI", *struct.unpack_from("<HHI", body)), body[8:]
        else:
            iface, tsh, tsl, cap, orig = struct.unpack_from("<IIIII", body)
            fixed, opts = struct.pack(">IIIII", iface, tsh, tsl, cap, orig) + body[20 : 20 + cap + (-cap % 4)], b""
        swapped = bytearray()
        o = 0
        while o < len(opts):
            code, olen = struct.unpack_from("<HH", opts, o)
            swapped += struct.pack(">HH", code, olen) + opts[o + 4 : o + 4 + olen + (-olen % 4)]
            o += 4 + olen + (-olen % 4)
        out += struct.pack(">II", btype, blen) + fixed + swapped + struct.pack(">I", blen)
        pos += blen
    return bytes(out)


def test_big_endian_pcapng_reads_the_same(tmp_path: Path) -> None:
    src = REFERENCE_DIR / "virtio14-source.pcapng"
    big = tmp_path / "big.pcapng"
    big.write_bytes(_to_big_endian(src.read_bytes()))
    assert big.read_bytes() != src.read_bytes()
    assert list(read_trace(big).events) == list(read_trace(src).events)


def test_join_pairs_submissions_and_completions() -> None:
    events = list(read_trace(REFERENCE_DIR / "virtio14-split-records.pcapng", join=True).events)
    kinds = [(e.KIND, e.index) for e in events]
    assert kinds == [("dma_write", 2), ("admin", 3), ("admin", 4), ("admin", 5)]
    member2, member1, pending = events[1], events[2], events[3]
    assert isinstance(member2, AdminCommand) and member2.command.member == 2 and member2.result.status_name == "OK"
    assert isinstance(member1, AdminCommand) and member1.result.status_name == "EBUSY" and member1.tag == 1
    assert isinstance(pending, AdminCommand) and pending.writable is None and pending.command.name == "DEV_PARTS_METADATA_GET"


def _many(n: int, codec: Codec):
    cmd = codec.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1})
    for i in range(n):
        if i % 2:
            yield AdminCommand(index=i, timestamp=i, readable=cmd, writable=bytes(8))
        else:
            yield DmaWrite(index=i, timestamp=i, member=1, address=i * 64, length=64)


# pcapng sizes are both several times the reader's 256 KiB buffer (about 110 bytes per event).
@pytest.mark.parametrize(("ext", "sizes"), [(".jsonl", (3_000, 9_000)), (".pcapng", (8_000, 24_000))])
def test_reading_streams_in_bounded_memory(tmp_path: Path, ext: str, sizes: tuple[int, int]) -> None:
    codec = Codec(load_profile("virtio-1.4"))
    header = TraceHeader(profile="virtio-1.4", members=(1,), queues=1)
    peaks = []
    for n in sizes:
        path = tmp_path / f"{n}{ext}"
        write_trace(path, header, _many(n, codec))
        tracemalloc.start()
        count = sum(1 for _ in read_trace(path).events)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == n
    assert peaks[1] < peaks[0] * 1.3, peaks


def test_events_are_frozen_and_keyword_only() -> None:
    with pytest.raises(TypeError):
        OwnerReset(0, 0)  # type: ignore[misc]  # keyword-only on purpose
    event = OwnerReset(index=0, timestamp=0)
    with pytest.raises(AttributeError):
        event.index = 1  # type: ignore[misc]  # frozen on purpose
    submit = AdminSubmit(index=0, timestamp=0, tag=1, readable=b"\x11\x00")
    assert submit.opcode == 0x11
