"""Codec: byte-exact Linux layouts and round trips for every command of both profiles."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcheck.trace.codec import Codec, CodecError
from mcheck.trace.profile import load_profile

V14 = Codec(load_profile("virtio-1.4"))
DRAFT = Codec(load_profile("draft-v1"))

PARTS = [
    {"type": "DEV_FEATURES", "flags": 1, "value": [(1 << 32) | 0x20, 1]},
    {"type": "DRV_FEATURES", "flags": 0, "value": [1 << 32]},
    {"type": "PCI_COMMON_CFG", "flags": 0, "offset": 20, "value": 0x0F},
    {"type": "PCI_COMMON_CFG", "flags": 0, "offset": 32, "value": 0x1234_5678_9ABC},
    {"type": "DEVICE_STATUS", "flags": 0, "value": 0x0F},
    {"type": "VQ_CFG", "flags": 0, "index": 3, "value": {"queue_size": 256, "vector": 1, "enabled": 1, "queue_desc": 0x1000, "queue_driver": 0x2000, "queue_device": 0x3000}},
    {"type": "VQ_NOTIFY_CFG", "flags": 0, "index": 3, "value": {"queue_notify_off": 3, "queue_notif_config_data": 7}},
    {"type": 0x200, "flags": 0, "selector": bytes([1, 2, 0, 0, 0, 0, 0, 0]), "value": bytes([9, 9])},
    {"type": "VQ_CFG", "flags": 0, "index": 0, "value": bytes(3)},  # wrong length: kept raw
]
HEADERS = [{"type": "DEV_FEATURES", "flags": 1, "length": 8}, {"type": "VQ_CFG", "flags": 0, "index": 1, "length": 32}]
OBJ = {"obj_type": 0, "obj_id": 3}

# (data fields, result fields) for every command; group SRIOV, member 1.
V14_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "LIST_QUERY": ({}, {"opcodes": [0x3FF83, 0]}),
    "LIST_USE": ({"opcodes": [0x3E383]}, {}),
    "LEGACY_COMMON_CFG_WRITE": ({"offset": 4, "registers": b"\x01\x00"}, {}),
    "LEGACY_COMMON_CFG_READ": ({"offset": 4}, {"registers": b"\x01\x00\x00\x00"}),
    "LEGACY_DEV_CFG_WRITE": ({"offset": 0, "registers": b"\xaa"}, {}),
    "LEGACY_DEV_CFG_READ": ({"offset": 2}, {"registers": b"\xbb\xcc"}),
    "LEGACY_NOTIFY_INFO": ({}, {"entries": bytes(range(16))}),
    "CAP_ID_LIST_QUERY": ({}, {"supported_caps": [1]}),
    "DEVICE_CAP_GET": ({"id": 0}, {"get_parts_limit": 4, "set_parts_limit": 2}),
    "DRIVER_CAP_SET": ({"id": 0, "get_parts_limit": 4, "set_parts_limit": 2}, {}),
    "RESOURCE_OBJ_CREATE": ({**OBJ, "flags": 0, "parts_type": 1}, {}),
    "RESOURCE_OBJ_QUERY": ({**OBJ, "flags": 0}, {"parts_type": 1}),
    "RESOURCE_OBJ_MODIFY": ({**OBJ, "flags": 0, "parts_type": 0}, {}),
    "RESOURCE_OBJ_DESTROY": (OBJ, {}),
    "DEV_PARTS_METADATA_GET": ({**OBJ, "type": 2}, {"value": 2, "headers": HEADERS}),
    "DEV_PARTS_GET": ({**OBJ, "type": 0, "headers": HEADERS}, {"parts": PARTS}),
    "DEV_PARTS_SET": ({**OBJ, "parts": PARTS}, {}),
    "DEV_MODE_SET": ({"flags": 1}, {}),
}
DRAFT_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "LIST_QUERY": ({}, {"opcodes": [3]}),
    "LIST_USE": ({"opcodes": [3]}, {}),
    "DEV_MODE_GET": ({}, {"mode": 2}),
    "DEV_MODE_SET": ({"mode": 1}, {}),
    "DEV_CTX_SIZE_GET": ({"freeze_mode": 1}, {"size": 4096}),
    "DEV_CTX_READ": ({}, {"size": 3, "remaining_ctx_size": 10, "context": b"\x01\x02\x03"}),
    "DEV_CTX_WRITE": ({"context": b"\x01\x00\x00\x00\x08\x00\x00\x00" + bytes(8)}, {}),
    "DEV_CTX_FIELDS_QUERY": ({}, {"fields": [{"type": "FEATURES", "length": 8}, {"type": "VQ_SPLIT", "length": 40}, {"type": 0x99, "length": 1}]}),
    "DEV_CTX_DISCARD": ({}, {}),
    "WR_CAPS_QUERY": ({}, {"max_ranges": 4, "page_size_mask": 0x1000, "log2_max_pages": 20}),
    "WR_START": ({"page_size": 4096, "mode": 1, "range_addr": 0x10_0000, "range_len": 0x1_0000}, {}),
    "WR_STOP": ({"range_addr": 0x10_0000}, {}),
    "WR_PENDING": ({}, {"pending_bytes": 2}),
    "WR_REPORT": ({"range_addr": 0x10_0000, "range_len": 0x1_0000}, {"bitmap": b"\x08\x00"}),
}

CASES = [(V14, name, sample) for name, sample in V14_SAMPLES.items()] + [(DRAFT, name, sample) for name, sample in DRAFT_SAMPLES.items()]


def test_samples_cover_every_command() -> None:
    assert set(V14_SAMPLES) == set(V14.profile.commands)
    assert set(DRAFT_SAMPLES) == set(DRAFT.profile.commands)


@pytest.mark.parametrize(("codec", "name", "sample"), CASES, ids=[f"{c.profile.name}-{n}" for c, n, _ in CASES])
def test_command_round_trips_both_ways(codec: Codec, name: str, sample: tuple[dict[str, Any], dict[str, Any]]) -> None:
    data, result = sample
    readable = codec.encode_command(name, "SRIOV", 1, data)
    decoded = codec.decode_command(readable)
    assert (decoded.name, decoded.group_type_name, decoded.member, decoded.missing, decoded.extra) == (name, "SRIOV", 1, 0, 0)
    assert decoded.fields == _complete(codec.profile.commands[name].data, data)
    assert codec.encode_command(name, decoded.group_type, decoded.member, decoded.fields) == readable

    writable = codec.encode_result(name, "OK", "OK", result)
    res = codec.decode_result(name, writable)
    assert (res.status_name, res.qualifier_name, res.missing, res.extra) == ("OK", "OK", 0, 0)
    assert res.fields == _complete(codec.profile.commands[name].result, result)
    assert codec.encode_result(name, res.status, res.qualifier, res.fields) == writable


def _complete(layout: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """What decode returns: every non-reserved field (zero by default), variable ones as []/b""."""
    out = {}
    for f in layout.fields:
        if f.name in fields:
            out[f.name] = fields[f.name]
        elif f.size is None:
            out[f.name] = b"" if f.type in ("tail", "bitmap") else []
        elif not f.name.startswith("reserved"):
            out[f.name] = 0 if f.type in ("u8", "le16", "le32", "le64") else bytes(f.size)
    return out


def test_linux_dev_mode_set_stop_vf1_is_25_bytes() -> None:
    wire = bytes.fromhex("11000100") + bytes(12) + bytes.fromhex("0100000000000000") + b"\x01"
    assert V14.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1}) == wire
    cmd = V14.decode_command(wire)
    assert (cmd.name, cmd.member, cmd.fields, cmd.missing) == ("DEV_MODE_SET", 1, {"flags": 1}, 0)


def test_linux_resource_obj_create_get_id0_is_48_bytes() -> None:
    wire = bytes.fromhex("0a000100") + bytes(12) + bytes.fromhex("0100000000000000") + bytes(8) + bytes(8) + bytes(8)
    assert V14.encode_command("RESOURCE_OBJ_CREATE", "SRIOV", 1, {"obj_type": 0, "obj_id": 0, "flags": 0, "parts_type": 0}) == wire
    assert V14.decode_command(wire).fields == {"obj_type": 0, "obj_id": 0, "flags": 0, "parts_type": 0}


@pytest.mark.parametrize(
    ("name", "data", "readable_len", "result", "writable_len"),
    [
        ("LIST_QUERY", {}, 24, {"opcodes": [0x3FF83]}, 16),
        ("LIST_USE", {"opcodes": [0x3E383]}, 32, {}, 8),
        ("CAP_ID_LIST_QUERY", {}, 24, {"supported_caps": [1]}, 16),
        ("DEVICE_CAP_GET", {"id": 0}, 32, {"get_parts_limit": 1, "set_parts_limit": 1}, 10),
        ("DRIVER_CAP_SET", {"id": 0, "get_parts_limit": 1, "set_parts_limit": 1}, 34, {}, 8),
        ("RESOURCE_OBJ_DESTROY", {"obj_id": 0}, 32, {}, 8),
        ("DEV_PARTS_METADATA_GET", {"obj_id": 0, "type": 0}, 40, {"value": 4096}, 16),
        ("DEV_PARTS_GET", {"obj_id": 0, "type": 1}, 40, {}, 8),
        ("DEV_MODE_SET", {"flags": 0}, 25, {}, 8),
    ],
)
def test_linux_wire_sizes(name: str, data: dict[str, Any], readable_len: int, result: dict[str, Any], writable_len: int) -> None:
    assert len(V14.encode_command(name, "SRIOV", 1, data)) == readable_len
    assert len(V14.encode_result(name, "OK", "OK", result)) == writable_len


def test_device_cap_get_result_bytes() -> None:
    assert V14.encode_result("DEVICE_CAP_GET", "OK", "OK", {"get_parts_limit": 4, "set_parts_limit": 2}) == bytes(8) + b"\x04\x02"


def test_short_readable_reads_as_zero_and_extra_is_ignored() -> None:
    short = V14.encode_command("DEV_MODE_SET", "SRIOV", 2, {"flags": 1})[:24]
    cmd = V14.decode_command(short)
    assert (cmd.fields, cmd.missing, cmd.extra) == ({"flags": 0}, 1, 0)
    padded = V14.encode_command("DEV_MODE_SET", "SRIOV", 2, {"flags": 1}) + bytes(7)
    cmd = V14.decode_command(padded)
    assert (cmd.fields, cmd.missing, cmd.extra) == ({"flags": 1}, 0, 7)
    tiny = V14.decode_command(b"\x11\x00")
    assert (tiny.name, tiny.member, tiny.missing) == ("DEV_MODE_SET", 0, 23)


def test_error_result_without_body_has_no_fields() -> None:
    writable = V14.encode_result("DEVICE_CAP_GET", "ENXIO", "INVALID_FIELD", {})
    assert writable == bytes.fromhex("0600030000000000")
    res = V14.decode_result("DEVICE_CAP_GET", writable)
    assert (res.status_name, res.qualifier_name, res.fields) == ("ENXIO", "INVALID_FIELD", {})


def test_ok_result_short_reads_as_zero() -> None:
    res = V14.decode_result("DEVICE_CAP_GET", bytes(9))
    assert (res.fields, res.missing) == ({"get_parts_limit": 0, "set_parts_limit": 0}, 1)


def test_unknown_opcode_decodes_with_no_name() -> None:
    cmd = V14.decode_command(b"\x00\x7f" + bytes(22) + b"\x05")
    assert (cmd.opcode, cmd.name, cmd.fields) == (0x7F00, None, {"raw": b"\x05"})
    assert DRAFT.decode_command(b"\x00\x7f" + bytes(22)).name == "DEV_MODE_GET"


def test_same_number_means_different_commands_per_profile() -> None:
    assert V14.decode_command(b"\x11\x00" + bytes(23)).name == "DEV_MODE_SET"
    assert DRAFT.decode_command(b"\x11\x00" + bytes(23)).name is None


def test_nonzero_reserved_bytes_survive_a_round_trip() -> None:
    wire = bytearray(V14.encode_command("DEVICE_CAP_GET", "SELF", 0, {"id": 0}))
    wire[27] = 0xEE
    cmd = V14.decode_command(bytes(wire))
    assert cmd.fields["reserved"] == bytes([0, 0xEE, 0, 0, 0, 0])  # data offset 2..7
    assert V14.encode_command("DEVICE_CAP_GET", "SELF", 0, cmd.fields) == bytes(wire)


def test_parts_decode_into_fields() -> None:
    decoded = V14.decode_parts(V14.encode_parts(PARTS))
    assert decoded == PARTS
    assert decoded[5]["value"]["queue_device"] == 0x3000


def test_draft_context_round_trip() -> None:
    entries = [
        {"type": "FEATURES", "value": [1 << 32]},
        {"type": "DEVICE_STATUS", "value": 0x0F},
        {"type": "DEVICE_CONFIG", "value": b"\x01\x02"},
        {"type": "VQ_SPLIT", "value": {"index": 0, "size": 256, "enabled": 1, "msix_vector": 1, "desc_addr": 1, "driver_addr": 2, "device_addr": 3, "last_avail_idx": 17, "used_idx": 15, "inflight": 2, "notify_off": 0}},
        {"type": 0x7777, "value": b"\xff"},
    ]
    raw = DRAFT.encode_context(entries)
    assert raw[:8] == bytes.fromhex("0100000008000000")
    assert DRAFT.decode_context(raw) == entries
    assert DRAFT.encode_context(DRAFT.decode_context(raw)) == raw


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: V14.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flag": 1}), "unknown fields"),
        (lambda: V14.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 256}), "unsigned integer of 1 byte"),
        (lambda: V14.encode_command("NO_SUCH", "SRIOV", 1, {}), "unknown opcode"),
        (lambda: V14.encode_command("DEV_MODE_SET", "BOGUS", 1, {}), "unknown group type"),
        (lambda: V14.encode_parts([{"type": "VQ_CFG", "index": 0, "value": 5}]), "does not fit VQ_CFG"),
        (lambda: V14.decode_parts(bytes.fromhex("0401000000000000000000002000000000")), "runs past the end"),
        (lambda: V14.decode_parts(bytes(5)), "part header needs 16"),
        (lambda: DRAFT.decode_context(bytes.fromhex("0100000010000000")), "runs past the end"),
        (lambda: V14.encode_result("DEV_MODE_SET", "NOPE", "OK", {}), "unknown status"),
    ],
)
def test_codec_errors_say_what_is_wrong(call: Any, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        call()


def _fixed_commands(codec: Codec) -> list[str]:
    return [n for n, c in codec.profile.commands.items() if all(f.size is not None for f in c.data.fields)]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_well_formed_commands_round_trip(data: st.DataObject) -> None:
    codec = data.draw(st.sampled_from([V14, DRAFT]))
    name = data.draw(st.sampled_from(_fixed_commands(codec)))
    layout = codec.profile.commands[name].data
    body = bytearray(data.draw(st.binary(min_size=layout.fixed_size, max_size=layout.fixed_size)))
    for f in layout.fields:  # well-formed: reserved bytes are zero
        if f.name.startswith("reserved"):
            body[f.offset : f.offset + (f.size or 0)] = bytes(f.size or 0)
    member = data.draw(st.integers(0, 2**64 - 1))
    readable = codec.profile.opcodes[name].to_bytes(2, "little") + b"\x01\x00" + bytes(12) + member.to_bytes(8, "little") + bytes(body)
    cmd = codec.decode_command(readable)
    assert codec.encode_command(cmd.name, cmd.group_type, cmd.member, cmd.fields) == readable


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0x5FF), st.integers(0, 255), st.binary(max_size=8), st.binary(max_size=40)), max_size=6))
def test_random_part_lists_round_trip(raw_parts: list[tuple[int, int, bytes, bytes]]) -> None:
    wire = b"".join(t.to_bytes(2, "little") + bytes([flags, 0]) + sel.ljust(8, b"\0") + len(v).to_bytes(4, "little") + v for t, flags, sel, v in raw_parts)
    assert V14.encode_parts(V14.decode_parts(wire)) == wire


def test_get_result_padded_to_a_multiple_of_8_decodes_its_parts() -> None:
    """D-AQ-5: a device pads its writable part to a multiple of 8 bytes; the zero bytes
    after the last part are padding (left over), not a truncated part. Non-zero bytes
    there are still a malformed part."""
    parts = [{"type": "DEV_FEATURES", "flags": 1, "value": [1 << 32]},
             {"type": "DEVICE_STATUS", "flags": 0, "value": 0x0F}]
    exact = V14.encode_result("DEV_PARTS_GET", "OK", "OK", {"parts": parts})
    assert len(exact) % 8
    padded = exact + bytes(8 - len(exact) % 8)
    res = V14.decode_result("DEV_PARTS_GET", padded)
    assert res.fields["parts"] == V14.decode_result("DEV_PARTS_GET", exact).fields["parts"]
    assert [p["type"] for p in res.fields["parts"]] == ["DEV_FEATURES", "DEVICE_STATUS"]
    assert res.extra == len(padded) - len(exact)
    with pytest.raises(CodecError, match="part header needs 16"):
        V14.decode_result("DEV_PARTS_GET", exact + b"\x01" * (8 - len(exact) % 8))
