"""What a captured virtio 1.4 event means to the migration pair model (virtio-1.4-migration).

A pair capture holds both ends of a migration. Member ids follow the draft-v1 convention:
wire member 2m-1 is the source VF of pair m and 2m its destination VF (on the other
owner); `mcheck migrate-demo` writes such a merged capture. Owner-level commands (LIST_*,
capabilities, member 0) and commands outside the SR-IOV group are not this model's
business: each host's own capture is replayed against virtio-1.4 for them. A DEV_PARTS_GET
or SET is judged by its answer, and a SET also by whether its record accepts a feature the
member does not offer (known once a GET of that member showed its DEV_FEATURES, D-DP-7);
the other part contents are the model's abstraction, checked by the explicit and symbolic
engines and by migrate-demo, not from bytes.
"""

from __future__ import annotations

from typing import Any

from mcheck.models.virtio_opcodes import GROUP_SRIOV
from mcheck.models.virtio_observe import REPLAY_RULES  # noqa: F401 - the pair model's commands are virtio 1.4's

MIGRATION_COMMANDS = {"DEV_MODE_SET", "RESOURCE_OBJ_CREATE", "RESOURCE_OBJ_DESTROY", "DEV_PARTS_METADATA_GET",
                      "DEV_PARTS_GET", "DEV_PARTS_SET"}
SUBTYPES = {0: "get", 1: "set"}
TRANSIENT = ("EAGAIN", "ENOMEM")


def pair_of(member: int) -> tuple[int, str]:
    """Wire member id -> (pair, side)."""
    return (member + 1) // 2, "src" if member % 2 else "dst"


def _sideband(event: Any) -> dict[str, Any] | None:
    kind = event.KIND
    member = getattr(event, "member", None)
    if not isinstance(member, int) or member < 1:
        return None
    pair, side = pair_of(member)
    out: dict[str, Any] = {"kind": kind, "member": pair, "side": side}
    if kind in ("used_notify", "doorbell"):
        out["queue"] = event.queue
    return out


def _feature_bits(parts: list[dict[str, Any]], kind: str) -> int | None:
    for part in parts:
        if part.get("type") == kind and isinstance(part.get("value"), list):
            return sum(int(w) << (64 * i) for i, w in enumerate(part["value"]))
    return None


class PairObserver:
    """The observation of one pair capture: it remembers each member's DEV_FEATURES from the
    GET answers it saw, so a SET on that member can be called `fits` or `unoffered`."""

    def __init__(self) -> None:
        self.offered: dict[int, int] = {}

    def observe(self, event: Any) -> dict[str, Any] | None:
        out = observe(event)
        if out is None or out["kind"] != "admin":
            return out
        cmd = event.command
        if out["cmd"] == "DEV_PARTS_GET" and out.get("ok"):
            bits = _feature_bits(event.result.fields.get("parts", []), "DEV_FEATURES")
            if bits is not None:
                self.offered[cmd.member] = bits
        elif out["cmd"] == "DEV_PARTS_SET" and cmd.member in self.offered:
            accepted = _feature_bits(cmd.fields.get("parts", []), "DRV_FEATURES")
            if accepted is not None:
                out = dict(out, features="unoffered" if accepted & ~self.offered[cmd.member] else "fits")
        return out


def observe(event: Any) -> dict[str, Any] | None:
    """The stateless part of the observation (one event)."""
    kind = event.KIND
    if kind in ("dma_write", "used_notify", "doorbell", "flr_begin", "flr_end", "member_reset"):
        return _sideband(event)
    if kind != "admin":
        return None
    cmd = event.command
    if cmd.name not in MIGRATION_COMMANDS or cmd.group_type != GROUP_SRIOV or cmd.member < 1:
        return None
    pair, side = pair_of(cmd.member)
    out: dict[str, Any] = {"kind": "admin", "cmd": cmd.name, "member": pair, "side": side}
    f = cmd.fields
    if cmd.name == "DEV_MODE_SET":
        out["flags"] = f.get("flags", 0) & 0x01
    elif cmd.name == "RESOURCE_OBJ_CREATE":
        out["subtype"] = SUBTYPES.get(f.get("parts_type"), "invalid")
    elif cmd.name == "DEV_PARTS_METADATA_GET":
        out["type"] = {0: "SIZE", 1: "COUNT", 2: "LIST"}.get(f.get("type"), "invalid")
    elif cmd.name == "DEV_PARTS_GET":
        out["type"] = {0: "SELECTED", 1: "ALL"}.get(f.get("type"), "invalid")
    result = event.result
    if result is not None:
        out["ok"] = result.status == 0
        out["transient"] = result.status_name in TRANSIENT
        out["status"] = result.status_name or f"status {result.status}"
    return out
