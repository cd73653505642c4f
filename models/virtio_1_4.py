"""virtio 1.4 device parts migration (SR-IOV owner PF with member VFs), as merged: the oracle.

The model allows exactly what the spec allows (docs/spec-choices.md). A command's answer is
the *set* of answers the spec permits (models/virtio_admin.py): MUSTs are checked with
their clause, MAY / "an error" / silence allow every permitted answer, a SHOULD not
followed is a permitted answer tagged as a warning. Open questions (Q*) are parameters whose
default allows every reading; the Linux driver's needs beyond the spec (T1) are
relaxations bundled in the preset `-p compat=linux`.

The owner answers admin commands for itself (Self group) and for its members (SR-IOV
group); each group has its own enabled opcode set (D-GA-6..9). Each member has a mode
(running/stopped), abstract virtqueues, abstract device parts and SET parts held until the
next resume; faults (member FLR, member reset, power-management transition, owner reset)
are actions with an in-progress phase so commands can arrive during them. The hypervisor
is the environment: any admin command, well formed or not, at any time. The guest driver
posts buffers, rings doorbells and writes device_status; the device fetches, completes,
notifies, answers PCI reads and may signal PME.

Abstractions (docs/spec-choices.md, docs/model-guide.md):
- an enabled opcode set is one of a few classes (`SELF_SETS`, `SRIOV_SETS`); any other
  bitmap is `other`, where every opcode may or may not be enabled (sound, less precise);
- device parts are summarised by the member's device_status part (reset / driver_ok); a
  GET is judged by order, completeness and part well-formedness, a SET by the
  device_status it carries (or none), a wrong part length or different DEV_FEATURES;
- a virtqueue is two counters: posted (`avail`) and fetched-not-used (`inflight`);
- resource objects live in one owner-wide id pool of `objects` ids (Q19, Linux).
Clause IDs refer to shared/reference/virtio-1.4-device-parts.md §10.
"""

from __future__ import annotations

from typing import Any

from mcheck.model.definition import Array, Model, Ref, action, invariant, sometimes, transition_property
from mcheck.model.expr import And, Enum, If, Int, Not, Or
from mcheck.model.params import Param, Relaxation
from mcheck.models.virtio_admin import (
    EBUSY, EEXIST, EINVAL, ENOSPC, ENXIO, INVALID_FIELD, INVALID_GROUP, INVALID_MEMBER, INVALID_OPCODE, OK, OUTCOMES,
    Q_OK, TRANSIENT, VALIDATION_QUALIFIERS, Outcome, answer, deferred, fail, first, may_fail, success, transients,
)
from mcheck.models.virtio_observe import REPLAY_RULES, Observer
from mcheck.models.virtio_opcodes import (
    FAMILY_OF, GROUP_BAD, GROUP_SELF, GROUP_SRIOV, OPAQUE_COMMANDS, PARTIAL_SETS, SELF_SETS, SRIOV_COMMANDS,
    SRIOV_SETS, enabled_in,
)

MODE = Enum("mode", "running", "stopped")
PHASE = Enum("phase", "none", "flr", "reset", "pm")     # member FLR / reset / PM transition in progress
STATUS = Enum("device_status", "reset", "driver_ok")    # the DEVICE_STATUS part, abstracted
PENDING = Enum("pending", "none", "reset", "driver_ok")  # parts written by SET, applied at resume
KIND = Enum("kind", "get", "set")

STOPPED_FLAG = 0x01
RESERVED_FLAG = 0x02  # a flag bit beyond bit 0 (Q5)

# SET payloads: the device_status a record carries (or `keep`: no DEVICE_STATUS part, Q16),
# a record whose part length differs from the device's (D-DP-6), or whose DEV_FEATURES
# differ from the device's (D-DP-7)
SNAPSHOTS = ("reset", "driver_ok", "keep", "bad-length", "features-mismatch")
METADATA_TYPES = ("SIZE", "COUNT", "LIST", "invalid")
GET_TYPES = ("ALL", "SELECTED", "invalid")
EITHER = "either"


