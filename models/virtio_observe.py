"""What a captured virtio 1.4 event means to the virtio-1.4 model.

The replayer matches trace events against the events the model's actions emit, on the
fields both know. This module turns a decoded trace event (exact bytes, decoded by the
wire profile) into the model's vocabulary. Fields a capture cannot tell (a DMA write's
queue, a missing completion's status) are left out and match anything; the model leaves
out fields the spec leaves free (which error, which qualifier), so any value matches.

A GET answer is judged by its parts: in order-table order (D-DP-3), complete for ALL
(I-DP-8: DRV_FEATURES and DEVICE_STATUS once, DEV_FEATURES at most once, VQ_CFG and
VQ_NOTIFY_CFG once per queue), well formed (each part's length for its type, D-DP-6;
DEV_FEATURES flagged OPTIONAL and no duplicates, I-DP-8), only requested parts for
SELECTED (I-DP-4, D-DP-23), and the DEVICE_STATUS value it carries. A SET record is
summarised by the device_status it carries (`keep` when it has none, Q16), `bad-length`
or `features-mismatch`.
"""

from __future__ import annotations

from typing import Any

from mcheck.trace.codec import opcodes_of
from mcheck.models.virtio_opcodes import (
    GROUP_SELF, GROUP_SRIOV, SRIOV_COMMANDS, classify, group_of, lists_complete,
)

# order table (§7): the position of each common part type; other types are not ordered (Q14)
PART_ORDER = {"DEV_FEATURES": 1, "DRV_FEATURES": 2, "PCI_COMMON_CFG": 3, "DEVICE_STATUS": 4, "VQ_CFG": 5,
              "VQ_NOTIFY_CFG": 6}
OPTIONAL = 0x01
DRIVER_OK = 0x04
SUBTYPES = {0: "get", 1: "set"}
METADATA_TYPES = {0: "SIZE", 1: "COUNT", 2: "LIST"}
GET_TYPES = {0: "SELECTED", 1: "ALL"}
# the features the model's device offers, as DEV_FEATURES words; a SET's DEV_FEATURES part
# is compared with the ones the same capture's GET answers reported (D-DP-7)
FEATURE_TYPES = ("DEV_FEATURES", "DRV_FEATURES")

#: what the generic replayer needs to know about this vocabulary (mcheck/replay/rules.py):
#: an admin command observed without a status lost its completion; kind, cmd, member and
#: group name a command; a replay without divergence conforms to D-GA-2 (the device answers
#: every command as the spec allows)
REPLAY_RULES = {"command_kinds": ("admin",), "answer_field": "status",
                "command_fields": ("kind", "cmd", "member", "group"), "default_clauses": ("D-GA-2",)}


def _status_value(parts: list[dict[str, Any]]) -> str | None:
    for part in parts:
        if part.get("type") == "DEVICE_STATUS" and isinstance(part.get("value"), int):
            return "driver_ok" if part["value"] & DRIVER_OK else "reset"
    return None


def _well_formed(part: dict[str, Any]) -> bool:
    """A part whose value decoded into its type's structure has the device's length (D-DP-6)."""
    kind, value = part.get("type"), part.get("value")
    if kind in FEATURE_TYPES:
        return isinstance(value, list)
    if kind in ("VQ_CFG", "VQ_NOTIFY_CFG"):
        return isinstance(value, dict)
    if kind in ("DEVICE_STATUS", "PCI_COMMON_CFG"):
        return isinstance(value, int)
    return True


def _identity(part: dict[str, Any]) -> tuple[Any, ...]:
    return (part.get("type"), part.get("index"), part.get("offset"), part.get("selector"))


def _in_order(parts: list[dict[str, Any]]) -> bool:
    ranks = [PART_ORDER[p["type"]] for p in parts if p.get("type") in PART_ORDER]
    return ranks == sorted(ranks)


