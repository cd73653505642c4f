"""What a virtio-1.4 model action means on the wire: driver inputs and the device's expected answer.

Used by the suite generator (model action -> test steps with expected bytes) and by the
model backend. A step is a tuple:
    ("admin", readable, expected_writable)
    ("inject", kind, member, queue)
    ("work", op, member, queue)            a guest or device workload step the model took
"""

from __future__ import annotations

from typing import Any

from mcheck.device.virtio14 import (
    BASE_OPCODES,
    DEVICE_FEATURES,
    DRIVER_OK_STATUS,
    SUPPORTED,
)
from mcheck.device.virtq import QSIZE, avail_addr, desc_addr, used_addr
from mcheck.trace.codec import Codec, opcode_words

PROFILE = "virtio-1.4"
HOLD_CLAUSES = ["D-DP-17", "D-DP-18"]
FAULT_CLAUSES = ["D-DP-22", "D-DP-17", "D-DP-18"]
# results whose body depends on the device's configuration: the model checks them through
# the observation (order, VQ_CFG count, device_status), not byte for byte
LOOSE_BODY = {"DEV_PARTS_GET", "LIST_QUERY"}
INTERNAL = {"fetch": "fetch", "complete": "complete", "used_notify": "notify", "config_notify": "config"}
GROUP_NAMES = {0: "SELF", 1: "SRIOV"}
STATUS_VALUE = {"reset": 0, "driver_ok": DRIVER_OK_STATUS}


def device_config(params: dict[str, Any]) -> dict[str, Any]:
    return {"members": params["members"], "queues": params["queues"], "objects": params["objects"]}


def snapshot_parts(status: str, queues: int, *, order: str = "table", vq_parts: int | None = None,
                   features: int = DEVICE_FEATURES, bad_length: bool = False) -> list[dict[str, Any]]:
    """A complete part list of a member whose device_status is `status`."""
    ok = status == "driver_ok"
    value = STATUS_VALUE[status]
    head = [
        {"type": "DEV_FEATURES", "flags": 0, "value": [features]},
        {"type": "DRV_FEATURES", "flags": 0, "value": [DEVICE_FEATURES if ok else 0]},
        {"type": "DEVICE_STATUS", "flags": 0, "value": value.to_bytes(2, "little") if bad_length else value},
    ]
    if order != "table":
        head = [head[0], head[2], head[1]]
    n = queues if vq_parts is None else vq_parts
    vq = [{"type": "VQ_CFG", "flags": 0, "index": q, "value": {
        "queue_size": QSIZE, "vector": q + 1, "enabled": int(ok), "queue_desc": desc_addr(q) if ok else 0,
        "queue_driver": avail_addr(q) if ok else 0, "queue_device": used_addr(q) if ok else 0}} for q in range(n)]
    notify = [{"type": "VQ_NOTIFY_CFG", "flags": 0, "index": q,
               "value": {"queue_notify_off": q, "queue_notif_config_data": 0}} for q in range(queues)]
    return head + vq + notify


def _group(g: int) -> int | str:
    return GROUP_NAMES.get(g, g)


