"""The draft-v1 wire (issue 14): reserved2 as command-specific output, the address-list
write-report form, and the stateful observer (models/draft_observe.py).

Every record here is written by hand from docs/draft-v1-profile.md (struct-packed bytes),
never produced by mcheck's emulator or encoder: the codec is checked against these bytes,
and the observer is fed them.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mcheck.cli import main
from mcheck.errors import InputError
from mcheck.trace.codec import Codec, CodecError
from mcheck.trace.events import AdminCommand, DmaWrite, FlrBegin, FlrEnd, UsedNotify, Doorbell
from mcheck.trace.io import read_trace, write_trace
from mcheck.trace.profile import load_profile
from mcheck.trace.pyshark_reader import DISSECTOR_PATH, read_trace_pyshark
from mcheck.trace.record import PROFILE_CODES
from mcheck.models.draft_observe import DraftObserver
from tests.conftest import require_tool

DATA = Path(__file__).resolve().parent / "data"
PROFILES = Path(__file__).resolve().parents[2] / "models" / "profiles"
VENDOR = DATA / "vendor-address-list.toml"

DRAFT = Codec(load_profile("draft-v1"))
V14 = Codec(load_profile("virtio-1.4"))
ADDR = Codec(load_profile(str(VENDOR)))

# Opcodes by hand: draft-v1 placeholders 0x7F00.., the vendor test profile 0x7E00..
NAMES = ["DEV_MODE_GET", "DEV_MODE_SET", "DEV_CTX_SIZE_GET", "DEV_CTX_READ", "DEV_CTX_WRITE", "DEV_CTX_FIELDS_QUERY",
         "DEV_CTX_DISCARD", "WR_CAPS_QUERY", "WR_START", "WR_STOP", "WR_PENDING", "WR_REPORT"]
OPS = {"draft-v1": {n: 0x7F00 + i for i, n in enumerate(NAMES)}, "vendor-addr": {n: 0x7E00 + i for i, n in enumerate(NAMES)}}
MODES = {"draft-v1": {"ACTIVE": 0, "STOP": 1, "FREEZE": 2}, "vendor-addr": {"ACTIVE": 4, "STOP": 5, "FREEZE": 6}}
OK, EBUSY, EINVAL = 0, 16, 22


def cmd(opcode: int, member: int, data: bytes = b"", group: int = 1) -> bytes:
    """24-byte admin command header + data."""
    return struct.pack("<HH12xQ", opcode, group, member) + data


def res(status: int = OK, body: bytes = b"", reserved2: bytes = bytes(4), qualifier: int = 0) -> bytes:
    """8-byte result status header (le16 status, le16 qualifier, u8 reserved2[4]) + body."""
    return struct.pack("<HH", status, qualifier) + reserved2 + body


def le32(v: int) -> bytes:
    return struct.pack("<I", v)


def le64(v: int) -> bytes:
    return struct.pack("<Q", v)


def entry(number: int, value: bytes) -> bytes:
    return struct.pack("<HHI", number, 0, len(value)) + value


VQ = struct.pack("<HHBBHQQQHHHH", 0, 16, 1, 0, 0, 0x3000, 0x3100, 0x2000, 2, 2, 0, 0)
CONTEXT = (entry(0x1, le64(1 << 32)) + entry(0x2, le64(1 << 32)) + entry(0x3, b"\x0f")
           + entry(0x4, b"\x01\x02\x03\x04") + entry(0x10, VQ))
assert len(CONTEXT) == 101


# --------------------------------------------------------------------------- reserved2 output


def test_ctx_read_context_len_lives_in_reserved2() -> None:
    wire = res(body=le32(3) + le32(0) + b"abc", reserved2=le32(0x65))
    decoded = DRAFT.decode_result("DEV_CTX_READ", wire)
    assert decoded.fields == {"context_len": 0x65, "size": 3, "remaining_ctx_size": 0, "context": b"abc"}
    assert next(iter(decoded.fields)) == "context_len"           # on the wire first, shown first
    assert DRAFT.encode_result("DEV_CTX_READ", "OK", "OK", decoded.fields) == wire
    assert DRAFT.encode_result("DEV_CTX_READ", "OK", "OK", {"size": 3, "context": b"abc", "context_len": 0x65}) == wire


def test_zero_output_is_not_shown_and_encodes_as_zero() -> None:
    wire = res(body=le32(3) + le32(10) + b"\x01\x02\x03")
    assert DRAFT.decode_result("DEV_CTX_READ", wire).fields == {"size": 3, "remaining_ctx_size": 10, "context": b"\x01\x02\x03"}
    assert DRAFT.encode_result("DEV_CTX_READ", "OK", "OK", {"size": 3, "remaining_ctx_size": 10, "context": b"\x01\x02\x03"}) == wire
    assert DRAFT.encode_result("DEV_CTX_READ", "OK", "OK", {"context_len": 0, "size": 3, "remaining_ctx_size": 10,
                                                           "context": b"\x01\x02\x03"}) == wire


def test_output_of_a_failed_command_without_body() -> None:
    wire = res(EBUSY, reserved2=le32(7))
    assert DRAFT.decode_result("DEV_CTX_READ", wire).fields == {"context_len": 7}
    assert DRAFT.encode_result("DEV_CTX_READ", "EBUSY", "OK", {"context_len": 7}) == wire


def test_output_too_wide_names_the_field() -> None:
    with pytest.raises(CodecError, match=r"DEV_CTX_READ status header output field 'context_len': 4294967296 is not an unsigned integer of 4"):
        DRAFT.encode_result("DEV_CTX_READ", "OK", "OK", {"context_len": 1 << 32})


@pytest.mark.parametrize(("codec", "name", "body"), [(V14, "DEV_MODE_SET", b""), (DRAFT, "DEV_MODE_GET", b"\x02"),
                                                      (V14, "DEV_PARTS_METADATA_GET", le32(16) + bytes(4))])
def test_non_zero_reserved2_without_output_is_reported(codec: Codec, name: str, body: bytes) -> None:
    wire = res(body=body, reserved2=b"\x01\x02\x03\x04")
    decoded = codec.decode_result(name, wire)
    assert decoded.fields["reserved2"] == b"\x01\x02\x03\x04"
    assert codec.encode_result(name, "OK", "OK", decoded.fields) == wire
    assert "reserved2" not in codec.decode_result(name, res(body=body)).fields


def test_virtio14_keeps_reserved2_reserved() -> None:
    assert all(c.output is None for c in V14.profile.commands.values())
    with pytest.raises(CodecError, match=r"DEV_MODE_SET result: unknown fields \['context_len'\]"):
        V14.encode_result("DEV_MODE_SET", "OK", "OK", {"context_len": 1})
    # a command that declares output has no reserved2 field
    with pytest.raises(CodecError, match=r"DEV_CTX_READ result: unknown fields \['reserved2'\]"):
        DRAFT.encode_result("DEV_CTX_READ", "OK", "OK", {"reserved2": "01000000"})


def test_unknown_opcode_keeps_reserved2() -> None:
    wire = res(99, body=b"\x0a", reserved2=b"\0\0\0\x80")
    decoded = DRAFT.decode_result(None, wire)
    assert decoded.fields == {"reserved2": b"\0\0\0\x80", "raw": b"\x0a"}
    assert DRAFT.encode_result(None, 99, 0, decoded.fields) == wire


def _profile_with(tmp_path: Path, old: str, new: str, base: str = "draft-v1") -> Path:
    text = (PROFILES / f"{base}.toml").read_text()
    assert old in text
    path = tmp_path / "p.toml"
    path.write_text(text.replace(old, new, 1))
    return path


CTX_OUTPUT = 'output = [{ name = "context_len", offset = 0, type = "le32" }]'


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (CTX_OUTPUT, 'output = [{ name = "context_len", offset = 0, type = "le16" }]',
         r"key 'commands.DEV_CTX_READ.output': covers 2 bytes, reserved2 has 4 \(name the bytes left reserved\)"),
        (CTX_OUTPUT, 'output = [{ name = "context_len", offset = 0, type = "tail" }]',
         r"key 'commands.DEV_CTX_READ.output\[0\].type': 'tail' is variable-length"),
        (CTX_OUTPUT, 'output = [{ name = "size", offset = 0, type = "le32" }]',
         r"key 'commands.DEV_CTX_READ.output\[0\].name': 'size' is also a result field"),
        (CTX_OUTPUT, 'output = [{ name = "context_len", offset = 2, type = "le16" }]',
         r"key 'commands.DEV_CTX_READ.output\[0\].offset': is 2, expected 0"),
        (CTX_OUTPUT, 'outputs = []', r"key 'commands.DEV_CTX_READ.outputs': unknown key"),
        ('result = [{ name = "mode", offset = 0, type = "u8" }]', 'result = [{ name = "reserved2", offset = 0, type = "u8" }]',
         r"key 'commands.DEV_MODE_GET.result': field name 'reserved2' is taken"),
    ],
)
def test_bad_output_declarations_name_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _profile_with(tmp_path, old, new)
    with pytest.raises(InputError, match=re.escape(str(path)) + ": " + message) as info:
        load_profile(str(path))
    assert "\n" not in str(info.value)


def test_a_vendor_can_split_reserved2(tmp_path: Path) -> None:
    path = _profile_with(tmp_path, CTX_OUTPUT, 'output = [{ name = "context_len", offset = 0, type = "le16" }, '
                                               '{ name = "reserved", offset = 2, type = "bytes(2)" }]')
    codec = Codec(load_profile(str(path)))
    wire = res(body=le32(0) + le32(0), reserved2=b"\x05\x00\x00\x00")
    assert codec.decode_result("DEV_CTX_READ", wire).fields == {"context_len": 5, "size": 0, "remaining_ctx_size": 0, "context": b""}
    odd = res(body=le32(0) + le32(0), reserved2=b"\x05\x00\xaa\x00")
    assert codec.decode_result("DEV_CTX_READ", odd).fields["reserved"] == b"\xaa\x00"


def _hand_trace(tmp_path: Path, profile: str, events: list[dict[str, Any]], name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    lines = [json.dumps({"mcheck_trace": 1, "profile": profile, "members": [1, 2], "queues": 1})]
    lines += [json.dumps({"t": 10 * i, **e}) for i, e in enumerate(events)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_show_prints_the_output_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _hand_trace(tmp_path, "draft-v1", [
        {"kind": "admin", "readable": cmd(0x7F03, 1).hex(), "writable": res(body=le32(3) + le32(0) + b"abc", reserved2=le32(3)).hex()},
        {"kind": "admin", "readable": cmd(0x7F01, 1, b"\x01").hex(), "writable": res(reserved2=b"\xff\0\0\0").hex()},
    ])
    assert main(["show", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith("DEV_CTX_READ group=SRIOV member=1 -> OK context_len=3 size=3 remaining_ctx_size=0 context=616263")
    assert lines[2].endswith("DEV_MODE_SET group=SRIOV member=1 mode=1 -> OK reserved2=ff000000")


def test_jsonl_result_fields_encode_the_output(tmp_path: Path) -> None:
    """A hand-written event without bytes: the reader encodes context_len into reserved2."""
    path = _hand_trace(tmp_path, "draft-v1", [
        {"kind": "admin", "cmd": {"name": "DEV_CTX_READ", "group_type": "SRIOV", "member": 1, "fields": {}},
         "result": {"status": "OK", "qualifier": "OK", "fields": {"context_len": 2, "size": 2, "remaining_ctx_size": 0, "context": "0102"}}},
    ])
    (event,) = read_trace(path).events
    assert event.writable == res(body=le32(2) + le32(0) + b"\x01\x02", reserved2=le32(2))


# --------------------------------------------------------------------------- tshark


@pytest.fixture(scope="module")
def tshark() -> str:
    return require_tool("tshark", "apt-get install -y tshark")


def _lua_outputs(text: str) -> dict[int, dict[str, list[tuple[str, int, int]]]]:
    body = text[text.index("local OUTPUT = {"):]
    body = body[: body.index("\n}\n") + 1]
    out: dict[int, dict[str, list[tuple[str, int, int]]]] = {}
    for code, rest in re.findall(r"\[(\d+)\] = \{(.*?)\},?\n", body):
        out[int(code)] = {name: [(n, int(o), int(s)) for n, o, s in re.findall(r'\{ "(\w+)", (\d+), (\d+) \}', fields)]
                          for name, fields in re.findall(r'\["(\w+)"\] = \{((?:\s*\{[^}]*\},?)*)\s*\}', rest)}
    return out


def test_lua_output_table_matches_the_profiles() -> None:
    lua = _lua_outputs(DISSECTOR_PATH.read_text())
    for name, code in PROFILE_CODES.items():
        profile = load_profile(name)
        want = {cmd: [(f.name, f.offset, f.size) for f in layout.output.fields]
                for cmd, layout in profile.commands.items() if layout.output is not None}
        assert lua.get(code, {}) == want, name
    assert lua[2] == {"DEV_CTX_READ": [("context_len", 0, 4)]}


def test_tshark_dissects_reserved2(tshark: str, tmp_path: Path) -> None:
    draft = _hand_trace(tmp_path, "draft-v1", [
        {"kind": "admin", "readable": cmd(0x7F03, 1).hex(), "writable": res(body=le32(3) + le32(0) + b"abc", reserved2=le32(101)).hex()},
        {"kind": "admin", "readable": cmd(0x7F00, 1).hex(), "writable": res(body=b"\x02", reserved2=b"\x01\x02\x03\x04").hex()},
    ], "d.jsonl")
    v14 = tmp_path / "v.jsonl"
    v14.write_text(json.dumps({"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1], "queues": 1}) + "\n"
                   + json.dumps({"t": 0, "kind": "admin", "readable": (cmd(0x11, 1) + b"\x01").hex(),
                                 "writable": res(reserved2=b"\xaa\xbb\x00\x00").hex()}) + "\n"
                   + json.dumps({"t": 1, "kind": "admin", "readable": (cmd(0x11, 1) + b"\x00").hex(), "writable": res().hex()}) + "\n")
    shown = {}
    for src in (draft, v14):
        capture = src.with_suffix(".pcapng")
        trace = read_trace(src)
        write_trace(capture, trace.header, trace.events)
        done = subprocess.run([tshark, "-X", f"lua_script:{DISSECTOR_PATH}", "-r", str(capture), "-V"],
                              capture_output=True, text=True, timeout=60, check=True)
        assert "Lua: Error" not in done.stdout + done.stderr, done.stderr
        shown[src.stem] = [line.strip() for line in done.stdout.splitlines()]
        assert list(read_trace_pyshark(capture).events) == list(read_trace(capture).events)
    assert "context_len (reserved2 output): 101" in shown["d"]
    assert "reserved2 (not zero): 01020304" in shown["d"]                  # DEV_MODE_GET declares no output
    assert shown["v"].count("reserved2 (not zero): aabb0000") == 1         # the zero one shows nothing
    assert not any("context_len" in line for line in shown["v"])


# --------------------------------------------------------------------------- address-list form


def test_profiles_name_their_report_form() -> None:
    assert DRAFT.profile.wr_report_form == "bitmap"
    assert ADDR.profile.wr_report_form == "address-list"
    assert [(f.name, f.type) for f in ADDR.profile.commands["WR_REPORT"].result.fields] == [("addresses", "page_addresses")]


def test_address_list_report_decodes_and_encodes() -> None:
    wire = res(body=le64(0x10_0000) + le64(0x10_2000) + le64(0x4000_0000))
    decoded = ADDR.decode_result("WR_REPORT", wire)
    assert decoded.fields == {"addresses": [0x10_0000, 0x10_2000, 0x4000_0000]} and decoded.extra == 0
    assert ADDR.encode_result("WR_REPORT", "OK", "OK", decoded.fields) == wire
    assert ADDR.decode_result("WR_REPORT", res()).fields == {"addresses": []}
    torn = ADDR.decode_result("WR_REPORT", wire + b"\x01\x02\x03")
    assert torn.fields["addresses"] == [0x10_0000, 0x10_2000, 0x4000_0000] and torn.extra == 3
    with pytest.raises(CodecError, match=r"WR_REPORT result field 'addresses'\[1\]: -1 is not an unsigned integer of 8"):
        ADDR.encode_result("WR_REPORT", "OK", "OK", {"addresses": [0, -1]})


def test_several_ranges_and_page_sizes_decode() -> None:
    ops = OPS["vendor-addr"]
    starts = [cmd(ops["WR_START"], 1, le32(0x1000) + b"\x00" + bytes(3) + le64(0x10_0000) + le64(0x4000)),
              cmd(ops["WR_START"], 1, le32(0x20_0000) + b"\x00" + bytes(3) + le64(0x4000_0000) + le64(0x40_0000))]
    got = [ADDR.decode_command(b) for b in starts]
    assert [(c.name, c.fields) for c in got] == [
        ("WR_START", {"page_size": 0x1000, "mode": 0, "range_addr": 0x10_0000, "range_len": 0x4000}),
        ("WR_START", {"page_size": 0x20_0000, "mode": 0, "range_addr": 0x4000_0000, "range_len": 0x40_0000}),
    ]
    stop = ADDR.decode_command(cmd(ops["WR_STOP"], 1, le64(0x4000_0000)))
    assert (stop.name, stop.fields) == ("WR_STOP", {"range_addr": 0x4000_0000})


def test_show_with_the_vendor_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ops = OPS["vendor-addr"]
    path = _hand_trace(tmp_path, "draft-v1", [
        {"kind": "admin", "readable": cmd(ops["WR_REPORT"], 1, le64(0) + le64(0x3000)).hex(),
         "writable": res(body=le64(0) + le64(0x2000)).hex()},
    ])
    assert main(["show", "--profile", str(VENDOR), str(path)]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.endswith("WR_REPORT group=SRIOV member=1 range_addr=0x0 range_len=12288 -> OK addresses=[0x0,0x2000]")


@pytest.mark.parametrize(
    ("base", "old", "new", "message"),
    [
        ("draft-v1", 'form = "bitmap"', 'form = "bytemap"', r"key 'write_report.form': must be one of bitmap, address-list, got 'bytemap'"),
        ("draft-v1", 'form = "bitmap"', 'form = "address-list"',
         r"key 'commands.WR_REPORT.result': form 'address-list' needs a field of type 'page_addresses' \(its result has a bitmap field: set \[write_report\] form = 'bitmap'\)"),
        ("draft-v1", 'form = "bitmap"', 'form = "bitmap"\nmode = 1', r"key 'write_report.mode': unknown key"),
        ("draft-v1", '{ name = "bitmap", offset = 0, type = "bitmap" }', '{ name = "addresses", offset = 0, type = "page_addresses" }',
         r"key 'commands.WR_REPORT.result': form 'bitmap' needs a field of type 'bitmap' \(its result has a page_addresses field: set \[write_report\] form = 'address-list'\)"),
        ("virtio-1.4", "[opcodes]", '[write_report]\nform = "bitmap"\n\n[opcodes]', r"key 'write_report': the profile has no WR_REPORT command"),
    ],
)
def test_bad_report_forms_name_file_and_key(tmp_path: Path, base: str, old: str, new: str, message: str) -> None:
    path = _profile_with(tmp_path, old, new, base)
    with pytest.raises(InputError, match=re.escape(str(path)) + ": " + message):
        load_profile(str(path))


# --------------------------------------------------------------------------- the observer


class Capture:
    """Hand-written events of one capture in one profile (bytes packed here, not encoded)."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.ops = OPS[codec.profile.name]
        self.modes = MODES[codec.profile.name]
        self.events: list[Any] = []

    def _add(self, event: Any) -> Any:
        self.events.append(event)
        return event

    def admin(self, name: str, member: int, data: bytes = b"", writable: bytes | None = None) -> Any:
        i = len(self.events)
        return self._add(AdminCommand(index=i, timestamp=i, codec=self.codec, readable=cmd(self.ops[name], member, data),
                                      writable=writable))

    def mode_set(self, member: int, mode: str | int, status: int = OK) -> Any:
        number = self.modes[mode] if isinstance(mode, str) else mode
        return self.admin("DEV_MODE_SET", member, bytes([number]), res(status))

    def read(self, member: int, chunk: bytes, remaining: int, status: int = OK) -> Any:
        body = le32(len(chunk)) + le32(remaining) + chunk if status == OK else b""
        return self.admin("DEV_CTX_READ", member, b"", res(status, body))

    def write(self, member: int, chunk: bytes, status: int = OK) -> Any:
        return self.admin("DEV_CTX_WRITE", member, chunk, res(status))

    def wr_start(self, member: int, addr: int, length: int, page_size: int = 0x1000, status: int = OK) -> Any:
        return self.admin("WR_START", member, le32(page_size) + bytes(4) + le64(addr) + le64(length), res(status))

    def wr_stop(self, member: int, addr: int) -> Any:
        return self.admin("WR_STOP", member, le64(addr), res())

    def pending(self, member: int, nbytes: int) -> Any:
        return self.admin("WR_PENDING", member, b"", res(body=le64(nbytes)))

    def report(self, member: int, addr: int, length: int, body: bytes) -> Any:
        return self.admin("WR_REPORT", member, le64(addr) + le64(length), res(body=body))

    def dma(self, member: int, address: int) -> Any:
        i = len(self.events)
        return self._add(DmaWrite(index=i, timestamp=i, member=member, address=address, length=64))

    def flr(self, member: int) -> None:
        i = len(self.events)
        self._add(FlrBegin(index=i, timestamp=i, member=member))
        self._add(FlrEnd(index=i + 1, timestamp=i + 1, member=member))

    def observe(self, observer: DraftObserver | None = None) -> list[dict[str, Any] | None]:
        observer = observer or DraftObserver()
        return [observer.observe(e) for e in self.events]


