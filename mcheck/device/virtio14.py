"""The device side of virtio 1.4 device-parts migration: an owner PF and N member VFs.

Admin commands are validated in D-GA-1's order (group, opcode enabled for the group,
member, then the command's own checks). Each group has its own enabled opcode set, set
by LIST_USE (D-GA-6..9) and back to LIST_QUERY/LIST_USE after an owner reset (D-GA-7):
Self supports the capability commands (D-CAP-1), SR-IOV the whole dev-parts bundle
(D-DP-1: objects, QUERY/MODIFY, parts). Where the spec lets the device choose, this
device takes one fixed answer: it refuses a LIST_USE set that breaks a family or the
bundle (D-GA-5), a SET while running (D-DP-4's SHOULD), a driver limit above its own
(D-CAP-2), reserved DEV_MODE_SET flags (Q5), a SET whose DEV_FEATURES differ (D-DP-7);
it holds METADATA_GET and GET during a fault like MODE_SET and SET (Q7), puts a reset
member back to running (Q1), keeps a member's objects across its FLR (T5), and leaves
modes and held SET parts alone at an owner reset (Q8). `compat="linux"` adds T1a/T1b.
`variants` (VARIANTS) switch to other permitted answers, one reading per switch: a suite
must pass against each of them.
Modes follow §5, device parts are encoded with the profile codec in order-table order
(§7), resource objects live in one owner-wide id pool (Q19), a member FLR or reset
returns the member to defaults (D-DP-22), and MODE_SET / SET wait for the end of a
member FLR, reset or power-management transition (D-DP-17/18/19). Each catalogue bug of
`models/virtio_1_4.py` the device can express is a switch in `self.bugs`; MIGRATION_BUGS
are the ones a migration between two devices shows (`mcheck migrate-demo`).

For migration end to end: the offered features are a power-on option (`features`, default
DEVICE_FEATURES), so a destination can offer fewer; a SET whose DEV_FEATURES are not the
device's own, or whose DRV_FEATURES accept a bit it does not offer, is refused (D-DP-7); the
DRV_FEATURES, VQ_CFG, VQ_NOTIFY_CFG and PCI_COMMON_CFG parts of a SET take effect at the
resume with DEVICE_STATUS (I-DP-5), and GET then reports them; a resume that restores a
member continues each queue from the used index in guest memory (Q4); after a resume a
queue owes one used-buffer notification if the stop wrote buffers back on it or the resume
restored it with a non-zero used index (`_resume`); state() reports the parts the member
holds, whatever a GET would say.

The device is single-threaded: the server serialises calls. Every call returns the list
of device events it caused, as (kind, member, a, b) tuples: ("dma_write", m, addr, len),
("used_notify", m, q, 0), ("config_notify", m, 0, 0), ("pme", m, 0, 0),
("pci_read", m, offset, value), ("complete", tag, writable, readable) for a deferred
command that is answered now.
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
from mcheck.errors import InputError
from mcheck.trace.codec import Codec, CodecError, opcode_words, opcodes_of
from mcheck.trace.profile import load_profile

# bugs that show end to end, in a migration between two devices (`mcheck migrate-demo`; the
# model engineer's pair model models/virtio_1_4_migration.py has the same names): name -> what
# the device does wrong. stop-no-used-index is also a single-member catalogue bug.
MIGRATION_BUGS = {
    "get-wrong-queue-address": "DEV_PARTS_GET's VQ_CFG parts report queue_driver (the avail ring address) with the "
                               "queue_desc value",
    "get-drops-feature": "DEV_PARTS_GET's DRV_FEATURES part leaves out the highest accepted feature bit",
    "stop-no-used-index": "DEV_MODE_SET(stop) writes the used elements of in-flight buffers but not the used index",
    "dst-stale-position": "DEV_MODE_SET(resume) applying SET parts continues each queue from the device's own "
                          "consumption point (0 on a fresh destination), not from the used index in guest memory",
    "resume-no-notify": "after a resume the device sends no used-buffer notification for used buffers the guest was "
                        "not notified of (those written back at the stop, or restored by a SET)",
    "set-applied-early": "DEV_PARTS_SET applies the parts at once on the stopped member, not at the next resume, and "
                         "the restored queues are used (fetch, DMA) before the resume",
    "accepts-unoffered-features": "DEV_PARTS_SET accepted although its DEV_FEATURES/DRV_FEATURES carry a feature bit "
                                  "the device does not offer; after the resume it runs with them",
}

BUGS = frozenset({
    "dma-after-stop", "notify-after-stop", "set-while-running", "inflight-not-written-back", "flr-keeps-parts",
    "mode-set-during-flr", "mode-set-during-pm", "einval-side-effect", "stop-not-idempotent", "parts-out-of-order",
    "parts-missing-vq", "fetch-after-stop", "member-checked-first", "set-lost-at-resume", "create-beyond-limit",
    "ok-with-qualifier", "disabled-list-query", "list-use-ignored", "pme-while-stopped", "bad-read-while-stopped",
    "owner-reset-keeps-objects", "query-wrong-type", "get-bad-part-length", "features-not-optional",
    "parts-missing-notify", "selected-returns-all", "list-query-omits", "destroy-other-member", "set-during-flr",
    "stop-no-used-index",
    *MIGRATION_BUGS,
    # device-only bugs (the model has no admin queue and no notion of a doorbell): judged by
    # the runner, see DEVICE_ONLY_BUGS
    "held-out-of-order", "doorbell-lost-while-stopped",
    "query-ignores-modify",   # not in the catalogue: the faulty capture traces/make_flows.py makes
})
COMPAT = ("none", "linux")
# bugs of this device that no model catalogue holds, with the rule the runner judges them by
DEVICE_ONLY_BUGS = {
    "held-out-of-order": "commands held during a fault are processed newest first when it ends (D-AQ-6: one "
                         "admin queue's commands are processed in queue order; the runner replays held "
                         "answers in submission order)",
    "doorbell-lost-while-stopped": "a doorbell rung while the member is stopped is dropped, so buffers posted then "
                                   "are not processed after the resume (D-DP-12: a stopped device accepts driver "
                                   "notifications; caught in autonomous mode, where the device must act on them)",
}

# spec-permitted readings: where the spec leaves the device a choice (MAY, SHOULD, "an error",
# an upper bound, an open question), this device takes one fixed answer; each variant takes
# another permitted one. A conformance suite generated once must pass against every variant
# (docs/kill-matrix.md, variant rows); each names the clause or question that permits it.
VARIANTS = {
    "size-upper-bound": "METADATA_GET(SIZE) answers 64 bytes more than the GET(ALL) returns (I-DP-10: SIZE is an "
                        "upper bound)",
    "set-running-einval": "DEV_PARTS_SET while running refused with EINVAL/INVALID_FIELD instead of EBUSY (D-DP-4, "
                          "Q6: the error code is unspecified)",
    "set-running-accepted": "DEV_PARTS_SET while running accepted, its parts held for the next resume (D-DP-4 is a "
                            "SHOULD: a warning)",
    "state-before-object": "DEV_PARTS_SET checks the mode before the object and DRIVER_CAP_SET checks for live "
                           "objects before the limits (no precedence beyond D-GA-1's group, opcode, member)",
    "partial-list-use": "LIST_USE accepts any set, one that splits a family or the dev-parts bundle included, and "
                        "enables what it names (D-GA-5: the device MAY reject it)",
    "pci-common-cfg": "DEV_PARTS_GET(ALL) and METADATA_GET report PCI_COMMON_CFG parts, one per exported field "
                      "(I-DP-8: zero or more, one per distinct offset; order table, D-DP-3)",
    "pad-results": "every writable part padded with zeros to a multiple of 8 bytes (D-AQ-5)",
    "reserved-flags-ignored": "DEV_MODE_SET flag bits 1..7 ignored, bit 0 acted on (Q5, reading ignore)",
    "mode-kept-after-reset": "a member FLR or reset leaves a stopped member stopped (Q1, reading keep)",
    "objects-destroyed-at-flr": "a member FLR destroys the member's resource objects (T5, reading destroyed)",
    "get-during-flr": "METADATA_GET and GET answered during a member FLR, reset or PM transition (Q7, reading "
                      "answer)",
    "owner-reset-resumes": "an owner reset puts every stopped member back to running (Q8, reading running)",
    "owner-reset-drops-pending": "an owner reset drops the SET parts held for the next resume (Q8: an owner reset's "
                                 "effect on a stopped member is not stated; owner_reset_pending, reading drop)",
    "get-returns-set": "GET and METADATA_GET after a SET, before the resume, report the SET parts (I-DP-5 says "
                       "only that a SET takes effect at the resume; get_after_set, reading set)",
    "transient-errors": "every 4th command past validation answered EAGAIN or ENOMEM (alternately), without side "
                        "effect (D-AQ-7)",
    "other-error-codes": "an error other than the preferred one where the spec says SHOULD: EINVAL for an existing "
                         "id (D-RO-1 prefers EEXIST) and a missing object (D-RO-2 prefers ENXIO), ENOSPC while "
                         "objects exist (D-CAP-4 prefers EBUSY); a warning, not a failure",
    "cap-limit-clamped": "DRIVER_CAP_SET with limits above the device's accepted, clamped to them (D-CAP-2)",
    "stop-refused-once": "every other real stop (running to stopped) refused with EBUSY, without side effect "
                         "(D-DP-20 requires only the idempotent stop to succeed; I-DP-7)",
    "modify-refused": "RESOURCE_OBJ_MODIFY of a DEV_PARTS object refused with EINVAL/INVALID_FIELD, no side effect "
                      "(D-RO-6: the spec does not say such an object accepts one)",
    "stop-returns-unused": "at a stop, a fetched buffer is written back as used with length 0 and no data, not "
                           "processed (Q9: what the write-back of D-DP-10/11 means for an unprocessed buffer)",
}

GROUP_SELF, GROUP_SRIOV = 0, 1
# VIRTIO_F_VERSION_1 | VIRTIO_F_ACCESS_PLATFORM | VIRTIO_F_RING_RESET: what every member offers
DEVICE_FEATURES = (1 << 32) | (1 << 33) | (1 << 40)
DRIVER_OK_STATUS = 0x0F          # ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK
DRIVER_OK_BIT = 0x04
OPTIONAL_PART = 0x01             # part header flag: DEV_FEATURES is OPTIONAL in a SET (I-DP-8)
# opcode families: LIST_QUERY/LIST_USE, the capability commands (D-CAP-1), resource
# objects CREATE/DESTROY, QUERY/MODIFY (numbering Q2), the device-parts commands
LIST_OPS = frozenset({0x0, 0x1})
CAP_OPS = frozenset({0x7, 0x8, 0x9})
OBJ_OPS = frozenset({0xA, 0xD})
MODIFY_OPS = frozenset({0xB, 0xC})
PARTS_OPS = frozenset({0xE, 0xF, 0x10, 0x11})
FAMILIES = {"list": LIST_OPS, "caps": CAP_OPS, "objects": OBJ_OPS, "modify": MODIFY_OPS, "parts": PARTS_OPS}
BUNDLE = OBJ_OPS | MODIFY_OPS | PARTS_OPS          # the dev-parts bundle of D-DP-1
DEVPARTS_OPCODES = CAP_OPS | BUNDLE
SELF_SUPPORTED = LIST_OPS | CAP_OPS
SRIOV_SUPPORTED = LIST_OPS | BUNDLE
MEMBER_CMDS = {"RESOURCE_OBJ_CREATE", "RESOURCE_OBJ_DESTROY", "RESOURCE_OBJ_MODIFY", "RESOURCE_OBJ_QUERY",
               "DEV_PARTS_METADATA_GET", "DEV_PARTS_GET", "DEV_PARTS_SET", "DEV_MODE_SET"}
DEFERRABLE = {"DEV_PARTS_METADATA_GET", "DEV_PARTS_GET", "DEV_PARTS_SET", "DEV_MODE_SET"}
PARTS_TYPES = {0: "get", 1: "set"}
PARTS_TYPE_NUMBER = {"get": 0, "set": 1}
METADATA_SIZE, METADATA_COUNT, METADATA_LIST = 0, 1, 2
GET_SELECTED, GET_ALL = 0, 1
# what a PCI read of a member's configuration space returns: vendor 0x1af4, device 0x1041
PCI_ID = bytes.fromhex("f41a4110")
ALL_ONES = b"\xff" * len(PCI_ID)


def _words(value: Any) -> int | None:
    """A feature part's le64 words as one bit mask (None if the value is not a list of words)."""
    if not isinstance(value, list) or not all(isinstance(w, int) and not isinstance(w, bool) for w in value):
        return None
    return sum(w << (64 * i) for i, w in enumerate(value))


