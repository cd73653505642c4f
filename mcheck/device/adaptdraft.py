"""What a draft-v1 model action means on the wire (see adapt14.py for the step format).

One model member is a migration pair: wire member 2m-1 is its source VF and 2m its
destination VF (models/draft_observe.py); the emulator runs both, sharing the guest's
memory (`paired`). Suites are generated from the draft's example flow (`flow=draft`, a
small graph) and judged against the model with `flow=free` (any hypervisor command at any
time): a device must behave whatever the hypervisor does, and the held-command probes
during an FLR are commands the example flow would not send.
"""

from __future__ import annotations

from typing import Any

from mcheck.device.draftv1 import FIELD_LENGTHS, MODES, PAGE, context_bytes
from mcheck.trace.codec import Codec

PROFILE = "draft-v1"
NEEDS_STATE = True
HOLD_CLAUSES = ["DRAFT-FLR-2", "D-DP-17", "D-DP-18"]
FAULT_CLAUSES = ["DRAFT-FLR-1", "D-DP-22"]
LOOSE_BODY = {"LIST_QUERY"}
# the draft model gives one answer per command and state: the expected bytes are the answer
# (contexts and write reports carry more than the replay's observation sees)
EXACT_ANSWERS = True
# the per-member variables a fault point tells apart (gen.fault_points): the migration
# protocol's position (modes, phase, fault, record) and the queue and page state it moves
MEMBER_VARS = ("mode", "ph", "fault", "rec", "status", "posted", "taken", "dirty", "stale", "used_idx", "last_avail", "gused")
HIDDEN = ("doorbell", "driver_init", "driver_cfg_write", "reset_end")
INTERNAL = {"consume": "fetch", "dma_write": "dma", "complete": "complete", "device_cfg_change": "config"}
FAULTS = ("flr", "reset")
SETTLE = ("switchover",)
WORK_ACTIONS = {"init": ("guest_init",), "cfgwrite": ("guest_cfg_write",), "fetch": ("consume",), "dma": ("dma_write",),
                "complete": ("complete",), "config": ("device_cfg_change",), "post": ()}


def judge_params(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "flow": "free"}


def device_config(params: dict[str, Any]) -> dict[str, Any]:
    return {"members": 2 * params["members"], "queues": params["queues"], "pages": params["pages"],
            "paired": True, "initialised": "odd"}


def wire(m: int, side: str) -> int:
    return 2 * m - 1 if side == "src" else 2 * m


def _ctx(codec: Codec, state: dict[str, Any], m: int, queues: int, pages: int) -> bytes:
    return context_bytes(codec, feat=state[f"x_feat[{m}]"], status=0x0F if state[f"x_status[{m}]"] == "DRIVER_OK" else 0,
                         cfg=state[f"x_cfg[{m}]"], pages=pages,
                         queues=[{"q": q, "enabled": state[f"x_q_en[{m}][{q}]"], "addr": state[f"x_q_addr[{m}][{q}]"],
                                  "last_avail": state[f"x_last_avail[{m}][{q}]"], "used_idx": state[f"x_used_idx[{m}][{q}]"]}
                                 for q in range(queues)])


def _pages(act: Any) -> int:
    return act.event.get("range_len", PAGE) // PAGE if act.event else 1


def command_fields(codec: Codec, act: Any, state: dict[str, Any] | None, queues: int, pages: int) -> dict[str, Any]:
    ev, p = act.event, act.params
    name = ev["cmd"]
    if name == "DEV_MODE_SET":
        return {"mode": MODES[ev["mode"]]}
    if name == "DEV_CTX_SIZE_GET":
        return {"freeze_mode": ev["freeze_mode"]}
    if name == "DEV_CTX_WRITE":
        return {"context": _ctx(codec, state, p["m"], queues, pages) if state else b""}
    if name == "WR_START":
        return {"page_size": ev["page_size"], "mode": 0, "range_addr": ev["range_addr"], "range_len": ev["range_len"]}
    if name == "WR_STOP":
        return {"range_addr": ev["range_addr"]}
    if name == "WR_REPORT":
        return {"range_addr": ev["range_addr"], "range_len": ev["range_len"]}
    return {}


