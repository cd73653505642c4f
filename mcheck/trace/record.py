"""The binary event record: a fixed 68-byte little-endian header, then raw bytes.

One record per event is the payload of one pcapng packet (see docs/trace-format.md for
the byte table). The record is self-contained (it repeats the timestamp that pcapng also
holds) so that the same records can travel over a device socket.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from mcheck.trace.codec import Codec
from mcheck.trace.safejson import loads
from mcheck.trace.events import (
    AdminCommand, AdminComplete, AdminSubmit, Annotation, ConfigNotify, Doorbell, DmaWrite, Event,
    FlrBegin, FlrEnd, MemberReset, OwnerReset, PciRead, PmBegin, PmEnd, Pme, TraceHeader, UsedNotify,
)

MAGIC = b"MCKT"
VERSION = 1
RECORD = struct.Struct("<4sBBBBQQQQQQIIHH")
RECORD_SIZE = RECORD.size  # 68

FLAG_WRITABLE = 0x01  # the record carries a device-writable part (admin, complete)
FLAG_TAG = 0x02  # the tag field is meaningful

KIND_HEADER = 0
KIND_CODES: dict[str, int] = {
    "admin": 1, "submit": 2, "complete": 3, "dma_write": 4, "used_notify": 5, "config_notify": 6,
    "doorbell": 7, "flr_begin": 8, "flr_end": 9, "member_reset": 10, "owner_reset": 11, "annotation": 12,
    "pm_begin": 13, "pm_end": 14, "pme": 15, "pci_read": 16,
}
#: Kinds whose only field besides index and timestamp is the member.
_MEMBER_ONLY = {6: ConfigNotify, 8: FlrBegin, 9: FlrEnd, 10: MemberReset, 13: PmBegin, 14: PmEnd, 15: Pme}
#: Lets the Wireshark dissector pick an opcode table without reading the header record.
PROFILE_CODES = {"virtio-1.4": 1, "draft-v1": 2}


class RecordError(ValueError):
    """A record that cannot be read (the caller adds file, index and offset)."""


def pack_header(header: TraceHeader) -> bytes:
    text = json.dumps(header.to_json(), separators=(",", ":")).encode()
    return RECORD.pack(MAGIC, VERSION, KIND_HEADER, 0, PROFILE_CODES.get(header.profile, 0), 0, 0, 0, 0, 0, 0, len(text), 0, 0, 0) + text


def unpack_header(buf: bytes | memoryview) -> TraceHeader:
    magic, version, kind, _flags, _profile, *_rest, len_a, _len_b, _aq, _res = _unpack(buf)
    if kind != KIND_HEADER:
        raise RecordError(f"the first record must be the trace header (kind 0), got kind {kind}")
    try:
        return TraceHeader.from_json(loads(bytes(buf[RECORD_SIZE : RECORD_SIZE + len_a])))
    except ValueError as exc:
        raise RecordError(f"bad trace header record: {exc}") from None


def pack_event(event: Event, profile_code: int) -> bytes:
    """Encode one event as a record; `profile_code` is from PROFILE_CODES (0 = other)."""
    kind = KIND_CODES[event.KIND]
    tag = getattr(event, "tag", None)
    flags = FLAG_TAG if tag is not None else 0
    member = getattr(event, "member", 0) if not isinstance(event, AdminCommand) else 0
    arg0 = arg1 = 0
    a = b = b""
    if isinstance(event, (AdminCommand, AdminSubmit)):
        a = event.readable
        if isinstance(event, AdminCommand) and event.writable is not None:
            b, flags = event.writable, flags | FLAG_WRITABLE
    elif isinstance(event, AdminComplete):
        b, flags = event.writable, flags | FLAG_WRITABLE
    elif isinstance(event, DmaWrite):
        arg0, arg1 = event.address, event.length
    elif isinstance(event, (UsedNotify, Doorbell)):
        arg0 = event.queue
    elif isinstance(event, Annotation):
        a = event.text.encode("utf-8")
    elif isinstance(event, PciRead):
        arg0, arg1, a = event.offset, event.length, event.value
    head = RECORD.pack(
        MAGIC, VERSION, kind, flags, profile_code, event.index, event.timestamp, tag or 0, member,
        arg0, arg1, len(a), len(b), getattr(event, "aq", 0), 0,
    )
    return head + a + b


def unpack_event(buf: Any, codec: Codec) -> Event:
    """Decode one record (bytes or memoryview) into an event."""
    size = len(buf)
    if size < RECORD_SIZE:
        raise RecordError(f"record of {size} bytes is shorter than the {RECORD_SIZE}-byte record header")
    magic, version, kind, flags, _profile, index, ts, tag, member, arg0, arg1, len_a, len_b, aq, _res = RECORD.unpack_from(buf, 0)
    if magic != MAGIC or version != VERSION:
        _unpack(buf)  # raises with the precise complaint
    end = RECORD_SIZE + len_a + len_b
    if end != size:
        raise RecordError(f"record lengths ({RECORD_SIZE} + {len_a} + {len_b}) do not match the packet length {size}")
    if end == RECORD_SIZE:
        a = b = b""
    else:
        a, b = bytes(buf[RECORD_SIZE : RECORD_SIZE + len_a]), bytes(buf[RECORD_SIZE + len_a : end])
    return build_event(kind, flags, index, ts, tag, member, arg0, arg1, aq, a, b, codec)


def build_event(kind: int, flags: int, index: int, ts: int, tag: int, member: int, arg0: int, arg1: int, aq: int, a: bytes, b: bytes, codec: Codec) -> Event:
    """Make an event from record fields; shared by the fast and the pyshark readers."""
    if kind == 1:
        return _new(AdminCommand, {"index": index, "timestamp": ts, "aq": aq, "tag": tag if flags & FLAG_TAG else None, "readable": a, "writable": b if flags & FLAG_WRITABLE else None, "codec": codec})
    if kind == 4:
        return _new(DmaWrite, {"index": index, "timestamp": ts, "member": member, "address": arg0, "length": arg1})
    if kind == 5:
        return _new(UsedNotify, {"index": index, "timestamp": ts, "member": member, "queue": arg0})
    if kind == 7:
        return _new(Doorbell, {"index": index, "timestamp": ts, "member": member, "queue": arg0})
    if kind == 2:
        return _new(AdminSubmit, {"index": index, "timestamp": ts, "aq": aq, "tag": tag, "readable": a, "codec": codec})
    if kind == 3:
        return _new(AdminComplete, {"index": index, "timestamp": ts, "aq": aq, "tag": tag, "writable": b})
    if kind in _MEMBER_ONLY:
        return _new(_MEMBER_ONLY[kind], {"index": index, "timestamp": ts, "member": member})
    if kind == 11:
        return _new(OwnerReset, {"index": index, "timestamp": ts})
    if kind == 12:
        try:
            return _new(Annotation, {"index": index, "timestamp": ts, "text": a.decode("utf-8")})
        except UnicodeDecodeError as exc:
            raise RecordError(f"annotation text is not UTF-8: {exc}") from None
    if kind == 16:
        if len(a) != arg1:
            raise RecordError(pci_value_mismatch(len(a), arg1))
        return _new(PciRead, {"index": index, "timestamp": ts, "member": member, "offset": arg0, "length": arg1, "value": a})
    raise RecordError(f"unknown event kind {kind}")


def pci_value_mismatch(got: int, length: int) -> str:
    """The complaint about a pci_read whose value does not have `length` bytes (all readers)."""
    return f"pci_read value has {got} bytes but its length is {length}"


def _new(cls: type, fields: dict[str, Any]) -> Any:
    """Build a frozen event from a complete field dict without its generated __init__.

    The frozen-dataclass __init__ sets each field through object.__setattr__, which makes
    it about 4x slower than this; the record layout already fixes every field's type.
    """
    event: Any = object.__new__(cls)
    event.__dict__.update(fields)
    return event


def _unpack(buf: Any) -> tuple:
    if len(buf) < RECORD_SIZE:
        raise RecordError(f"record of {len(buf)} bytes is shorter than the {RECORD_SIZE}-byte record header")
    fields = RECORD.unpack_from(buf, 0)
    if fields[0] != MAGIC:
        raise RecordError(f"bad record magic {bytes(fields[0])!r} (expected {MAGIC!r})")
    if fields[1] != VERSION:
        raise RecordError(f"record version {fields[1]} is not supported (expected {VERSION})")
    return fields