def _parts_ok(parts: list[dict[str, Any]]) -> bool:
    """Every part well formed, DEV_FEATURES flagged OPTIONAL, no part twice (I-DP-8)."""
    seen: set[tuple[Any, ...]] = set()
    for p in parts:
        ident = _identity(p)
        if ident in seen or not _well_formed(p):
            return False
        if p.get("type") == "DEV_FEATURES" and not p.get("flags", 0) & OPTIONAL:
            return False
        seen.add(ident)
    return True


def _complete(parts: list[dict[str, Any]], queues: int) -> bool:
    """Every non-optional part of the member once: a complete state (I-DP-8, §8.3)."""
    count: dict[tuple[Any, ...], int] = {}
    for p in parts:
        key = (p.get("type"), p.get("index")) if p.get("type") in ("VQ_CFG", "VQ_NOTIFY_CFG") else (p.get("type"),)
        count[key] = count.get(key, 0) + 1
    needed = [("DRV_FEATURES",), ("DEVICE_STATUS",)] + [(t, q) for q in range(queues)
                                                       for t in ("VQ_CFG", "VQ_NOTIFY_CFG")]
    return all(count.get(k) == 1 for k in needed) and count.get(("DEV_FEATURES",), 0) <= 1


def get_summary(parts: list[dict[str, Any]], queues: int, kind: str, asked: list[dict[str, Any]]) -> dict[str, Any]:
    """A GET answer in the model's terms."""
    out: dict[str, Any] = {"order": "table" if _in_order(parts) else "wrong", "parts_ok": _parts_ok(parts)}
    if kind == "ALL":
        out["complete"] = _complete(parts, queues)
    elif kind == "SELECTED":
        wanted = {(h.get("type"), h.get("index"), h.get("offset")) for h in asked}
        out["selected_ok"] = all((p.get("type"), p.get("index"), p.get("offset")) in wanted for p in parts)
    value = _status_value(parts)
    if value is not None:
        out["device_status"] = value
    return out


def snapshot_of(parts: list[dict[str, Any]], features: list[int] | None) -> str:
    """A SET record: the device_status it restores (`keep` if it carries none), a part with
    a wrong length, or DEV_FEATURES that differ from the device's (when known)."""
    if not all(_well_formed(p) for p in parts):
        return "bad-length"
    if features is not None:
        for p in parts:
            if p.get("type") == "DEV_FEATURES" and _trimmed(p["value"]) != _trimmed(features):
                return "features-mismatch"
    return _status_value(parts) or "keep"


def _trimmed(words: list[int]) -> list[int]:
    out = list(words)
    while out and out[-1] == 0:
        out.pop()
    return out


def _limit(value: int | None, objects: int) -> int | None:
    """A driver capability limit in the model's range: values above the device's `objects`
    ids all stand for "above the device's limit" (objects + 1)."""
    return None if value is None else min(value, objects + 1)


def _all_ones(value: Any) -> bool:
    data = bytes.fromhex(value) if isinstance(value, str) else bytes(value or b"")
    return bool(data) and all(b == 0xFF for b in data)


# answered commands whose views feed the I-DP-10 window
_SIZE_COMMANDS = frozenset({"DEV_MODE_SET", "DEV_PARTS_SET", "DEV_PARTS_METADATA_GET", "DEV_PARTS_GET"})


def _parts_length(result: bytes) -> int:
    """Bytes of the parts in a GET result (16-byte headers plus values), without the
    padding a device adds to reach a multiple of 8 (D-AQ-5)."""
    pos = 0
    while len(result) - pos >= 16:
        pos += 16 + int.from_bytes(result[pos + 12:pos + 16], "little")
    return min(pos, len(result))


