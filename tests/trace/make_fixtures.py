"""Build the format fixtures in tests/trace/data/ (small, synthetic, deterministic).

They exercise every event kind, split submit/complete records and odd lengths for the
readers, writers and the dissector; they are not protocol runs (the Linux-flow reference
traces that must replay clean are in traces/). Run
`PYTHONPATH=. python tests/trace/make_fixtures.py` from the repository root after changing a profile
or the formats; tests/trace checks that the committed files match what this produces.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable

from mcheck.trace.codec import Codec, opcode_words
from mcheck.trace.events import (
    AdminCommand, AdminComplete, AdminSubmit, Annotation, ConfigNotify, Doorbell, DmaWrite, Event,
    FlrBegin, FlrEnd, MemberReset, OwnerReset, PciRead, PmBegin, PmEnd, Pme, TraceHeader, UsedNotify,
)
from mcheck.trace.io import write_trace
from mcheck.trace.profile import load_profile

OUT = Path(__file__).with_name("data")
SR = "SRIOV"


class _Builder:
    """Numbers events and advances a fake clock (1 µs per event)."""

    def __init__(self, profile: str) -> None:
        self.codec = Codec(load_profile(profile))
        self.events: list[Event] = []

    def _common(self) -> dict[str, int]:
        return {"index": len(self.events), "timestamp": 1_700_000_000_000_000_000 + 1000 * len(self.events)}

    def cmd(self, name: str, group: str, member: int, fields: dict[str, Any], status: str = "OK", qualifier: str = "OK", result: dict[str, Any] | None = None, *, complete: bool = True) -> None:
        readable = self.codec.encode_command(name, group, member, fields)
        writable = self.codec.encode_result(name, status, qualifier, result or {}) if complete else None
        self.events.append(AdminCommand(**self._common(), readable=readable, writable=writable, codec=self.codec))

    def raw(self, readable: bytes, writable: bytes | None) -> None:
        self.events.append(AdminCommand(**self._common(), readable=readable, writable=writable, codec=self.codec))

    def submit(self, tag: int, name: str, group: str, member: int, fields: dict[str, Any]) -> None:
        readable = self.codec.encode_command(name, group, member, fields)
        self.events.append(AdminSubmit(**self._common(), tag=tag, readable=readable, codec=self.codec))

    def complete(self, tag: int, name: str, status: str = "OK", result: dict[str, Any] | None = None) -> None:
        self.events.append(AdminComplete(**self._common(), tag=tag, writable=self.codec.encode_result(name, status, "OK", result or {})))

    def side(self, cls: Callable[..., Event], **kw: Any) -> None:
        self.events.append(cls(**self._common(), **kw))


def _vq_parts(queues: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for q in range(queues):
        parts.append({"type": "VQ_CFG", "flags": 0, "index": q, "value": {"queue_size": 256, "vector": q + 1, "enabled": 1, "queue_desc": 0x10000 * (q + 1), "queue_driver": 0x10000 * (q + 1) + 0x1000, "queue_device": 0x10000 * (q + 1) + 0x2000}})
    for q in range(queues):
        parts.append({"type": "VQ_NOTIFY_CFG", "flags": 0, "index": q, "value": {"queue_notify_off": q, "queue_notif_config_data": 0}})
    return parts


def _all_parts() -> list[dict[str, Any]]:
    return [
        {"type": "DEV_FEATURES", "flags": 1, "value": [(1 << 32) | (1 << 41) | 0x20]},
        {"type": "DRV_FEATURES", "flags": 0, "value": [(1 << 32) | 0x20]},
        {"type": "PCI_COMMON_CFG", "flags": 0, "offset": 16, "value": 0},
        {"type": "PCI_COMMON_CFG", "flags": 0, "offset": 18, "value": 2},
        {"type": "DEVICE_STATUS", "flags": 0, "value": 0x0F},
        *_vq_parts(2),
        {"type": 0x200, "flags": 0, "selector": bytes([1, 0, 0, 0, 0, 0, 0, 0]), "value": bytes([1])},
    ]


def virtio_source() -> tuple[TraceHeader, list[Event]]:
    b = _Builder("virtio-1.4")
    b.side(Annotation, text="PF bring-up")
    b.cmd("LIST_QUERY", SR, 0, {}, result={"opcodes": [0x3FF83]})
    b.cmd("LIST_USE", SR, 0, {"opcodes": [0x3E383]})
    b.cmd("CAP_ID_LIST_QUERY", "SELF", 0, {}, result={"supported_caps": [1]})
    b.cmd("DEVICE_CAP_GET", "SELF", 0, {"id": 0}, result={"get_parts_limit": 4, "set_parts_limit": 4})
    b.cmd("DRIVER_CAP_SET", "SELF", 0, {"id": 0, "get_parts_limit": 4, "set_parts_limit": 4})
    b.side(Annotation, text="source: pre-copy, VF 1 running")
    b.side(Doorbell, member=1, queue=0)
    b.side(DmaWrite, member=1, address=0x12000, length=1514)
    b.side(UsedNotify, member=1, queue=0)
    b.cmd("RESOURCE_OBJ_CREATE", SR, 1, {"obj_type": 0, "obj_id": 0, "flags": 0, "parts_type": 0})
    b.cmd("DEV_PARTS_METADATA_GET", SR, 1, {"obj_id": 0, "type": 0}, result={"value": 4096, "headers": []})
    b.side(ConfigNotify, member=1)
    b.side(Annotation, text="stop-copy")
    b.cmd("DEV_MODE_SET", SR, 1, {"flags": 1})
    b.cmd("DEV_PARTS_METADATA_GET", SR, 1, {"obj_id": 0, "type": 2}, result={"value": 2, "headers": [{"type": "DEV_FEATURES", "flags": 1, "length": 8}, {"type": "VQ_CFG", "flags": 0, "index": 0, "length": 32}]})
    b.cmd("DEV_PARTS_GET", SR, 1, {"obj_id": 0, "type": 1, "headers": []}, result={"parts": _all_parts()})
    b.cmd("DEV_PARTS_GET", SR, 1, {"obj_id": 0, "type": 0, "headers": [{"type": "DEVICE_STATUS", "flags": 0, "length": 1}]}, result={"parts": [{"type": "DEVICE_STATUS", "flags": 0, "value": 0x0F}]})
    b.cmd("RESOURCE_OBJ_DESTROY", SR, 1, {"obj_type": 0, "obj_id": 0})
    b.cmd("RESOURCE_OBJ_DESTROY", SR, 1, {"obj_type": 0, "obj_id": 9}, status="ENXIO", qualifier="INVALID_FIELD")
    b.cmd("DEV_MODE_SET", SR, 7, {"flags": 1}, status="EINVAL", qualifier="INVALID_MEMBER")
    return TraceHeader(profile="virtio-1.4", members=(1, 2, 7), queues=2), b.events


def virtio_destination() -> tuple[TraceHeader, list[Event]]:
    b = _Builder("virtio-1.4")
    b.cmd("RESOURCE_OBJ_CREATE", SR, 2, {"obj_type": 0, "obj_id": 1, "flags": 0, "parts_type": 1})
    b.cmd("DEV_MODE_SET", SR, 2, {"flags": 1})
    b.cmd("DEV_PARTS_SET", SR, 2, {"obj_id": 1, "parts": _all_parts()})
    b.cmd("DEV_MODE_SET", SR, 2, {"flags": 0})
    b.cmd("RESOURCE_OBJ_QUERY", SR, 2, {"obj_id": 1}, result={"parts_type": 1})
    b.side(FlrBegin, member=2)
    b.side(FlrEnd, member=2)
    b.side(MemberReset, member=2)
    b.cmd("LEGACY_COMMON_CFG_READ", SR, 2, {"offset": 4}, result={"registers": bytes([1, 0, 0, 0])})
    b.side(OwnerReset)
    # Linux pads nothing: a 24-byte DEV_MODE_SET reads its missing flags byte as zero (D-AQ-1).
    b.raw(bytes.fromhex("11000100") + bytes(12) + (2).to_bytes(8, "little"), bytes(8))
    return TraceHeader(profile="virtio-1.4", members=(1, 2), queues=2), b.events


def virtio_split_records() -> tuple[TraceHeader, list[Event]]:
    b = _Builder("virtio-1.4")
    b.submit(1, "DEV_MODE_SET", SR, 1, {"flags": 1})
    b.submit(2, "DEV_MODE_SET", SR, 2, {"flags": 1})
    b.side(DmaWrite, member=2, address=0x8000, length=64)
    b.complete(2, "DEV_MODE_SET")
    b.complete(1, "DEV_MODE_SET", status="EBUSY")
    b.submit(3, "DEV_PARTS_METADATA_GET", SR, 1, {"obj_id": 0, "type": 0})
    return TraceHeader(profile="virtio-1.4", members=(1, 2), queues=1), b.events


def draft_migration() -> tuple[TraceHeader, list[Event]]:
    b = _Builder("draft-v1")
    ctx = b.codec.encode_context([
        {"type": "FEATURES", "value": [(1 << 32) | 0x20]},
        {"type": "DRIVER_FEATURES", "value": [(1 << 32)]},
        {"type": "DEVICE_STATUS", "value": 0x0F},
        {"type": "DEVICE_CONFIG", "value": bytes(range(12))},
        {"type": "VQ_SPLIT", "value": {"index": 0, "size": 256, "enabled": 1, "msix_vector": 1, "desc_addr": 0x10000, "driver_addr": 0x11000, "device_addr": 0x12000, "last_avail_idx": 17, "used_idx": 15, "inflight": 2, "notify_off": 0}},
    ])
    b.cmd("LIST_QUERY", SR, 0, {}, result={"opcodes": opcode_words([0, 1, *range(0x7F00, 0x7F0C)])})
    b.cmd("WR_CAPS_QUERY", SR, 1, {}, result={"max_ranges": 4, "page_size_mask": 0x1000, "log2_max_pages": 20})
    b.cmd("WR_START", SR, 1, {"page_size": 4096, "mode": 0, "range_addr": 0x100000, "range_len": 0x10000})
    b.side(DmaWrite, member=1, address=0x100000 + 3 * 4096, length=100)
    b.cmd("WR_PENDING", SR, 1, {}, result={"pending_bytes": 2})
    b.cmd("WR_REPORT", SR, 1, {"range_addr": 0x100000, "range_len": 0x10000}, result={"bitmap": bytes([0x08, 0x00])})
    b.cmd("DEV_MODE_SET", SR, 1, {"mode": 1})
    b.cmd("DEV_CTX_SIZE_GET", SR, 1, {"freeze_mode": 0}, result={"size": len(ctx)})
    b.cmd("DEV_MODE_SET", SR, 1, {"mode": 2})
    b.cmd("DEV_MODE_GET", SR, 1, {}, result={"mode": 2})
    b.cmd("DEV_CTX_FIELDS_QUERY", SR, 1, {}, result={"fields": [{"type": "FEATURES", "length": 8}, {"type": "VQ_SPLIT", "length": 40}]})
    b.cmd("DEV_CTX_READ", SR, 1, {}, result={"size": 50, "remaining_ctx_size": len(ctx) - 50, "context": ctx[:50]})
    b.cmd("DEV_CTX_READ", SR, 1, {}, result={"size": len(ctx) - 50, "remaining_ctx_size": 0, "context": ctx[50:]})
    b.cmd("WR_STOP", SR, 1, {"range_addr": 0x100000})
    b.cmd("DEV_CTX_WRITE", SR, 2, {"context": ctx})
    b.cmd("DEV_CTX_DISCARD", SR, 2, {})
    b.cmd("DEV_MODE_SET", SR, 2, {"mode": 0}, complete=False)
    return TraceHeader(profile="draft-v1", members=(1, 2), queues=1), b.events


def virtio_spec_corners() -> tuple[TraceHeader, list[Event]]:
    """Commands outside the profile's tables and the power-management / PCI side-band kinds."""
    b = _Builder("virtio-1.4")
    member_max = (1 << 64) - 1
    # A future opcode (0x13) for group type 2 and member 2^64-1, answered with a status
    # and a qualifier outside the tables and four result bytes.
    b.raw(bytes.fromhex("13000200") + bytes(12) + member_max.to_bytes(8, "little") + bytes.fromhex("0a0b0c0d"),
          bytes.fromhex("63000900") + bytes(4) + bytes.fromhex("01020304"))
    b.side(PmBegin, member=1)
    b.cmd("DEV_MODE_SET", SR, 1, {"flags": 1}, complete=False)
    b.side(PmEnd, member=1)
    b.side(PciRead, member=1, offset=0x10, length=4, value=bytes.fromhex("0c00f0fe"))
    b.side(PciRead, member=1, offset=0x1000, length=2, value=b"\xff\xff")
    b.side(Pme, member=1)
    # A vendor opcode as split records, never completed.
    b.events.append(AdminSubmit(**b._common(), tag=7, readable=bytes.fromhex("00800000") + bytes(12) + (1).to_bytes(8, "little"), codec=b.codec))
    header = TraceHeader(profile="virtio-1.4", members=(1,), queues=1, params={"objects": 2, "compat": "linux"},
                         doc={"title": "commands outside the tables, PM and PCI side-band events", "spec": "virtio 1.4"})
    return header, b.events


REFERENCE = {
    "virtio14-source": virtio_source,
    "virtio14-destination": virtio_destination,
    "virtio14-split-records": virtio_split_records,
    "draft-v1-migration": draft_migration,
    "virtio14-spec-corners": virtio_spec_corners,
}


def write_all(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in REFERENCE.items():
        header, events = build()
        for ext in (".jsonl", ".pcapng"):
            path = out / f"{name}{ext}"
            write_trace(path, header, events)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(path)
