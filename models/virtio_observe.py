"""What a captured virtio 1.4 event means to the virtio-1.4 model.

The replayer matches trace events against the events the model's actions emit. This
module turns a decoded trace event (exact bytes, decoded by the wire profile) into the
model's vocabulary: the abstract fields its `s.emit(...)` calls carry. Fields the capture
cannot tell (a DMA write's queue, a missing completion's status) are left out and match
anything. The abstraction mirrors docs/spec-choices.md: a GET answer is summarised by its
DEVICE_STATUS value, whether its parts are in order-table order and how many VQ_CFG parts
it has; a SET record by the snapshot it restores, or `bad-length`.
"""

from __future__ import annotations

from typing import Any

from mcheck.trace.codec import opcodes_of

# the dev-parts bundle Linux enables with LIST_USE (linux-qemu-flows.md §1.1)
DEVPARTS_OPCODES = frozenset({0x7, 0x8, 0x9, 0xA, 0xD, 0xE, 0xF, 0x10, 0x11})
BASE_OPCODES = frozenset({0x0, 0x1})

# order table (§7): the position of each common part type
PART_ORDER = {"DEV_FEATURES": 1, "DRV_FEATURES": 2, "PCI_COMMON_CFG": 3, "DEVICE_STATUS": 4, "VQ_CFG": 5,
              "VQ_NOTIFY_CFG": 6}
DRIVER_OK = 0x04
SUBTYPES = {0: "get", 1: "set"}
METADATA_TYPES = {0: "SIZE", 1: "COUNT", 2: "LIST"}
GET_TYPES = {0: "SELECTED", 1: "ALL"}



def bitmap_class(words: list[int]) -> str:
    """LIST_USE data: the whole dev-parts bundle, only the base pair, or something partial."""
    ops = opcodes_of(words)
    if DEVPARTS_OPCODES <= ops:
        return "devparts"
    if ops <= BASE_OPCODES:
        return "base"
    return "partial"


def _status_value(parts: list[dict[str, Any]]) -> str | None:
    for part in parts:
        if part.get("type") == "DEVICE_STATUS" and isinstance(part.get("value"), int):
            return "driver_ok" if part["value"] & DRIVER_OK else "reset"
    return None


def _well_formed(part: dict[str, Any]) -> bool:
    """A part whose value decoded into its structure has the device's length (D-DP-6)."""
    kind, value = part.get("type"), part.get("value")
    if kind in ("VQ_CFG", "VQ_NOTIFY_CFG"):
        return isinstance(value, dict)
    if kind == "DEVICE_STATUS":
        return isinstance(value, int)
    return True


def parts_summary(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A GET answer: order, VQ_CFG count, device_status value."""
    ranks = [PART_ORDER.get(p.get("type"), 7) for p in parts]
    return {
        "order": "table" if ranks == sorted(ranks) else "wrong",
        "vq_parts": sum(1 for p in parts if p.get("type") == "VQ_CFG"),
        "device_status": _status_value(parts),
    }


def snapshot_of(parts: list[dict[str, Any]]) -> str:
    """A SET record: the snapshot it restores, or bad-length."""
    if not all(_well_formed(p) for p in parts):
        return "bad-length"
    return _status_value(parts) or "reset"


def _limit(value: int | None, objects: int, status: str | None) -> int | None:
    """A driver capability limit in the model's range: the model's device offers `objects`
    ids, so any accepted limit above that is the model's largest one, and a refused one is
    the model's "above the device's limit" value."""
    if value is None:
        return None
    if status == "EINVAL":
        return objects + 1
    return min(value, objects)


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
}

# admin commands repeat byte for byte in long captures (METADATA_GET polling, MODE_SETs):
# their views are cached by (codec, objects, bytes); bounded, cleared when full. Callers
# must not modify the returned dict.
_ADMIN_CACHE: dict[tuple[Any, int, bytes, bytes | None], dict[str, Any]] = {}
_ADMIN_CACHE_LIMIT = 4096


def observe(event: Any, objects: int) -> dict[str, Any] | None:
    """The model event a trace event stands for; None for events the model ignores.
    `objects` is the model's object-id count (its device limit)."""
    kind = event.KIND
    view = _SIDEBAND_VIEW.get(kind)
    if view is not None:
        return view(event)
    if kind != "admin":
        return None
    key = (event.codec, objects, event.readable, event.writable)
    found = _ADMIN_CACHE.get(key)
    if found is None:
        found = _observe_admin(event, objects)
        if len(_ADMIN_CACHE) >= _ADMIN_CACHE_LIMIT:
            _ADMIN_CACHE.clear()
        _ADMIN_CACHE[key] = found
    return found


def _observe_admin(event: Any, objects: int) -> dict[str, Any]:
    cmd = event.command
    out: dict[str, Any] = {"kind": "admin", "cmd": cmd.name, "group": cmd.group_type, "member": cmd.member}
    f = cmd.fields
    name = cmd.name
    if name == "LIST_USE":
        out["bitmap"] = bitmap_class(f.get("opcodes", []))
    elif name == "DEVICE_CAP_GET":
        out["cap_id"] = f.get("id", 0)
    elif name == "DRIVER_CAP_SET":
        status = event.result.status_name if event.result is not None else None
        out.update(get_limit=_limit(f.get("get_parts_limit"), objects, status),
                   set_limit=_limit(f.get("set_parts_limit"), objects, status))
    elif name == "RESOURCE_OBJ_CREATE":
        out.update(id=f.get("obj_id"), subtype=SUBTYPES.get(f.get("parts_type"), "invalid"))
    elif name in ("RESOURCE_OBJ_DESTROY", "DEV_PARTS_METADATA_GET", "DEV_PARTS_GET", "DEV_PARTS_SET"):
        out["id"] = f.get("obj_id")
        if name == "DEV_PARTS_METADATA_GET":
            out["type"] = METADATA_TYPES.get(f.get("type"), "invalid")
        elif name == "DEV_PARTS_GET":
            out["type"] = GET_TYPES.get(f.get("type"), "invalid")
        elif name == "DEV_PARTS_SET":
            out["parts"] = snapshot_of(f.get("parts", []))
    elif name == "DEV_MODE_SET":
        out["flags"] = f.get("flags", 0)
    result = event.result
    if result is not None:
        out["status"] = result.status_name or f"status {result.status}"
        out["qualifier"] = "Q_OK" if result.qualifier == 0 else (result.qualifier_name or f"qualifier {result.qualifier}")
        if name == "DEV_PARTS_GET" and result.status == 0:
            out.update(parts_summary(result.fields.get("parts", [])))
    return out