class Virtio14(Model):
    name = "virtio-1.4"
    description = "virtio 1.4 device parts: owner PF, N member VFs, running/stopped modes, FLR, resets, PM"
    profile = "virtio-1.4"
    conformance_adapter = "mcheck.conformance.adapt14"
    unobserved = ("doorbell",)
    replay_rules = REPLAY_RULES  # what the replayer needs beyond event fields (mcheck/replay/rules.py)
    params = (
        Param(name="members", kind="int", default=2, lo=1, hi=64,
              doc="number of member VFs (the explicit engine reaches 3-4; the Z3 engine proves 64)"),
        Param(name="queues", kind="int", default=1, lo=1, hi=3, doc="virtqueues per member"),
        Param(name="buffers", kind="int", default=1, lo=1, hi=3,
              doc="buffers a queue can hold posted and in flight (abstraction size)"),
        Param(name="objects", kind="int", default=1, lo=1, hi=4,
              doc="DEV_PARTS resource-object ids the device offers, one owner-wide pool (Q19)"),
        Param(name="sets", kind="choice", default="coarse", choices=("coarse", "exact"),
              doc="enabled-set classes: exact (every class the observation knows; replay's default) or coarse "
                  "(base and other only: every behaviour, fewer states; the checker's default)"),
        Param(name="compat", kind="choice", default="none", choices=("none", "linux"),
              doc="compatibility preset: linux = relaxations T1a, T1b (mcheck models lists them)"),
        Param(name="caps_on_sriov", kind="choice", default="reject", choices=("reject", "accept"),
              doc="T1a: capability commands with group SR-IOV: EINVAL as D-CAP-3 says, or served (Linux v6.13-6.14)"),
        Param(name="self_enabled", kind="choice", default="list_use", choices=("list_use", "implicit"),
              doc="T1b: Self-group capability commands need a Self LIST_USE (D-GA-9), or are enabled from reset"),
        Param(name="mode_after_reset", kind="choice", default=EITHER, choices=(EITHER, "running", "keep"),
              doc="Q1: member mode after its FLR or reset (spec silent: either; Linux assumes running, T6)"),
        Param(name="objects_after_flr", kind="choice", default=EITHER, choices=(EITHER, "survive", "destroyed"),
              doc="T5: a member's resource objects after its FLR (spec silent: either; Linux: survive)"),
        Param(name="get_during_flr", kind="choice", default=EITHER, choices=(EITHER, "defer", "answer"),
              doc="Q7: METADATA_GET and GET during a member FLR/reset/PM transition: held or answered (silent: either)"),
        Param(name="reserved_flags", kind="choice", default=EITHER, choices=(EITHER, "reject", "ignore"),
              doc="Q5: DEV_MODE_SET flag bits 1..7 set: refused with EINVAL, or ignored (silent: either)"),
        Param(name="owner_reset_mode", kind="choice", default=EITHER, choices=(EITHER, "keep", "running"),
              doc="Q8: a stopped member's mode after an owner reset (silent: either)"),
        Param(name="owner_reset_pending", kind="choice", default=EITHER, choices=(EITHER, "keep", "drop"),
              doc="SET parts held for the next resume across an owner reset: kept or dropped (silent: either)"),
        Param(name="get_after_set", kind="choice", default=EITHER, choices=(EITHER, "set", "before"),
              doc="GET after SET before the resume returns the SET parts or the parts in effect (silent: either)"),
        Param(name="features_mismatch", kind="choice", default="reject", choices=("reject", EITHER),
              doc="D-DP-7: SET whose DEV_FEATURES differ from the device's is refused (the part's own rule); "
                  "either: the OPTIONAL part may also be ignored (D-DP-8)"),
    )
    relaxations = {
        "T1a": Relaxation(doc="capability commands with group SR-IOV served instead of EINVAL (D-CAP-3)",
                          params={"caps_on_sriov": "accept"}),
        "T1b": Relaxation(doc="capability commands on Self served without a Self LIST_USE (D-GA-9)",
                          params={"self_enabled": "implicit"}),
    }
    presets = {"linux": ("T1a", "T1b")}
    bugs = {
        "dma-after-stop": "the device finishes in-flight buffers (DMA writes) after DEV_MODE_SET(stop) completed, not before",
        "notify-after-stop": "the device sends used-buffer notifications while stopped",
        "set-while-running": "DEV_PARTS_SET accepted while running takes effect at once, not at the next resume",
        "inflight-not-written-back": "DEV_MODE_SET(stop) completes with fetched buffers not written to the used ring",
        "flr-keeps-parts": "a member FLR leaves the device parts (device_status) as they were",
        "mode-set-during-flr": "DEV_MODE_SET is answered while the member's FLR is still in progress",
        "mode-set-during-pm": "DEV_MODE_SET is answered while the member's power-state transition is in progress",
        "einval-side-effect": "DEV_MODE_SET rejected with EINVAL (reserved flag bits) still stops the member",
        "stop-not-idempotent": "DEV_MODE_SET(stop) on an already stopped member fails with EBUSY",
        "parts-out-of-order": "DEV_PARTS_GET returns DEVICE_STATUS before DRV_FEATURES (not in order-table order)",
        "parts-missing-vq": "DEV_PARTS_GET leaves out the VQ_CFG part of the last virtqueue",
        "fetch-after-stop": "the device keeps reading the avail ring and descriptors while stopped",
        "member-checked-first": "the member id is validated before the opcode (INVALID_MEMBER for a disabled opcode)",
        "set-lost-at-resume": "DEV_MODE_SET(resume) discards the parts written by DEV_PARTS_SET instead of applying them",
        "create-beyond-limit": "RESOURCE_OBJ_CREATE accepts an id at or above the driver's declared limit",
        "ok-with-qualifier": "successful DEV_MODE_SET answers carry a non-zero status qualifier",
        "disabled-list-query": "LIST_QUERY still answers after a LIST_USE disabled it (visible with -p sets=exact)",
        "list-use-ignored": "a successful LIST_USE leaves the previous enabled set in force",
        "pme-while-stopped": "a stopped member signals PCI PME",
        "bad-read-while-stopped": "a stopped member answers PCI reads with all-ones",
        "owner-reset-keeps-objects": "an owner reset leaves the DEV_PARTS resource objects alive",
        "query-wrong-type": "RESOURCE_OBJ_QUERY reports the other object type than the last CREATE or MODIFY gave",
        "get-bad-part-length": "DEV_PARTS_GET returns a part whose length field is not its type's length",
        "features-not-optional": "DEV_PARTS_GET returns DEV_FEATURES without the OPTIONAL flag",
        "parts-missing-notify": "DEV_PARTS_GET(ALL) leaves out the VQ_NOTIFY_CFG part of the last virtqueue",
        "selected-returns-all": "DEV_PARTS_GET(SELECTED) returns every part, not only the ones asked for",
        "list-query-omits": "LIST_QUERY on the SR-IOV group leaves out DEV_MODE_SET, which the device still serves",
        "destroy-other-member": "RESOURCE_OBJ_DESTROY succeeds on an object another member owns",
        "set-during-flr": "DEV_PARTS_SET is answered while the member's FLR is still in progress",
        "stop-no-used-index": "DEV_MODE_SET(stop) writes the used elements of in-flight buffers but not the used index",
    }

    # replay judges with every enabled-set class the observation can tell apart
    replay_params = {"sets": "exact"}

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
        self.self_sets = SELF_SETS if p.sets == "exact" else ("base", "other")
        self.sriov_sets = SRIOV_SETS if p.sets == "exact" else ("base", "other")
        self.var("self_set", Enum("self_set", *self.self_sets), init="base")     # Self's enabled opcodes (D-GA-6/7)
        self.var("sriov_set", Enum("sriov_set", *self.sriov_sets), init="base")  # SR-IOV's enabled opcodes
        self.var("cap_get", Int(0, p.objects), init=0)     # driver's DEV_PARTS_CAP limits (D-CAP-5)
        self.var("cap_set", Int(0, p.objects), init=0)
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
        """Member ids the hypervisor may name: every VF, and one invalid id standing for all
        others (0, above NumVFs, 2^64-1: the observation maps them to it)."""
        return list(range(1, self.p.members + 2))

    def _valid(self, m: int) -> bool:
        return 1 <= m <= self.p.members

    def _sets(self, group: int) -> tuple[str, ...]:
        return self.self_sets if group == GROUP_SELF else self.sriov_sets

    def _set_var(self, s, group: int):
        return s.self_set if group == GROUP_SELF else s.sriov_set

    def _opcode_checks(self, s, group: int, cmd: str) -> list[Outcome]:
        """D-GA-1/D-GA-9: an opcode not in the group's enabled set is refused; in an
        `other` set it may or may not be enabled."""
        sets = self._sets(group)
        var = self._set_var(s, group)
        off = [c for c in sets if c != "other" and not enabled_in(group, c, FAMILY_OF[cmd])]
        if group == GROUP_SELF and FAMILY_OF[cmd] == "caps" and self.p.self_enabled == "implicit":
            off = [c for c in off if c != "base"]   # T1b: Self's capabilities usable from reset
        return [first(Or(*(var == c for c in off)), INVALID_OPCODE, "D-GA-1", "D-GA-9"),
                may_fail(var == "other", "D-GA-9", status=EINVAL, qualifier=INVALID_OPCODE)]

    def _validation(self, s, group: int, cmd: str, m: int | None = None) -> list[Outcome]:
        """D-GA-1 in its order: group, then opcode, then member (when the command uses it)."""
        group_check = first(group not in (GROUP_SELF, GROUP_SRIOV), INVALID_GROUP, "D-GA-1", "D-GA-12")
        if group not in (GROUP_SELF, GROUP_SRIOV):
            return [group_check]
        opcode = self._opcode_checks(s, group, cmd)
        member = [first(not self._valid(m), INVALID_MEMBER, "D-GA-1", "D-GA-12")] if m is not None else []
        if self.bug("member-checked-first"):
            return [group_check] + member + opcode
        return [group_check] + opcode + member

    def _held(self, s, m: int, cmd: str) -> list[Outcome]:
        """MODE_SET and SET are answered only once a member FLR, reset or PM transition has
        completed (D-DP-17/18/19); METADATA_GET and GET per Q7."""
        if cmd in ("DEV_PARTS_METADATA_GET", "DEV_PARTS_GET") and self.p.get_during_flr != "defer":
            return []
        answered = {("DEV_MODE_SET", "flr"): "mode-set-during-flr", ("DEV_MODE_SET", "pm"): "mode-set-during-pm",
                    ("DEV_PARTS_SET", "flr"): "set-during-flr"}   # the bugs that answer
        phases = [ph for ph in ("flr", "reset", "pm") if (cmd, ph) not in answered or not self.bug(answered[cmd, ph])]
        return [deferred(Or(*(s.phase[m] == ph for ph in phases)), "D-DP-17", "D-DP-18", "D-DP-19")]

    def _object_checks(self, s, m: int | None, oid: int, kind: str | None, *,
                       missing: str | None = None) -> list[Outcome]:
        """The command names an existing object of this member (and kind): I-DP-1, I-DP-2.
        `missing`: the clause whose SHOULD prefers ENXIO for a missing object. `m` None: any
        member's object will do (bug destroy-other-member)."""
        if oid >= self.p.objects:
            gone = True
            wrong = False
        else:
            gone = s.obj_member[oid] == 0 if m is None else s.obj_member[oid] != m
            wrong = False if kind is None else s.obj_kind[oid] != kind
        out = fail(gone, "I-DP-2", missing, preferred=ENXIO, should=missing) if missing else fail(gone, "I-DP-2")
        return out + fail(And(Not(gone), wrong), "I-DP-1", "I-DP-2")

    def _reset_member(self, s, m: int, mode: str, objects: str, *, keep_parts: bool = False) -> None:
        """What a member FLR or reset does to the member (D-DP-22; Q1 and T5 readings)."""
        if not keep_parts:
            s.status[m] = "reset"
            s.pending[m] = "none"
            s.cite("D-DP-22")
        for q in self._index_sets["queues"]:
            s.avail[m][q] = 0
            s.inflight[m][q] = 0
        if mode == "running":
            s.mode[m] = "running"
        if objects == "destroyed":
            for oid in self._index_sets["objects"]:
                with s.when(s.obj_member[oid] == m):
                    s.obj_member[oid] = 0

    def _readings(self, name: str) -> tuple[str, ...]:
        value = getattr(self.p, name)
        choices = next(p.choices for p in self.params if p.name == name)
        return tuple(c for c in choices if c != EITHER) if value == EITHER else (value,)

    # ------------------------------------------------------------------ command lists (any group)

    @action(group=(GROUP_SELF, GROUP_SRIOV), outcome=OUTCOMES)
    def list_query(self, s, group, outcome):
        """LIST_QUERY (0x0): the supported opcodes of the group, always with bits 0 and 1 and
        the whole dev-parts bundle (D-DP-1) or capability set (D-CAP-1); no state change."""
        chain = self._validation(s, group, "LIST_QUERY") + transients() + [
            success("D-GA-10", "D-DP-1", "D-CAP-1",
                    lists="incomplete" if self.bug("list-query-omits") and group == GROUP_SRIOV else "complete")]
        if self.bug("disabled-list-query"):
            chain = chain[:1] + chain[3:]
        answer(s, chain, outcome, "LIST_QUERY", group=group)

    @action(group=(GROUP_SELF, GROUP_SRIOV), bitmap=tuple(dict.fromkeys(SELF_SETS + SRIOV_SETS)), outcome=OUTCOMES)
    def list_use(self, s, group, bitmap, outcome):
        """LIST_USE (0x1): replaces the group's enabled set (D-GA-8); a set that breaks the
        device's dependencies or names unsupported opcodes may be refused (D-GA-5)."""
        if bitmap not in self._sets(group):
            s.require(False)
            return

        def enable(s):
            if group == GROUP_SELF:
                s.self_set = bitmap
            else:
                s.sriov_set = bitmap
        chain = self._validation(s, group, "LIST_USE") + transients() + [
            may_fail(bitmap in PARTIAL_SETS, "D-GA-5", "D-DP-1", status=EINVAL, qualifier=INVALID_FIELD),
            success("D-GA-8", "D-GA-11", effect=None if self.bug("list-use-ignored") else enable)]
        answer(s, chain, outcome, "LIST_USE", group=group, bitmap=bitmap)

    @action(cmd=OPAQUE_COMMANDS, group=(GROUP_SELF, GROUP_SRIOV), outcome=OUTCOMES)
    def opaque(self, s, cmd, group, outcome):
        """An opcode the model gives no meaning (the legacy commands 0x2-0x6, an opcode the
        profile does not know): refused as INVALID_OPCODE unless an `other` set may have
        enabled it; then any answer, without a modelled effect."""
        var = self._set_var(s, group)
        chain = [first(var != "other", INVALID_OPCODE, "D-GA-1", "D-GA-9"),
                 may_fail(True, "D-GA-9"), success("D-GA-9")]
        if cmd == "UNKNOWN":
            chain = chain[:1] + [first(True, INVALID_OPCODE, "D-GA-9")]
        answer(s, chain, outcome, cmd, group=group)

    @action(cmd=SRIOV_COMMANDS + ("LIST_QUERY", "LIST_USE", "CAP_ID_LIST_QUERY", "DEVICE_CAP_GET", "DRIVER_CAP_SET")
            + OPAQUE_COMMANDS, outcome=OUTCOMES)
    def bad_group(self, s, cmd, outcome):
        """Any command with a reserved group type (2..0xFFFF): EINVAL/INVALID_GROUP before anything else."""
        answer(s, self._validation(s, GROUP_BAD, cmd), outcome, cmd, group=GROUP_BAD)

    @action(cmd=SRIOV_COMMANDS, outcome=OUTCOMES)
    def on_self(self, s, cmd, outcome):
        """A resource-object or device-parts command with group Self: refused (DEV_PARTS objects
        and device parts are defined for the SR-IOV group only, I-DP-2)."""
        chain = self._validation(s, GROUP_SELF, cmd) + fail(True, "I-DP-2")
        answer(s, chain, outcome, cmd, group=GROUP_SELF)

    # ------------------------------------------------------------------ capabilities (Self group)

    def _cap_checks(self, s, group: int, cmd: str) -> list[Outcome]:
        chain = self._validation(s, group, cmd)
        if group == GROUP_SRIOV and self.p.caps_on_sriov == "reject":
            chain += fail(True, "D-CAP-3", qualifier=None)
        return chain + transients()

    @action(group=(GROUP_SELF, GROUP_SRIOV), outcome=OUTCOMES)
    def cap_id_list_query(self, s, group, outcome):
        """CAP_ID_LIST_QUERY (0x7): reports DEV_PARTS_CAP (no state change)."""
        chain = self._cap_checks(s, group, "CAP_ID_LIST_QUERY") + [success("D-CAP-1", reports_devparts=True)]
        answer(s, chain, outcome, "CAP_ID_LIST_QUERY", group=group)

    @action(group=(GROUP_SELF, GROUP_SRIOV), cap_id=(0, 1), outcome=OUTCOMES)
    def device_cap_get(self, s, group, cap_id, outcome):
        """DEVICE_CAP_GET (0x8): the device's object limits (no state change)."""
        limits = {"get_limit": self.p.objects, "set_limit": self.p.objects} if cap_id == 0 else {}
        chain = self._cap_checks(s, group, "DEVICE_CAP_GET") + fail(cap_id != 0, "D-CAP-4", preferred=ENXIO) + [
            success("D-CAP-1", **limits)]
        answer(s, chain, outcome, "DEVICE_CAP_GET", group=group, cap_id=cap_id)

    @action(group=(GROUP_SELF, GROUP_SRIOV), cap_id=(0, 1), get=lambda m: range(m.p.objects + 2),
            set_=lambda m: range(m.p.objects + 2), outcome=OUTCOMES)
    def driver_cap_set(self, s, group, cap_id, get, set_, outcome):
        """DRIVER_CAP_SET (0x9): the driver's object limits. Larger than the device's: may be
        refused (D-CAP-2); while objects exist: EBUSY preferred (D-CAP-4)."""
        objects = self._index_sets["objects"]
        live = Or(*(s.obj_member[o] != 0 for o in objects))
        over = get > self.p.objects or set_ > self.p.objects

        def apply(s):
            s.cap_get = min(get, self.p.objects)
            s.cap_set = min(set_, self.p.objects)
        chain = self._cap_checks(s, group, "DRIVER_CAP_SET") + fail(cap_id != 0, "D-CAP-4", preferred=ENXIO) + [
            may_fail(over, "D-CAP-2", status=EINVAL),
            may_fail(live, "D-CAP-4", status=EBUSY),
            # a refusal other than EBUSY while objects exist departs from D-CAP-4's SHOULD
            Outcome(live, None, None, ("D-CAP-4",), kind="may", should=("D-CAP-4",)),
            success("D-CAP-2", cond=Not(live), effect=apply),
            success("D-CAP-2", cond=live, effect=apply, should=("D-CAP-4",)),
        ]
        answer(s, chain, outcome, "DRIVER_CAP_SET", group=group, cap_id=cap_id, get_limit=get, set_limit=set_)

    # ------------------------------------------------------------------ resource objects (SR-IOV group)

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), kind=("get", "set", "invalid"),
            outcome=OUTCOMES)
    def obj_create(self, s, m, oid, kind, outcome):
        """RESOURCE_OBJ_CREATE (0xa) of a DEV_PARTS object for member m."""
        def create(s):
            s.obj_member[oid] = m
            s.obj_kind[oid] = kind
        chain = self._validation(s, GROUP_SRIOV, "RESOURCE_OBJ_CREATE", m)
        if self._valid(m):
            limit = {"get": s.cap_get, "set": s.cap_set}.get(kind, 0)
            beyond = oid >= self.p.objects or (not self.bug("create-beyond-limit") and oid >= limit)
            taken = s.obj_member[oid] != 0 if oid < self.p.objects else False
            chain += transients() + fail(kind == "invalid", "I-DP-1") + \
                fail(beyond, "I-RO-1", "D-RO-3", preferred=ENOSPC) + \
                fail(And(Not(beyond), taken), "D-RO-1", preferred=EEXIST) + [
                    may_fail(True, "D-RO-5", "D-RO-3", status=ENOSPC),
                    success("I-RO-1", effect=create if kind != "invalid" else None)]
        answer(s, chain, outcome, "RESOURCE_OBJ_CREATE", group=GROUP_SRIOV, member=m, id=oid, subtype=kind)

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), outcome=OUTCOMES)
    def obj_destroy(self, s, m, oid, outcome):
        """RESOURCE_OBJ_DESTROY (0xd): frees the id for reuse (D-RO-5)."""
        def destroy(s):
            s.obj_member[oid] = 0
        chain = self._validation(s, GROUP_SRIOV, "RESOURCE_OBJ_DESTROY", m)
        if self._valid(m):
            owner = None if self.bug("destroy-other-member") else m
            chain += transients() + self._object_checks(s, owner, oid, None, missing="D-RO-2") + [
                success("D-RO-5", effect=destroy)]
        answer(s, chain, outcome, "RESOURCE_OBJ_DESTROY", group=GROUP_SRIOV, member=m, id=oid)

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), kind=("get", "set", "invalid"),
            outcome=OUTCOMES)
    def obj_modify(self, s, m, oid, kind, outcome):
        """RESOURCE_OBJ_MODIFY (Q2 numbering in the profile): new specific data; a failed
        MODIFY has no side effects (D-RO-6); the spec does not say a DEV_PARTS object must
        accept one, so a refusal is permitted."""
        def modify(s):
            s.obj_kind[oid] = kind
        chain = self._validation(s, GROUP_SRIOV, "RESOURCE_OBJ_MODIFY", m)
        if self._valid(m):
            chain += transients() + fail(kind == "invalid", "I-DP-1") + \
                self._object_checks(s, m, oid, None, missing="D-RO-2") + [
                    may_fail(True, "D-RO-6"), success("D-RO-6", effect=modify if kind != "invalid" else None)]
        answer(s, chain, outcome, "RESOURCE_OBJ_MODIFY", group=GROUP_SRIOV, member=m, id=oid, subtype=kind)

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), outcome=OUTCOMES)
    def obj_query(self, s, m, oid, outcome):
        """RESOURCE_OBJ_QUERY: the specific data of the last CREATE or MODIFY (D-RO-7)."""
        chain = self._validation(s, GROUP_SRIOV, "RESOURCE_OBJ_QUERY", m)
        if self._valid(m):
            chain += transients() + self._object_checks(s, m, oid, None, missing="D-RO-2")
            if oid < self.p.objects:
                flip = {"get": "set", "set": "get"} if self.bug("query-wrong-type") else {}
                chain += [success("D-RO-7", cond=s.obj_kind[oid] == k, subtype=flip.get(k, k)) for k in KIND.members]
        answer(s, chain, outcome, "RESOURCE_OBJ_QUERY", group=GROUP_SRIOV, member=m, id=oid)

    # ------------------------------------------------------------------ device parts

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), type=METADATA_TYPES,
            outcome=OUTCOMES)
    def metadata_get(self, s, m, oid, type, outcome):
        """DEV_PARTS_METADATA_GET (0xe) on a GET object (no state change). A LIST answer's
        headers are judged like a GET(ALL) answer; SIZE is an upper bound (I-DP-10)."""
        chain = self._validation(s, GROUP_SRIOV, "DEV_PARTS_METADATA_GET", m)
        if self._valid(m):
            fields: dict[str, Any] = {"order": "table", "complete": True} if type == "LIST" else {}
            chain += self._held(s, m, "DEV_PARTS_METADATA_GET") + transients() + fail(type == "invalid", "I-DP-2") + \
                self._object_checks(s, m, oid, "get") + [success("I-DP-2", "I-DP-10", **fields)]
        answer(s, chain, outcome, "DEV_PARTS_METADATA_GET", group=GROUP_SRIOV, member=m, id=oid, type=type)

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), type=GET_TYPES,
            outcome=OUTCOMES)
    def parts_get(self, s, m, oid, type, outcome):
        """DEV_PARTS_GET (0xf): ALL returns every part of the member, SELECTED only parts that
        were asked for, both in order-table order (D-DP-3). After a SET and before the resume,
        either the SET parts or the parts in effect (get_after_set)."""
        shape: dict[str, Any] = {"order": "wrong" if self.bug("parts-out-of-order") else "table",
                 "parts_ok": not (self.bug("get-bad-part-length") or self.bug("features-not-optional"))}
        if type == "ALL":
            shape["complete"] = not (self.bug("parts-missing-vq") or self.bug("parts-missing-notify"))
        elif type == "SELECTED":
            # only parts asked for; missing ones skipped (I-DP-4, D-DP-23)
            shape["selected_ok"] = not self.bug("selected-returns-all")
        chain = self._validation(s, GROUP_SRIOV, "DEV_PARTS_GET", m)
        if self._valid(m):
            chain += self._held(s, m, "DEV_PARTS_GET") + transients() + fail(type == "invalid", "I-DP-2") + \
                self._object_checks(s, m, oid, "get")
            readings = self._readings("get_after_set")
            for value in STATUS.members:
                in_effect = And(s.status[m] == value, s.pending[m] == "none") if "before" not in readings \
                    else s.status[m] == value
                held = s.pending[m] == value
                cond = Or(in_effect, held) if "set" in readings else in_effect
                chain.append(success("D-DP-2", "D-DP-3", "I-DP-8", "I-DP-10", *(("I-DP-4", "D-DP-23") if type ==
                                     "SELECTED" else ()), cond=cond, device_status=value,
                                     within_size=True, **shape))
        answer(s, chain, outcome, "DEV_PARTS_GET", group=GROUP_SRIOV, member=m, id=oid, type=type)

    @action(m=lambda model: model.member_ids(), oid=lambda m: range(m.p.objects + 1), snapshot=SNAPSHOTS,
            outcome=OUTCOMES)
    def parts_set(self, s, m, oid, snapshot, outcome):
        """DEV_PARTS_SET (0x10): parts take effect at the next resume (I-DP-5). While running
        the device SHOULD refuse it with some error (D-DP-4, Q6)."""
        def store(at_once: bool):
            def effect(s):
                if snapshot in STATUS.members:
                    if at_once:
                        s.status[m] = snapshot
                    else:
                        s.pending[m] = snapshot
            return effect
        chain = self._validation(s, GROUP_SRIOV, "DEV_PARTS_SET", m)
        if self._valid(m):
            mismatch = snapshot == "features-mismatch"
            running = s.mode[m] != "stopped"
            chain += self._held(s, m, "DEV_PARTS_SET") + transients() + self._object_checks(s, m, oid, "set") + \
                fail(snapshot == "bad-length", "D-DP-6") + [
                    may_fail(mismatch, "D-DP-7", "D-DP-8"),
                    may_fail(running, "D-DP-4")]
            if mismatch and self.p.features_mismatch == "reject":
                chain += fail(True, "D-DP-7")
            chain += [success("D-DP-5", "I-DP-5", cond=Not(running), effect=store(False)),
                      success("D-DP-5", "I-DP-5", cond=running, effect=store(self.bug("set-while-running")),
                              should=("D-DP-4",))]
        answer(s, chain, outcome, "DEV_PARTS_SET", group=GROUP_SRIOV, member=m, id=oid, parts=snapshot)

    @action(m=lambda model: model.member_ids(), flags=(0x00, STOPPED_FLAG, RESERVED_FLAG, STOPPED_FLAG | RESERVED_FLAG),
            outcome=OUTCOMES)
    def mode_set(self, s, m, flags, outcome):
        """DEV_MODE_SET (0x11): stop (bit 0 set) or resume (bit 0 clear); both must succeed
        whatever the mode (D-DP-20/21)."""
        stop = bool(flags & STOPPED_FLAG)
        reserved = bool(flags & RESERVED_FLAG)

        def do_stop(s):
            s.mode[m] = "stopped"
            if not (self.bug("inflight-not-written-back") or self.bug("dma-after-stop")
                    or self.bug("stop-no-used-index")):   # the guest sees no used index: still in flight
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

        chain = self._validation(s, GROUP_SRIOV, "DEV_MODE_SET", m)
        if self._valid(m):
            chain += self._held(s, m, "DEV_MODE_SET") + transients()
            # the spec requires only the idempotent cases to succeed (D-DP-20/21): a real
            # stop or resume may be refused (without side effects, I-DP-7)
            chain.append(may_fail(s.mode[m] == ("running" if stop else "stopped"), "D-DP-20" if stop else "D-DP-21",
                                  "I-DP-7"))
            readings = self._readings("reserved_flags")
            if reserved and "reject" in readings:
                refuse = Outcome(True, EINVAL, None, ("D-GA-3", "I-DP-7"), kind="fail" if readings == ("reject",)
                                 else "may")
                chain.append(refuse)
            if stop and self.bug("stop-not-idempotent"):
                chain += [Outcome(s.mode[m] == "stopped", EBUSY, Q_OK, ("D-DP-20",))]
            done = success("D-DP-20", cond=True, effect=do_stop) if stop else success("D-DP-21", "I-DP-5",
                                                                                       effect=do_resume)
            if self.bug("ok-with-qualifier"):
                done = Outcome(True, OK, INVALID_FIELD, done.clauses, kind="ok", effect=done.effect)
            chain.append(done)
            if reserved and self.bug("einval-side-effect"):
                chain = [o for o in chain if o.status != EINVAL or o.kind in ("first", "defer")] + [
                    Outcome(True, EINVAL, INVALID_FIELD, ("D-GA-3",), kind="ok", effect=do_stop)]
        answer(s, chain, outcome, "DEV_MODE_SET", group=GROUP_SRIOV, member=m, flags=flags)

    # ------------------------------------------------------------------ faults

    @action(m="members", mode=lambda model: model._readings("mode_after_reset"),
            objects=lambda model: model._readings("objects_after_flr"))
    def flr_begin(self, s, m, mode, objects):
        """Member FLR starts: parts return to defaults (D-DP-22); MODE_SET and SET wait for its
        end (D-DP-17); the mode (Q1) and the member's objects (T5) per the readings allowed."""
        s.require(s.phase[m] == "none")
        s.phase[m] = "flr"
        self._reset_member(s, m, mode, objects, keep_parts=self.bug("flr-keeps-parts"))
        s.emit("flr_begin", member=m)

    @action(m="members")
    def flr_end(self, s, m):
        s.require(s.phase[m] == "flr")
        s.phase[m] = "none"
        s.emit("flr_end", member=m)

    @action(m="members", mode=lambda model: model._readings("mode_after_reset"))
    def driver_reset(self, s, m, mode):
        """The member driver writes device_status = 0: a member reset, accepted even while stopped (D-DP-12)."""
        s.require(s.phase[m] == "none")
        s.require(s.status[m] == "driver_ok")
        s.phase[m] = "reset"
        self._reset_member(s, m, mode, "survive")
        s.emit("member_reset", member=m)

    @action(m="members")
    def reset_end(self, s, m):
        s.require(s.phase[m] == "reset", "D-DP-18")
        s.phase[m] = "none"

    @action(m="members")
    def pm_begin(self, s, m):
        """A power-management state transition of the member starts: parts and mode unchanged;
        MODE_SET and SET wait for its end (D-DP-19)."""
        s.require(s.phase[m] == "none")
        s.phase[m] = "pm"
        s.emit("pm_begin", member=m)

    @action(m="members")
    def pm_end(self, s, m):
        s.require(s.phase[m] == "pm", "D-DP-19")
        s.phase[m] = "none"
        s.emit("pm_end", member=m)

    @action(mode=lambda model: model._readings("owner_reset_mode"),
            pending=lambda model: model._readings("owner_reset_pending"))
    def owner_reset(self, s, mode, pending):
        """Owner (PF) reset: objects destroyed (D-RO-8), driver capabilities (D-CAP-5) and each
        group's enabled set (D-GA-7) reset; a stopped member's mode (Q8) and its held SET parts
        per the readings allowed."""
        s.self_set = "base"
        s.sriov_set = "base"
        s.cap_get = 0
        s.cap_set = 0
        if not self.bug("owner-reset-keeps-objects"):
            for oid in self._index_sets["objects"]:
                s.obj_member[oid] = 0
                s.obj_kind[oid] = "get"
        for m in self._index_sets["members"]:
            if mode == "running":
                s.mode[m] = "running"
            if pending == "drop":
                s.pending[m] = "none"
        s.cite("D-RO-8", "D-CAP-5", "D-GA-7")
        s.emit("owner_reset")

    # ------------------------------------------------------------------ guest driver and device

    @action(m="members", q="queues")
    def doorbell(self, s, m, q):
        """The guest rings a doorbell without a new buffer (or the capture does not show the
        buffer): accepted in any state, nothing changes (D-DP-12)."""
        s.cite("D-DP-12")
        s.emit("doorbell", member=m, queue=q)

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
        s.cite("D-DP-12")
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

    @action(m="members")
    def pme(self, s, m):
        """The member signals a PCI PME (allowed only while running, D-DP-15)."""
        s.require(s.phase[m] == "none")
        if not self.bug("pme-while-stopped"):
            s.require(s.mode[m] == "running", "D-DP-15")
        s.emit("pme", member=m)

    @action(m="members", valid=(True, False))
    def pci_read(self, s, m, valid):
        """The member answers a PCI read: valid data in either mode (D-DP-13, D-DP-14); all-ones
        only while an FLR is in progress (the function is resetting)."""
        if not valid:
            flr = s.phase[m] == "flr"
            s.require(Or(flr, s.mode[m] == "stopped") if self.bug("bad-read-while-stopped") else flr,
                      "D-DP-13", "D-DP-14")
        s.emit("pci_read", member=m, valid=valid)

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

    @transition_property("D-DP-16")
    def no_notification_while_stopped(self, t):
        """A stopped member sends no used-buffer or configuration-change notification."""
        if not t.event or t.event["kind"] not in ("used_notify", "config_notify"):
            return True
        return t.before.mode[t.event["member"]] == "running"

    @transition_property("D-DP-15")
    def no_pme_while_stopped(self, t):
        """A stopped member generates no PCI PME."""
        if not t.event or t.event["kind"] != "pme":
            return True
        return t.before.mode[t.event["member"]] == "running"

    @transition_property("D-DP-13", "D-DP-14")
    def pci_reads_valid(self, t):
        """PCI reads return valid data, stopped or running; all-ones only during an FLR."""
        if not t.event or t.event["kind"] != "pci_read" or t.event["valid"]:
            return True
        return t.before.phase[t.event["member"]] == "flr"

    @invariant("D-DP-10", "D-DP-11", "I-DP-6")
    def stopped_member_has_nothing_in_flight(self, s):
        """Once a stop has completed, every buffer the device observed has been written back as used."""
        return And(*(Or(s.mode[m] == "running", s.inflight[m][q] == 0)
                     for m in self._index_sets["members"] for q in self._index_sets["queues"]))

    @transition_property("I-DP-5")
    def set_takes_effect_at_resume(self, t):
        """A successful DEV_PARTS_SET changes no part in effect: its parts wait for the resume."""
        if not _admin(t, "DEV_PARTS_SET", ok=True):
            return True
        m = t.event["member"]
        return t.after.status[m] == t.before.status[m]

    @transition_property("D-GA-3", "D-GA-4", "I-DP-5", "I-DP-7", "D-AQ-7", "D-RO-6")
    def failed_command_has_no_side_effect(self, t):
        """A command that fails leaves the device state unchanged."""
        if not t.event or t.event["kind"] != "admin" or t.event["ok"]:
            return True
        return t.unchanged()

    @transition_property("D-DP-20", "D-DP-21")
    def mode_set_is_idempotent(self, t):
        """A stop of a stopped member and a resume of a running one succeed: the only other
        answers are EAGAIN/ENOMEM (D-AQ-7), a validation error and a refusal of reserved flag
        bits (Q5). (A stop of a running member, or a resume of a stopped one, may fail.)"""
        if not _admin(t, "DEV_MODE_SET", ok=False):
            return True
        ev = t.event
        if ev.get("transient") or ev.get("status") in TRANSIENT or ev.get("qualifier") in VALIDATION_QUALIFIERS:
            return True
        if ev["flags"] & RESERVED_FLAG and ev.get("status") == EINVAL:
            return True
        return t.before.mode[ev["member"]] == ("running" if ev["flags"] & STOPPED_FLAG else "stopped")

    @transition_property("I-GA-1")
    def ok_carries_no_qualifier(self, t):
        """A successful answer carries the qualifier OK."""
        if not t.event or t.event["kind"] != "admin" or not t.event["ok"]:
            return True
        return t.event.get("qualifier") == Q_OK

    @transition_property("D-DP-17", "D-DP-18", "D-DP-19")
    def no_answer_during_flr_or_reset(self, t):
        """DEV_MODE_SET and DEV_PARTS_SET are answered only once a member FLR, reset or PM
        transition has completed."""
        if not (_admin(t, "DEV_MODE_SET") or _admin(t, "DEV_PARTS_SET")) or t.event.get("qualifier") in (
                VALIDATION_QUALIFIERS):
            return True
        return t.before.phase[t.event["member"]] == "none"

    @transition_property("D-DP-22")
    def reset_returns_parts_to_default(self, t):
        """After a member FLR or reset starts, every part is back at its default and no SET is pending."""
        if t.action not in ("flr_begin", "driver_reset"):
            return True
        m = t.params["m"]
        return And(t.after.status[m] == "reset", t.after.pending[m] == "none")

    @transition_property("D-DP-3", "D-DP-24")
    def get_returns_parts_in_order(self, t):
        """DEV_PARTS_GET returns its parts in order-table order."""
        if not _admin(t, "DEV_PARTS_GET", ok=True):
            return True
        return t.event["order"] == "table"

    @transition_property("I-DP-8", "D-DP-2")
    def get_returns_every_part(self, t):
        """DEV_PARTS_GET(ALL) returns every non-optional part once, so the state is complete."""
        if not _admin(t, "DEV_PARTS_GET", ok=True) or "complete" not in t.event:
            return True
        return t.event["complete"]

    @transition_property("D-DP-6", "I-DP-8")
    def get_parts_well_formed(self, t):
        """Every part a DEV_PARTS_GET returns has its type's length, DEV_FEATURES is flagged
        OPTIONAL, and no part comes twice."""
        if not _admin(t, "DEV_PARTS_GET", ok=True):
            return True
        return t.event["parts_ok"]

    @transition_property("I-DP-4", "D-DP-23")
    def get_selected_returns_only_asked(self, t):
        """DEV_PARTS_GET(SELECTED) returns only parts the driver asked for."""
        if not _admin(t, "DEV_PARTS_GET", ok=True) or "selected_ok" not in t.event:
            return True
        return t.event["selected_ok"]

    @transition_property("D-DP-1", "D-CAP-1", "D-GA-10")
    def list_query_reports_command_set(self, t):
        """LIST_QUERY reports LIST_QUERY, LIST_USE and the group's whole command set (the
        capability commands for Self, the dev-parts bundle for SR-IOV)."""
        ev = t.event
        if not ev or ev["kind"] != "admin" or ev["cmd"] != "LIST_QUERY" or not ev["ok"]:
            return True
        return ev["lists"] == "complete"

    @transition_property("I-DP-2", "D-RO-2")
    def destroy_only_own_object(self, t):
        """A successful RESOURCE_OBJ_DESTROY names an object the member owns."""
        if not _admin(t, "RESOURCE_OBJ_DESTROY", ok=True):
            return True
        oid = t.event["id"]
        return t.before.obj_member[oid] == t.event["member"] if oid < self.p.objects else False

    @transition_property("D-GA-1")
    def validation_order(self, t):
        """INVALID_OPCODE only for a valid group; INVALID_MEMBER only for a valid group and an
        opcode enabled (or possibly enabled) in it."""
        ev = t.event
        if not ev or ev.get("qualifier") not in (INVALID_OPCODE, INVALID_MEMBER):
            return True
        if ev["group"] not in (GROUP_SELF, GROUP_SRIOV):
            return False
        if ev["qualifier"] == INVALID_OPCODE:
            return True
        family = FAMILY_OF[ev["cmd"]]
        var = t.before.self_set if ev["group"] == GROUP_SELF else t.before.sriov_set
        sets = self._sets(ev["group"])
        return Or(*(var == c for c in sets if c == "other" or enabled_in(ev["group"], c, family)))

    @transition_property("D-GA-8")
    def list_use_replaces_enabled_set(self, t):
        """A successful LIST_USE makes the supplied set the group's enabled set."""
        ev = t.event
        if not ev or ev["kind"] != "admin" or ev["cmd"] != "LIST_USE" or not ev["ok"]:
            return True
        var = t.after.self_set if t.event["group"] == GROUP_SELF else t.after.sriov_set
        return var == t.event["bitmap"]

    @transition_property("D-GA-9", "R-GA-7")
    def disabled_opcode_refused(self, t):
        """A command whose opcode is not enabled for its group does not succeed."""
        ev = t.event
        if not ev or ev["kind"] != "admin" or not ev["ok"] or ev["cmd"] not in FAMILY_OF:
            return True
        var = t.before.self_set if ev["group"] == GROUP_SELF else t.before.sriov_set
        sets = self._sets(ev["group"])
        family = FAMILY_OF[ev["cmd"]]
        allowed = [c for c in sets if c == "other" or enabled_in(ev["group"], c, family)]
        if ev["group"] == GROUP_SELF and family == "caps" and self.p.self_enabled == "implicit":
            allowed.append("base")
        return Or(*(var == c for c in allowed))

    @transition_property("D-RO-8", "D-CAP-5", "D-GA-7")
    def owner_reset_clears_owner_state(self, t):
        """An owner reset destroys every object, clears the driver capabilities and leaves
        only LIST_QUERY and LIST_USE enabled in each group."""
        if t.action != "owner_reset":
            return True
        return And(t.after.self_set == "base", t.after.sriov_set == "base", t.after.cap_get == 0,
                   t.after.cap_set == 0, *(t.after.obj_member[o] == 0 for o in self._index_sets["objects"]))

    @transition_property("D-RO-7")
    def query_returns_last_data(self, t):
        """RESOURCE_OBJ_QUERY reports the type of the last CREATE or MODIFY."""
        if not _admin(t, "RESOURCE_OBJ_QUERY", ok=True):
            return True
        return t.before.obj_kind[t.event["id"]] == t.event["subtype"]

    @transition_property("I-RO-1", "D-RO-5")
    def create_within_limit(self, t):
        """A successful CREATE uses an id below the driver's declared limit for its kind."""
        if not _admin(t, "RESOURCE_OBJ_CREATE", ok=True) or t.event["subtype"] == "invalid":
            return True
        limit = t.before.cap_get if t.event["subtype"] == "get" else t.before.cap_set
        return limit > t.event["id"]

    @transition_property("I-DP-5")
    def resume_applies_pending_parts(self, t):
        """A resume applies the parts written by SET while stopped."""
        if not _admin(t, "DEV_MODE_SET", ok=True) or t.event["flags"] & STOPPED_FLAG:
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

    @sometimes("D-GA-6", "R-GA-7")
    def groups_enabled_independently(self, s):
        """The Self group has its capabilities enabled while the SR-IOV group has its
        dev-parts bundle enabled without LIST_QUERY and LIST_USE."""
        if self.p.sets != "exact":
            return And(s.self_set == "other", s.sriov_set == "other")
        return And(s.self_set == "caps", s.sriov_set == "bundle_nolist")

    def observe(self, event):
        """A decoded trace event in this model's vocabulary (models/virtio_observe.py)."""
        return self._observer.observe(event)

    @property
    def _observer(self) -> Observer:
        obs = self.__dict__.get("_obs")
        if obs is None:
            obs = self.__dict__["_obs"] = Observer(members=self.p.members, objects=self.p.objects,
                                                    queues=self.p.queues, self_sets=self.self_sets,
                                                    sriov_sets=self.sriov_sets)
        return obs

    def driver_rules(self):
        """Driver-side (R-*) checks of a capture (models/virtio_driver_rules.py)."""
        from mcheck.models.virtio_driver_rules import DriverRules
        return DriverRules(self.p)


def _admin(t, cmd: str, ok: bool | None = None) -> bool:
    """Whether this step answers admin command `cmd` for a member of the SR-IOV group
    (successfully or not, if `ok` is given)."""
    ev = t.event
    return bool(ev and ev["kind"] == "admin" and ev["cmd"] == cmd and "member" in ev
                and (ok is None or ev["ok"] == ok))