def _part_key(part: dict[str, Any]) -> tuple:
    """What tells one part of a type from another: (type, index, offset)."""
    return part.get("type"), part.get("index"), part.get("offset")


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
    phase: str = "none"            # none | flr | reset | pm
    status: int = 0                # device_status
    pending: int | None = None     # device_status written by DEV_PARTS_SET, applied at resume
    held: list[tuple[int, bytes]] = field(default_factory=list)   # deferred (tag, readable)
    kicked: set[int] = field(default_factory=set)   # queues with a doorbell not yet served to the end
    drv_features: int | None = None   # accepted features a SET restored (None: every offered one, once DRIVER_OK)
    applied: dict[tuple, Any] = field(default_factory=dict)   # VQ_CFG, VQ_NOTIFY_CFG, PCI_COMMON_CFG a SET restored
    held_parts: dict[str, Any] | None = None   # DRV_FEATURES and the parts above written by SET, for the resume
    unnotified: set[int] = field(default_factory=set)   # queues with used buffers the stop wrote back, not notified
    owed: set[int] = field(default_factory=set)   # queues owing a used-buffer notification since the resume
    early: bool = False            # bug set-applied-early: SET parts applied, queues in use while stopped

    @property
    def driver_ok(self) -> bool:
        return bool(self.status & DRIVER_OK_BIT)


