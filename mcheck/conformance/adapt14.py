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
    FAMILIES,
    CAP_OPS,
    DEVICE_FEATURES,
    DRIVER_OK_STATUS,
    LIST_OPS,
    PARTS_OPS,
    SELF_SUPPORTED,
    SRIOV_SUPPORTED,
)
from mcheck.device.virtq import PAGE, QSIZE, avail_addr, desc_addr, used_addr
from mcheck.trace.codec import Codec, opcode_words
from mcheck.models.virtio_opcodes import SELF_CLASSES, SRIOV_CLASSES

PROFILE = "virtio-1.4"
#: model parameters a generated suite uses unless given (`gen-tests`, the kill matrix)
SUITE_DEFAULTS = {"members": 1}
#: the model answers like a device (`--backend model`, mcheck.conformance.modelbackend)
ANSWERS_AS_DEVICE = True
NEEDS_MODEL = True
HOLD_CLAUSES = ["D-DP-17", "D-DP-18", "D-DP-19"]
FAULT_CLAUSES = ["D-DP-22", "D-DP-17", "D-DP-18", "D-DP-19"]
# results whose body depends on the device's configuration: the model checks them through
# the observation (order, VQ_CFG count, device_status), not byte for byte
LOOSE_BODY = {"DEV_PARTS_GET", "LIST_QUERY", "DEV_PARTS_METADATA_GET"}
INTERNAL = {"fetch": "fetch", "complete": "complete", "used_notify": "notify", "config_notify": "config",
            "pme": "pme", "pci_read": "pci_read"}
# driver or silent device steps the runner drives itself (the replay's hidden steps otherwise):
# workload op -> model action
DRIVEN = {"init": "driver_init", "fetch": "fetch"}
GROUP_NAMES = {0: "SELF", 1: "SRIOV"}
STATUS_VALUE = {"reset": 0, "driver_ok": DRIVER_OK_STATUS}
# the opcodes a LIST_USE sends for each enabled-set class of models/virtio_opcodes.py
CLASS_OPCODES = {group: {cls: frozenset().union(*(FAMILIES[f] for f in fams)) for cls, fams in classes.items()}
                 for group, classes in ((0, SELF_CLASSES), (1, SRIOV_CLASSES))}
# `other` with the exact classes: a set that breaks the objects family (a device may refuse
# it, D-GA-5); with the coarse classes `other` is every non-base set, and the one the suite
# sends is the group's whole command set, so the commands behind it get exercised
OTHER_EXACT = LIST_OPS | {0xA}
OTHER_COARSE = {0: SELF_SUPPORTED, 1: SRIOV_SUPPORTED}
# an opcode no profile defines (the model's UNKNOWN)
OPAQUE_OPCODES = {"UNKNOWN": 0x3F}
PARTS_TYPE = {"get": 0, "set": 1, "invalid": 7}
METADATA_TYPE = {"SIZE": 0, "COUNT": 1, "LIST": 2, "invalid": 9}
GET_TYPE = {"SELECTED": 0, "ALL": 1, "invalid": 9}


def judge_params(params: dict[str, Any]) -> dict[str, Any]:
    """The suite's model with the replay's enabled-set classes (`replay_params`, sets=exact):
    the walk runs on the coarse classes, the device's answers are judged on every class the
    observation tells apart (a LIST_USE of the whole command set is `bundle`/`caps`, not
    `other`, so a disabled opcode's refusal is checked exactly)."""
    from mcheck.models.virtio_1_4 import Virtio14
    return {**params, **Virtio14.replay_params}


def device_config(params: dict[str, Any]) -> dict[str, Any]:
    return {"members": params["members"], "queues": params["queues"], "objects": params["objects"]}


