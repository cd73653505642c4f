"""The driver's side of a virtio 1.4 capture: the R-* clauses of
shared/reference/virtio-1.4-device-parts.md §10, judged from the admin commands the driver
sent and the answers it saw.

A capture shows both sides, so replay reports the driver's departures separately from the
device's divergences (`Result.driver_findings`); they never change the verdict. The rules
only report what the capture proves: when a completion is missing, or an FLR or reset
leaves a member's mode unknown, the driver gets the benefit of the doubt.

Fed by `mcheck.replay.engine.replay_events` through `Virtio14.driver_rules()`: `step` for
every trace event in order, `finish` at the end.
"""

from __future__ import annotations

import itertools
from typing import Any
from collections.abc import Mapping

from mcheck.trace.codec import CodecError, opcodes_of
from mcheck.trace.events import AdminCommand

SRIOV = 0x1               # group type: members are VFs 1..NumVFs
MODE_STOPPED = 0x1        # DEV_MODE_SET flags bit 0
DEV_PARTS_SET_OPCODE = 0x10
GROUP_ADMIN = ("LIST_QUERY", "LIST_USE")
# commands whose group_member_id is unused (0): the group administration and capability commands
MEMBERLESS = frozenset((*GROUP_ADMIN, "CAP_ID_LIST_QUERY", "DEVICE_CAP_GET", "DRIVER_CAP_SET"))
# the device-parts order table (R-DP-2)
PART_ORDER = {name: rank for rank, name in enumerate(
    ("DEV_FEATURES", "DRV_FEATURES", "PCI_COMMON_CFG", "DEVICE_STATUS", "VQ_CFG", "VQ_NOTIFY_CFG"))}

Finding = tuple[str, str]  # (clause id, message)