def _obs(capture: Capture) -> list[dict[str, Any]]:
    return [o for o in capture.observe() if o is not None]


def _strip(o: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in o.items() if k not in ("kind", "cmd", "member", "side", "status")}


@pytest.mark.parametrize("codec", [DRAFT, ADDR], ids=["draft-v1", "vendor-addr"])
def test_mode_values_the_profile_does_not_name_are_unknown(codec: Codec) -> None:
    c = Capture(codec)
    c.mode_set(1, "STOP")
    c.mode_set(3, 7, EINVAL)
    c.mode_set(2, 0x7F)
    c.admin("DEV_MODE_GET", 1, b"", res(body=bytes([c.modes["FREEZE"]])))
    c.admin("DEV_MODE_GET", 1, b"", res(body=b"\x09"))
    obs = _obs(c)
    assert obs[0] == {"kind": "admin", "cmd": "DEV_MODE_SET", "member": 1, "side": "src", "mode": "STOP", "status": "OK"}
    assert obs[1] == {"kind": "admin", "cmd": "DEV_MODE_SET", "member": 2, "side": "src", "mode": "UNKNOWN", "status": "EINVAL"}
    assert obs[2]["mode"] == "UNKNOWN" and obs[2]["side"] == "dst"
    assert [obs[3]["mode"], obs[4]["mode"]] == ["FREEZE", "mode 9"]