def snapshot_parts(status: str, queues: int, *, order: str = "table", vq_parts: int | None = None,
                   features: int = DEVICE_FEATURES, bad_length: bool = False,
                   with_status: bool = True) -> list[dict[str, Any]]:
    """A complete part list of a member whose device_status is `status` (without the
    DEVICE_STATUS part when `with_status` is false: a SET that keeps it, Q16)."""
    ok = status == "driver_ok"
    value = STATUS_VALUE[status]
    head = [
        {"type": "DEV_FEATURES", "flags": 1, "value": [features]},
        {"type": "DRV_FEATURES", "flags": 0, "value": [DEVICE_FEATURES if ok else 0]},
        {"type": "DEVICE_STATUS", "flags": 0, "value": value.to_bytes(2, "little") if bad_length else value},
    ]
    if order != "table":
        head = [head[0], head[2], head[1]]
    if not with_status:
        head = head[:2]
    n = queues if vq_parts is None else vq_parts
    vq = [{"type": "VQ_CFG", "flags": 0, "index": q, "value": {
        "queue_size": QSIZE, "vector": q + 1, "enabled": int(ok), "queue_desc": desc_addr(q) if ok else 0,
        "queue_driver": avail_addr(q) if ok else 0, "queue_device": used_addr(q) if ok else 0}} for q in range(n)]
    notify = [{"type": "VQ_NOTIFY_CFG", "flags": 0, "index": q,
               "value": {"queue_notify_off": q, "queue_notif_config_data": 0}} for q in range(queues)]
    return head + vq + notify


def _group(g: int) -> int | str:
    return GROUP_NAMES.get(g, g)


def list_use_opcodes(group: int, bitmap: str, exact: bool) -> frozenset[int]:
    """The opcodes a LIST_USE of this enabled-set class sends."""
    if bitmap == "other":
        return OTHER_EXACT if exact else OTHER_COARSE[group]
    return CLASS_OPCODES[group][bitmap]


def command_bytes(codec: Codec, act: Any, queues: int, model: Any) -> bytes:
    """The device-readable bytes of an admin action."""
    p, ev = act.params, act.event
    name = ev["cmd"]
    group = ev.get("group", 1)
    member = ev.get("member", 0)
    oid = p.get("oid", 0)
    fields: dict[str, Any] = {}
    if act.name == "list_use":
        exact = model.params.as_dict().get("sets") == "exact"
        fields = {"opcodes": opcode_words(list_use_opcodes(group, p["bitmap"], exact))}
    elif name == "DEVICE_CAP_GET":
        fields = {"id": p.get("cap_id", 0)}
    elif name == "DRIVER_CAP_SET":
        fields = {"id": p.get("cap_id", 0), "get_parts_limit": p.get("get", 0), "set_parts_limit": p.get("set_", 0)}
    elif name in ("RESOURCE_OBJ_CREATE", "RESOURCE_OBJ_MODIFY"):
        fields = {"obj_type": 0, "obj_id": oid, "flags": 0, "parts_type": PARTS_TYPE[p.get("kind", "get")]}
    elif name in ("RESOURCE_OBJ_DESTROY", "RESOURCE_OBJ_QUERY"):
        fields = {"obj_type": 0, "obj_id": oid}
    elif name == "DEV_PARTS_METADATA_GET":
        fields = {"obj_type": 0, "obj_id": oid, "type": METADATA_TYPE[p.get("type", "SIZE")]}
    elif name == "DEV_PARTS_GET":
        kind = p.get("type", "ALL")
        headers = [{"type": "DEVICE_STATUS", "flags": 0}] if kind == "SELECTED" else []
        fields = {"obj_type": 0, "obj_id": oid, "type": GET_TYPE[kind], "headers": headers}
    elif name == "DEV_PARTS_SET":
        snap = p.get("snapshot", "keep")
        if snap == "bad-length":
            parts = snapshot_parts("driver_ok", queues, bad_length=True)
        elif snap == "features-mismatch":
            parts = snapshot_parts("driver_ok", queues, features=DEVICE_FEATURES ^ 1)
        elif snap == "keep":
            parts = snapshot_parts("reset", queues, with_status=False)
        else:
            parts = snapshot_parts(snap, queues)
        fields = {"obj_type": 0, "obj_id": oid, "parts": parts}
    elif name == "DEV_MODE_SET":
        fields = {"flags": p.get("flags", 1)}
    if name == "UNKNOWN":
        return codec.encode_command(OPAQUE_OPCODES[name], _group(group), member, {"raw": bytes(8)})
    return codec.encode_command(name, _group(group), member, fields)