def command_bytes(codec: Codec, act: Any, queues: int) -> bytes:
    """The device-readable bytes of an admin action."""
    p, ev = act.params, act.event
    name = ev["cmd"]
    group = ev.get("group", 1)
    member = ev.get("member", 0)
    if act.name == "list_use":
        ops = {"devparts": SUPPORTED, "base": BASE_OPCODES, "partial": BASE_OPCODES | {0x7}}[p["bitmap"]]
        fields: dict[str, Any] = {"opcodes": opcode_words(ops)}
    elif name == "DEVICE_CAP_GET":
        fields = {"id": p["cap_id"]}
    elif name == "DRIVER_CAP_SET":
        fields = {"id": 0, "get_parts_limit": p["limit"], "set_parts_limit": p["limit"]}
    elif name == "RESOURCE_OBJ_CREATE":
        fields = {"obj_id": p["oid"], "parts_type": {"get": 0, "set": 1}[p["kind"]]}
    elif name == "RESOURCE_OBJ_DESTROY":
        fields = {"obj_id": p["oid"]}
    elif name == "DEV_PARTS_METADATA_GET":
        fields = {"obj_id": p.get("oid", 0), "type": 0}
    elif name == "DEV_PARTS_GET":
        fields = {"obj_id": p.get("oid", 0), "type": 1}
    elif name == "DEV_PARTS_SET":
        snap = p["snapshot"]
        if snap == "bad-length":
            parts = snapshot_parts("driver_ok", queues, bad_length=True)
        elif snap == "features-mismatch":
            parts = snapshot_parts("driver_ok", queues, features=DEVICE_FEATURES ^ 1)
        else:
            parts = snapshot_parts(snap, queues)
        fields = {"obj_id": p["oid"], "parts": parts}
    elif name == "DEV_MODE_SET":
        fields = {"flags": p.get("flags", 1)}
    else:
        fields = {}
    return codec.encode_command(name, _group(group), member, fields)


def result_bytes(codec: Codec, ev: dict[str, Any], queues: int) -> bytes:
    """The device-writable bytes the model expects for an admin event."""
    name, status = ev["cmd"], ev["status"]
    qualifier = "OK" if ev["qualifier"] == "Q_OK" else ev["qualifier"]
    fields: dict[str, Any] = {}
    if status == "OK":
        if name == "LIST_QUERY":
            fields = {"opcodes": opcode_words(SUPPORTED)}
        elif name == "CAP_ID_LIST_QUERY":
            fields = {"supported_caps": [1]}
        elif name == "DEVICE_CAP_GET":
            fields = {"get_parts_limit": ev["get_limit"], "set_parts_limit": ev["set_limit"]}
        elif name == "DEV_PARTS_METADATA_GET":
            fields = {"value": ev["size"], "headers": []}
        elif name == "DEV_PARTS_GET":
            fields = {"parts": snapshot_parts(ev["device_status"], queues, order=ev["order"], vq_parts=ev["vq_parts"])}
    return codec.encode_result(name, status, qualifier, fields)


def steps_of(codec: Codec, act: Any, queues: int) -> list[tuple]:
    """The driver inputs (with expected answers) that make the device take model action `act`."""
    p, ev = act.params, act.event
    if ev is not None and ev["kind"] == "admin":
        return [("admin", command_bytes(codec, act, queues), result_bytes(codec, ev, queues))]
    name = act.name
    if name in ("flr_begin", "flr_end"):
        return [("inject", name, p["m"], 0)]
    if name == "driver_reset":
        return [("inject", "member_reset", p["m"], 0)]
    if name == "owner_reset":
        return [("inject", "owner_reset", 0, 0)]
    if name == "reset_end":
        return []            # the emulator's member reset ends at once; the model catches up unseen
    if name == "driver_init":
        return [("work", "init", p["m"], 0)]
    if name == "post_buffer":
        return [("work", "post", p["m"], p["q"]), ("inject", "doorbell", p["m"], p["q"])]
    if name in INTERNAL:
        return [("work", INTERNAL[name], p["m"], p.get("q", 0))]
    raise ValueError(f"no driver input for model action {act.label}")


def probe_actions(act: Any) -> str | None:
    """The workload op that asks the device to do this device-internal action, if it is one."""
    return INTERNAL.get(act.name)


def observe_wrapper(model: Any):
    """The model's observation, plus what it cannot tell from the bytes alone: a SET record
    whose DEV_FEATURES differ from this device's is the model's `features-mismatch` snapshot."""
    base = model.model.observe

    def observe(event: Any) -> dict[str, Any] | None:
        out = base(event)
        if out is not None and out.get("cmd") == "DRIVER_CAP_SET" and event.result is None:
            f = event.command.fields     # unanswered: a limit above the device's is the model's "too big"
            value = max(f.get("get_parts_limit", 0), f.get("set_parts_limit", 0))
            objects = model.params.as_dict().get("objects", 1)
            out["get_limit"] = out["set_limit"] = value if value <= objects else objects + 1
        if out is not None and out.get("cmd") == "DEV_PARTS_SET" and out.get("parts") != "bad-length":
            for part in event.command.fields.get("parts", []):
                if part.get("type") == "DEV_FEATURES" and part.get("value") != [DEVICE_FEATURES]:
                    out["parts"] = "features-mismatch"
        return out
    return observe


