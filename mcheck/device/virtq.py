"""Guest memory and split virtqueues with real rings in it (virtio 1.x §2.7 layout).

Each member has its own guest memory (a bytearray of 4 KiB pages, guest-physical
address 0 upwards). Queue q's descriptor table and avail ring live in page 0, its used
ring in page 1; buffers are whole pages from page 2 on. The guest side (`GuestDriver`)
writes descriptors and the avail ring with plain stores; the device side (`DeviceQueue`)
reads the avail ring and descriptors and writes buffer data, used elements and the used
index by DMA, reporting every write through a callback so write recording and traces
see them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

PAGE = 4096
QSIZE = 8
DESC = struct.Struct("<QIHH")   # addr, len, flags, next
VIRTQ_DESC_F_WRITE = 2
PAYLOAD = 64                    # bytes of data the device writes into each buffer


def desc_addr(q: int) -> int:
    return q * 1024


def avail_addr(q: int) -> int:
    return q * 1024 + 256


def used_addr(q: int) -> int:
    return PAGE + q * 1024


def buffer_page(pages: int, q: int, desc_id: int) -> int:
    data_pages = max(1, pages - 2)
    return 2 + (q * QSIZE + desc_id) % data_pages


def payload(member: int, q: int, seq: int) -> bytes:
    return f"m{member} q{q} seq{seq:08d}".encode().ljust(PAYLOAD, b".")


class GuestMemory:
    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.data = bytearray(pages * PAGE)

    def read16(self, addr: int) -> int:
        return int.from_bytes(self.data[addr : addr + 2], "little")

    def write(self, addr: int, data: bytes) -> None:
        self.data[addr : addr + len(data)] = data

    def page(self, p: int) -> bytes:
        return bytes(self.data[p * PAGE : (p + 1) * PAGE])

    def set_page(self, p: int, data: bytes) -> None:
        self.data[p * PAGE : (p + 1) * PAGE] = data


class GuestDriver:
    """The guest's side of one queue: it owns the descriptor table and the avail ring."""

    def __init__(self, mem: GuestMemory, member: int, q: int) -> None:
        self.mem, self.member, self.q = mem, member, q

    def init(self) -> None:
        """Zero the rings and write one device-writable descriptor per buffer page."""
        mem, q = self.mem, self.q
        mem.write(desc_addr(q), bytes(16 * QSIZE))
        mem.write(avail_addr(q), bytes(4 + 2 * QSIZE + 2))
        mem.write(used_addr(q), bytes(4 + 8 * QSIZE + 2))
        for i in range(QSIZE):
            mem.write(desc_addr(q) + 16 * i, DESC.pack(buffer_page(mem.pages, q, i) * PAGE, PAGE, VIRTQ_DESC_F_WRITE, 0))

    def avail_idx(self) -> int:
        return self.mem.read16(avail_addr(self.q) + 2)

    def used_idx(self) -> int:
        return self.mem.read16(used_addr(self.q) + 2)

    def post(self) -> bool:
        """Make the next buffer available (the descriptor id is the ring slot)."""
        idx = self.avail_idx()
        if (idx - self.used_idx()) & 0xFFFF >= QSIZE:
            return False
        slot = idx % QSIZE
        self.mem.write(avail_addr(self.q) + 4 + 2 * slot, slot.to_bytes(2, "little"))
        self.mem.write(avail_addr(self.q) + 2, ((idx + 1) & 0xFFFF).to_bytes(2, "little"))
        return True


DmaHook = Callable[[int, int, bool], None]   # (address, length, report as a DmaWrite event)


@dataclass
class DeviceQueue:
    """The device's side of one queue: last_avail_idx, used_idx and the buffers in flight."""

    q: int
    last_avail: int = 0
    used_idx: int = 0
    inflight: list[tuple[int, int]] = field(default_factory=list)  # (descriptor id, sequence number)

    def reset(self) -> None:
        self.last_avail = 0
        self.used_idx = 0
        self.inflight = []

    def available(self, mem: GuestMemory) -> int:
        return (mem.read16(avail_addr(self.q) + 2) - self.last_avail) & 0xFFFF

    def fetch(self, mem: GuestMemory) -> bool:
        """Read the avail ring and the descriptor (virtqueue memory reads)."""
        if not self.available(mem):
            return False
        slot = self.last_avail % QSIZE
        desc_id = mem.read16(avail_addr(self.q) + 4 + 2 * slot)
        DESC.unpack_from(mem.data, desc_addr(self.q) + 16 * desc_id)
        self.inflight.append((desc_id, self.last_avail))
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        return True

    def complete(self, mem: GuestMemory, member: int, dma: DmaHook, *, write_index: bool = True) -> bool:
        """Write the oldest in-flight buffer's data and a used element, then the used index (DMA);
        `write_index` False leaves the used index in guest memory behind (a catalogue bug)."""
        if not self.inflight:
            return False
        desc_id, seq = self.inflight.pop(0)
        addr, _length, _flags, _next = DESC.unpack_from(mem.data, desc_addr(self.q) + 16 * desc_id)
        data = payload(member, self.q, seq)
        mem.write(addr, data)
        dma(addr, len(data), True)
        elem = used_addr(self.q) + 4 + 8 * (self.used_idx % QSIZE)
        mem.write(elem, desc_id.to_bytes(4, "little") + len(data).to_bytes(4, "little"))
        dma(elem, 8, False)
        self.used_idx = (self.used_idx + 1) & 0xFFFF
        if write_index:
            mem.write(used_addr(self.q) + 2, self.used_idx.to_bytes(2, "little"))
            dma(used_addr(self.q) + 2, 2, False)
        return True