def test_vendor_numbers_name_the_same_modes() -> None:
    c = Capture(ADDR)
    c.mode_set(1, 0)       # 0 is draft-v1's ACTIVE, not the vendor's
    c.mode_set(1, 6)
    assert [o["mode"] for o in _obs(c)] == ["UNKNOWN", "FREEZE"]


def test_ctx_read_last_and_empty() -> None:
    c = Capture(DRAFT)
    c.read(1, CONTEXT[:40], 61)
    c.read(1, CONTEXT[40:], 0)
    c.read(1, b"", 0)
    c.read(1, b"", 0, EBUSY)
    c.admin("DEV_CTX_READ", 1, b"", None)
    obs = _obs(c)
    assert [_strip(o) for o in obs] == [{"last": False, "empty": False}, {"last": True, "empty": False},
                                        {"last": True, "empty": True}, {}, {}]
    assert obs[3]["status"] == "EBUSY" and "status" not in obs[4]


def test_ctx_size_get_shows_freeze_mode_not_size() -> None:
    c = Capture(DRAFT)
    c.admin("DEV_CTX_SIZE_GET", 1, b"\x01" + bytes(7), res(body=le32(101) + bytes(4)))
    assert _strip(_obs(c)[0]) == {"freeze_mode": 1}


def test_ctx_write_parts_and_last_follow_the_paired_source_read() -> None:
    c = Capture(DRAFT)
    c.write(2, CONTEXT[:60])                 # no source read yet: no `last`
    c.write(2, CONTEXT[60:])
    c.read(1, CONTEXT[:40], 61)              # the source's context, in two chunks: 101 bytes
    c.read(1, CONTEXT[40:], 0)
    c.write(2, CONTEXT[:60])
    c.write(2, CONTEXT[60:])                 # completes the context: the stream restarts
    c.write(2, CONTEXT)                      # a whole context in one chunk
    c.write(4, CONTEXT)                      # pair 2's source was never read
    views = [_strip(o) for o in _obs(c) if o.get("cmd") == "DEV_CTX_WRITE"]
    assert views == [{"part": "first"}, {"part": "next"},
                     {"part": "first", "last": False}, {"part": "next", "last": True},
                     {"part": "first", "last": True}, {"part": "first"}]