# side-band events: one small function per kind (the replayer's hot path)
_SIDEBAND_VIEW = {
    "dma_write": lambda e: {"kind": "dma_write", "member": e.member},
    "used_notify": lambda e: {"kind": "used_notify", "member": e.member, "queue": e.queue},
    "config_notify": lambda e: {"kind": "config_notify", "member": e.member},
    "doorbell": lambda e: {"kind": "doorbell", "member": e.member, "queue": e.queue},
    "flr_begin": lambda e: {"kind": "flr_begin", "member": e.member},
    "flr_end": lambda e: {"kind": "flr_end", "member": e.member},
    "member_reset": lambda e: {"kind": "member_reset", "member": e.member},
    "owner_reset": lambda e: {"kind": "owner_reset"},
    "pm_begin": lambda e: {"kind": "pm_begin", "member": e.member},
    "pm_end": lambda e: {"kind": "pm_end", "member": e.member},
    "pme": lambda e: {"kind": "pme", "member": e.member},
    "pci_read": lambda e: {"kind": "pci_read", "member": e.member, "valid": not _all_ones(e.value)},
}

# admin commands repeat byte for byte in long captures (METADATA_GET polling, MODE_SETs):
# their views are cached by (bytes); bounded, cleared when full. Callers must not modify
# the returned dict.
_CACHE_LIMIT = 4096