def result_fields(codec: Codec, ev: dict[str, Any], state: dict[str, Any] | None, m: int, queues: int, pages: int) -> dict[str, Any]:
    name = ev["cmd"]
    if ev["status"] != "OK":
        return {}
    if name == "DEV_MODE_GET":
        return {"mode": MODES[ev["mode"]]}
    if name == "DEV_CTX_SIZE_GET":
        return {"size": len(_ctx(codec, state, m, queues, pages)) if state else ev["size"]}
    if name == "DEV_CTX_READ":
        ctx = _ctx(codec, state, m, queues, pages) if state else b""
        return {"size": len(ctx), "remaining_ctx_size": 0, "context": ctx}
    if name == "DEV_CTX_FIELDS_QUERY":
        return {"fields": [{"type": n, "length": FIELD_LENGTHS[n]} for n in ev["fields"].split(",")]}
    if name == "WR_CAPS_QUERY":
        return {"max_ranges": ev["max_ranges"], "page_size_mask": ev["page_size_mask"], "log2_max_pages": ev["log2_max_pages"]}
    if name == "WR_PENDING":
        return {"pending_bytes": ev["pending_bytes"]}
    if name == "WR_REPORT":
        n = ev["range_len"] // PAGE
        return {"bitmap": ev["bitmap"].to_bytes((n + 7) // 8, "little")}
    return {}


def steps_of(codec: Codec, act: Any, queues: int, after: dict[str, Any] | None = None, pages: int = 2) -> list[tuple]:
    p, ev = act.params, act.event
    name = act.name
    if ev is not None and ev["kind"] == "admin":
        w = wire(p["m"], ev.get("side", "src"))
        readable = codec.encode_command(ev["cmd"], "SRIOV", w, command_fields(codec, act, after, queues, pages))
        writable = codec.encode_result(ev["cmd"], ev["status"], "OK",
                                       result_fields(codec, ev, after, p["m"], queues, pages))
        return [("admin", readable, writable)]
    m = p.get("m", 1)
    if name == "guest_post":
        return [("work", "post", wire(m, p["d"]), p["q"]), ("inject", "doorbell", wire(m, p["d"]), p["q"])]
    if name == "guest_cfg_write":
        return [("work", "cfgwrite", wire(m, p["d"]), 0)]
    if name == "guest_init":
        return [("work", "init", wire(m, p["d"]), 0)]
    if name in INTERNAL:
        arg = p["p"] if name == "dma_write" else p.get("q", 0)
        return [("work", INTERNAL[name], wire(m, p["d"]), arg)]
    if name == "fault_begin":
        return [("inject", "flr_begin" if p["kind"] == "flr" else "member_reset", wire(m, "src"), 0)]
    if name == "fault_end":
        steps = [("inject", "flr_end", wire(m, "src"), 0)] if p["kind"] == "flr" else []
        return steps + [("work", "hv_reset", wire(m, "dst"), 0)]   # the hypervisor restarts with a clean destination
    return []      # switchover, device_cfg_latch: no driver input


def result_bytes(codec: Codec, ev: dict[str, Any], queues: int, after: dict[str, Any] | None = None, pages: int = 2) -> bytes:
    return codec.encode_result(ev["cmd"], ev["status"], "OK", result_fields(codec, ev, after, ev.get("member", 1), queues, pages))


def probe_request(act: Any) -> tuple[str, int, int] | None:
    op = INTERNAL.get(act.name)
    if op is None:
        return None
    p = act.params
    return op, wire(p["m"], p["d"]), p["p"] if act.name == "dma_write" else p.get("q", 0)


def probe_actions(act: Any) -> str | None:
    return INTERNAL.get(act.name)


def skip_probe(model: Any, failing: list[Any]) -> bool:
    """A refusal that comes from the hypervisor's flow (which side the guest runs on) is not
    the device's to make: such probes are left out."""
    from mcheck.model.expr import slots_of
    flow_slots = {i for i, s in enumerate(model.slots) if s.name.startswith("ph[")}
    return any(slots_of(g.cond) & flow_slots for g in failing)


def observe_wrapper(model: Any):
    return model.model.observe


def work_matches(act: Any, member: int, queue: int) -> bool:
    p = act.params
    if wire(p.get("m", 1), p.get("d", "src")) != member:
        return False
    return (p.get("p") if act.name == "dma_write" else p.get("q", queue)) == queue


def fault_plan(b: Any, x: int, m: int, kind: str):
    a_begin = b.find(x, "fault_begin", m=m, kind=kind)
    if a_begin is None:
        return None
    codec = b.codec

    def plan(t: Any) -> None:
        b.take(t, a_begin, b.steps[a_begin](x))
        y = b.steps[a_begin](x)
        if kind == "flr":
            # a DEV_MODE_SET(ACTIVE) on the source during the FLR: held, then answered OK (a no-op)
            w = wire(m, "src")
            b.hold(t, a_begin, codec.encode_command("DEV_MODE_SET", "SRIOV", w, {"mode": MODES["ACTIVE"]}), tag=1)
            t.holds = True
        a_end = b.find(y, "fault_end", m=m, kind=kind)
        y2 = b.steps[a_end](y)
        b.take(t, a_end, y2)
        if kind == "flr":
            b.complete_raw(t, 1, codec.encode_result("DEV_MODE_SET", "OK", "OK", {}), list(HOLD_CLAUSES))
        b.probe(t, y2)
    return plan
