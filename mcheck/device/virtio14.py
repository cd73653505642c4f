"""The device side of virtio 1.4 device-parts migration: an owner PF and N member VFs.

Admin commands are answered in the model's validation order (group, opcode, member,
then command checks, D-GA-1), modes follow §5, device parts are encoded with the profile
codec in order-table order (§7), resource objects live in one owner-wide id pool
(Q19), and a member FLR or reset returns the member to defaults (D-DP-22) while
DEV_MODE_SET / DEV_PARTS_SET (and METADATA_GET / GET, Q7 "defer") wait for its end
(D-DP-17/18). Each catalogue bug of `models/virtio_1_4.py` is a switch in `self.bugs`.

The device is single-threaded: the server serialises calls. Every call returns the list
of device events it caused, as (kind, member, a, b) tuples: ("dma_write", m, addr, len),
("used_notify", m, q, 0), ("config_notify", m, 0, 0), ("complete", tag, writable, readable)
for a deferred command that is answered now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcheck.device.virtq import (
    PAGE,
    QSIZE,
    DeviceQueue,
    GuestDriver,
    GuestMemory,
    avail_addr,
    desc_addr,
    used_addr,
)
from mcheck.trace.codec import Codec, CodecError, opcode_words, opcodes_of
from mcheck.trace.profile import load_profile

BUGS = frozenset({
    "dma-after-stop", "notify-after-stop", "set-while-running", "inflight-not-written-back", "flr-keeps-parts",
    "mode-set-during-flr", "einval-side-effect", "stop-not-idempotent", "parts-out-of-order", "parts-missing-vq",
    "fetch-after-stop", "member-checked-first", "set-lost-at-resume", "create-beyond-limit",
})

GROUP_SELF, GROUP_SRIOV = 0, 1
# VIRTIO_F_VERSION_1 | VIRTIO_F_ACCESS_PLATFORM | VIRTIO_F_RING_RESET: what every member offers
DEVICE_FEATURES = (1 << 32) | (1 << 33) | (1 << 40)
DRIVER_OK_STATUS = 0x0F          # ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK
DRIVER_OK_BIT = 0x04
DEVPARTS_OPCODES = frozenset({0x7, 0x8, 0x9, 0xA, 0xD, 0xE, 0xF, 0x10, 0x11})
BASE_OPCODES = frozenset({0x0, 0x1})
SUPPORTED = BASE_OPCODES | DEVPARTS_OPCODES
OWNER_CMDS = {"LIST_QUERY", "LIST_USE", "CAP_ID_LIST_QUERY", "DEVICE_CAP_GET", "DRIVER_CAP_SET"}
DEFERRABLE = {"DEV_PARTS_METADATA_GET", "DEV_PARTS_GET", "DEV_PARTS_SET", "DEV_MODE_SET"}


class Reject(Exception):
    def __init__(self, status: str, qualifier: str = "OK") -> None:
        self.status, self.qualifier = status, qualifier


@dataclass
class Member:
    mid: int
    mem: GuestMemory
    queues: list[DeviceQueue]
    guests: list[GuestDriver]
    mode: str = "running"
    phase: str = "none"            # none | flr | reset
    status: int = 0                # device_status
    pending: int | None = None     # device_status written by DEV_PARTS_SET, applied at resume
    held: list[tuple[int, bytes]] = field(default_factory=list)   # deferred (tag, readable)

    @property
    def driver_ok(self) -> bool:
        return bool(self.status & DRIVER_OK_BIT)


class Virtio14Device:
    profile_name = "virtio-1.4"

    def __init__(self, *, members: int = 1, queues: int = 1, objects: int = 1, pages: int = 8,
                 bugs: set[str] | frozenset[str] = frozenset()) -> None:
        self.codec = Codec(load_profile(self.profile_name))
        self.bugs = set(bugs)
        self.configure(members=members, queues=queues, objects=objects, pages=pages)

    # ------------------------------------------------------------------ set-up

    def configure(self, *, members: int, queues: int, objects: int, pages: int = 8, **_ignored: Any) -> None:
        """Power-on reset with this topology."""
        self.n_members, self.n_queues, self.n_objects, self.pages = members, queues, objects, max(pages, 3)
        self.devparts = False
        self.cap_limit = 0
        self.objects: dict[int, tuple[int, str]] = {}       # id -> (member, "get" | "set")
        self.members = {m: self._new_member(m) for m in range(1, members + 1)}

    def _new_member(self, m: int) -> Member:
        mem = GuestMemory(self.pages)
        member = Member(mid=m, mem=mem, queues=[DeviceQueue(q) for q in range(self.n_queues)],
                        guests=[GuestDriver(mem, m, q) for q in range(self.n_queues)])
        for g in member.guests:
            g.init()
        return member

    def topology(self) -> dict[str, Any]:
        return {"members": list(self.members), "queues": self.n_queues, "objects": self.n_objects, "pages": self.pages}

    def bug(self, name: str) -> bool:
        return name in self.bugs

    # ------------------------------------------------------------------ admin commands

    def admin(self, tag: int, readable: bytes) -> tuple[bytes | None, list[tuple]]:
        """Answer one command: (writable, events), writable None when the command is held."""
        events: list[tuple] = []
        try:
            cmd = self.codec.decode_command(readable)
        except CodecError:
            return self._fail_raw(readable, "EINVAL", "INVALID_FIELD"), events
        name = cmd.name
        try:
            if name is None or cmd.opcode not in SUPPORTED:
                raise Reject("EINVAL", "INVALID_OPCODE")
            if name in OWNER_CMDS:
                fields = self._owner(name, cmd)
            else:
                m = self._sriov_checks(cmd)
                member = self.members[m]
                if name in DEFERRABLE and member.phase != "none" and not (
                        name == "DEV_MODE_SET" and self.bug("mode-set-during-flr")):
                    member.held.append((tag, readable))
                    return None, events
                fields = self._member_cmd(name, cmd, member, events)
            return self.codec.encode_result(name, "OK", "OK", fields), events
        except Reject as r:
            return self.codec.encode_result(name, r.status, r.qualifier, {}) if name else self._fail_raw(
                readable, r.status, r.qualifier), events

    def _fail_raw(self, readable: bytes, status: str, qualifier: str) -> bytes:
        prof = self.codec.profile
        return prof.status[status].to_bytes(2, "little") + prof.qualifiers[qualifier].to_bytes(2, "little") + bytes(4)

    def _sriov_checks(self, cmd: Any) -> int:
        """D-GA-1: group, then opcode enabled by LIST_USE, then member id."""
        m = cmd.member
        if cmd.group_type != GROUP_SRIOV:
            raise Reject("EINVAL", "INVALID_GROUP")
        checks = [self._opcode_check, lambda: self._member_check(m)]
        if self.bug("member-checked-first"):
            checks.reverse()
        for check in checks:
            check()
        return m

    def _opcode_check(self) -> None:
        if not self.devparts:
            raise Reject("EINVAL", "INVALID_OPCODE")

    def _member_check(self, m: int) -> None:
        if m not in self.members:
            raise Reject("EINVAL", "INVALID_MEMBER")

    def _cap_group(self, group: int) -> None:
        if group == GROUP_SELF:
            return
        if group == GROUP_SRIOV:
            self._opcode_check()
            return
        raise Reject("EINVAL", "INVALID_GROUP")

    def _owner(self, name: str, cmd: Any) -> dict[str, Any]:
        f, group = cmd.fields, cmd.group_type
        if name == "LIST_QUERY":
            if group not in (GROUP_SELF, GROUP_SRIOV):
                raise Reject("EINVAL", "INVALID_GROUP")
            return {"opcodes": opcode_words(SUPPORTED)}
        if name == "LIST_USE":
            if group not in (GROUP_SELF, GROUP_SRIOV):
                raise Reject("EINVAL", "INVALID_GROUP")
            ops = opcodes_of(f.get("opcodes", []))
            if DEVPARTS_OPCODES <= ops <= SUPPORTED:
                enable = True
            elif ops <= BASE_OPCODES:
                enable = False
            else:
                raise Reject("EINVAL", "INVALID_FIELD")
            if group == GROUP_SRIOV:
                self.devparts = enable
            return {}
        if name == "CAP_ID_LIST_QUERY":
            self._cap_group(group)
            return {"supported_caps": [1]}
        if name == "DEVICE_CAP_GET":
            self._cap_group(group)
            if f.get("id", 0) != 0:
                raise Reject("ENXIO")
            return {"get_parts_limit": self.n_objects, "set_parts_limit": self.n_objects}
        # DRIVER_CAP_SET
        self._cap_group(group)
        limit = max(f.get("get_parts_limit", 0), f.get("set_parts_limit", 0))
        if f.get("id", 0) != 0 or limit > self.n_objects:
            raise Reject("EINVAL", "INVALID_FIELD")
        if self.objects:
            raise Reject("EBUSY")
        self.cap_limit = limit
        return {}

    def _object(self, f: dict[str, Any], member: Member, kind: str) -> int:
        oid = f.get("obj_id", 0)
        if oid >= self.n_objects or oid not in self.objects:
            raise Reject("ENXIO")
        if self.objects[oid] != (member.mid, kind):
            raise Reject("EINVAL", "INVALID_FIELD")
        return oid

    def _member_cmd(self, name: str, cmd: Any, member: Member, events: list[tuple]) -> dict[str, Any]:
        f = cmd.fields
        if name == "RESOURCE_OBJ_CREATE":
            oid, kind = f.get("obj_id", 0), {0: "get", 1: "set"}.get(f.get("parts_type", 0))
            if kind is None:
                raise Reject("EINVAL", "INVALID_FIELD")
            if oid >= self.n_objects or (oid >= self.cap_limit and not self.bug("create-beyond-limit")):
                raise Reject("ENOSPC")
            if oid in self.objects:
                raise Reject("EEXIST")
            self.objects[oid] = (member.mid, kind)
            return {}
        if name == "RESOURCE_OBJ_DESTROY":
            oid = f.get("obj_id", 0)
            if self.objects.get(oid, (0,))[0] != member.mid:
                raise Reject("ENXIO")
            del self.objects[oid]
            return {}
        if name == "DEV_PARTS_METADATA_GET":
            self._object(f, member, "get")
            return {"value": len(self.codec.encode_parts(self.parts(member))), "headers": []}
        if name == "DEV_PARTS_GET":
            self._object(f, member, "get")
            return {"parts": self.parts(member)}
        if name == "DEV_PARTS_SET":
            self._object(f, member, "set")
            if member.mode != "stopped" and not self.bug("set-while-running"):
                raise Reject("EBUSY")
            member.pending = self._check_set(f.get("parts", []))
            return {}
        if name == "DEV_MODE_SET":
            flags = f.get("flags", 0)
            if flags & ~1:
                if self.bug("einval-side-effect"):
                    self._stop(member, events)
                raise Reject("EINVAL", "INVALID_FIELD")
            if flags & 1:
                if member.mode == "stopped" and self.bug("stop-not-idempotent"):
                    raise Reject("EBUSY")
                self._stop(member, events)
            else:
                self._resume(member)
            return {}
        raise Reject("EINVAL", "INVALID_OPCODE")

    def _check_set(self, parts: list[dict[str, Any]]) -> int:
        """D-DP-6 (every part has the device's length), D-DP-7 (same features); the status it restores."""
        status = 0
        for p in parts:
            kind, value = p.get("type"), p.get("value")
            if kind in ("VQ_CFG", "VQ_NOTIFY_CFG") and not isinstance(value, dict):
                raise Reject("EINVAL", "INVALID_FIELD")
            if kind == "DEVICE_STATUS":
                if not isinstance(value, int):
                    raise Reject("EINVAL", "INVALID_FIELD")
                status = value
        for p in parts:
            if p.get("type") == "DEV_FEATURES" and p.get("value") != [DEVICE_FEATURES]:
                raise Reject("EINVAL", "INVALID_FIELD")
        return status

    # ------------------------------------------------------------------ modes

    def _stop(self, member: Member, events: list[tuple]) -> None:
        """Stop: every fetched buffer is written back as used before the command completes (D-DP-10/11)."""
        if not (self.bug("inflight-not-written-back") or self.bug("dma-after-stop")):
            for q in member.queues:
                while q.inflight:
                    q.complete(member.mem, member.mid, self._dma(member, events))
        member.mode = "stopped"

    def _resume(self, member: Member) -> None:
        if member.pending is not None and not self.bug("set-lost-at-resume"):
            member.status = member.pending
            if member.driver_ok:   # the restored queues continue where the used ring says
                for q in member.queues:
                    q.used_idx = member.guests[q.q].used_idx()
                    q.last_avail = q.used_idx
                    q.inflight = []
        member.pending = None
        member.mode = "running"

    def parts(self, member: Member) -> list[dict[str, Any]]:
        """Every part of the member in order-table order (§7)."""
        ok = member.driver_ok
        head = [
            {"type": "DEV_FEATURES", "flags": 0, "value": [DEVICE_FEATURES]},
            {"type": "DRV_FEATURES", "flags": 0, "value": [DEVICE_FEATURES if ok else 0]},
            {"type": "DEVICE_STATUS", "flags": 0, "value": member.status},
        ]
        if self.bug("parts-out-of-order"):
            head = [head[0], head[2], head[1]]
        vq = [{"type": "VQ_CFG", "flags": 0, "index": q, "value": {
            "queue_size": QSIZE, "vector": q + 1, "enabled": int(ok), "queue_desc": desc_addr(q) if ok else 0,
            "queue_driver": avail_addr(q) if ok else 0, "queue_device": used_addr(q) if ok else 0}}
            for q in range(self.n_queues)]
        if self.bug("parts-missing-vq"):
            vq = vq[:-1]
        notify = [{"type": "VQ_NOTIFY_CFG", "flags": 0, "index": q,
                   "value": {"queue_notify_off": q, "queue_notif_config_data": 0}} for q in range(self.n_queues)]
        return head + vq + notify

    # ------------------------------------------------------------------ faults

    def _reset_member(self, member: Member, *, keep_parts: bool = False) -> None:
        if not keep_parts:
            member.status = 0
            member.pending = None
        for q, g in zip(member.queues, member.guests):
            q.reset()
            g.init()       # the guest driver throws its rings away and starts again
        member.mode = "running"   # Q1: a reset member is running (Linux, T6)

    def inject(self, kind: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        events: list[tuple] = []
        member = self.members.get(m)
        if kind == "owner_reset":
            self.devparts = False
            self.cap_limit = 0
            self.objects.clear()
            return True, events
        if member is None:
            return False, events
        if kind == "flr_begin":
            if member.phase != "none":
                return False, events
            member.phase = "flr"
            self._reset_member(member, keep_parts=self.bug("flr-keeps-parts"))
            return True, events
        if kind == "flr_end":
            if member.phase != "flr":
                return False, events
            member.phase = "none"
            self._release(member, events)
            return True, events
        if kind == "member_reset":
            if member.phase != "none":
                return False, events
            member.phase = "reset"
            self._reset_member(member)
            member.phase = "none"          # the reset completes at once
            self._release(member, events)
            return True, events
        if kind == "doorbell":
            return True, events            # the device looks at the avail ring when it runs
        return False, events

    def _release(self, member: Member, events: list[tuple]) -> None:
        held, member.held = member.held, []
        for tag, readable in held:
            writable, more = self.admin(tag, readable)
            events.extend(more)
            if writable is None:
                continue
            events.append(("complete", tag, writable, readable))

    # ------------------------------------------------------------------ workload

    def _dma(self, member: Member, events: list[tuple]):
        def hook(addr: int, length: int, report: bool) -> None:
            self.on_write(member.mid, addr, length)
            if report:
                events.append(("dma_write", member.mid, addr, length))
        return hook

    def on_write(self, m: int, addr: int, length: int) -> None:
        """Called for every DMA write (write recording hooks in here)."""

    def may_access(self, member: Member, *, stopped_ok: bool = False) -> bool:
        return member.phase == "none" and member.driver_ok and (member.mode == "running" or stopped_ok)

    def workload(self, op: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        """One guest or device step; `done` says whether it happened."""
        events: list[tuple] = []
        member = self.members.get(m)
        if member is None or not 0 <= q < self.n_queues:
            return False, events
        dq, guest = member.queues[q], member.guests[q]
        if op == "init":             # guest driver: features, rings, DRIVER_OK
            if member.phase != "none" or member.driver_ok:
                return False, events
            member.status = DRIVER_OK_STATUS   # the rings were laid out at power-on / reset
            return True, events
        if op == "post":             # guest driver: one buffer into the avail ring
            if member.phase != "none" or not member.driver_ok:
                return False, events
            return guest.post(), events
        if op == "fetch":
            if not self.may_access(member, stopped_ok=self.bug("fetch-after-stop")):
                return False, events
            return dq.fetch(member.mem), events
        if op == "complete":
            if not self.may_access(member, stopped_ok=self.bug("dma-after-stop")):
                return False, events
            return dq.complete(member.mem, m, self._dma(member, events)), events
        if op == "notify":
            if not self.may_access(member, stopped_ok=self.bug("notify-after-stop")):
                return False, events
            events.append(("used_notify", m, q, 0))
            return True, events
        if op == "config":
            if not self.may_access(member):
                return False, events
            events.append(("config_notify", m, 0, 0))
            return True, events
        if op == "service":          # the next buffer: fetched if need be, then completed
            if not dq.inflight:
                self.workload("fetch", m, q)
            return self.workload("complete", m, q)
        if op == "run":              # everything the device would do now: fetch, complete, notify
            did = False
            while self.workload("fetch", m, q)[0]:
                did = True
            while True:
                ok, more = self.workload("complete", m, q)
                events.extend(more)
                if not ok:
                    break
                did = True
            if did:
                events.extend(self.workload("notify", m, q)[1])
            return did, events
        return False, events

    # ------------------------------------------------------------------ memory (hypervisor)

    def mem_read(self, m: int, page: int) -> bytes:
        return self.members[m].mem.page(page)

    def mem_write(self, m: int, page: int, data: bytes) -> None:
        self.members[m].mem.set_page(page, data)

    def state(self) -> dict[str, Any]:
        return {"devparts": self.devparts, "cap_limit": self.cap_limit,
                "objects": {str(k): list(v) for k, v in self.objects.items()},
                "members": {str(m): {"mode": x.mode, "phase": x.phase, "status": x.status,
                                     "queues": [{"last_avail": d.last_avail, "used_idx": d.used_idx,
                                                 "inflight": len(d.inflight), "avail_idx": g.avail_idx(),
                                                 "guest_used_idx": g.used_idx()}
                                                for d, g in zip(x.queues, x.guests)]}
                            for m, x in self.members.items()}}


PAGE_SIZE = PAGE