def test_ctx_write_stream_restarts() -> None:
    c = Capture(DRAFT)
    c.read(1, CONTEXT, 0)
    c.write(2, CONTEXT[:60])
    c.write(2, CONTEXT[60:80], EBUSY)        # refused: the stream restarts
    c.write(2, CONTEXT[:60])
    c.admin("DEV_CTX_DISCARD", 2, b"", res())
    c.write(2, CONTEXT[:10])
    c.flr(2)
    c.write(2, CONTEXT[10:])                 # continues the dropped stream: an orphan, not a start
    c.write(2, CONTEXT[:60], EINVAL)         # EINVAL: the stream restarts again
    c.write(2, CONTEXT[:60])
    c.admin("DEV_CTX_WRITE", 2, CONTEXT[60:], None)   # unanswered: observed, changes nothing
    c.write(2, CONTEXT[60:])
    views = [_strip(o) for o in _obs(c) if o.get("cmd") == "DEV_CTX_WRITE"]
    assert views == [{"part": "first", "last": False}, {"part": "next", "last": False},
                     {"part": "first", "last": False}, {"part": "first", "last": False},
                     {"part": "next", "last": False},
                     {"part": "next", "last": False}, {"part": "first", "last": False},
                     {"part": "next", "last": True}, {"part": "next", "last": True}]


