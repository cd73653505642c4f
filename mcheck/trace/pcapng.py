"""pcapng writer and fast streaming reader (hand-written, `struct` only).

Layout written: one Section Header Block, one Interface Description Block with link
type LINKTYPE_USER0 (147) and if_tsresol = 9 (nanoseconds), then one Enhanced Packet
Block per record: first the trace-header record, then one record per event
(`mcheck.trace.record`). The reader accepts either byte order per section, skips block
types it does not use, and needs every interface to be LINKTYPE_USER0.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterable, Iterator

from mcheck.errors import InputError
from mcheck.trace.codec import Codec
from mcheck.trace.events import Event, TraceHeader
from mcheck.trace.record import PROFILE_CODES, RecordError, pack_event, pack_header, unpack_event, unpack_header

LINKTYPE_USER0 = 147
SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
_CHUNK = 1 << 18
#: Per byte order: block type + length, EPB interface/timestamp/captured length, le16/be16.
_STRUCTS = {e: (struct.Struct(e + "II"), struct.Struct(e + "IIII"), struct.Struct(e + "H")) for e in "<>"}


class _Damage(Exception):
    """Damage at a byte offset; the reader turns it into a located InputError."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset


def write_pcapng(path: str | Path, header: TraceHeader, events: Iterable[Event]) -> int:
    """Write a trace; returns the number of events written."""
    code = PROFILE_CODES.get(header.profile, 0)
    count = 0
    with open(path, "wb") as f:
        f.write(_block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options([(4, b"mcheck")])))
        f.write(_block(IDB, struct.pack("<HHI", LINKTYPE_USER0, 0, 0) + _options([(2, b"mcheck"), (9, b"\x09")])))
        f.write(_epb(0, pack_header(header)))
        for event in events:
            f.write(_epb(event.timestamp, pack_event(event, code)))
            count += 1
    return count


class PcapngReader:
    """Reads the trace header on construction; `items(codec)` streams (event, byte offset)."""

    unit = "byte offset"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with open(self.path, "rb") as f:
            try:
                payload, offset = next(_packets(f), (None, 0))
            except _Damage as exc:
                raise InputError(f"{self.path}: byte offset {exc.offset} (before event 0): {exc}") from None
        if payload is None:
            raise InputError(f"{self.path}: no packets: an mcheck capture starts with a trace-header record")
        try:
            self.header = unpack_header(payload)
        except RecordError as exc:
            raise InputError(f"{self.path}: byte offset {offset} (before event 0): {exc}") from None

    def items(self, codec: Codec) -> Iterator[tuple[Event, int]]:
        next_index = 0
        with open(self.path, "rb") as f:
            packets = _packets(f)
            offset = 0
            try:
                next(packets)  # the header record, already read
                for payload, offset in packets:
                    event = unpack_event(payload, codec)
                    next_index = event.index + 1
                    yield event, offset
            except _Damage as exc:
                raise InputError(f"{self.path}: event {next_index} (byte offset {exc.offset}): {exc}") from None
            except RecordError as exc:
                raise InputError(f"{self.path}: event {next_index} (byte offset {offset}): {exc}") from None


def _packets(f: BinaryIO) -> Iterator[tuple[memoryview, int]]:
    """Yield (packet data, file offset of its block) for every EPB, checking link types."""
    buf = f.read(_CHUNK)
    view = memoryview(buf)
    base = 0  # file offset of buf[0]
    pos = 0
    head, epb, u16 = _STRUCTS["<"]  # the SHB block type reads the same in both orders
    linktypes: list[int] = []
    if len(buf) < 12 or head.unpack_from(buf, 0)[0] != SHB:
        raise _Damage(0, "not a pcapng file (no Section Header Block at the start)")
    while True:
        avail = len(buf) - pos
        if avail >= 12:
            btype, blen = head.unpack_from(buf, pos)
        if avail < 12 or avail < blen:
            # Refill: keep the unread tail, append at least one block's worth.
            buf = buf[pos:] + f.read(_CHUNK if avail < 12 else max(_CHUNK, blen))
            view, base, pos = memoryview(buf), base + pos, 0
            if not buf:
                return
            if len(buf) < 12:
                raise _Damage(base, f"truncated block header ({len(buf)} bytes left at the end of the file)")
            btype, blen = head.unpack_from(buf, 0)
        if btype == EPB:
            if blen < 32 or blen % 4:
                raise _Damage(base + pos, f"bad Enhanced Packet Block length {blen} (at least 32, a multiple of 4)")
            if blen > len(buf) - pos:
                raise _Damage(base + pos, f"truncated block: its length is {blen} bytes, only {len(buf) - pos} left in the file")
            iface, _tsh, _tsl, caplen = epb.unpack_from(buf, pos + 8)
            if iface >= len(linktypes):
                raise _Damage(base + pos, f"packet on interface {iface}, which has no Interface Description Block")
            if caplen > blen - 32:
                raise _Damage(base + pos, f"captured length {caplen} exceeds its block")
            yield view[pos + 28 : pos + 28 + caplen], base + pos
            pos += blen
            continue
        if btype == SHB:
            magic = _STRUCTS["<"][0].unpack_from(buf, pos + 4)[1]
            if magic not in (BYTE_ORDER_MAGIC, 0x4D3C2B1A):
                raise _Damage(base + pos, f"bad byte-order magic {magic:#010x} in Section Header Block")
            head, epb, u16 = _STRUCTS["<" if magic == BYTE_ORDER_MAGIC else ">"]
            blen = head.unpack_from(buf, pos)[1]
            linktypes = []
        if blen < 12 or blen % 4:
            raise _Damage(base + pos, f"bad block length {blen}")
        if blen > len(buf) - pos:
            buf = buf[pos:] + f.read(max(_CHUNK, blen))
            view, base, pos = memoryview(buf), base + pos, 0
            if blen > len(buf):
                raise _Damage(base, f"truncated block: its length is {blen} bytes, only {len(buf)} left in the file")
        if btype == IDB:
            linktype = u16.unpack_from(buf, pos + 8)[0]
            if linktype != LINKTYPE_USER0:
                raise _Damage(base + pos, f"interface {len(linktypes)} has link type {linktype}; mcheck traces use LINKTYPE_USER0 ({LINKTYPE_USER0})")
            linktypes.append(linktype)
        pos += blen


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for code, value in options:
        out += struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)
    return bytes(out + struct.pack("<HH", 0, 0))


def _epb(timestamp_ns: int, data: bytes) -> bytes:
    pad = bytes(-len(data) % 4)
    length = 32 + len(data) + len(pad)
    return struct.pack("<IIIIIII", EPB, length, 0, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF, len(data), len(data)) + data + pad + struct.pack("<I", length)
