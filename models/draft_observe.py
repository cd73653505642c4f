"""What a captured draft-v1 event means to the draft-v1 model.

Member ids on the wire: one model member is a migration pair, and a trace that holds both
hosts names the source VF of pair m as member 2m-1 and its destination VF as member 2m
(docs/draft-v1.md). Mode numbers come from the capture's own profile, so a vendor profile
with other numbers gives the same model events (and the same verdicts). A member reset has
no end record in the trace formats; its end is a hidden step (`reset_end`). Context sizes
are left out: the model's context is an abstraction and a device's real size differs.
"""

from __future__ import annotations

from typing import Any

PAGE_SIZE = 4096
WIRE_KINDS = {"member_reset": "reset_begin"}


def pair_of(member: int) -> tuple[int, str]:
    """Wire member id -> (model member, side)."""
    return (member + 1) // 2, "src" if member % 2 else "dst"


def _mode_name(event: Any, number: int | None) -> str | None:
    if number is None:
        return None
    names = {v: k for k, v in event.codec.profile.modes.items()} if event.codec is not None else {}
    return names.get(number, f"mode {number}")


def observe(event: Any) -> dict[str, Any] | None:
    kind = event.KIND
    if kind in ("annotation", "owner_reset"):
        return None
    if kind != "admin":
        member, side = pair_of(event.member)
        out: dict[str, Any] = {"kind": WIRE_KINDS.get(kind, kind), "member": member, "side": side}
        if kind == "dma_write":
            out["page"] = event.address // PAGE_SIZE
        elif kind in ("used_notify", "doorbell"):
            out["queue"] = event.queue
        return out
    cmd = event.command
    member, side = pair_of(cmd.member)
    out = {"kind": "admin", "cmd": cmd.name, "member": member, "side": side}
    f = cmd.fields
    if cmd.name == "DEV_MODE_SET":
        out["mode"] = _mode_name(event, f.get("mode"))
    elif cmd.name == "DEV_CTX_SIZE_GET":
        out["freeze_mode"] = f.get("freeze_mode", 0)
    elif cmd.name in ("WR_START", "WR_STOP", "WR_REPORT"):
        out.update({k: f[k] for k in ("page_size", "range_addr", "range_len") if k in f})
    result = event.result
    if result is not None:
        out["status"] = result.status_name or f"status {result.status}"
        r = result.fields
        if result.status == 0:
            if cmd.name == "DEV_MODE_GET":
                out["mode"] = _mode_name(event, r.get("mode"))
            elif cmd.name == "DEV_CTX_READ":
                out["remaining_ctx_size"] = r.get("remaining_ctx_size")
            elif cmd.name == "DEV_CTX_FIELDS_QUERY":
                out["fields"] = ",".join(str(h.get("type")) for h in r.get("fields", []))
            elif cmd.name == "WR_PENDING":
                out["pending_bytes"] = r.get("pending_bytes")
            elif cmd.name == "WR_REPORT":
                out["bitmap"] = int.from_bytes(r.get("bitmap", b""), "little")
            elif cmd.name == "WR_CAPS_QUERY":
                out.update({k: r[k] for k in ("max_ranges", "page_size_mask", "log2_max_pages") if k in r})
    return out