def test_source_total_is_the_last_complete_read() -> None:
    c = Capture(DRAFT)
    c.read(1, CONTEXT[:40], 61)
    c.mode_set(1, "FREEZE")                  # a mode change restarts the read: the 40 bytes do not count
    c.read(1, CONTEXT[:50], 51)
    c.read(1, CONTEXT[50:], 0)
    c.read(1, b"", 0)                        # empty: the last complete read stays 101
    c.write(2, CONTEXT)
    c.read(3, CONTEXT[:30], 0)               # pair 2's source: a 30-byte context
    c.write(4, CONTEXT[:30])
    c.write(2, CONTEXT[:30])
    views = [_strip(o) for o in _obs(c) if o.get("cmd") == "DEV_CTX_WRITE"]
    assert views == [{"part": "first", "last": True}, {"part": "first", "last": True}, {"part": "first", "last": False}]


def test_wr_caps_query_carries_no_capability() -> None:
    c = Capture(DRAFT)
    c.admin("WR_CAPS_QUERY", 1, b"", res(body=le32(4) + le32(0x1000) + b"\x14" + bytes(7)))
    assert _obs(c) == [{"kind": "admin", "cmd": "WR_CAPS_QUERY", "member": 1, "side": "src", "status": "OK"}]


@pytest.mark.parametrize(("codec", "pending", "view"), [
    (DRAFT, 0, {"pending_any": False}), (DRAFT, 1, {"pending_any": True}),
    (ADDR, 0, {"pending_pages": 0, "pending_any": False}), (ADDR, 24, {"pending_pages": 3, "pending_any": True}),
])
def test_wr_pending_by_report_form(codec: Codec, pending: int, view: dict[str, Any]) -> None:
    c = Capture(codec)
    c.pending(1, pending)
    assert _strip(_obs(c)[0]) == view