def result_bytes(codec: Codec, ev: dict[str, Any], queues: int) -> bytes:
    """Bytes of one answer the model permits for an admin event: where the model leaves a
    field free (which error, which qualifier) the first candidate. Used to explain a
    failure, never to judge one (the replay does)."""
    name = ev["cmd"]
    if ev.get("transient"):
        status = "EAGAIN"
    else:
        status = ev.get("status") or ("OK" if ev["ok"] else "EINVAL")
    qualifier = ev.get("qualifier") or ("OK" if ev["ok"] else "INVALID_FIELD")
    qualifier = "OK" if qualifier == "Q_OK" else qualifier
    fields: dict[str, Any] = {}
    if ev["ok"]:
        if name == "LIST_QUERY":
            opcodes = SELF_SUPPORTED if ev.get("group") == 0 else SRIOV_SUPPORTED
            if ev.get("lists") == "incomplete":      # the group's command set with a dev-parts opcode left out
                opcodes = opcodes - {max(opcodes & (PARTS_OPS | CAP_OPS))}
            fields = {"opcodes": opcode_words(opcodes)}
        elif name == "CAP_ID_LIST_QUERY":
            fields = {"supported_caps": [int(ev.get("reports_devparts", True))]}
        elif name == "DEVICE_CAP_GET" and "get_limit" in ev:
            fields = {"get_parts_limit": ev["get_limit"], "set_parts_limit": ev["set_limit"]}
        elif name == "RESOURCE_OBJ_QUERY":
            fields = {"parts_type": PARTS_TYPE[ev.get("subtype", "get")]}
        elif name == "DEV_PARTS_GET" and "device_status" in ev:
            fields = {"parts": get_parts(ev, queues)}
        elif name == "DEV_PARTS_METADATA_GET" and ev.get("type") == "LIST":
            parts = get_parts({"device_status": "reset", **ev, "type": "ALL"}, queues)
            fields = {"headers": [{k: v for k, v in part.items() if k != "value"} for part in parts]}
    return codec.encode_result(None, status, qualifier, {"raw": b""}) if name == "UNKNOWN" else codec.encode_result(name, status, qualifier, fields)


def get_parts(ev: dict[str, Any], queues: int) -> list[dict[str, Any]]:
    """The parts of a DEV_PARTS_GET answer with the shape the model's event gives: its
    `order`, `complete` (False: the last VQ_NOTIFY_CFG left out), `parts_ok` (False:
    DEV_FEATURES without OPTIONAL) and, for SELECTED, `selected_ok` (the DEVICE_STATUS part
    the command asks for, or every part)."""
    parts = snapshot_parts(ev["device_status"], queues, order=ev.get("order", "table"))
    if not ev.get("parts_ok", True):
        parts[0] = {**parts[0], "flags": 0}
    if not ev.get("complete", True):
        parts = parts[:-1]
    if ev.get("type") == "SELECTED" and ev.get("selected_ok", True):
        parts = [p for p in parts if p["type"] == "DEVICE_STATUS"]
    return parts


def capture_of(codec: Codec, act: Any, queues: int, model: Any, after: dict[str, Any] | None = None) -> list[tuple]:
    """What a capture of a device taking model action `act` shows: (kind, fields) of trace
    events (mcheck.trace.events), the admin command with the answer the action's event
    gives; nothing for a step without an event (the driver's init, a fetch)."""
    ev = act.event
    if ev is None:
        return []
    kind = ev["kind"]
    if kind == "admin":
        return [("admin", {"readable": command_bytes(codec, act, queues, model),
                           "writable": result_bytes(codec, ev, queues)})]
    fields = {k: ev[k] for k in ("member", "queue") if k in ev and not (k == "queue" and kind == "dma_write")}
    if kind == "dma_write":
        fields.update(address=2 * PAGE + ev.get("queue", 0) * PAGE, length=64)
    elif kind == "pci_read":      # D-DP-13: all-ones is not valid data
        fields.update(offset=0, length=4, value=bytes(4 * [0xFF]) if not ev["valid"] else bytes.fromhex("f41a4110"))
    return [(kind, fields)]


