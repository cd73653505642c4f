"""virtio 1.4 device-parts migration (SR-IOV owner PF with member VFs), as merged.

The owner answers admin commands for its members; each member has a mode
(running/stopped), abstract virtqueues, abstract device parts and a pending SET applied
at resume; faults (member FLR, member reset, owner reset) are actions with an
in-progress phase so commands can arrive during them. The hypervisor is the
environment: any admin command, well formed or not, at any time. The guest driver posts
buffers, rings doorbells and writes device_status; the device fetches, completes and
notifies.

Abstractions (all documented in docs/spec-choices.md and docs/model-guide.md):
- device parts are summarised by the member's device_status part (reset / driver_ok);
  a GET returns the DEV_FEATURES, DRV_FEATURES, DEVICE_STATUS, VQ_CFG and
  VQ_NOTIFY_CFG parts of that state, a SET carries one of a few snapshots;
- a virtqueue is two counters: buffers posted and not yet fetched (`avail`) and buffers
  fetched and not yet used (`inflight`), each 0..`buffers`;
- resource objects live in one owner-wide id pool of `objects` ids (Q19, Linux).
Clause IDs refer to shared/reference/virtio-1.4-device-parts.md §10.
"""

from __future__ import annotations

from mcheck.model.definition import Array, Model, Ref, action, invariant, sometimes, transition_property
from mcheck.model.expr import BOOL, And, Enum, If, Int, Not, Or
from mcheck.model.params import Param
from models.virtio_observe import observe as observe_event
from models.virtio_admin import (
    DEFERRED, EBUSY, EEXIST, EINVAL, ENOSPC, ENXIO, INVALID_FIELD, INVALID_GROUP, INVALID_MEMBER, INVALID_OPCODE,
    OK, OUTCOMES, VALIDATION_QUALIFIERS, Outcome, answer,
)

MODE = Enum("mode", "running", "stopped")
PHASE = Enum("phase", "none", "flr", "reset")          # member FLR / member reset in progress
STATUS = Enum("device_status", "reset", "driver_ok")    # the DEVICE_STATUS part, abstracted
PENDING = Enum("pending", "none", "reset", "driver_ok")  # parts written by SET, applied at resume
KIND = Enum("kind", "get", "set")

GROUP_SELF, GROUP_SRIOV, GROUP_BAD = 0, 1, 2
STOPPED_FLAG = 0x01
RESERVED_FLAG = 0x02  # a flag bit beyond bit 0 (Q5)

# SET payloads the hypervisor may send: a complete snapshot of either state, or a record
# whose part length differs from the device's (D-DP-6), or whose DEV_FEATURES differ (D-DP-7)
SNAPSHOTS = ("reset", "driver_ok", "bad-length", "features-mismatch")