@pytest.mark.parametrize("codec", [DRAFT, ADDR], ids=["bitmap", "address-list"])
def test_wr_start_and_report_pages(codec: Codec) -> None:
    c = Capture(codec)
    c.wr_start(1, 0x10_0000, 0x3000)
    body = b"\x05" if codec is DRAFT else le64(0x10_2000) + le64(0x10_0000)
    c.report(1, 0x10_0000, 0x3000, body)
    c.report(1, 0x10_0000, 0x3000, b"\x00" if codec is DRAFT else b"")
    obs = _obs(c)
    assert _strip(obs[0]) == {"range_pages": 3}
    assert _strip(obs[1]) == {"range_pages": 3, "bitmap": 0b101}
    assert _strip(obs[2]) == {"range_pages": 3, "bitmap": 0}


def test_address_list_report_uses_the_recorded_page_size() -> None:
    c = Capture(ADDR)
    c.wr_start(1, 0x4000_0000, 0x80_0000, page_size=0x20_0000)     # four 2 MiB pages
    c.report(1, 0x4000_0000, 0x80_0000, le64(0x4060_0000) + le64(0x4020_0000))
    c.report(1, 0x4000_0000, 0x80_0000, le64(0x3FE0_0000))            # before the range: a bit past it
    obs = _obs(c)
    assert _strip(obs[0]) == {"range_pages": 4}
    assert obs[1]["bitmap"] == 0b1010
    assert obs[2]["bitmap"] == 1 << 4