class Observer:
    """The observation of one model configuration (members, objects, queues). It remembers
    the DEV_FEATURES a GET reported, so a SET's DEV_FEATURES can be compared (D-DP-7), and
    the SIZE a METADATA_GET answered for a member the driver had stopped, so the next
    GET(ALL) of that object can be held to it (I-DP-10) while nothing can change the parts:
    any event of the member (a doorbell, a fault, a SET, a MODE_SET) ends that window."""

    def __init__(self, *, members: int, objects: int, queues: int, self_sets: tuple[str, ...],
                 sriov_sets: tuple[str, ...]) -> None:
        self.members = members
        self.sets = {GROUP_SELF: self_sets, GROUP_SRIOV: sriov_sets}
        self.objects = objects
        self.queues = queues
        self.features: list[int] | None = None
        # member None: a DEV_* command outside the SR-IOV group, which names no member
        self.stopped: set[int | None] = set()                         # members the driver stopped (OK answers)
        self.sizes: dict[tuple[int | None, int | None], int] = {}     # (member, object id) -> SIZE answered while stopped
        self._cache: dict[tuple[Any, bytes, bytes | None], dict[str, Any]] = {}

    def observe(self, event: Any) -> dict[str, Any] | None:
        """The model event a trace event stands for; None for events the model ignores."""
        kind = event.KIND
        view = _SIDEBAND_VIEW.get(kind)
        if view is not None:
            if self.sizes or self.stopped:
                self._member_event(getattr(event, "member", None))
            return view(event)
        if kind != "admin":
            return None
        key = (event.codec, event.readable, event.writable)
        found = self._cache.get(key)
        if found is None:
            found = self._admin(event)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            if found.get("cmd") != "DEV_PARTS_SET":   # a SET's view depends on the features seen
                self._cache[key] = found
        if found.get("ok") and found["cmd"] in _SIZE_COMMANDS:
            found = self._size_window(event, found)
        return found

    def _member_event(self, member: int | None) -> None:
        """Something happened to `member` (or to every member: the owner reset)."""
        if member is None:
            self.stopped.clear()
            self.sizes.clear()
            return
        self.stopped.discard(member)
        self.sizes = {k: v for k, v in self.sizes.items() if k[0] != member}

    def _size_window(self, event: Any, found: dict[str, Any]) -> dict[str, Any]:
        """I-DP-10 bookkeeping for an answered command; a GET(ALL) view gains `within_size`."""
        m, cmd = found.get("member"), found["cmd"]
        key = (m, found.get("id"))
        if cmd == "DEV_MODE_SET":
            self._member_event(m)
            if found["flags"] & 0x01:
                self.stopped.add(m)
        elif cmd == "DEV_PARTS_SET":
            self.sizes = {k: v for k, v in self.sizes.items() if k[0] != m}
        elif cmd == "DEV_PARTS_METADATA_GET" and found["type"] == "SIZE" and m in self.stopped:
            self.sizes[key] = event.result.fields.get("value", 0)
        elif cmd == "DEV_PARTS_GET" and found["type"] == "ALL" and key in self.sizes:
            found = dict(found, within_size=_parts_length(event.writable[8:]) <= self.sizes[key])
        return found

    def _member(self, member: int) -> int:
        return member if 1 <= member <= self.members else self.members + 1

    def _admin(self, event: Any) -> dict[str, Any]:
        cmd = event.command
        name = cmd.name
        if name is None:
            name = "UNKNOWN"
        group = group_of(cmd.group_type)
        out: dict[str, Any] = {"kind": "admin", "cmd": name, "group": group}
        if group == GROUP_SRIOV and name in SRIOV_COMMANDS:
            out["member"] = self._member(cmd.member)
        f = cmd.fields
        result = event.result
        ok = result is not None and result.status == 0
        if name == "LIST_USE":
            cls = classify(group, opcodes_of(f.get("opcodes", [])))
            out["bitmap"] = cls if cls in self.sets.get(group, ()) else "other"   # coarser classes: sound
        elif name == "DEVICE_CAP_GET":
            out["cap_id"] = 0 if f.get("id", 0) == 0 else 1
        elif name == "DRIVER_CAP_SET":
            out.update(cap_id=0 if f.get("id", 0) == 0 else 1, get_limit=_limit(f.get("get_parts_limit"), self.objects),
                       set_limit=_limit(f.get("set_parts_limit"), self.objects))
        elif name in ("RESOURCE_OBJ_CREATE", "RESOURCE_OBJ_MODIFY"):
            valid = f.get("obj_type", 0) == 0 and not f.get("flags")
            out["subtype"] = SUBTYPES.get(f.get("parts_type"), "invalid") if valid else "invalid"
        if name in SRIOV_COMMANDS and name != "DEV_MODE_SET":
            out["id"] = min(f.get("obj_id", 0), self.objects)
        if name == "DEV_PARTS_METADATA_GET":
            out["type"] = METADATA_TYPES.get(f.get("type"), "invalid")
        elif name == "DEV_PARTS_GET":
            out["type"] = GET_TYPES.get(f.get("type"), "invalid")
        elif name == "DEV_PARTS_SET":
            out["parts"] = snapshot_of(f.get("parts", []), self.features)
        elif name == "DEV_MODE_SET":
            flags = f.get("flags", 0)
            out["flags"] = flags & 0x01 | (0x02 if flags & 0xFE else 0)   # bits 1..7 stand as one (Q5)
        if result is None:
            return out
        out["ok"] = ok
        out["transient"] = result.status_name in ("EAGAIN", "ENOMEM")
        out["status"] = result.status_name or f"status {result.status}"
        out["qualifier"] = "Q_OK" if result.qualifier == 0 else (result.qualifier_name or f"qualifier {result.qualifier}")
        if not ok:
            return out
        rf = result.fields
        if name == "LIST_QUERY":
            out["lists"] = "complete" if lists_complete(group, opcodes_of(rf.get("opcodes", []))) else "incomplete"
        elif name == "CAP_ID_LIST_QUERY":
            words = rf.get("supported_caps", [])
            out["reports_devparts"] = bool(words and words[0] & 1)
        elif name == "DEVICE_CAP_GET" and out.get("cap_id") == 0:
            out.update(get_limit=rf.get("get_parts_limit"), set_limit=rf.get("set_parts_limit"))
        elif name == "RESOURCE_OBJ_QUERY":
            out["subtype"] = SUBTYPES.get(rf.get("parts_type"), "invalid")
        elif name == "DEV_PARTS_GET":
            parts = rf.get("parts", [])
            out.update(get_summary(parts, self.queues, out["type"], f.get("headers", [])))
            for p in parts:
                if p.get("type") == "DEV_FEATURES" and isinstance(p.get("value"), list):
                    self.features = p["value"]
        elif name == "DEV_PARTS_METADATA_GET" and out["type"] == "LIST":
            headers = rf.get("headers", [])
            out.update(order="table" if _in_order(headers) else "wrong", complete=_complete(headers, self.queues))
        return out
