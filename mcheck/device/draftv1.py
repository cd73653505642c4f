"""The device side of the 2023 seed draft (draft-v1): ACTIVE / STOP / FREEZE, device context
read and write, write recording (models/draft_v1.py, docs/draft-v1.md).

Memory layout per member: data pages 0..P-1 (what write recording covers in the model),
then the rings: descriptor table and avail ring in page P, used ring in page P+1.
Write recording marks every DMA write inside the WR_START range (data, used elements,
used index). With `paired` (conformance suites), wire members 2m-1 (source) and 2m
(destination) share one guest memory: one guest, and the hypervisor's copy taken as
perfect; the source starts initialised by its guest driver, the destination at reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcheck.device.virtq import (
    DESC,
    PAGE,
    QSIZE,
    VIRTQ_DESC_F_WRITE,
    GuestMemory,
    payload,
)
from mcheck.trace.codec import Codec, CodecError, opcode_words
from mcheck.trace.profile import load_profile

BUGS = frozenset({
    "write-while-frozen", "notify-while-stopped", "unreported-write", "context-changes-while-frozen",
    "ctx-write-while-active", "ctx-missing-used-idx", "report-not-cleared", "flr-keeps-freeze", "flr-answers-early",
})
DEVICE_FEATURES = (1 << 32) | (1 << 33)
DRIVER_OK_STATUS = 0x0F
MODES = {"ACTIVE": 0, "STOP": 1, "FREEZE": 2}
MODE_NAMES = {v: k for k, v in MODES.items()}
CFG_BYTES = 4
FIELD_LENGTHS = {"FEATURES": 8, "DRIVER_FEATURES": 8, "DEVICE_STATUS": 1, "DEVICE_CONFIG": CFG_BYTES, "VQ_SPLIT": 40}


class Reject(Exception):
    def __init__(self, status: str) -> None:
        self.status = status


def ring_addrs(pages: int, q: int) -> tuple[int, int, int]:
    """(descriptor table, avail ring, used ring) of queue q: after the data pages."""
    base = pages * PAGE
    return base + q * 1024, base + q * 1024 + 256, base + PAGE + q * 1024


@dataclass
class Queue:
    q: int
    enabled: bool = False
    addr: bool = False
    last_avail: int = 0
    used_idx: int = 0
    inflight: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Member:
    mid: int
    mem: GuestMemory
    queues: list[Queue]
    mode: str = "ACTIVE"
    status: int = 0
    feat: bool = False
    cfg: int = 0
    fault: str = "none"
    rec: bool = False
    range: tuple[int, int] = (0, 0)
    dirty: set[int] = field(default_factory=set)
    held: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def driver_ok(self) -> bool:
        return bool(self.status & 4)


def context_bytes(codec: Codec, *, feat: bool, status: int, cfg: int, queues: list[dict[str, Any]], pages: int) -> bytes:
    """The device context as DEV_CTX_READ returns it (one chunk)."""
    entries: list[dict[str, Any]] = [
        {"type": "FEATURES", "value": [DEVICE_FEATURES if feat else 0]},
        {"type": "DRIVER_FEATURES", "value": [DEVICE_FEATURES if feat else 0]},
        {"type": "DEVICE_STATUS", "value": status},
        {"type": "DEVICE_CONFIG", "value": cfg.to_bytes(CFG_BYTES, "little")},
    ]
    for vq in queues:
        q = vq["q"]
        desc, avail, used = ring_addrs(pages, q) if vq["addr"] else (0, 0, 0)
        entries.append({"type": "VQ_SPLIT", "value": {
            "index": q, "size": QSIZE, "enabled": int(vq["enabled"]), "msix_vector": q + 1, "desc_addr": desc,
            "driver_addr": avail, "device_addr": used, "last_avail_idx": vq["last_avail"], "used_idx": vq["used_idx"],
            "inflight": (vq["last_avail"] - vq["used_idx"]) & 0xFFFF, "notify_off": q}})
    return codec.encode_context(entries)


class DraftV1Device:
    profile_name = "draft-v1"

    def __init__(self, *, members: int = 2, queues: int = 1, objects: int = 1, pages: int = 2,
                 bugs: set[str] | frozenset[str] = frozenset()) -> None:
        self.codec = Codec(load_profile(self.profile_name))
        self.bugs = set(bugs)
        self.configure(members=members, queues=queues, pages=pages)

    def bug(self, name: str) -> bool:
        return name in self.bugs

    def configure(self, *, members: int, queues: int = 1, pages: int = 2, paired: bool = False,
                  initialised: str = "all", **_ignored: Any) -> None:
        self.n_members, self.n_queues, self.pages, self.paired = members, queues, pages, paired
        self.members: dict[int, Member] = {}
        for m in range(1, members + 1):
            if paired and m % 2 == 0:
                mem = self.members[m - 1].mem      # the destination of a pair shares the guest's memory
            else:
                mem = GuestMemory(pages + 2)
            member = Member(mid=m, mem=mem, queues=[Queue(q) for q in range(queues)])
            self.members[m] = member
            if not (paired and m % 2 == 0):
                self._guest_rings(member)
            if initialised == "all" or (initialised == "odd" and m % 2 == 1):
                self._init(member)

    def topology(self) -> dict[str, Any]:
        return {"members": list(self.members), "queues": self.n_queues, "pages": self.pages, "paired": self.paired}

    # ------------------------------------------------------------------ guest side

    def _guest_rings(self, member: Member) -> None:
        mem = member.mem
        for q in range(self.n_queues):
            desc, avail, used = ring_addrs(self.pages, q)
            mem.write(desc, bytes(16 * QSIZE))
            mem.write(avail, bytes(4 + 2 * QSIZE + 2))
            mem.write(used, bytes(4 + 8 * QSIZE + 2))
            for i in range(QSIZE):
                mem.write(desc + 16 * i, DESC.pack((i % self.pages) * PAGE, PAGE, VIRTQ_DESC_F_WRITE, 0))

    def _init(self, member: Member) -> None:
        member.feat, member.status = True, DRIVER_OK_STATUS
        for vq in member.queues:
            vq.enabled = vq.addr = True

    def _avail_idx(self, member: Member, q: int) -> int:
        return member.mem.read16(ring_addrs(self.pages, q)[1] + 2)

    def _post(self, member: Member, q: int) -> bool:
        _desc, avail, used = ring_addrs(self.pages, q)
        idx = self._avail_idx(member, q)
        if (idx - member.mem.read16(used + 2)) & 0xFFFF >= QSIZE:
            return False
        member.mem.write(avail + 4 + 2 * (idx % QSIZE), (idx % QSIZE).to_bytes(2, "little"))
        member.mem.write(avail + 2, ((idx + 1) & 0xFFFF).to_bytes(2, "little"))
        return True

    # ------------------------------------------------------------------ DMA and write recording

    def _write(self, member: Member, addr: int, data: bytes, events: list[tuple] | None, *, data_write: bool) -> None:
        member.mem.write(addr, data)
        if member.rec and not (data_write and self.bug("unreported-write")):
            start, length = member.range
            for page in range(addr // PAGE, (addr + len(data) - 1) // PAGE + 1):
                if start <= page * PAGE < start + length:
                    member.dirty.add((page * PAGE - start) // PAGE)
        if events is not None:
            events.append(("dma_write", member.mid, addr, len(data)))

    def may_run(self, member: Member, *modes: str) -> bool:
        return member.fault == "none" and member.driver_ok and member.mode in ("ACTIVE",) + modes

    # ------------------------------------------------------------------ admin commands

    def admin(self, tag: int, readable: bytes) -> tuple[bytes | None, list[tuple]]:
        events: list[tuple] = []
        try:
            cmd = self.codec.decode_command(readable)
        except CodecError:
            return self._raw("EINVAL", "INVALID_FIELD"), events
        name, m = cmd.name, cmd.member
        if name is None:
            return self._raw("EINVAL", "INVALID_OPCODE"), events
        if name in ("LIST_QUERY", "LIST_USE"):
            fields = {"opcodes": opcode_words((0, 1))} if name == "LIST_QUERY" else {}
            return self.codec.encode_result(name, "OK", "OK", fields), events
        member = self.members.get(m)
        if member is None:
            return self.codec.encode_result(name, "EINVAL", "INVALID_MEMBER", {}), events
        if member.fault != "none" and not (name == "DEV_MODE_SET" and self.bug("flr-answers-early")):
            member.held.append((tag, readable))      # answered once the FLR / reset completes
            return None, events
        try:
            fields = self._member_cmd(name, cmd.fields, member)
        except Reject as r:
            return self.codec.encode_result(name, r.status, "OK", {}), events
        return self.codec.encode_result(name, "OK", "OK", fields), events

    def _raw(self, status: str, qualifier: str) -> bytes:
        prof = self.codec.profile
        return prof.status[status].to_bytes(2, "little") + prof.qualifiers[qualifier].to_bytes(2, "little") + bytes(4)

    def context(self, member: Member) -> bytes:
        return context_bytes(self.codec, feat=member.feat, status=member.status, cfg=member.cfg, pages=self.pages,
                             queues=[{"q": vq.q, "enabled": vq.enabled, "addr": vq.addr, "last_avail": vq.last_avail,
                                      "used_idx": 0 if self.bug("ctx-missing-used-idx") else vq.used_idx}
                                     for vq in member.queues])

    def _member_cmd(self, name: str, f: dict[str, Any], member: Member) -> dict[str, Any]:
        if name == "DEV_MODE_GET":
            return {"mode": MODES[member.mode]}
        if name == "DEV_MODE_SET":
            target = MODE_NAMES.get(f.get("mode", 0))
            if target is None:
                raise Reject("EINVAL")
            member.mode = target
            return {}
        if name == "DEV_CTX_SIZE_GET":
            return {"size": len(self.context(member))}
        if name == "DEV_CTX_READ":
            if member.mode == "ACTIVE":
                raise Reject("EBUSY")
            ctx = self.context(member)
            return {"size": len(ctx), "remaining_ctx_size": 0, "context": ctx}
        if name == "DEV_CTX_WRITE":
            if member.mode != "FREEZE" and not (member.mode == "ACTIVE" and self.bug("ctx-write-while-active")):
                raise Reject("EBUSY")
            self._load_context(member, f.get("context", b""))
            return {}
        if name == "DEV_CTX_FIELDS_QUERY":
            names = ["FEATURES", "DRIVER_FEATURES", "DEVICE_STATUS", "DEVICE_CONFIG"] + ["VQ_SPLIT"] * self.n_queues
            return {"fields": [{"type": n, "length": FIELD_LENGTHS[n]} for n in names]}
        if name == "DEV_CTX_DISCARD":
            return {}
        if name == "WR_CAPS_QUERY":
            return {"max_ranges": 1, "page_size_mask": PAGE, "log2_max_pages": max(0, (self.pages - 1).bit_length())}
        if name == "WR_START":
            member.rec, member.dirty = True, set()
            member.range = (f.get("range_addr", 0), f.get("range_len", 0))
            return {}
        if name == "WR_STOP":
            member.rec = False
            return {}
        if name == "WR_PENDING":
            return {"pending_bytes": len(member.dirty)}
        if name == "WR_REPORT":
            start, length = f.get("range_addr", 0), f.get("range_len", 0)
            npages = length // PAGE
            first = (start - member.range[0]) // PAGE
            bits = 0
            for i in range(npages):
                if first + i in member.dirty:
                    bits |= 1 << i
                    if not self.bug("report-not-cleared"):
                        member.dirty.discard(first + i)
            return {"bitmap": bits.to_bytes((npages + 7) // 8, "little")}
        raise Reject("EINVAL")

    def _load_context(self, member: Member, raw: bytes) -> None:
        try:
            entries = self.codec.decode_context(raw)
        except CodecError:
            raise Reject("EINVAL") from None
        for e in entries:
            t, v = e.get("type"), e.get("value")
            if t == "FEATURES":
                member.feat = bool(v and v[0])
            elif t == "DEVICE_STATUS" and isinstance(v, int):
                member.status = v
            elif t == "DEVICE_CONFIG" and isinstance(v, bytes):
                member.cfg = int.from_bytes(v, "little")
            elif t == "VQ_SPLIT" and isinstance(v, dict) and v.get("index", 99) < self.n_queues:
                vq = member.queues[v["index"]]
                vq.enabled, vq.addr = bool(v.get("enabled")), bool(v.get("desc_addr"))
                vq.last_avail, vq.used_idx = v.get("last_avail_idx", 0), v.get("used_idx", 0)
                # buffers fetched and not yet used are fetched again from the avail ring
                vq.inflight = []
                for n in range(vq.used_idx, vq.last_avail):
                    vq.inflight.append((n % QSIZE, n))

    # ------------------------------------------------------------------ faults

    def _reset(self, member: Member) -> None:
        if not (self.bug("flr-keeps-freeze") and member.mode == "FREEZE"):
            member.mode = "ACTIVE"
        member.feat, member.status, member.cfg = False, 0, 0
        for vq in member.queues:
            vq.enabled = vq.addr = False
            vq.last_avail = vq.used_idx = 0
            vq.inflight = []
        member.rec, member.dirty = False, set()
        self._guest_rings(member)       # the guest driver's rings restart with the device

    def inject(self, kind: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        events: list[tuple] = []
        member = self.members.get(m)
        if kind == "owner_reset":
            return True, events
        if member is None:
            return False, events
        if kind in ("flr_begin", "member_reset"):
            if member.fault != "none":
                return False, events
            member.fault = "flr" if kind == "flr_begin" else "reset"
            self._reset(member)
            if kind == "member_reset":      # a member reset completes at once
                member.fault = "none"
                self._release(member, events)
            return True, events
        if kind == "flr_end":
            if member.fault != "flr":
                return False, events
            member.fault = "none"
            self._release(member, events)
            return True, events
        return kind == "doorbell", events

    def _release(self, member: Member, events: list[tuple]) -> None:
        held, member.held = member.held, []
        for tag, readable in held:
            writable, more = self.admin(tag, readable)
            events.extend(more)
            if writable is not None:
                events.append(("complete", tag, writable, readable))

    # ------------------------------------------------------------------ workload

    def workload(self, op: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        events: list[tuple] = []
        member = self.members.get(m)
        if member is None:
            return False, events
        if op == "hv_reset":        # the hypervisor resets the VF out of band (an aborted migration)
            self._reset(member)
            member.mode = "ACTIVE"
            return True, events
        if op == "init":
            if member.fault != "none" or member.driver_ok:
                return False, events
            self._init(member)
            return True, events
        if op == "cfgwrite":        # the guest driver writes a config field (accepted in STOP: D-DP-12)
            if member.fault != "none" or not member.driver_ok:
                return False, events
            member.cfg ^= 1
            return True, events
        if op == "config":
            if self.may_run(member):
                member.cfg ^= 1
                events.append(("config_notify", m, 0, 0))
                return True, events
            if self.may_run(member, "STOP") and self.bug("notify-while-stopped"):
                member.cfg ^= 1
                events.append(("config_notify", m, 0, 0))
                return True, events
            if member.mode == "FREEZE" and member.driver_ok and self.bug("context-changes-while-frozen"):
                member.cfg ^= 1         # applied silently while frozen
            return False, events
        if op == "dma":             # write an in-flight buffer's data into page `q`
            if not self.may_run(member, *(("FREEZE",) if self.bug("write-while-frozen") else ())):
                return False, events
            busy = next((vq for vq in member.queues if vq.inflight), None)
            if busy is None or not 0 <= q < self.pages:
                return False, events
            _desc_id, seq = busy.inflight[0]
            self._write(member, q * PAGE, payload(m, busy.q, seq), events, data_write=True)
            return True, events
        if not 0 <= q < self.n_queues:
            return False, events
        vq = member.queues[q]
        if op == "post":
            if member.fault != "none" or not member.driver_ok or not vq.enabled:
                return False, events
            return self._post(member, q), events
        if op == "fetch":
            if not self.may_run(member) or not vq.enabled or self._avail_idx(member, q) == vq.last_avail:
                return False, events
            slot = vq.last_avail % QSIZE
            desc_id = member.mem.read16(ring_addrs(self.pages, q)[1] + 4 + 2 * slot)
            vq.inflight.append((desc_id, vq.last_avail))
            vq.last_avail = (vq.last_avail + 1) & 0xFFFF
            return True, events
        if op == "complete":
            if not self.may_run(member) or not vq.inflight:
                return False, events
            desc_id, _seq = vq.inflight.pop(0)
            used = ring_addrs(self.pages, q)[2]
            self._write(member, used + 4 + 8 * (vq.used_idx % QSIZE),
                        desc_id.to_bytes(4, "little") + (64).to_bytes(4, "little"), None, data_write=False)
            vq.used_idx = (vq.used_idx + 1) & 0xFFFF
            self._write(member, used + 2, vq.used_idx.to_bytes(2, "little"), None, data_write=False)
            events.append(("used_notify", m, q, 0))
            return True, events
        if op == "service":         # the real workload: fetch, write the buffer's own page, complete
            if not vq.inflight and not self.workload("fetch", m, q)[0]:
                return False, events
            if not self.may_run(member, *(("FREEZE",) if self.bug("write-while-frozen") else ())):
                return False, events
            desc_id, seq = vq.inflight[0]
            addr = DESC.unpack_from(member.mem.data, ring_addrs(self.pages, q)[0] + 16 * desc_id)[0]
            self._write(member, addr, payload(m, q, seq), events, data_write=True)
            ok, more = self.workload("complete", m, q)
            events.extend(more)
            return ok, events
        return False, events

    # ------------------------------------------------------------------ hypervisor memory access

    def mem_read(self, m: int, page: int) -> bytes:
        return self.members[m].mem.page(page)

    def mem_write(self, m: int, page: int, data: bytes) -> None:
        self.members[m].mem.set_page(page, data)

    def state(self) -> dict[str, Any]:
        return {"members": {str(m): {"mode": x.mode, "status": x.status, "cfg": x.cfg, "fault": x.fault, "rec": x.rec,
                                     "dirty": sorted(x.dirty),
                                     "queues": [{"last_avail": v.last_avail, "used_idx": v.used_idx,
                                                 "inflight": len(v.inflight), "avail_idx": self._avail_idx(x, v.q)}
                                                for v in x.queues]}
                            for m, x in self.members.items()}}