def steps_of(codec: Codec, act: Any, queues: int, model: Any) -> list[tuple]:
    """The driver inputs (with one permitted answer) that make the device take model action `act`."""
    p, ev = act.params, act.event
    if ev is not None and ev["kind"] == "admin":
        steps: list[tuple] = [("admin", command_bytes(codec, act, queues, model), result_bytes(codec, ev, queues))]
        if act.name == "mode_set" and ev["ok"] and p["flags"] & 1:
            # the stop wrote every observed buffer back: guest memory shows it (D-DP-10/11)
            steps += [("check", "used_index", p["m"], q) for q in range(queues)]
        return steps
    name = act.name
    if name in ("flr_begin", "flr_end", "pm_begin", "pm_end"):
        return [("inject", name, p["m"], 0)]
    if name == "driver_reset":
        return [("inject", "member_reset", p["m"], 0)]
    if name == "owner_reset":
        return [("inject", "owner_reset", 0, 0)]
    if name == "doorbell":   # a doorbell without a new buffer: accepted in any state, changes nothing
        return [("inject", "doorbell", p["m"], p["q"])]
    if name == "reset_end":
        return []            # the emulator's member reset ends at once; the model catches up unseen
    if name == "driver_init":
        return [("work", "init", p["m"], 0)]
    if name == "post_buffer":
        return [("work", "post", p["m"], p["q"]), ("inject", "doorbell", p["m"], p["q"])]
    if name in INTERNAL:
        return [("work", INTERNAL[name], p["m"], p.get("q", 0))]
    raise ValueError(f"no driver input for model action {act.label}")


# what each guest-memory check of a test stands for
CHECK_CLAUSES = {"used_index": ["D-DP-10", "D-DP-11", "I-DP-6"]}