@dataclass
class ResourceObject:
    member: int
    kind: str                      # "get" | "set": the type of the last CREATE or MODIFY
    created: str                   # the type given at CREATE (what bug query-ignores-modify reports)


AUTONOMOUS = True     # the device can act on its own (mcheck.device.devices)


def make(*, members: int, queues: int, objects: int, pages: int, bugs: set[str], compat: str,
         variants: list[str], options: dict[str, Any]) -> Virtio14Device:
    """The device for `mcheck emulate` (mcheck.device.devices); `options` are other
    profiles' readings, which this device does not take."""
    if options:
        flag = {"chunk": "ctx-chunk", "wire_profile": "wire-profile"}.get(next(iter(options)), next(iter(options)).replace("_", "-"))
        raise InputError(f"--{flag}: only the draft-v1 device takes this option")
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise InputError(f"--variant {bad[0]}: unknown variant for profile virtio-1.4 "
                         f"(known: {', '.join(sorted(VARIANTS))})")
    return Virtio14Device(members=members, queues=queues, objects=objects, pages=pages, bugs=bugs, compat=compat,
                          variants=set(variants))


class Virtio14Device:
    """The owner and its members. `compat="linux"` adds the Linux driver's relaxations
    (T1a: capability commands listed and served for the SR-IOV group; T1b: Self's
    capability commands usable without a Self LIST_USE); the default follows the spec."""

    profile_name = "virtio-1.4"

    def __init__(self, *, members: int = 1, queues: int = 1, objects: int = 1, pages: int = 8,
                 bugs: set[str] | frozenset[str] = frozenset(), compat: str = "none",
                 variants: set[str] | frozenset[str] = frozenset(), features: int | None = None) -> None:
        if compat not in COMPAT:
            raise ValueError(f"compat {compat!r}: use one of {', '.join(COMPAT)}")
        unknown = sorted(set(variants) - set(VARIANTS))
        if unknown:
            raise ValueError(f"variant {unknown[0]!r}: use one of {', '.join(VARIANTS)}")
        self.codec = Codec(load_profile(self.profile_name))
        self.bugs = set(bugs)
        self.variants = set(variants)     # spec-permitted readings (VARIANTS) this device takes
        self.compat = compat
        self.configure(members=members, queues=queues, objects=objects, pages=pages, features=features)

    # ------------------------------------------------------------------ set-up

    def configure(self, *, members: int, queues: int, objects: int, pages: int = 8, features: int | None = None,
                  **_ignored: Any) -> None:
        """Power-on reset with this topology. `features`: the feature bits every member offers
        (DEV_FEATURES; default DEVICE_FEATURES), e.g. fewer on a migration destination; a power-on
        without it offers the default set again."""
        if features is None:
            features = DEVICE_FEATURES
        if not isinstance(features, int) or isinstance(features, bool) or not 0 <= features < 1 << 64:
            raise ValueError(f"features {features!r}: a feature bit mask below 2**64")
        self.features = features
        self.n_members, self.n_queues, self.n_objects, self.pages = members, queues, objects, max(pages, 3)
        self.enabled = {GROUP_SELF: set(LIST_OPS), GROUP_SRIOV: set(LIST_OPS)}   # D-GA-7
        self.cap_get = self.cap_set = 0
        self.objects: dict[int, ResourceObject] = {}
        self.members = {m: self._new_member(m) for m in range(1, members + 1)}
        self.served = 0        # commands past validation since power-on (variant transient-errors)
        self.real_stops = 0    # stops of a running member asked for since power-on (variant stop-refused-once)

    def _new_member(self, m: int) -> Member:
        mem = GuestMemory(self.pages)
        member = Member(mid=m, mem=mem, queues=[DeviceQueue(q) for q in range(self.n_queues)],
                        guests=[GuestDriver(mem, m, q) for q in range(self.n_queues)])
        for g in member.guests:
            g.init()
        return member

    def topology(self) -> dict[str, Any]:
        return {"members": list(self.members), "queues": self.n_queues, "objects": self.n_objects, "pages": self.pages,
                "compat": self.compat}

    def bug(self, name: str) -> bool:
        return name in self.bugs

    def variant(self, name: str) -> bool:
        """Whether the device takes this spec-permitted reading (VARIANTS)."""
        return name in self.variants

    def supported(self, group: int) -> frozenset[int]:
        """The opcodes a group supports (what its LIST_QUERY reports)."""
        if group == GROUP_SELF:
            return SELF_SUPPORTED
        return SRIOV_SUPPORTED | CAP_OPS if self.compat == "linux" else SRIOV_SUPPORTED

    # ------------------------------------------------------------------ admin commands

    def admin(self, tag: int, readable: bytes) -> tuple[bytes | None, list[tuple]]:
        """Answer one command: (writable, events), writable None when the command is held."""
        events: list[tuple] = []
        group = int.from_bytes(readable[2:4], "little") if len(readable) >= 4 else -1
        try:
            cmd = self.codec.decode_command(readable)
        except CodecError:
            opcode = int.from_bytes(readable[0:2], "little") if len(readable) >= 2 else -1
            if group not in (GROUP_SELF, GROUP_SRIOV):
                return self._fail_raw("EINVAL", "INVALID_GROUP"), events
            if not self._enabled(group, opcode):
                return self._fail_raw("EINVAL", "INVALID_OPCODE"), events
            return self._fail_raw("EINVAL", "INVALID_FIELD"), events
        name = cmd.name if cmd.name in self.codec.profile.commands else None
        try:
            self._validate(cmd, name)
            if name in MEMBER_CMDS:
                member = self.members[cmd.member]
                if name in DEFERRABLE and member.phase != "none" and not self._answers_during(name, member.phase):
                    member.held.append((tag, readable))
                    return None, events
                self._transient(name)
                fields = self._member_cmd(name, cmd, member, events)
            else:
                self._transient(name)
                fields = self._owner(name, cmd)
            qualifier = "INVALID_FIELD" if name == "DEV_MODE_SET" and self.bug("ok-with-qualifier") else "OK"
            writable = self.codec.encode_result(name, "OK", qualifier, fields)
            if self.variant("pad-results") and len(writable) % 8:
                writable += bytes(8 - len(writable) % 8)
            return writable, events
        except Reject as r:
            if name is None:
                return self._fail_raw(r.status, r.qualifier), events
            return self.codec.encode_result(name, r.status, r.qualifier, {}), events

    def _fail_raw(self, status: str, qualifier: str) -> bytes:
        prof = self.codec.profile
        return prof.status[status].to_bytes(2, "little") + prof.qualifiers[qualifier].to_bytes(2, "little") + bytes(4)

    def _transient(self, name: str | None) -> None:
        """Variant transient-errors: every 4th command past validation (and not held) fails
        with EAGAIN or ENOMEM, alternately, before it does anything (D-AQ-7: no side effect)."""
        if name is None or not self.variant("transient-errors"):
            return
        self.served += 1
        if self.served % 4 == 0:
            raise Reject("EAGAIN", "TRYAGAIN") if self.served % 8 else Reject("ENOMEM", "NORESOURCE")

    def _answers_during(self, name: str, phase: str) -> bool:
        """Whether a deferrable command is answered during this fault phase (bugs, and the
        Q7 variant get-during-flr for METADATA_GET and GET)."""
        if name in ("DEV_PARTS_METADATA_GET", "DEV_PARTS_GET"):
            return self.variant("get-during-flr")
        if name == "DEV_PARTS_SET":
            return phase == "flr" and self.bug("set-during-flr")
        if name != "DEV_MODE_SET":
            return False
        return (phase == "flr" and self.bug("mode-set-during-flr")) or (phase == "pm" and self.bug("mode-set-during-pm"))

    def _enabled(self, group: int, opcode: int) -> bool:
        """D-GA-9: the opcode is in the group's enabled set (and the group supports it)."""
        ops = self.enabled[group]
        if opcode in LIST_OPS and opcode == 0x0 and self.bug("disabled-list-query"):
            return True
        if (group == GROUP_SELF and opcode in CAP_OPS and self.compat == "linux" and ops == LIST_OPS):
            return True      # T1b: Self's capabilities usable from reset, before any Self LIST_USE
        return opcode in ops and opcode in self.supported(group)

    def _validate(self, cmd: Any, name: str | None) -> None:
        """D-GA-1, in its order: group, then opcode, then member (for commands naming one)."""
        group = cmd.group_type
        if group not in (GROUP_SELF, GROUP_SRIOV):
            raise Reject("EINVAL", "INVALID_GROUP")
        checks = [lambda: self._opcode_check(group, cmd.opcode)]
        if name in MEMBER_CMDS and group == GROUP_SRIOV:
            checks.append(lambda: self._member_check(cmd.member))
            if self.bug("member-checked-first"):
                checks.reverse()
        for check in checks:
            check()

    def _opcode_check(self, group: int, opcode: int) -> None:
        if not self._enabled(group, opcode):
            raise Reject("EINVAL", "INVALID_OPCODE")

    def _member_check(self, m: int) -> None:
        if m not in self.members:
            raise Reject("EINVAL", "INVALID_MEMBER")

    def _accepts(self, group: int, ops: set[int]) -> bool:
        """D-GA-5: whether LIST_USE takes this set. Refused: a family enabled in part, one the
        group does not support, or (SR-IOV) the dev-parts bundle broken up (D-DP-1). Opcodes
        no family knows (legacy, unknown) are left disabled."""
        on = set()
        for family, fam_ops in FAMILIES.items():
            have = fam_ops & ops
            if have and have != fam_ops:
                return False
            if have:
                on.add(family)
        if group == GROUP_SELF:
            return on <= {"list", "caps"}
        bundle = on & {"objects", "modify", "parts"}
        if self.compat == "linux":   # Linux enables caps, objects and parts, not MODIFY/QUERY (T1, T4)
            return on <= {"list", "caps", "objects", "modify", "parts"} and (
                not bundle or {"objects", "parts"} <= bundle)
        return on <= {"list", "objects", "modify", "parts"} and bundle in (set(), {"objects", "modify", "parts"})

    def _owner(self, name: str | None, cmd: Any) -> dict[str, Any]:
        f, group = cmd.fields, cmd.group_type
        if name == "LIST_QUERY":
            reported = self.supported(group)
            if group == GROUP_SRIOV and self.bug("list-query-omits"):
                reported = reported - {0x11}      # DEV_MODE_SET left out, still served
            return {"opcodes": opcode_words(reported)}
        if name == "LIST_USE":
            ops = opcodes_of(f.get("opcodes", []))
            if not self._accepts(group, ops) and not self.variant("partial-list-use"):
                raise Reject("EINVAL", "INVALID_FIELD")
            if not self.bug("list-use-ignored"):
                self.enabled[group] = ops & self.supported(group)
            return {}
        if name == "CAP_ID_LIST_QUERY":
            return {"supported_caps": [1]}
        if name == "DEVICE_CAP_GET":
            if f.get("id", 0) != 0:
                raise Reject("ENXIO")
            return {"get_parts_limit": self.n_objects, "set_parts_limit": self.n_objects}
        if name == "DRIVER_CAP_SET":
            if f.get("id", 0) != 0:
                raise Reject("ENXIO")
            get, set_ = f.get("get_parts_limit", 0), f.get("set_parts_limit", 0)
            if self.objects and self.variant("state-before-object"):
                raise Reject("EBUSY")
            if max(get, set_) > self.n_objects and not self.variant("cap-limit-clamped"):
                raise Reject("EINVAL", "INVALID_FIELD")
            if self.objects:
                raise Reject("ENOSPC" if self.variant("other-error-codes") else "EBUSY")
            self.cap_get, self.cap_set = min(get, self.n_objects), min(set_, self.n_objects)
            return {}
        raise Reject("EINVAL", "INVALID_OPCODE")   # an opcode this device gives no meaning

    @staticmethod
    def _kind(f: dict[str, Any]) -> str:
        """The DEV_PARTS type a CREATE or MODIFY asks for ("invalid" for another object type)."""
        if f.get("obj_type", 0) != 0 or f.get("flags"):
            return "invalid"
        return PARTS_TYPES.get(f.get("parts_type", 0), "invalid")

    def _own(self, f: dict[str, Any], member: Member) -> tuple[int, ResourceObject]:
        """The member's object named by the command: ENXIO if it has none of that id (D-RO-2)."""
        oid = f.get("obj_id", 0)
        obj = self.objects.get(oid)
        if obj is None or obj.member != member.mid:
            raise Reject("EINVAL", "INVALID_FIELD") if self.variant("other-error-codes") else Reject("ENXIO")
        return oid, obj

    def _object(self, f: dict[str, Any], member: Member, kind: str) -> int:
        oid, obj = self._own(f, member)
        if obj.kind != kind:
            raise Reject("EINVAL", "INVALID_FIELD")
        return oid

    def _member_cmd(self, name: str, cmd: Any, member: Member, events: list[tuple]) -> dict[str, Any]:
        f = cmd.fields
        if name == "RESOURCE_OBJ_CREATE":
            oid, kind = f.get("obj_id", 0), self._kind(f)
            if kind == "invalid":
                raise Reject("EINVAL", "INVALID_FIELD")
            limit = self.cap_get if kind == "get" else self.cap_set
            if oid >= self.n_objects or (oid >= limit and not self.bug("create-beyond-limit")):
                raise Reject("ENOSPC")
            if oid in self.objects:
                raise Reject("EINVAL", "INVALID_FIELD") if self.variant("other-error-codes") else Reject("EEXIST")
            self.objects[oid] = ResourceObject(member.mid, kind, kind)
            return {}
        if name == "RESOURCE_OBJ_DESTROY":
            oid = f.get("obj_id", 0)
            if not (self.bug("destroy-other-member") and oid in self.objects):
                self._own(f, member)
            del self.objects[oid]
            return {}
        if name == "RESOURCE_OBJ_MODIFY":
            kind = self._kind(f)
            if kind == "invalid":
                raise Reject("EINVAL", "INVALID_FIELD")
            _, obj = self._own(f, member)
            if self.variant("modify-refused"):
                raise Reject("EINVAL", "INVALID_FIELD")
            obj.kind = kind
            return {}
        if name == "RESOURCE_OBJ_QUERY":
            _, obj = self._own(f, member)
            kind = obj.created if self.bug("query-ignores-modify") else obj.kind
            if self.bug("query-wrong-type"):       # the other type than the last CREATE or MODIFY gave
                kind = {"get": "set", "set": "get"}[kind]
            return {"parts_type": PARTS_TYPE_NUMBER[kind]}
        if name == "DEV_PARTS_METADATA_GET":
            kind = f.get("type")
            if kind not in (METADATA_SIZE, METADATA_COUNT, METADATA_LIST):
                raise Reject("EINVAL", "INVALID_FIELD")
            self._object(f, member, "get")
            parts = self.parts(member)
            if kind == METADATA_SIZE:
                extra = 64 if self.variant("size-upper-bound") else 0
                return {"value": len(self.codec.encode_parts(parts)) + extra, "headers": []}
            if kind == METADATA_COUNT:
                return {"value": len(parts), "headers": []}
            return {"value": len(parts), "headers": [self._header(p) for p in parts]}
        if name == "DEV_PARTS_GET":
            kind = f.get("type")
            if kind not in (GET_SELECTED, GET_ALL):
                raise Reject("EINVAL", "INVALID_FIELD")
            self._object(f, member, "get")
            parts = self.parts(member)
            if kind == GET_SELECTED and not self.bug("selected-returns-all"):
                wanted = {(h.get("type"), h.get("index"), h.get("offset")) for h in f.get("headers", [])}
                parts = [p for p in parts if (p.get("type"), p.get("index"), p.get("offset")) in wanted]
            return {"parts": parts}
        if name == "DEV_PARTS_SET":
            running = member.mode != "stopped"
            refuse = None if self.variant("set-running-accepted") else (
                Reject("EINVAL", "INVALID_FIELD") if self.variant("set-running-einval") else Reject("EBUSY"))
            if running and refuse is not None and self.variant("state-before-object") \
                    and not self.bug("set-while-running"):
                raise refuse
            self._object(f, member, "set")
            value, held = self._check_set(f.get("parts", []))
            if running and (refuse is not None or self.bug("set-while-running")):
                if not self.bug("set-while-running") and refuse is not None:
                    raise refuse               # D-DP-4: SHOULD refuse while running
                if value is not None:
                    member.status = value      # the bug: applied at once, not at the resume
                return {}
            if not running and self.bug("set-applied-early"):
                self._apply_early(member, value, held)
                return {}
            if value is not None:
                member.pending = value
            if held is not None:               # D-DP-5: a later SET's parts replace an earlier one's
                prev = member.held_parts or {"drv": None, "parts": {}}
                member.held_parts = {"drv": held["drv"] if held["drv"] is not None else prev["drv"],
                                     "parts": {**prev["parts"], **held["parts"]}}
            return {}
        # DEV_MODE_SET
        flags = f.get("flags", 0)
        if flags & ~1 and not self.variant("reserved-flags-ignored"):
            if self.bug("einval-side-effect"):
                self._stop(member, events)
            raise Reject("EINVAL", "INVALID_FIELD")
        if flags & 1:
            if member.mode == "stopped" and self.bug("stop-not-idempotent"):
                raise Reject("EBUSY")
            if member.mode == "running" and self.variant("stop-refused-once"):
                self.real_stops += 1
                if self.real_stops % 2:
                    raise Reject("EBUSY")
            self._stop(member, events)
        else:
            self._resume(member, events)
        return {}

    def _header(self, part: dict[str, Any]) -> dict[str, Any]:
        """The part header METADATA_GET(LIST) reports for one part."""
        head: dict[str, Any] = {k: part[k] for k in ("type", "flags", "index", "offset") if k in part}
        head["length"] = len(self.codec.encode_parts([part])) - 16
        return head

    def _check_set(self, parts: list[dict[str, Any]]) -> tuple[int | None, dict[str, Any] | None]:
        """D-DP-6 (every part has the device's length), D-DP-7 (DEV_FEATURES the device's own,
        never applied; accepted features only ones it offers). Returns the status it restores
        (None when the record has no DEVICE_STATUS part, Q16: that part is kept) and the other
        parts it restores at the resume ({"drv": accepted features or None, "parts": {(type,
        index, offset): value}} for VQ_CFG, VQ_NOTIFY_CFG, PCI_COMMON_CFG), None if none."""
        status = None
        held: dict[str, Any] = {"drv": None, "parts": {}}
        for p in parts:
            kind, value = p.get("type"), p.get("value")
            if kind in ("VQ_CFG", "VQ_NOTIFY_CFG") and not isinstance(value, dict):
                raise Reject("EINVAL", "INVALID_FIELD")
            if kind == "DEVICE_STATUS":
                if not isinstance(value, int):
                    raise Reject("EINVAL", "INVALID_FIELD")
                status = value
            if kind == "DRV_FEATURES" and _words(value) is not None:
                held["drv"] = _words(value)
            if kind in ("VQ_CFG", "VQ_NOTIFY_CFG", "PCI_COMMON_CFG"):
                held["parts"][_part_key(p)] = value
        lax = self.bug("accepts-unoffered-features")
        for p in parts:
            if p.get("type") == "DEV_FEATURES" and p.get("value") != [self.features]:
                offered = _words(p.get("value"))
                if not (lax and offered is not None and offered & ~self.features):
                    raise Reject("EINVAL", "INVALID_FIELD")
        if held["drv"] is not None and held["drv"] & ~self.features and not lax:
            raise Reject("EINVAL", "INVALID_FIELD")      # accepted features it does not offer (D-DP-7)
        return status, (held if held["drv"] is not None or held["parts"] else None)

    # ------------------------------------------------------------------ modes

    def _stop(self, member: Member, events: list[tuple]) -> None:
        """Stop: every fetched buffer is written back as used before the command completes (D-DP-10/11)."""
        if not (self.bug("inflight-not-written-back") or self.bug("dma-after-stop")):
            for q in member.queues:
                if q.inflight:
                    member.unnotified.add(q.q)     # used buffers no notification may announce while stopped
                while q.inflight:
                    if self.variant("stop-returns-unused"):
                        self._return_unused(member, q, events)
                        continue
                    q.complete(member.mem, member.mid, self._dma(member, events),
                               write_index=not self.bug("stop-no-used-index"))
        member.mode = "stopped"

    def _return_unused(self, member: Member, q: DeviceQueue, events: list[tuple]) -> None:
        """Variant stop-returns-unused (Q9): the oldest in-flight buffer goes to the used ring
        with length 0, its data untouched (a used element and the used index, no data DMA)."""
        desc_id, _seq = q.inflight.pop(0)
        hook = self._dma(member, events)
        elem = used_addr(q.q) + 4 + 8 * (q.used_idx % QSIZE)
        member.mem.write(elem, desc_id.to_bytes(4, "little") + bytes(4))
        hook(elem, 8, False)
        q.used_idx = (q.used_idx + 1) & 0xFFFF
        member.mem.write(used_addr(q.q) + 2, q.used_idx.to_bytes(2, "little"))
        hook(used_addr(q.q) + 2, 2, False)

    def _resume(self, member: Member, events: list[tuple]) -> None:
        """Resume: parts written by SET take effect (I-DP-5). A stopped member that gets a
        DRIVER_OK status from them continues each queue from the used index in guest memory
        (no part carries last_avail_idx, Q4; the stop wrote back every observed buffer,
        D-DP-10/11). Notification rule (spurious notifications are permitted): a queue owes
        one used-buffer notification, sent at the member's next device step once running
        (`_pay_owed`), if the stop wrote back used buffers on it (no notification was allowed
        while stopped, D-DP-16), or if the resume restored it from SET parts and its used index
        in guest memory is not 0 (a destination cannot know what the source notified)."""
        was_stopped = member.mode == "stopped"
        restored = False
        if not self.bug("set-lost-at-resume"):
            if member.pending is not None:
                if member.mode != "stopped" and member.driver_ok and not member.pending & DRIVER_OK_BIT:
                    # a running member (SET parts accepted while running or held across an owner
                    # reset: variants) about to take a reset status finishes the buffers it holds
                    for q in member.queues:
                        while q.inflight:
                            q.complete(member.mem, member.mid, self._dma(member, events))
                member.status = member.pending
                # the restored queues continue where the used ring says; a running member keeps its queues
                if member.driver_ok and member.mode == "stopped":
                    restored = True
                    if not self.bug("dst-stale-position"):
                        self._restore_positions(member)
            self._apply_held(member, member.held_parts)
        member.pending = None
        member.held_parts = None
        member.early = False
        member.mode = "running"
        if was_stopped and member.driver_ok and not self.bug("resume-no-notify"):
            for q, g in zip(member.queues, member.guests, strict=True):
                if q.q in member.unnotified or (restored and g.used_idx()):
                    member.owed.add(q.q)
        if was_stopped:
            member.unnotified.clear()

    def _restore_positions(self, member: Member) -> None:
        """Each queue continues from the used index in guest memory (Q4)."""
        for q in member.queues:
            q.used_idx = member.guests[q.q].used_idx()
            q.last_avail = q.used_idx
            q.inflight = []

    @staticmethod
    def _apply_held(member: Member, held: dict[str, Any] | None) -> None:
        if held is None:
            return
        if held["drv"] is not None:
            member.drv_features = held["drv"]
        member.applied.update(held["parts"])

    def _apply_early(self, member: Member, status: int | None, held: dict[str, Any] | None) -> None:
        """Bug set-applied-early: the SET parts take effect on the stopped member at once, and
        the restored queues are used before the resume (the device polls their avail rings)."""
        if status is not None:
            member.status = status
        self._apply_held(member, held)
        if member.driver_ok:
            self._restore_positions(member)
            member.unnotified |= {g.q for g in member.guests if g.used_idx()}
            member.kicked = set(range(self.n_queues))
            member.early = True

    def _pay_owed(self, member: Member, events: list[tuple], skip: int | None = None) -> bool:
        """Send the used-buffer notifications the resume left owed (once the member may use its
        queues); `skip`: a queue the caller notifies itself."""
        if not member.owed or not self.may_access(member):
            return False
        for q in sorted(member.owed):
            if q != skip:
                events.append(("used_notify", member.mid, q, 0))
        member.owed.clear()
        return True

    def parts(self, member: Member) -> list[dict[str, Any]]:
        """Every part of the member as a GET reports it, in order-table order (§7); variant
        get-returns-set: with SET parts held for the resume, the parts they restore."""
        return self._parts(member, report=True)

    def held_parts(self, member: Member) -> list[dict[str, Any]]:
        """The parts the member really holds (in effect), whatever a GET would report: what a
        migration must carry to the destination (state(), for `mcheck migrate-demo`)."""
        return self._parts(member, report=False)

    def _parts(self, member: Member, *, report: bool) -> list[dict[str, Any]]:
        status, drv, applied = member.status, member.drv_features, member.applied
        if report and self.variant("get-returns-set"):
            if member.pending is not None:
                status = member.pending
            if member.held_parts is not None:
                drv = member.held_parts["drv"] if member.held_parts["drv"] is not None else drv
                applied = {**applied, **member.held_parts["parts"]}
        ok = bool(status & DRIVER_OK_BIT)
        accepted = (self.features if drv is None else drv) if ok else 0
        if report and self.bug("get-drops-feature") and accepted:
            accepted &= ~(1 << (accepted.bit_length() - 1))      # the highest accepted bit left out

        def value(key: tuple, default: Any) -> Any:
            got = applied.get(key) if ok else None
            if isinstance(default, dict) and isinstance(got, dict):
                return {**default, **got}
            return default if got is None else got

        head = [
            {"type": "DEV_FEATURES", "flags": 0 if report and self.bug("features-not-optional") else OPTIONAL_PART,
             "value": [self.features]},
            {"type": "DRV_FEATURES", "flags": 0, "value": [accepted]},
            {"type": "DEVICE_STATUS", "flags": 0, "value": status.to_bytes(4, "little")
             if report and self.bug("get-bad-part-length") else status},      # 4 bytes where the type has 1
        ]
        if self.variant("pci-common-cfg"):     # num_queues (offset 18) and msix_config (offset 16)
            head[2:2] = [{"type": "PCI_COMMON_CFG", "flags": 0, "offset": 16,
                          "value": value(("PCI_COMMON_CFG", None, 16), 0)},
                         {"type": "PCI_COMMON_CFG", "flags": 0, "offset": 18, "value": self.n_queues}]
        if report and self.bug("parts-out-of-order"):
            head = [head[0], head[2], head[1]]
        vq = []
        for q in range(self.n_queues):
            cfg = value(("VQ_CFG", q, None), {
                "queue_size": QSIZE, "vector": q + 1, "enabled": int(ok), "queue_desc": desc_addr(q) if ok else 0,
                "queue_driver": avail_addr(q) if ok else 0, "queue_device": used_addr(q) if ok else 0})
            if report and self.bug("get-wrong-queue-address"):
                cfg = {**cfg, "queue_driver": cfg.get("queue_desc", 0)}
            vq.append({"type": "VQ_CFG", "flags": 0, "index": q, "value": cfg})
        if report and self.bug("parts-missing-vq"):
            vq = vq[:-1]
        notify = [{"type": "VQ_NOTIFY_CFG", "flags": 0, "index": q,
                   "value": value(("VQ_NOTIFY_CFG", q, None), {"queue_notify_off": q, "queue_notif_config_data": 0})}
                  for q in range(self.n_queues)]
        if report and self.bug("parts-missing-notify"):
            notify = notify[:-1]
        return head + vq + notify

    # ------------------------------------------------------------------ faults

    def _reset_member(self, member: Member, *, keep_parts: bool = False) -> None:
        if not keep_parts:
            member.status = 0
            member.pending = None
            member.drv_features = None
            member.applied = {}
            member.held_parts = None
        member.early = False
        member.unnotified.clear()
        member.owed.clear()
        for q, g in zip(member.queues, member.guests, strict=True):
            q.reset()
            g.init()       # the guest driver throws its rings away and starts again
        member.kicked.clear()
        if not self.variant("mode-kept-after-reset"):
            member.mode = "running"   # Q1: a reset member is running (Linux, T6)

    def inject(self, kind: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        events: list[tuple] = []
        member = self.members.get(m)
        if kind == "owner_reset":   # D-GA-7, D-CAP-5, D-RO-8; members keep their mode and held parts
            self.enabled = {GROUP_SELF: set(LIST_OPS), GROUP_SRIOV: set(LIST_OPS)}
            self.cap_get = self.cap_set = 0
            if not self.bug("owner-reset-keeps-objects"):
                self.objects.clear()
            for x in self.members.values():
                if self.variant("owner-reset-resumes"):
                    x.mode = "running"             # Q8 reading running (held SET parts stay for a resume)
                if self.variant("owner-reset-drops-pending"):
                    x.pending = None
                    x.held_parts = None
            return True, events
        if member is None:
            return False, events
        if kind == "flr_begin":
            if member.phase != "none":
                return False, events
            member.phase = "flr"
            self._reset_member(member, keep_parts=self.bug("flr-keeps-parts"))
            if self.variant("objects-destroyed-at-flr"):     # T5 reading destroyed
                self.objects = {k: v for k, v in self.objects.items() if v.member != m}
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
        if kind == "pm_begin":         # parts and mode unchanged; MODE_SET and SET wait (D-DP-19)
            if member.phase != "none":
                return False, events
            member.phase = "pm"
            return True, events
        if kind == "pm_end":
            if member.phase != "pm":
                return False, events
            member.phase = "none"
            self._release(member, events)
            return True, events
        if kind == "doorbell":   # accepted in any mode (D-DP-12); the device serves the queue when it runs
            if 0 <= q < self.n_queues and not (member.mode == "stopped" and self.bug("doorbell-lost-while-stopped")):
                member.kicked.add(q)
            return True, events
        return False, events

    def _release(self, member: Member, events: list[tuple]) -> None:
        held, member.held = member.held, []
        if self.bug("held-out-of-order"):
            held.reverse()
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
        return member.phase == "none" and member.driver_ok and (member.mode == "running" or stopped_ok or member.early)

    def workload(self, op: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        """One guest or device step; `done` says whether it happened. A device step that can
        notify (complete, notify, service, run) first sends the notifications a resume left
        owed (`_resume`); the step then counts as done."""
        member = self.members.get(m)
        if op in ("complete", "notify", "service", "run") and member is not None and 0 <= q < self.n_queues \
                and member.owed:
            events: list[tuple] = []
            paid = self._pay_owed(member, events, skip=q if op == "notify" else None)
            done, more = self._step(op, m, q)
            return done or paid, events + more
        return self._step(op, m, q)

    def _step(self, op: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
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
            if q not in member.kicked:     # nothing to do until the driver notifies the queue
                return False, events
            if dq.fetch(member.mem):
                return True, events
            member.kicked.discard(q)       # served to the end: wait for the next doorbell
            return False, events
        if op == "complete":
            if not self.may_access(member, stopped_ok=self.bug("dma-after-stop")):
                return False, events
            return dq.complete(member.mem, m, self._dma(member, events)), events
        if op == "notify":
            if not self.may_access(member, stopped_ok=self.bug("notify-after-stop")):
                return False, events
            events.append(("used_notify", m, q, 0))
            member.unnotified.discard(q)
            return True, events
        if op == "config":
            if not self.may_access(member):
                return False, events
            events.append(("config_notify", m, 0, 0))
            return True, events
        if op == "pme":              # a PCI PME, never while stopped (D-DP-15)
            if member.phase != "none" or (member.mode == "stopped" and not self.bug("pme-while-stopped")):
                return False, events
            events.append(("pme", m, 0, 0))
            return True, events
        if op == "pci_read":         # valid data stopped or running (D-DP-13/14); all-ones while resetting
            bad = member.phase == "flr" or (member.mode == "stopped" and self.bug("bad-read-while-stopped"))
            events.append(("pci_read", m, 0, ALL_ONES if bad else PCI_ID))
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
        return {"enabled": {str(g): sorted(ops) for g, ops in self.enabled.items()},
                "cap_get": self.cap_get, "cap_set": self.cap_set,
                "objects": {str(k): [v.member, v.kind] for k, v in self.objects.items()},
                "features": self.features,
                "members": {str(m): {"mode": x.mode, "phase": x.phase, "status": x.status,
                                     "parts": self.held_parts(x), "owed": sorted(x.owed),
                                     "queues": [{"last_avail": d.last_avail, "used_idx": d.used_idx,
                                                 "inflight": len(d.inflight), "avail_idx": g.avail_idx(),
                                                 "guest_used_idx": g.used_idx()}
                                                for d, g in zip(x.queues, x.guests, strict=True)]}
                            for m, x in self.members.items()}}


PAGE_SIZE = PAGE