def test_dma_pages_follow_the_recorded_range() -> None:
    c = Capture(DRAFT)
    c.dma(1, 0x10_2000)                      # before any WR_START: address // 4096
    c.wr_start(1, 0x10_0000, 0x3000, status=EINVAL)
    c.dma(1, 0x10_2000)                      # a refused WR_START records nothing
    c.admin("WR_START", 1, le32(0x1000) + bytes(4) + le64(0x10_0000) + le64(0x3000), None)
    c.dma(1, 0x10_2000)                      # nor does an unanswered one
    c.wr_start(1, 0x10_0000, 0x3000)
    c.dma(1, 0x10_2000)
    c.dma(2, 0x10_1000)                      # the destination: its pair's source range
    c.dma(1, 0x10_3000)                      # past the range: counted from its start
    c.wr_stop(1, 0x10_0000)
    c.dma(1, 0x10_1000)                      # the mapping outlives WR_STOP
    c.wr_start(1, 0x20_0000, 0x2000)         # every range stopped: a new list
    c.dma(1, 0x20_1000)
    pages = [o["page"] for o in _obs(c) if o["kind"] == "dma_write"]
    assert pages == [0x102, 0x102, 0x102, 2, 1, 3, 1, 1]


def test_several_ranges_map_addresses_through_the_range_they_fall_in() -> None:
    c = Capture(ADDR)
    c.wr_start(1, 0x4000_0000, 0x40_0000, page_size=0x20_0000)     # 2 pages of 2 MiB (model pages 2, 3)
    c.wr_start(1, 0x10_0000, 0x2000)                                 # 2 pages of 4 KiB (model pages 0, 1)
    for address in (0x10_1000, 0x4020_0000, 0x4000_0010, 0x10_0000):
        c.dma(1, address)
    c.report(1, 0x4000_0000, 0x40_0000, le64(0x4020_0000))          # bit i = page i of the reported range
    c.report(1, 0x10_0000, 0x2000, le64(0x10_1000) + le64(0x10_0000))
    obs = _obs(c)
    assert [o["page"] for o in obs if o["kind"] == "dma_write"] == [1, 3, 2, 0]
    reports = [_strip(o) for o in obs if o.get("cmd") == "WR_REPORT"]
    assert reports == [{"range_pages": 2, "bitmap": 0b10}, {"range_pages": 2, "bitmap": 0b11}]