class DriverRules:
    """Driver-side state from the capture: which group types a LIST_USE enabled, what
    LIST_QUERY reported, the mode the driver put each member in, whether driver
    capabilities were set, which resource objects are live."""

    def __init__(self, params: Mapping[str, Any] | Any) -> None:
        self.members = int(params["members"])
        self.reported: dict[int, set[int]] = {}   # group type -> opcodes of its last OK LIST_QUERY
        self.submitted: dict[int, AdminCommand] = {}   # tag -> command (only in a split stream)
        self.stopped: dict[int, bool | None] = {}   # member -> stopped (None: unknown); at the start all run
        self._reset()

    def _reset(self) -> None:
        """The owner's state after a reset (D-GA-7, D-CAP-5, D-RO-8): nothing enabled, no
        driver capabilities, no objects. The supported sets stay (D-GA-10)."""
        self.used: set[int] = set()          # group types with a LIST_USE answered OK (or unanswered)
        self.unused_flagged: set[int] = set()   # group types already reported under R-GA-6
        # keys are the decoded fields, None where a capture's command lacks one
        self.caps: dict[int | None, tuple[Any, ...] | None] = {}  # cap id -> limits last set (None: answer unknown)
        self.live: set[tuple[int | None, int | None]] = set()    # (obj_type, obj_id) created OK, not destroyed
        # Q8: a stopped member's mode after an owner reset is not stated; a running one runs
        self.stopped = {m: (None if v is not False else False) for m, v in self.stopped.items()}

    # -- the event stream
    def step(self, event: Any, observed: dict[str, Any] | None) -> list[Finding]:
        """Findings for one trace event (`observed`, the model's view of it, is not needed:
        the rules read the decoded command)."""
        kind = event.KIND
        if kind == "admin":
            return self._admin(event)
        if kind == "submit":
            return self._submit(event)
        if kind == "complete":
            sub = self.submitted.pop(event.tag, None)
            if sub is None:
                return []
            return self._admin(AdminCommand(index=event.index, timestamp=event.timestamp, aq=sub.aq, tag=sub.tag,
                                            readable=sub.readable, writable=event.writable, codec=sub.codec))
        if kind == "owner_reset":
            self._reset()
        elif kind in ("flr_begin", "flr_end", "member_reset"):
            self.stopped[event.member] = None   # Q1: the mode after an FLR or reset is not stated
        return []

    def finish(self) -> list[Finding]:
        """No rule of §10 is judged at the end of a capture: a capture may stop anywhere."""
        return []

    def _submit(self, event: Any) -> list[Finding]:
        out: list[Finding] = []
        try:
            name = event.command.name
        except CodecError:
            name = None
        if name == "LIST_USE" and self.submitted:
            out.append(("R-GA-3", f"LIST_USE sent while {len(self.submitted)} other command(s) are outstanding"))
        self.submitted[event.tag] = AdminCommand(index=event.index, timestamp=event.timestamp, aq=event.aq,
                                                 tag=event.tag, readable=event.readable, writable=None,
                                                 codec=event.codec)
        return out

    # -- one admin command with its answer (writable None: no completion in the capture)
    def _admin(self, ev: AdminCommand) -> list[Finding]:
        out: list[Finding] = []
        writable = ev.writable
        # only the readable part shows what the driver supplied (the writable length is what
        # the device wrote); a DEV_PARTS_SET carries a part list that cannot be padded without
        # a malformed trailing part header, so the spec leaves it no conforming length
        if len(ev.readable) % 8 and ev.opcode != DEV_PARTS_SET_OPCODE:
            out.append(("R-AQ-2", f"opcode {ev.opcode:#x}: readable part {len(ev.readable)} bytes, not a multiple "
                                  f"of 8 (the device must still accept it: D-AQ-1, D-AQ-4)"))
        try:
            cmd = ev.command
        except CodecError:   # data that does not fit the layout: the header rules cannot be read
            return out
        name = cmd.name
        shown = name or f"opcode {cmd.opcode:#x}"
        # None: no completion; True/False: answered OK or not
        ok = None if writable is None else int.from_bytes(writable[0:2], "little") == 0
        group = cmd.group_type
        if name not in GROUP_ADMIN and group not in self.used and group not in self.unused_flagged:
            self.unused_flagged.add(group)
            out.append(("R-GA-2,R-GA-6", f"{shown} on group type {_group(cmd)} before a LIST_USE for that group type "
                                         f"completed OK"))
        if group == SRIOV and name is not None and name not in MEMBERLESS and not 1 <= cmd.member <= self.members:
            out.append(("R-GA-9", f"{shown} for SR-IOV member {cmd.member}, outside 1..NumVFs "
                                  f"(1..{self.members})"))
        handler = _HANDLERS.get(name or "")
        if handler is not None:
            out.extend(handler(self, ev, cmd.fields, ok))
        return out

    def _list_query(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        if ok:
            try:
                words = ev.result.fields.get("opcodes", []) if ev.result else []
            except CodecError:
                return []
            self.reported[ev.command.group_type] = opcodes_of(words)
        return []

    def _list_use(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        out: list[Finding] = []
        group = ev.command.group_type
        known = self.reported.get(group)
        if known is not None:
            extra = sorted(opcodes_of(fields.get("opcodes", [])) - known)
            if extra:
                out.append(("R-GA-5", f"LIST_USE on group type {_group(ev.command)} enables opcode(s) "
                                      f"{', '.join(f'{o:#x}' for o in extra)} that its last LIST_QUERY did not report"))
        if ok is not False:
            self.used.add(group)
            self.unused_flagged.discard(group)
        return out

    def _mode_set(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        member = ev.command.member
        if ok is None:
            self.stopped[member] = None
        elif ok:
            self.stopped[member] = bool(fields.get("flags", 0) & MODE_STOPPED)
        return []

    def _parts_set(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        out: list[Finding] = []
        member = ev.command.member
        stopped = self.stopped.get(member, False)
        if stopped is False:
            out.append(("R-DP-1", f"DEV_PARTS_SET for member {member}, which the driver has not stopped "
                                  f"(DEV_MODE_SET with the STOPPED flag)"))
        ranks = [(PART_ORDER[p["type"]], p["type"]) for p in fields.get("parts", []) if p.get("type") in PART_ORDER]
        for (before, first), (after, second) in itertools.pairwise(ranks):
            if after < before:
                out.append(("R-DP-2", f"DEV_PARTS_SET lists {second} after {first}, against the order table"))
                break
        return out

    def _driver_cap_set(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        out: list[Finding] = []
        cap = fields.get("id")
        limits = tuple(v for k, v in sorted(fields.items()) if k != "id" and not k.startswith("reserved"))
        before = self.caps.get(cap, ())
        if self.live and before is not None and before != limits:
            out.append(("R-CAP-3", f"DRIVER_CAP_SET changes capability {cap} while {len(self.live)} resource "
                                   f"object(s) exist (R-RO-5)"))
        if ok is None:
            self.caps[cap] = None
        elif ok:
            self.caps[cap] = limits
        return out

    def _obj_create(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        out: list[Finding] = []
        key = (fields.get("obj_type"), fields.get("obj_id"))
        if not self.caps and ev.command.group_type == SRIOV:
            out.append(("R-CAP-1", f"RESOURCE_OBJ_CREATE of object {key[1]} (type {key[0]}) before any DRIVER_CAP_SET "
                                   f"was answered OK since the last owner reset (R-RO-6)"))
        if key in self.live:
            out.append(("R-RO-1", f"RESOURCE_OBJ_CREATE of object {key[1]} (type {key[0]}), which is live: "
                                  f"not destroyed since it was created"))
        if ok:
            self.live.add(key)
        return out

    def _obj_destroy(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        key = (fields.get("obj_type"), fields.get("obj_id"))
        if ok is not False:   # unanswered: maybe destroyed, so no longer known to be live
            self.live.discard(key)
        return []

    def _metadata_get(self, ev: AdminCommand, fields: dict[str, Any], ok: bool | None) -> list[Finding]:
        out: list[Finding] = []
        if ev.writable is not None:
            status = ev.result.status_name if ev.result else None
            if status == "ENOMEM":
                out.append(("R-DP-4", "DEV_PARTS_METADATA_GET answered ENOMEM: the driver SHOULD give a result "
                                      "buffer big enough for the answer (I-DP-3)"))
        return out


_HANDLERS = {
    "LIST_QUERY": DriverRules._list_query,
    "LIST_USE": DriverRules._list_use,
    "DEV_MODE_SET": DriverRules._mode_set,
    "DEV_PARTS_SET": DriverRules._parts_set,
    "DRIVER_CAP_SET": DriverRules._driver_cap_set,
    "RESOURCE_OBJ_CREATE": DriverRules._obj_create,
    "RESOURCE_OBJ_DESTROY": DriverRules._obj_destroy,
    "DEV_PARTS_METADATA_GET": DriverRules._metadata_get,
}


def _group(cmd: Any) -> str:
    return cmd.group_type_name or f"{cmd.group_type:#x}"