FAULTS = ("flr", "reset")


def _observe_after(b: Any, t: Any, y: int, m: int, after: int) -> None:
    """After a fault: probe the device actions, then read the member's parts if an object allows."""
    b.probe(t, y)
    for oid in range(b.model.params.as_dict().get("objects", 1)):
        a = b.find(y, "parts_get", m=m, oid=oid)
        if a is not None and b.model.actions[a].event.get("status") == "OK":
            b.take(t, a)


def fault_plan(b: Any, x: int, m: int, kind: str):
    """The inputs of a fault test at packed state x for member m, or None if the fault cannot happen there."""
    if kind == "flr":
        a_begin = b.find(x, "flr_begin", m=m)
        if a_begin is None:
            return None

        def plan(t: Any) -> None:
            b.take(t, a_begin)
            y = b.steps[a_begin](x)
            a_now = b.find(y, "mode_set", m=m, flags=1)
            if a_now is not None:            # answered at once (a validation failure)
                b.take(t, a_now)
                y = b.steps[a_now](y)
                a_end = b.find(y, "flr_end", m=m)
                b.take(t, a_end)
                y = b.steps[a_end](y)
            else:                            # held until the FLR ends (D-DP-17)
                any_stop = b.by_label[("mode_set", (("flags", 1), ("m", m)))][0]
                b.hold(t, any_stop, command_bytes(b.codec, b.model.actions[any_stop], b.queues), tag=1)
                t.holds = True
                a_end = b.find(y, "flr_end", m=m)
                b.take(t, a_end)
                y = b.steps[a_end](y)
                a_ans = b.find(y, "mode_set", m=m, flags=1)
                b.complete(t, a_ans, tag=1)
                y = b.steps[a_ans](y)
            _observe_after(b, t, y, m, a_begin)
        return plan
    a_reset = b.find(x, "driver_reset", m=m)
    if a_reset is None:
        return None

    def plan_reset(t: Any) -> None:
        b.take(t, a_reset)
        y = b.steps[a_reset](x)
        a_end = b.find(y, "reset_end", m=m)
        b.take(t, a_end)
        y = b.steps[a_end](y)
        _observe_after(b, t, y, m, a_reset)
    return plan_reset


# ModelBackend: steps the model takes without driver input, and workload ops -> actions
SETTLE = ("reset_end",)
WORK_ACTIONS = {"init": ("driver_init",), "fetch": ("fetch",), "complete": ("complete",), "notify": ("used_notify",),
                "config": ("config_notify",), "service": ("complete", "fetch", "complete"), "post": ()}


def work_matches(act: Any, member: int, queue: int) -> bool:
    return act.params.get("m") == member and act.params.get("q", queue) == queue


# Transition properties the correct model satisfies by construction (so they constrain no
# action of it) but which the suite checks through the observation: a GET's order and
# VQ_CFG count, and a failed command leaving no trace in what follows.
GET_CLAUSES = ("D-DP-2", "D-DP-3", "D-DP-24", "R-DP-2", "I-DP-8")
FAILED_CLAUSES = ("D-GA-3", "D-GA-4", "I-DP-5", "I-DP-7", "D-AQ-7")


def extra_clauses(act: Any) -> tuple[str, ...]:
    ev = act.event
    if ev is None or ev.get("kind") != "admin":
        return ()
    if ev["status"] != "OK":
        return FAILED_CLAUSES
    return GET_CLAUSES if ev["cmd"] == "DEV_PARTS_GET" else ()