def test_sideband_events_as_before() -> None:
    c = Capture(DRAFT)
    i = len(c.events)
    c.events += [UsedNotify(index=i, timestamp=i, member=3, queue=1), Doorbell(index=i + 1, timestamp=i + 1, member=4, queue=0)]
    c.flr(2)
    assert _obs(c) == [{"kind": "used_notify", "member": 2, "side": "src", "queue": 1},
                       {"kind": "doorbell", "member": 2, "side": "dst", "queue": 0},
                       {"kind": "flr_begin", "member": 1, "side": "dst"}, {"kind": "flr_end", "member": 1, "side": "dst"}]


def test_a_new_capture_clears_the_state() -> None:
    first = Capture(DRAFT)
    first.wr_start(1, 0x10_0000, 0x3000)
    first.read(1, CONTEXT, 0)
    first.write(2, CONTEXT[:60])
    second = Capture(DRAFT)
    second.dma(1, 0x10_1000)
    second.write(2, CONTEXT[:60])
    observer = DraftObserver()
    first.observe(observer)
    dma, write = second.observe(observer)
    assert dma is not None and write is not None
    assert dma["page"] == 0x101 and _strip(write) == {"part": "first"}


# --------------------------------------------------------------------------- the model, both forms


def _migration(codec: Codec) -> Capture:
    """A conforming pair migration (docs/draft-v1.md flow): data pages 0-1, used-ring page 2."""
    c = Capture(codec)
    bitmap = codec is DRAFT
    c.wr_start(1, 0, 0x3000)
    i = len(c.events)
    c.events.append(Doorbell(index=i, timestamp=i, member=1, queue=0))
    c.dma(1, 0)
    i = len(c.events)
    c.events.append(UsedNotify(index=i, timestamp=i, member=1, queue=0))
    c.pending(1, 1 if bitmap else 16)
    c.report(1, 0, 0x3000, b"\x05" if bitmap else le64(0) + le64(0x2000))
    c.mode_set(1, "STOP")
    c.report(1, 0, 0x3000, b"\x00" if bitmap else b"")
    c.mode_set(1, "FREEZE")
    c.read(1, CONTEXT[:40], 61)
    c.read(1, CONTEXT[40:], 0)
    c.wr_stop(1, 0)
    c.mode_set(2, "FREEZE")
    c.write(2, CONTEXT[:60])
    c.write(2, CONTEXT[60:])
    c.mode_set(2, "ACTIVE")
    return c


def test_both_report_forms_give_the_same_observations_and_verdict() -> None:
    from mcheck.model.registry import load_model
    from mcheck.replay.engine import replay_events
    bitmap, addresses = _migration(DRAFT), _migration(ADDR)
    assert [e.readable for e in bitmap.events if e.KIND == "admin"] != [e.readable for e in addresses.events if e.KIND == "admin"]
    obs_b, obs_a = bitmap.observe(), addresses.observe()
    differ = [(b, a) for b, a in zip(obs_b, obs_a, strict=True) if b != a]
    # only WR_PENDING differs: the address-list form also says how many pages
    assert len(differ) == 1 and differ[0][0]["cmd"] == "WR_PENDING"
    assert differ[0][1] == {**differ[0][0], "pending_pages": 2}
    verdicts = []
    for capture in (bitmap, addresses):
        model = load_model("draft-v1", {"pages": 2, "queues": 1})
        outcome = replay_events(model, iter(capture.events), hidden_kinds=model.model.unobserved)
        verdicts.append((outcome.result.verdict, [v.event_index for v in outcome.result.violations]))
    assert verdicts[0] == verdicts[1] == ("holds", [])