def check_pages(check: dict[str, Any]) -> list[int]:
    """Guest pages the runner reads for a check: the queue's avail ring and used ring."""
    q = check["queue"]
    return sorted({avail_addr(q) // PAGE, used_addr(q) // PAGE})


def judge_check(model: Any, layout: Any, states: Any, check: dict[str, Any], pages: dict[int, bytes]) -> str | None:
    """A `used_index` check after a stop: the buffers the guest made available and the
    device has not used, as guest memory shows them (avail idx - used idx), must be what
    some state the replay allows says are still waiting (posted, never fetched): every
    buffer the device fetched is in the used ring before the stop completes (D-DP-10/11).
    None if so, else what differs."""
    m, q = check["member"], check["queue"]

    def read16(addr: int) -> int:
        page = pages[addr // PAGE]
        off = addr % PAGE
        return int.from_bytes(page[off:off + 2], "little")
    waiting = (read16(avail_addr(q) + 2) - read16(used_addr(q) + 2)) & 0xFFFF
    allowed = set()
    for x in states:
        state = model.decode_state(layout.unpack(x))
        allowed.add(state[f"avail[{m}][{q}]"] + state[f"inflight[{m}][{q}]"])
    if waiting in allowed:
        return None
    return (f"after DEV_MODE_SET(stop) completed, guest memory of member {m} queue {q} shows {waiting} available "
            f"buffer(s) not in the used ring (avail idx - used idx); the model allows "
            f"{' or '.join(str(n) for n in sorted(allowed))}: every fetched buffer is written back as used "
            f"before the stop completes")


def probe_actions(act: Any) -> str | None:
    """The workload op that asks the device to do this device-internal action, if it is one.
    A PCI read is always answered; only its valid form is a probe (the value is judged by
    the replay: all-ones outside an FLR is a divergence)."""
    if act.name == "pci_read" and not act.params.get("valid"):
        return None
    return INTERNAL.get(act.name)


def observe_wrapper(model: Any):
    """The model's observation, plus what it cannot tell from the bytes alone: a SET record
    whose DEV_FEATURES differ from this device's is the model's `features-mismatch` snapshot."""
    base = model.model.observe

    def observe(event: Any) -> dict[str, Any] | None:
        out = base(event)
        if out is not None and out.get("cmd") == "DEV_PARTS_SET" and out.get("parts") != "bad-length":
            for part in event.command.fields.get("parts", []):
                if part.get("type") == "DEV_FEATURES" and part.get("value") != [DEVICE_FEATURES]:
                    out["parts"] = "features-mismatch"
        return out
    return observe


FAULTS = ("flr", "reset", "pm", "owner", "modes", "order")
# the model's per-member variables: a fault point is a distinct view of them (gen.fault_points)
MEMBER_VARS = ("mode", "phase", "status", "pending", "avail", "inflight")


# after these walk steps the admin refusals are sent again at states already probed: what the
# device keeps (objects, parts, modes) may differ from what the model's state says
EPOCH_ACTIONS = ("owner_reset", "flr_begin", "driver_reset", "mode_set", "pm_begin")


def observe_state(b: Any, t: Any, y: int) -> None:
    """After a walk step that changed the state: read each member's parts where an object
    allows a GET (a self-loop), so what the step did to the parts is seen."""
    for m in range(1, b.model.params.as_dict()["members"] + 1):
        for oid in range(b.model.params.as_dict().get("objects", 1)):
            a = b.find(y, "parts_get", m=m, oid=oid, type="ALL")
            if a is not None and b.model.actions[a].event.get("ok") and b.steps[a](y) == y:
                b.take(t, a)
                break


#: the read-back's search for a way to a DEV_PARTS_GET: admin steps, and states expanded
READ_BACK_DEPTH = 4
READ_BACK_STATES = 3000


def read_back(b: Any, t: Any, x: int) -> None:
    """The witness test's end (mcheck.witness.suite): a fault still in progress ends (the
    device holds a GET during it), then each member's parts are read (DEV_PARTS_GET, ALL),
    after the shortest run of successful admin commands (at most READ_BACK_DEPTH: e.g. a
    LIST_USE, a DRIVER_CAP_SET and a RESOURCE_OBJ_CREATE of a GET object) where no object
    allows it yet, so what the path did to a member's parts is seen."""
    for m in range(1, b.model.params.as_dict()["members"] + 1):
        for end in ("flr_end", "reset_end", "pm_end"):
            a = b.find(x, end, m=m)
            if a is not None:
                y = b.steps[a](x)
                b.take(t, a, y)
                x = y
    admin = [a for a, act in enumerate(b.model.actions)
             if act.event is not None and act.event.get("kind") == "admin" and act.event.get("ok")]
    for m in range(1, b.model.params.as_dict()["members"] + 1):
        gets = [a for a in b.by_name.get("parts_get", ()) if b.model.actions[a].params.get("m") == m
                and b.model.actions[a].params.get("type") == "ALL" and b.model.actions[a].event.get("ok")]
        path = _shortest(b, x, admin, lambda y, gets=gets: any(b.steps[g](y) is not None for g in gets))
        if path is None:
            continue
        for a in path:
            y = b.steps[a](x)
            b.take(t, a, y)
            x = y
        g = next(g for g in gets if b.steps[g](x) is not None)
        y = b.steps[g](x)
        b.take(t, g, y)
        x = y


def _shortest(b: Any, x: int, actions: list[int], goal: Any) -> list[int] | None:
    """The shortest run of `actions` from x to a state where `goal` holds (bounded)."""
    from collections import deque
    seen = {x}
    todo: deque[tuple[int, list[int]]] = deque([(x, [])])
    while todo and len(seen) <= READ_BACK_STATES:
        y, path = todo.popleft()
        if goal(y):
            return path
        if len(path) >= READ_BACK_DEPTH:
            continue
        for a in actions:
            z = b.steps[a](y)
            if z is not None and z not in seen:
                seen.add(z)
                todo.append((z, path + [a]))
    return None


def class_tests(model: Any, params: dict[str, Any]) -> list[Any]:
    """One test per enabled-set class of the exact classes (the walk runs on the coarse
    ones, where every non-base set is `other`): from power-on, a LIST_USE of that class,
    then every command the model must refuse there (a disabled LIST_QUERY included)."""
    from mcheck.conformance.gen import Builder
    from mcheck.model.registry import load_model
    exact = load_model(model.name, judge_params(params))
    b = Builder(exact, __import__(__name__, fromlist=["x"]))
    x0 = b.layout.pack(exact.initial[0])
    tests = []
    for a in b.by_name.get("list_use", ()):
        act = exact.actions[a]
        if not (act.event or {}).get("ok") or act.params["bitmap"] in ("base", "other"):
            continue
        y = b.steps[a](x0)
        if y is None or y == x0:
            continue
        t = b.new(f"sets-g{act.params['group']}-{act.params['bitmap']}", "sets")
        b.take(t, a)
        b.admin_probe(t, y)
        tests.append(t)
    tests.append(_refused_stop_test(b, x0))
    if exact.params.as_dict()["members"] >= 2:
        tests.append(_ownership_test(b, x0))
    return tests


def _refused_stop_test(b: Any, x: int) -> Any:
    """A DEV_MODE_SET(stop) with a reserved flag bit, refused (Q5's reject reading), to a
    member that is running with a buffer posted: a refusal has no side effect (D-GA-3,
    I-DP-7), so the member keeps running and its device work follows. (A device that
    ignores the reserved bit, Q5's other reading, stops: the replay allows both.)"""
    t = b.new("refused-stop", "sets")

    def take(a: int | None, what: str) -> None:
        nonlocal x
        if a is None:
            raise ValueError(f"refused-stop test: {what} is not enabled")
        b.take(t, a)
        x = b.steps[a](x)
    take(b.find(x, "list_use", group=1, bitmap="bundle"), "LIST_USE")
    take(b.find(x, "driver_init", m=1), "driver_init")
    take(b.find(x, "post_buffer", m=1, q=0), "post_buffer")
    refused = [a for a in b.by_label[("mode_set", (("flags", 3), ("m", 1)))]
               if b.model.actions[a].event.get("status") == "EINVAL" and b.steps[a](x) is not None]
    take(refused[0] if refused else None, "a refused DEV_MODE_SET(stop | reserved bit)")
    take(b.find(x, "fetch", m=1, q=0), "fetch")
    take(b.find(x, "complete", m=1, q=0), "complete")
    t.clauses.update({"D-GA-3", "I-DP-7"})
    return t


def _ownership_test(b: Any, x: int) -> Any:
    """Objects belong to one member (I-DP-2): member 1 creates each object id, then every
    other member's commands naming it are refused (the model's answers: ENXIO preferred),
    and member 1's own still work."""
    t = b.new("ownership", "sets")

    def take(name: str, **params: Any) -> None:
        nonlocal x
        a = b.find(x, name, **params)
        if a is None or not b.model.actions[a].event.get("ok"):
            raise ValueError(f"ownership test: {name}({params}) cannot succeed")
        b.take(t, a)
        x = b.steps[a](x)
    objects = b.model.params.as_dict()["objects"]
    take("list_use", group=0, bitmap="caps")
    take("list_use", group=1, bitmap="bundle")
    take("driver_cap_set", group=0, cap_id=0, get=objects, set_=objects)
    for oid in range(objects):
        take("obj_create", m=1, oid=oid, kind="get")
    b.admin_probe(t, x)          # every other member's command on them: refused
    for oid in range(objects):
        take("parts_get", m=1, oid=oid, type="ALL")
        take("obj_destroy", m=1, oid=oid)
    t.clauses.update({"I-DP-2", "D-RO-2"})
    return t


def _observe_after(b: Any, t: Any, y: int, m: int) -> None:
    """After a fault: probe the device actions, then read the member's parts if an object allows."""
    b.probe(t, y)
    for oid in range(b.model.params.as_dict().get("objects", 1)):
        a = b.find(y, "parts_get", m=m, oid=oid, type="ALL")
        if a is None or not b.model.actions[a].event.get("ok"):
            # a SET object: turned into a GET object (MODIFY) so the parts can be read
            a_mod = b.find(y, "obj_modify", m=m, oid=oid, kind="get")
            if a_mod is None or not b.model.actions[a_mod].event.get("ok"):
                continue
            b.take(t, a_mod)
            y = b.steps[a_mod](y)
            a = b.find(y, "parts_get", m=m, oid=oid, type="ALL")
        if a is not None and b.model.actions[a].event.get("ok"):
            b.take(t, a)


def _held_mode_set(b: Any, x: int, m: int, begin: str, end: str) -> Any:
    """A fault `begin` .. `end` with a DEV_MODE_SET(stop) sent during it, always as a held
    command: the model holds it until the end (D-DP-17/18/19) unless it fails validation,
    when it may be answered at once; either way the device must answer it by the end. The
    runner judges when and what the device answers through the replay."""
    a_begin = b.find(x, begin, m=m)
    if a_begin is None:
        return None

    def plan(t: Any) -> None:
        b.take(t, a_begin)
        y = b.steps[a_begin](x)
        any_stop = b.by_label[("mode_set", (("flags", 1), ("m", m)))][0]
        b.hold(t, any_stop, command_bytes(b.codec, b.model.actions[any_stop], b.queues, b.model), tag=1)
        t.holds = True
        a_now = b.find(y, "mode_set", m=m, flags=1)     # answered at once (a validation failure)
        if a_now is not None:
            y = b.steps[a_now](y)
        a_end = b.find(y, end, m=m)
        b.take(t, a_end)
        y = b.steps[a_end](y)
        a_ans = a_now if a_now is not None else b.find(y, "mode_set", m=m, flags=1)
        b.complete(t, a_ans, tag=1)
        if a_now is None:
            y = b.steps[a_ans](y)
        _observe_after(b, t, y, m)
    return plan


def _owner_reset_plan(b: Any, x: int, m: int) -> Any:
    """An owner reset, then the SR-IOV group's commands enabled again: every command the
    model must refuse then (the member's objects are gone, D-RO-8), and the member's parts."""
    a_reset = b.find(x, "owner_reset")
    if a_reset is None:
        return None

    def plan(t: Any) -> None:
        b.take(t, a_reset)
        y = b.steps[a_reset](x)
        for group in (0, 1):
            a_use = next((a for a in b.by_name.get("list_use", ()) if b.model.actions[a].params["group"] == group
                          and b.model.actions[a].params["bitmap"] != "base" and b.model.actions[a].event.get("ok")
                          and b.steps[a](y) is not None), None)
            if a_use is not None:
                b.take(t, a_use)
                y = b.steps[a_use](y)
        b.admin_probe(t, y)
        _observe_after(b, t, y, m)
    return plan


def _modes_plan(b: Any, x: int, m: int) -> Any:
    """DEV_MODE_SET stop (where the model lets it succeed), then resume: the fetched
    buffers are written back by the stop (D-DP-10/11), SET parts take effect at the resume
    (I-DP-5); then probes and the member's parts."""
    a_stop = b.find(x, "mode_set", m=m, flags=1)
    if a_stop is None or not b.model.actions[a_stop].event.get("ok"):
        return None

    def plan(t: Any) -> None:
        b.take(t, a_stop)
        y = b.steps[a_stop](x)
        b.probe(t, y)
        # parts written while stopped that differ from those in effect: applied at the resume
        current = b.model.decode_state(b.layout.unpack(y))[f"status[{m}]"]
        other = "driver_ok" if current == "reset" else "reset"
        for oid in range(b.model.params.as_dict().get("objects", 1)):
            a_set = b.find(y, "parts_set", m=m, oid=oid, snapshot=other)
            if a_set is not None and b.model.actions[a_set].event.get("ok"):
                b.take(t, a_set)
                y = b.steps[a_set](y)
                break
        a_resume = b.find(y, "mode_set", m=m, flags=0)
        if a_resume is not None and b.model.actions[a_resume].event.get("ok"):
            b.take(t, a_resume)
            y = b.steps[a_resume](y)
        _observe_after(b, t, y, m)
    return plan


def _held_order_plan(b: Any, x: int, m: int) -> Any:
    """A stopped member with a SET object: a PM transition, and during it a DEV_PARTS_SET
    of other parts, then a resume, both held (D-DP-19); once it ends the device processes
    them in queue order (D-AQ-6): the SET is stored while stopped and the resume applies it,
    which the member's parts show."""
    mode = b.model.decode_state(b.layout.unpack(x))
    if mode[f"mode[{m}]"] != "stopped" or b.find(x, "pm_begin", m=m) is None:
        return None
    other = "driver_ok" if mode[f"status[{m}]"] == "reset" else "reset"
    a_set = next((a for oid in range(b.model.params.as_dict().get("objects", 1))
                  if (a := b.find(x, "parts_set", m=m, oid=oid, snapshot=other)) is not None
                  and b.model.actions[a].event.get("ok")), None)
    if a_set is None:
        return None

    def plan(t: Any) -> None:
        a_begin = b.find(x, "pm_begin", m=m)
        b.take(t, a_begin)
        y = b.steps[a_begin](x)
        oid = b.model.actions[a_set].params["oid"]
        a_resume = b.by_label[("mode_set", (("flags", 0), ("m", m)))][0]
        b.hold(t, a_set, command_bytes(b.codec, b.model.actions[a_set], b.queues, b.model), tag=1)
        b.hold(t, a_resume, command_bytes(b.codec, b.model.actions[a_resume], b.queues, b.model), tag=2)
        t.holds = True
        a_end = b.find(y, "pm_end", m=m)
        b.take(t, a_end)
        y = b.steps[a_end](y)
        a_stored = b.find(y, "parts_set", m=m, oid=oid, snapshot=other)
        b.complete(t, a_stored, tag=1)
        y = b.steps[a_stored](y)
        a_resumed = b.find(y, "mode_set", m=m, flags=0)
        b.complete(t, a_resumed, tag=2)
        y = b.steps[a_resumed](y)
        t.clauses.add("D-AQ-6")
        _observe_after(b, t, y, m)
    return plan


def fault_plan(b: Any, x: int, m: int, kind: str):
    """The inputs of a fault test at packed state x for member m, or None if the fault cannot happen there."""
    if kind == "owner":
        return _owner_reset_plan(b, x, m)
    if kind == "modes":
        return _modes_plan(b, x, m)
    if kind == "order":
        return _held_order_plan(b, x, m)
    if kind == "flr":
        return _held_mode_set(b, x, m, "flr_begin", "flr_end")
    if kind == "pm":
        return _held_mode_set(b, x, m, "pm_begin", "pm_end")
    a_reset = b.find(x, "driver_reset", m=m)
    if a_reset is None:
        return None

    def plan_reset(t: Any) -> None:
        b.take(t, a_reset)
        y = b.steps[a_reset](x)
        a_end = b.find(y, "reset_end", m=m)
        b.take(t, a_end)
        y = b.steps[a_end](y)
        _observe_after(b, t, y, m)
    return plan_reset


# ModelBackend: steps the model takes without driver input, and workload ops -> actions
SETTLE = ("reset_end",)
WORK_ACTIONS = {"init": ("driver_init",), "fetch": ("fetch",), "complete": ("complete",), "notify": ("used_notify",),
                "config": ("config_notify",), "service": ("complete", "fetch", "complete"), "post": (),
                "pme": ("pme",), "pci_read": ("pci_read",)}

def work_matches(act: Any, member: int, queue: int) -> bool:
    return act.params.get("m") == member and act.params.get("q", queue) == queue


# Transition properties the correct model satisfies by construction (so they constrain no
# action of it) but which the suite checks through the observation: a GET's order and
# parts, and a failed command leaving no trace in what follows.
GET_CLAUSES = ("D-DP-2", "D-DP-3", "D-DP-24", "I-DP-8")
FAILED_CLAUSES = ("D-GA-3", "D-GA-4", "I-DP-5", "I-DP-7", "D-AQ-7")


def extra_clauses(act: Any) -> tuple[str, ...]:
    ev = act.event
    if ev is None or ev.get("kind") != "admin":
        return ()
    if not ev["ok"]:
        return FAILED_CLAUSES
    return GET_CLAUSES if ev["cmd"] == "DEV_PARTS_GET" else ()