class Virtio14(Model):
    name = "virtio-1.4"
    description = "virtio 1.4 device parts: owner PF, N member VFs, running/stopped modes, FLR and resets"
    profile = "virtio-1.4"
    params = (
        Param(name="members", kind="int", default=2, lo=1, hi=64,
              doc="number of member VFs (the explicit engine reaches 4; the Z3 engine proves 64)"),
        Param(name="queues", kind="int", default=1, lo=1, hi=3, doc="virtqueues per member"),
        Param(name="buffers", kind="int", default=1, lo=1, hi=3,
              doc="buffers a queue can hold posted and in flight (abstraction size)"),
        Param(name="objects", kind="int", default=1, lo=1, hi=3,
              doc="DEV_PARTS resource-object ids in the owner-wide pool (device limit; Q19, Linux)"),
        Param(name="mode_after_reset", kind="choice", default="running", choices=("running", "keep"),
              doc="Q1: member mode after FLR or member reset (Linux assumes running, T6)"),
        Param(name="objects_survive_flr", kind="bool", default=True,
              doc="T5: resource objects of a member survive its FLR (Linux destroys them itself afterwards)"),
        Param(name="get_during_flr", kind="choice", default="defer", choices=("defer", "answer"),
              doc="Q7: METADATA_GET and GET during a member FLR/reset are deferred like MODE_SET and SET, or answered"),
        Param(name="reserved_flags", kind="choice", default="reject", choices=("reject", "ignore"),
              doc="Q5: DEV_MODE_SET with flag bits 1..7 set: EINVAL/INVALID_FIELD, or the bits are ignored"),
        Param(name="cap_group", kind="choice", default="both", choices=("self", "both"),
              doc="T1: capability commands accepted on the Self group only, or on SR-IOV too (Linux v6.13-6.14)"),
    )
    bugs = {
        "dma-after-stop": "the device finishes in-flight buffers (DMA writes) after DEV_MODE_SET(stop) completed, not before",
        "notify-after-stop": "the device sends used-buffer notifications while stopped",
        "set-while-running": "DEV_PARTS_SET is accepted while the member is running",
        "inflight-not-written-back": "DEV_MODE_SET(stop) completes with fetched buffers not written to the used ring",
        "flr-keeps-parts": "a member FLR leaves the device parts (device_status) as they were",
        "mode-set-during-flr": "DEV_MODE_SET is answered while the member's FLR is still in progress",
        "einval-side-effect": "DEV_MODE_SET rejected with EINVAL (reserved flag bits) still stops the member",
        "stop-not-idempotent": "DEV_MODE_SET(stop) on an already stopped member fails with EBUSY",
        "parts-out-of-order": "DEV_PARTS_GET returns DEVICE_STATUS before DRV_FEATURES (not in order-table order)",
        "parts-missing-vq": "DEV_PARTS_GET leaves out the VQ_CFG part of the last virtqueue",
        "fetch-after-stop": "the device keeps reading the avail ring and descriptors while stopped",
        "member-checked-first": "the member id is validated before the opcode (INVALID_MEMBER for a disabled opcode)",
        "set-lost-at-resume": "DEV_MODE_SET(resume) discards the parts written by DEV_PARTS_SET instead of applying them",
        "create-beyond-limit": "RESOURCE_OBJ_CREATE accepts an id at or above the driver's declared limit",
    }

    # ------------------------------------------------------------------ state

    # inductive strengthening for `mcheck check --engine prove` (docs/symbolic.md)
    auxiliary = ("buffers_conserved",)

    def setup(self) -> None:
        p = self.p
        n = p.members
        self.index_set("members", range(1, n + 1), symmetric=True)
        queues = self.index_set("queues", range(p.queues))
        self.index_set("objects", range(p.objects))
        members = self._index_sets["members"]
        objects = self._index_sets["objects"]
        # owner (PF)
        self.var("devparts_enabled", BOOL, init=False)     # LIST_USE enabled the dev-parts bundle (D-GA-7/8)
        self.var("cap_limit", Int(0, p.objects), init=0)   # driver's DEV_PARTS_CAP limit (D-CAP-5)
        self.var("obj_member", Array(objects, Ref(members)), init=0)  # 0 = free id
        self.var("obj_kind", Array(objects, KIND), init="get")
        # members (VFs)
        self.var("mode", Array(members, MODE), init="running")
        self.var("phase", Array(members, PHASE), init="none")
        self.var("status", Array(members, STATUS), init="reset")
        self.var("pending", Array(members, PENDING), init="none")
        self.var("avail", Array(members, Array(queues, Int(0, p.buffers))), init=0)
        self.var("inflight", Array(members, Array(queues, Int(0, p.buffers))), init=0)

    # ------------------------------------------------------------------ helpers

    def member_ids(self) -> list[int]:
        """Member ids the hypervisor may name: every VF, and one past NumVFs (invalid)."""
        return list(range(1, self.p.members + 2))

    def _valid(self, m: int) -> bool:
        return 1 <= m <= self.p.members

    def _sriov_checks(self, s, group: int, m: int) -> list[Outcome]:
        """D-GA-1 validation order for a dev-parts command: group, then opcode, then member."""
        group_check = Outcome(group != GROUP_SRIOV, EINVAL, INVALID_GROUP, ("D-GA-1", "D-GA-12"))
        opcode_check = Outcome(Not(s.devparts_enabled), EINVAL, INVALID_OPCODE, ("D-GA-1", "D-GA-9"))
        member_check = Outcome(not self._valid(m), EINVAL, INVALID_MEMBER, ("D-GA-1", "D-GA-12"))
        if self.bug("member-checked-first"):
            return [group_check, member_check, opcode_check]
        return [group_check, opcode_check, member_check]

    def _quiet(self, s, m: int):
        """No member FLR or reset in progress: MODE_SET and SET are answered only then (D-DP-17/18)."""
        return s.phase[m] == "none"

    def _object_checks(self, s, m: int, oid: int, kind: str) -> list[Outcome]:
        """The command names an existing object of this member and kind (I-DP-2)."""
        if oid >= self.p.objects:
            return [Outcome(True, ENXIO, clauses=("I-DP-2", "D-RO-2"))]
        return [
            Outcome(s.obj_member[oid] == 0, ENXIO, clauses=("I-DP-2", "D-RO-2")),
            Outcome(Or(s.obj_member[oid] != m, s.obj_kind[oid] != kind), EINVAL, INVALID_FIELD, ("I-DP-1", "I-DP-2")),
        ]

    def _reset_member(self, s, m: int, *, keep_parts: bool = False) -> None:
        """What a member FLR or reset does to the member (D-DP-22; Q1 mode choice)."""
        if not keep_parts:
            s.status[m] = "reset"
            s.pending[m] = "none"
        for q in self._index_sets["queues"]:
            s.avail[m][q] = 0
            s.inflight[m][q] = 0
        if self.p.mode_after_reset == "running":
            s.mode[m] = "running"
        if not self.p.objects_survive_flr:
            for oid in self._index_sets["objects"]:
                with s.when(s.obj_member[oid] == m):
                    s.obj_member[oid] = 0

    # ------------------------------------------------------------------ owner commands

    @action(bitmap=("devparts", "base", "partial"), outcome=OUTCOMES)
    def list_use(self, s, bitmap, outcome):
        """LIST_USE (0x1), SR-IOV group: enable the dev-parts bundle, only the base pair, or a partial bundle."""
        def enable(s):
            s.devparts_enabled = bitmap == "devparts"
        chain = [
            Outcome(bitmap == "partial", EINVAL, INVALID_FIELD, ("D-GA-5", "D-DP-1")),
            Outcome(True, OK, clauses=("D-GA-8",), effect=enable),
        ]
        answer(s, chain, outcome, "LIST_USE", group=GROUP_SRIOV, member=0, bitmap=bitmap)

    @action(group=(GROUP_SELF, GROUP_SRIOV), outcome=OUTCOMES)
    def list_query(self, s, group, outcome):
        """LIST_QUERY (0x0): always enabled, reports the supported opcodes (no state change)."""
        answer(s, [Outcome(True, OK, clauses=("D-GA-7", "D-GA-10"))], outcome, "LIST_QUERY", group=group, member=0)

    def _cap_group_checks(self, s, group: int) -> list[Outcome]:
        if group == GROUP_SELF:
            return []  # the Self group's capability commands are implicitly enabled (T1)
        if group == GROUP_SRIOV and self.p.cap_group == "both":
            return [Outcome(Not(s.devparts_enabled), EINVAL, INVALID_OPCODE, ("D-GA-9",))]
        return [Outcome(True, EINVAL, INVALID_GROUP, ("D-CAP-3",))]

    @action(group=(GROUP_SELF, GROUP_SRIOV, GROUP_BAD), outcome=OUTCOMES)
    def cap_id_list_query(self, s, group, outcome):
        """CAP_ID_LIST_QUERY (0x7): reports DEV_PARTS_CAP (no state change)."""
        chain = self._cap_group_checks(s, group) + [Outcome(True, OK, clauses=("D-CAP-1",))]
        answer(s, chain, outcome, "CAP_ID_LIST_QUERY", group=group, member=0)

    @action(group=(GROUP_SELF, GROUP_SRIOV), cap_id=(0, 1), outcome=OUTCOMES)
    def device_cap_get(self, s, group, cap_id, outcome):
        """DEVICE_CAP_GET (0x8): the device's object limits (no state change)."""
        chain = self._cap_group_checks(s, group) + [
            Outcome(cap_id != 0, ENXIO, clauses=("D-CAP-4",)),
            Outcome(True, OK, clauses=("D-CAP-1",)),
        ]
        answer(s, chain, outcome, "DEVICE_CAP_GET", group=group, member=0, cap_id=cap_id,
               **({"get_limit": self.p.objects, "set_limit": self.p.objects} if cap_id == 0 else {}))

    @action(group=(GROUP_SELF, GROUP_SRIOV), limit=lambda m: range(m.p.objects + 2), outcome=OUTCOMES)
    def driver_cap_set(self, s, group, limit, outcome):
        """DRIVER_CAP_SET (0x9): the driver's object limit; not while objects exist (D-CAP-4)."""
        objects = self._index_sets["objects"]

        def apply(s):
            s.cap_limit = limit
        chain = self._cap_group_checks(s, group) + [
            Outcome(limit > self.p.objects, EINVAL, INVALID_FIELD, ("D-CAP-2",)),
            Outcome(Or(*(s.obj_member[o] != 0 for o in objects)), EBUSY, clauses=("D-CAP-4", "R-CAP-3")),
            Outcome(True, OK, clauses=("D-CAP-2",), effect=apply),
        ]
        answer(s, chain, outcome, "DRIVER_CAP_SET", group=group, member=0, get_limit=limit, set_limit=limit)

    # ------------------------------------------------------------------ resource objects

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), kind=("get", "set"), outcome=OUTCOMES)
    def obj_create(self, s, m, oid, kind, outcome):
        """RESOURCE_OBJ_CREATE (0xa) of a DEV_PARTS object for member m."""
        def create(s):
            s.obj_member[oid] = m
            s.obj_kind[oid] = kind
        chain = self._sriov_checks(s, GROUP_SRIOV, m)
        if self._valid(m):
            if oid >= self.p.objects:
                chain.append(Outcome(True, ENOSPC, clauses=("D-RO-3", "I-RO-1")))
            else:
                chain += [
                    Outcome(False if self.bug("create-beyond-limit") else oid >= s.cap_limit, ENOSPC,
                            clauses=("D-RO-3", "I-RO-1", "R-CAP-1")),
                    Outcome(s.obj_member[oid] != 0, EEXIST, clauses=("D-RO-1",)),
                    Outcome(True, OK, clauses=("I-RO-1",), effect=create),
                ]
        answer(s, chain, outcome, "RESOURCE_OBJ_CREATE", group=GROUP_SRIOV, member=m, id=oid, subtype=kind)

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), outcome=OUTCOMES)
    def obj_destroy(self, s, m, oid, outcome):
        """RESOURCE_OBJ_DESTROY (0xd): frees the id for reuse (D-RO-5)."""
        def destroy(s):
            s.obj_member[oid] = 0
        chain = self._sriov_checks(s, GROUP_SRIOV, m)
        if self._valid(m):
            if oid >= self.p.objects:
                chain.append(Outcome(True, ENXIO, clauses=("D-RO-2",)))
            else:
                chain += [
                    Outcome(s.obj_member[oid] != m, ENXIO, clauses=("D-RO-2",)),
                    Outcome(True, OK, clauses=("D-RO-5",), effect=destroy),
                ]
        answer(s, chain, outcome, "RESOURCE_OBJ_DESTROY", group=GROUP_SRIOV, member=m, id=oid)

    # ------------------------------------------------------------------ device parts

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), outcome=OUTCOMES)
    def metadata_get(self, s, m, oid, outcome):
        """DEV_PARTS_METADATA_GET (0xe), type SIZE, on a GET object (no state change)."""
        chain = self._sriov_checks(s, GROUP_SRIOV, m)
        if self._valid(m):
            if self.p.get_during_flr == "defer":
                chain.append(Outcome(Not(self._quiet(s, m)), DEFERRED, clauses=("D-DP-17", "D-DP-18")))
            chain += self._object_checks(s, m, oid, "get") + [Outcome(True, OK, clauses=("I-DP-10",))]
        answer(s, chain, outcome, "DEV_PARTS_METADATA_GET", group=GROUP_SRIOV, member=m, id=oid,
               type="SIZE", size=self.parts_size())

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), outcome=OUTCOMES)
    def parts_get(self, s, m, oid, outcome):
        """DEV_PARTS_GET (0xf), type ALL: every part of the member, in order-table order (D-DP-3)."""
        order, vq_parts = "table", self.p.queues
        if self.bug("parts-out-of-order"):
            order = "wrong"   # DEVICE_STATUS before DRV_FEATURES
        if self.bug("parts-missing-vq"):
            vq_parts = self.p.queues - 1
        chain = self._sriov_checks(s, GROUP_SRIOV, m)
        if self._valid(m):
            if self.p.get_during_flr == "defer":
                chain.append(Outcome(Not(self._quiet(s, m)), DEFERRED, clauses=("D-DP-17", "D-DP-18")))
            chain += self._object_checks(s, m, oid, "get")
            # the answer carries the current device_status part: one outcome per value
            chain += [Outcome(s.status[m] == value, OK, clauses=("D-DP-2", "D-DP-3"),
                              fields={"order": order, "vq_parts": vq_parts, "device_status": value})
                      for value in STATUS.members]
        answer(s, chain, outcome, "DEV_PARTS_GET", group=GROUP_SRIOV, member=m, id=oid, type="ALL")

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), snapshot=SNAPSHOTS, outcome=OUTCOMES)
    def parts_set(self, s, m, oid, snapshot, outcome):
        """DEV_PARTS_SET (0x10): parts take effect at the next resume (I-DP-5); only while stopped (D-DP-4)."""
        def store(s):
            s.pending[m] = snapshot
        chain = self._sriov_checks(s, GROUP_SRIOV, m)
        if self._valid(m):
            chain.append(Outcome(Not(self._quiet(s, m)), DEFERRED, clauses=("D-DP-17", "D-DP-18")))
            chain += self._object_checks(s, m, oid, "set")
            if not self.bug("set-while-running"):
                chain.append(Outcome(s.mode[m] != "stopped", EBUSY, clauses=("D-DP-4", "R-DP-1")))  # Q6: EBUSY
            chain += [
                Outcome(snapshot == "bad-length", EINVAL, INVALID_FIELD, ("D-DP-6",)),
                Outcome(snapshot == "features-mismatch", EINVAL, INVALID_FIELD, ("D-DP-7",)),
                Outcome(True, OK, clauses=("D-DP-5", "I-DP-5"), effect=store),
            ]
        answer(s, chain, outcome, "DEV_PARTS_SET", group=GROUP_SRIOV, member=m, id=oid, parts=snapshot)

    @action(m=lambda model: model.member_ids(), flags=(0x00, STOPPED_FLAG, STOPPED_FLAG | RESERVED_FLAG), outcome=OUTCOMES)
    def mode_set(self, s, m, flags, outcome):
        """DEV_MODE_SET (0x11): stop (bit 0 set) or resume (flags 0); both idempotent (D-DP-20/21)."""
        stop = bool(flags & STOPPED_FLAG)

        def do_stop(s):
            s.mode[m] = "stopped"
            if not (self.bug("inflight-not-written-back") or self.bug("dma-after-stop")):
                s.cite("D-DP-10", "D-DP-11")
                for q in self._index_sets["queues"]:
                    s.inflight[m][q] = 0   # used entries written for every observed buffer before completion

        def do_resume(s):
            s.mode[m] = "running"
            if not self.bug("set-lost-at-resume"):
                for value in STATUS.members:           # parts from SET take effect now (I-DP-5)
                    with s.when(s.pending[m] == value):
                        s.status[m] = value
            s.pending[m] = "none"

        chain = self._sriov_checks(s, GROUP_SRIOV, m)
        if self._valid(m):
            if not self.bug("mode-set-during-flr"):
                chain.append(Outcome(Not(self._quiet(s, m)), DEFERRED, clauses=("D-DP-17", "D-DP-18")))
            if flags & RESERVED_FLAG and self.p.reserved_flags == "reject":
                chain.append(Outcome(True, EINVAL, INVALID_FIELD, ("D-GA-3", "I-DP-7"),
                                     effect=do_stop if self.bug("einval-side-effect") else None))
            if stop and self.bug("stop-not-idempotent"):
                chain.append(Outcome(s.mode[m] == "stopped", EBUSY, clauses=("D-DP-20",)))
            chain.append(Outcome(True, OK, clauses=("D-DP-20",) if stop else ("D-DP-21", "I-DP-5"),
                                 effect=do_stop if stop else do_resume))
        answer(s, chain, outcome, "DEV_MODE_SET", group=GROUP_SRIOV, member=m, flags=flags)

    def parts_size(self) -> int:
        """Bytes of a GET(ALL) answer: DEV_FEATURES, DRV_FEATURES, DEVICE_STATUS, then VQ_CFG and
        VQ_NOTIFY_CFG per queue, each a 16-byte header plus its value (§6.3)."""
        return (16 + 8) * 2 + (16 + 1) + self.p.queues * ((16 + 32) + (16 + 8))

    @action(group=(GROUP_BAD,), cmd=("DEV_MODE_SET", "DEV_PARTS_GET"), outcome=OUTCOMES)
    def bad_group(self, s, group, cmd, outcome):
        """A dev-parts command with a reserved group type: EINVAL/INVALID_GROUP before anything else."""
        answer(s, self._sriov_checks(s, group, 1), outcome, cmd, group=group, member=1)

    # ------------------------------------------------------------------ faults

    @action(m="members")
    def flr_begin(self, s, m):
        """Member FLR starts: parts return to defaults (D-DP-22); commands wait for its end (D-DP-17)."""
        s.require(s.phase[m] == "none")
        s.phase[m] = "flr"
        self._reset_member(s, m, keep_parts=self.bug("flr-keeps-parts"))
        s.emit("flr_begin", member=m)

    @action(m="members")
    def flr_end(self, s, m):
        s.require(s.phase[m] == "flr")
        s.phase[m] = "none"
        s.emit("flr_end", member=m)

    @action(m="members")
    def driver_reset(self, s, m):
        """The member driver writes device_status = 0: a member reset, accepted even while stopped (D-DP-12)."""
        s.require(s.phase[m] == "none")
        s.require(s.status[m] == "driver_ok")
        s.phase[m] = "reset"
        self._reset_member(s, m)
        s.emit("member_reset", member=m)

    @action(m="members")
    def reset_end(self, s, m):
        s.require(s.phase[m] == "reset", "D-DP-18")
        s.phase[m] = "none"

    @action()
    def owner_reset(self, s):
        """Owner (PF) reset: objects destroyed (D-RO-8), capabilities (D-CAP-5) and LIST_USE (D-GA-7) reset;
        members keep their mode (Q8)."""
        s.devparts_enabled = False
        s.cap_limit = 0
        for oid in self._index_sets["objects"]:
            s.obj_member[oid] = 0
            s.obj_kind[oid] = "get"
        s.cite("D-RO-8", "D-CAP-5", "D-GA-7")
        s.emit("owner_reset")

    # ------------------------------------------------------------------ guest driver and device

    @action(m="members")
    def driver_init(self, s, m):
        """The member driver negotiates features, enables its queues and sets DRIVER_OK."""
        s.require(s.phase[m] == "none")
        s.require(s.status[m] == "reset")
        s.status[m] = "driver_ok"

    @action(m="members", q="queues")
    def post_buffer(self, s, m, q):
        """The guest makes a buffer available and rings the doorbell (accepted in any mode, D-DP-12)."""
        s.require(s.phase[m] == "none")
        s.require(s.status[m] == "driver_ok")
        s.require(s.avail[m][q] + s.inflight[m][q] < self.p.buffers)
        s.avail[m][q] = s.avail[m][q] + 1
        s.emit("doorbell", member=m, queue=q)

    def _may_access_queues(self, s, m):
        return And(s.phase[m] == "none", s.status[m] == "driver_ok")

    @action(m="members", q="queues")
    def fetch(self, s, m, q):
        """The device reads the avail ring and a descriptor: virtqueue memory access (D-DP-16)."""
        s.require(self._may_access_queues(s, m))
        if not self.bug("fetch-after-stop"):
            s.require(s.mode[m] == "running", "D-DP-9", "D-DP-16")
        s.require(s.avail[m][q] > 0)
        s.avail[m][q] = s.avail[m][q] - 1
        s.inflight[m][q] = s.inflight[m][q] + 1

    @action(m="members", q="queues")
    def complete(self, s, m, q):
        """The device writes the buffer's data and a used entry by DMA."""
        s.require(self._may_access_queues(s, m))
        if not self.bug("dma-after-stop"):
            s.require(s.mode[m] == "running", "D-DP-9", "D-DP-16")
        s.require(s.inflight[m][q] > 0)
        s.inflight[m][q] = s.inflight[m][q] - 1
        s.emit("dma_write", member=m, queue=q)

    @action(m="members", q="queues")
    def used_notify(self, s, m, q):
        """A used-buffer notification (MSI-X) for queue q."""
        s.require(self._may_access_queues(s, m))
        if not self.bug("notify-after-stop"):
            s.require(s.mode[m] == "running", "D-DP-16")
        s.emit("used_notify", member=m, queue=q)

    @action(m="members")
    def config_notify(self, s, m):
        """A configuration-change notification."""
        s.require(self._may_access_queues(s, m))
        s.require(s.mode[m] == "running", "D-DP-16")
        s.emit("config_notify", member=m)

    # ------------------------------------------------------------------ properties

    @transition_property("D-DP-9", "D-DP-16")
    def no_dma_while_stopped(self, t):
        """A stopped member starts no DMA (no write to queue or buffer memory)."""
        if not t.event or t.event["kind"] != "dma_write":
            return True
        return t.before.mode[t.event["member"]] == "running"

    @transition_property("D-DP-16")
    def no_queue_access_while_stopped(self, t):
        """A stopped member does not read virtqueue memory."""
        if t.action != "fetch":
            return True
        return t.before.mode[t.params["m"]] == "running"

    @transition_property("D-DP-16", "D-DP-15")
    def no_notification_while_stopped(self, t):
        """A stopped member sends no used-buffer or configuration-change notification."""
        if not t.event or t.event["kind"] not in ("used_notify", "config_notify"):
            return True
        return t.before.mode[t.event["member"]] == "running"

    @invariant("D-DP-10", "D-DP-11", "I-DP-6")
    def stopped_member_has_nothing_in_flight(self, s):
        """Once a stop has completed, every buffer the device observed has been written back as used."""
        return And(*(Or(s.mode[m] == "running", s.inflight[m][q] == 0)
                     for m in self._index_sets["members"] for q in self._index_sets["queues"]))

    @transition_property("D-DP-4", "R-DP-1")
    def set_accepted_only_when_stopped(self, t):
        """DEV_PARTS_SET succeeds only while the member is stopped."""
        if not _admin(t, "DEV_PARTS_SET", OK):
            return True
        return t.before.mode[t.event["member"]] == "stopped"

    @transition_property("D-GA-3", "D-GA-4", "I-DP-5", "I-DP-7", "D-AQ-7")
    def failed_command_has_no_side_effect(self, t):
        """A command that fails leaves the device state unchanged."""
        if not t.event or t.event["kind"] != "admin" or t.event["status"] == OK:
            return True
        return t.unchanged()

    @transition_property("D-DP-20", "D-DP-21")
    def mode_set_is_idempotent(self, t):
        """A well-formed DEV_MODE_SET on an enabled, valid, quiet member succeeds, whatever the mode."""
        if not _admin(t, "DEV_MODE_SET") or t.event["status"] == OK:
            return True
        return t.event["qualifier"] in VALIDATION_QUALIFIERS

    @transition_property("D-DP-17", "D-DP-18")
    def no_answer_during_flr_or_reset(self, t):
        """DEV_MODE_SET and DEV_PARTS_SET are answered only once a member FLR or reset has completed."""
        if not (_admin(t, "DEV_MODE_SET") or _admin(t, "DEV_PARTS_SET")) or t.event["qualifier"] in (
                INVALID_GROUP, INVALID_OPCODE, INVALID_MEMBER):
            return True
        return t.before.phase[t.event["member"]] == "none"

    @transition_property("D-DP-22")
    def reset_returns_parts_to_default(self, t):
        """After a member FLR or reset starts, every part is back at its default and no SET is pending."""
        if t.action not in ("flr_begin", "driver_reset"):
            return True
        m = t.params["m"]
        return And(t.after.status[m] == "reset", t.after.pending[m] == "none")

    @transition_property("D-DP-3", "D-DP-24", "R-DP-2")
    def get_returns_parts_in_order(self, t):
        """DEV_PARTS_GET returns its parts in order-table order."""
        if not _admin(t, "DEV_PARTS_GET", OK):
            return True
        return t.event["order"] == "table"

    @transition_property("I-DP-8", "D-DP-2")
    def get_returns_every_part(self, t):
        """DEV_PARTS_GET(ALL) returns one VQ_CFG part per virtqueue, so the state is complete."""
        if not _admin(t, "DEV_PARTS_GET", OK):
            return True
        return t.event["vq_parts"] == self.p.queues

    @transition_property("D-GA-1")
    def validation_order(self, t):
        """INVALID_MEMBER is reported only for an enabled opcode of a valid group."""
        if not t.event or t.event.get("qualifier") != INVALID_MEMBER:
            return True
        return And(t.event["group"] == GROUP_SRIOV, t.before.devparts_enabled)

    @transition_property("I-DP-5")
    def resume_applies_pending_parts(self, t):
        """A resume applies the parts written by SET while stopped."""
        if not _admin(t, "DEV_MODE_SET", OK) or t.event["flags"] != 0:
            return True
        m = t.event["member"]
        return And(t.after.pending[m] == "none",
                   If(t.before.pending[m] == "driver_ok", t.after.status[m] == "driver_ok",
                      If(t.before.pending[m] == "reset", t.after.status[m] == "reset", True)))

    @invariant("D-DP-11")
    def buffers_conserved(self, s):
        """A queue never holds more buffers (posted plus in flight) than the guest can post:
        the strengthening that makes the safety properties inductive."""
        return And(*(s.avail[m][q] + s.inflight[m][q] <= self.p.buffers
                     for m in self._index_sets["members"] for q in self._index_sets["queues"]))

    @invariant("I-RO-1", "I-DP-1")
    def objects_within_limit(self, s):
        """Every live object id is below the driver's declared limit (capabilities reset with the owner)."""
        return And(*(Or(s.obj_member[o] == 0, s.cap_limit > o) for o in self._index_sets["objects"]))

    @sometimes("I-DP-5")
    def restore_reachable(self, s):
        """A stopped member holds parts written by a SET, waiting for the resume."""
        return Or(*(And(s.mode[m] == "stopped", s.pending[m] == "driver_ok") for m in self._index_sets["members"]))

    @sometimes("D-DP-17")
    def flr_while_stopped_reachable(self, s):
        """An FLR is in progress while the member still has a resource object (Linux's reset_done window)."""
        return Or(*(And(s.phase[m] == "flr", s.obj_member[o] == m)
                    for m in self._index_sets["members"] for o in self._index_sets["objects"]))

    @sometimes("D-DP-10")
    def stop_with_buffers_in_flight_reachable(self, s):
        """A running member has a buffer in flight (so the stop's write-back is exercised)."""
        return Or(*(s.inflight[m][q] > 0 for m in self._index_sets["members"] for q in self._index_sets["queues"]))


    def observe(self, event):
        """A decoded trace event in this model's vocabulary (models/virtio_observe.py)."""
        return observe_event(event, self.p.objects)


def _admin(t, cmd: str, status: str | None = None) -> bool:
    """Whether this step answers admin command `cmd` (with `status`, if given)."""
    ev = t.event
    return bool(ev and ev["kind"] == "admin" and ev["cmd"] == cmd and (status is None or ev["status"] == status))
