"""What a draft-v1 model action means on the wire (see adapt14.py for the step format).

One model member is a migration pair: wire member 2m-1 is its source VF and 2m its
destination VF (models/draft_observe.py); the emulator runs both, sharing the guest's
memory (`paired`). Suites are generated from the draft's example flow (`flow=draft`, a
small graph) and judged against the model with `flow=free` (any hypervisor command at any
time): a device must behave whatever the hypervisor does, and the held-command probes
during an FLR are commands the example flow would not send.

Wire fields the model leaves out come from this adapter's configuration: one recorded
range at address 0 of 4 KiB pages over the data pages and the used-ring page
(`range_len = range_pages * 4096`), an undefined mode value 0x7F for the model's
`UNKNOWN`. A context write is split the way the model's `part` / `last` say: a first
chunk that is not the last carries the context's first part (features, driver features,
status, config), a last chunk carries the rest (the whole context when it is also the
first), and a chunk that is neither first nor last carries no bytes. The chunks of a
context read are the device's choice (`OBSERVED_ANSWERS`): each is judged by where its
`remaining_ctx_size` places it in the whole context (`check_answer`), and the replay judges
where the stream ends.
"""

from __future__ import annotations

from typing import Any

from mcheck.device.draftv1 import (
    FIELD_LENGTHS,
    LOG2_MAX_PAGES,
    MAX_RANGES,
    MODES,
    OPTIONS,
    PAGE,
    PAGE_SIZE_MASK,
    context_bytes,
    head_size,
    pending_bytes,
    report_field,
    report_form,
    report_value,
)
from mcheck.trace.codec import Codec, CodecError

PROFILE = "draft-v1"
#: model parameters a generated suite uses unless given (`gen-tests`, the kill matrix)
SUITE_DEFAULTS = {"members": 1}
#: `--backend model` cannot stand in for a draft-v1 device, and why
ANSWERS_AS_DEVICE = False
NOT_A_DEVICE = "the draft-v1 model's hypervisor flow and switchover are not device behaviour"
NEEDS_STATE = True
HOLD_CLAUSES = ["DRAFT-FLR-2", "D-DP-17", "D-DP-18"]
FAULT_CLAUSES = ["DRAFT-FLR-1", "D-DP-22"]
LOOSE_BODY = {"LIST_QUERY", "WR_CAPS_QUERY"}     # the device's own capabilities: not compared
# the draft model gives one answer per command and state: the expected bytes are the answer,
# except where the device chooses (OBSERVED_ANSWERS, judged by check_answer)
EXACT_ANSWERS = True
OBSERVED_ANSWERS = {"DEV_CTX_READ"}
# the smallest DEV_CTX_READ chunk the suite is made for: a read that ends the context is sent
# as ceil(context / CTX_CHUNK) commands (a device with larger chunks answers the rest empty)
CTX_CHUNK = 32
WRITE_SPLIT = head_size() + 7   # where a context written in parts is cut: 7 bytes into the first VQ_SPLIT entry
UNDEFINED_MODE = 0x7F       # a DEV_MODE_SET mode value no profile mode has (the model's UNKNOWN)
RANGE_ADDR = 0
PAGE_SIZE = PAGE
# the per-member variables a fault point tells apart (gen.fault_points): the migration
# protocol's position (modes, phase, fault, record, context cursors) and the queue and page state it moves
MEMBER_VARS = ("mode", "ph", "fault", "rec", "status", "posted", "taken", "dirty", "stale", "used_idx", "last_avail",
               "gused", "rd", "wr")
HIDDEN = ("doorbell", "driver_init", "driver_cfg_write", "reset_end")
INTERNAL = {"consume": "fetch", "dma_write": "dma", "complete": "complete", "device_cfg_change": "config"}
FAULTS = ("flr", "reset")
SETTLE = ("switchover",)
WORK_ACTIONS = {"init": ("guest_init",), "cfgwrite": ("guest_cfg_write",), "peer": ("peer_access",),
                "fetch": ("consume",), "dma": ("dma_write",), "complete": ("complete",),
                "config": ("device_cfg_change",), "post": ()}


def judge_params(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "flow": "free"}


def device_config(params: dict[str, Any]) -> dict[str, Any]:
    """The emulator's power_on configuration: two wire members per pair, and the model's
    readings of the draft's open points."""
    out = {"members": 2 * params["members"], "queues": params["queues"], "pages": params["pages"],
           "paired": True, "initialised": "odd"}
    out.update({k: params[k] for k in OPTIONS if k in params})
    return out


def wire(m: int, side: str) -> int:
    return 2 * m - 1 if side == "src" else 2 * m


def range_pages(pages: int) -> int:
    """Pages of the recorded range: the data pages and the used-ring page."""
    return pages + 1


def _queues(state: dict[str, Any], prefix: str, key: str, queues: int) -> list[dict[str, Any]]:
    return [{"q": q, "enabled": state[f"{prefix}q_en[{key}][{q}]"], "addr": state[f"{prefix}q_addr[{key}][{q}]"],
             "last_avail": state[f"{prefix}last_avail[{key}][{q}]"], "used_idx": state[f"{prefix}used_idx[{key}][{q}]"]}
            for q in range(queues)]


def _ctx(codec: Codec, state: dict[str, Any], m: int, queues: int, pages: int) -> bytes:
    """The context the hypervisor transfers (what it read from the source: x_*)."""
    return context_bytes(codec, feat=state[f"x_feat[{m}]"], status=0x0F if state[f"x_status[{m}]"] == "DRIVER_OK" else 0,
                         cfg=state[f"x_cfg[{m}]"], pages=pages, queues=_queues(state, "x_", str(m), queues))


def _device_ctx(codec: Codec, state: dict[str, Any], m: int, side: str, queues: int, pages: int) -> bytes:
    """The context one side's device holds now (what a read stream concatenates to)."""
    key = f"{m}][{side}"
    return context_bytes(codec, feat=state[f"feat[{key}]"], status=0x0F if state[f"status[{key}]"] == "DRIVER_OK" else 0,
                         cfg=state[f"cfg[{key}]"], pages=pages, queues=_queues(state, "", key, queues))


def _write_chunk(ctx: bytes, part: str, last: bool) -> bytes:
    """The bytes of one DEV_CTX_WRITE chunk: a first chunk that is not the last ends inside
    the first VQ_SPLIT entry's header (WRITE_SPLIT), so the next one begins in mid-entry: with
    no stream open it continues none (an orphan, DRAFT-CTX-5)."""
    if part == "first":
        return ctx if last else ctx[:WRITE_SPLIT]
    return ctx[WRITE_SPLIT:] if last else b""


def command_fields(codec: Codec, act: Any, state: dict[str, Any] | None, queues: int, pages: int) -> dict[str, Any]:
    ev, p = act.event, act.params
    name = ev["cmd"]
    if name == "DEV_MODE_SET":
        return {"mode": MODES.get(ev["mode"], UNDEFINED_MODE)}
    if name == "DEV_CTX_SIZE_GET":
        return {"freeze_mode": ev["freeze_mode"]}
    if name == "DEV_CTX_WRITE":
        ctx = _ctx(codec, state, p["m"], queues, pages) if state else b""
        return {"context": _write_chunk(ctx, ev.get("part", p.get("part", "first")), ev.get("last", p.get("last", True)))}
    if name == "WR_START":
        return {"page_size": PAGE_SIZE, "mode": 0, "range_addr": RANGE_ADDR,
                "range_len": ev.get("range_pages", range_pages(pages)) * PAGE_SIZE}
    if name == "WR_STOP":
        return {"range_addr": RANGE_ADDR}
    if name == "WR_REPORT":
        return {"range_addr": RANGE_ADDR, "range_len": ev.get("range_pages", range_pages(pages)) * PAGE_SIZE}
    return {}


def result_fields(codec: Codec, ev: dict[str, Any], state: dict[str, Any] | None, m: int, queues: int,
                  pages: int) -> dict[str, Any]:
    name = ev["cmd"]
    if ev["status"] != "OK":
        return {}
    form = report_form(codec.profile)
    if name == "DEV_MODE_GET":
        return {"mode": MODES[ev["mode"]]}
    if name == "DEV_CTX_SIZE_GET":
        return {"size": len(context_bytes(codec, feat=False, status=0, cfg=0, pages=pages,
                                          queues=[{"q": q, "enabled": False, "addr": False, "last_avail": 0,
                                                   "used_idx": 0} for q in range(queues)]))}
    if name == "DEV_CTX_READ":
        # the device chooses its chunks: the example answer is the whole context the stream
        # concatenates to (remaining 0 when the model's chunk ends it, else the whole size)
        if ev.get("empty"):
            return {"size": 0, "remaining_ctx_size": 0, "context": b""}
        ctx = _device_ctx(codec, state, m, ev.get("side", "src"), queues, pages) if state else b""
        return {"size": len(ctx), "remaining_ctx_size": 0 if ev.get("last", True) else len(ctx), "context": ctx}
    if name == "DEV_CTX_FIELDS_QUERY":
        return {"fields": [{"type": n, "length": FIELD_LENGTHS[n]} for n in ev["fields"].split(",")]}
    if name == "WR_CAPS_QUERY":
        return {"max_ranges": MAX_RANGES, "page_size_mask": PAGE_SIZE_MASK, "log2_max_pages": LOG2_MAX_PAGES}
    n = ev.get("range_pages", range_pages(pages))
    if name == "WR_PENDING":
        recorded = ev["pending_pages"] if "pending_pages" in ev else int(bool(ev.get("pending_any")))
        return {"pending_bytes": pending_bytes(form, [(range_pages(pages), recorded)])}
    if name == "WR_REPORT":
        bits = [i for i in range(n) if ev["bitmap"] >> i & 1]
        return {report_field(codec.profile): report_value(form, bits, n, RANGE_ADDR, PAGE_SIZE)}
    return {}


def check_answer(codec: Codec, readable: bytes, got: bytes, want: bytes) -> str | None:
    """An answer the device shapes itself (OBSERVED_ANSWERS), against the example answer: the
    same status (the runner compares it); a DEV_CTX_READ chunk must be the bytes of the whole context (the example's)
    at the place its `remaining_ctx_size` puts it. None if it is fine, else what is wrong."""
    try:
        res = codec.decode_result("DEV_CTX_READ", got)
        exp = codec.decode_result("DEV_CTX_READ", want)
    except CodecError as exc:
        return f"the answer does not decode ({exc})"
    if res.status != 0:
        return None
    chunk = bytes(res.fields.get("context", b""))
    size, remaining = res.fields.get("size", 0), res.fields.get("remaining_ctx_size", 0)
    whole = bytes(exp.fields.get("context", b""))
    if size != len(chunk):
        return f"the chunk says size {size} but carries {len(chunk)} bytes"
    start = len(whole) - remaining - size
    if start < 0 or remaining < 0:
        return (f"a chunk of {size} bytes with {remaining} remaining does not fit the {len(whole)}-byte context "
                f"(DEV_CTX_SIZE_GET)")
    if chunk != whole[start : start + size]:
        at = next(i for i, (a, b) in enumerate(zip(chunk, whole[start:], strict=False)) if a != b)
        return (f"the chunk at context offset {start} ({size} bytes, {remaining} remaining) differs from the "
                f"context at byte {start + at}: {chunk[at:at + 8].hex()} vs {whole[start + at:start + at + 8].hex()}")
    return None


def steps_of(codec: Codec, act: Any, queues: int, after: dict[str, Any] | None = None, pages: int = 2) -> list[tuple]:
    p, ev = act.params, act.event
    name = act.name
    if ev is not None and ev["kind"] == "admin":
        w = wire(p["m"], ev.get("side", "src"))
        readable = codec.encode_command(ev["cmd"], "SRIOV", w, command_fields(codec, act, after, queues, pages))
        fields = result_fields(codec, ev, after, p["m"], queues, pages)
        writable = codec.encode_result(ev["cmd"], ev["status"], "OK", fields)
        steps = [("admin", readable, writable)]
        if ev["cmd"] == "DEV_CTX_READ" and ev["status"] == "OK" and ev.get("last") and not ev.get("empty"):
            # the chunk that ends the context: read until the device's stream ends, wherever
            # it is (a read after the end is empty), so the whole context has been read; each
            # answer is judged by where it falls in the whole context (check_answer)
            steps += [("admin", readable, writable)] * (-(-len(fields["context"]) // CTX_CHUNK) - 1)
        return steps
    m = p.get("m", 1)
    if name == "guest_post":
        return [("work", "post", wire(m, p["d"]), p["q"]), ("inject", "doorbell", wire(m, p["d"]), p["q"])]
    if name == "guest_cfg_write":
        return [("work", "cfgwrite", wire(m, p["d"]), 0)]
    if name == "peer_access":
        return [("work", "peer", wire(m, p["d"]), 0)]
    if name == "guest_init":
        return [("work", "init", wire(m, p["d"]), 0)]
    if name in INTERNAL:
        arg = p["p"] if name == "dma_write" else p.get("q", 0)
        return [("work", INTERNAL[name], wire(m, p["d"]), arg)]
    if name == "fault_begin":
        return [("inject", "flr_begin" if p["kind"] == "flr" else "member_reset", wire(m, p.get("d", "src")), 0)]
    if name == "fault_end":
        # a member reset completes at once on the wire; the hypervisor's reaction (writing the
        # destination again, restarting after a visible FLR) is its own later commands
        return [("inject", "flr_end", wire(m, p.get("d", "src")), 0)] if p["kind"] == "flr" else []
    return []      # switchover, cancel, device_cfg_latch: no driver input


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


_JUDGE_BUILDERS: dict[tuple, Any] = {}


def _judge_builder(b: Any) -> Any:
    """A Builder of the model the suite is judged by (flow=free: judge_params), which lets
    the hypervisor ask what the draft's flow would only ask later; same slots as b's."""
    params = b.model.params.as_dict()
    if params.get("flow") == "free":
        return b
    key = tuple(sorted(params.items()))
    if key not in _JUDGE_BUILDERS:
        from mcheck.conformance.gen import Builder
        from mcheck.model.registry import load_model
        free = load_model(b.model.name, judge_params(params))
        assert [s.name for s in free.slots] == [s.name for s in b.model.slots]
        _JUDGE_BUILDERS[key] = Builder(free, b.adapter)
    return _JUDGE_BUILDERS[key]


def _as_judged(b: Any, j: Any, x: int) -> tuple:
    """State x of b's model as the judging model holds it: the same slots, but the free
    hypervisor's phase never moves from its initial value (the draft flow's phase, e.g.
    CANCELLED, would forbid every later command)."""
    values = list(b.layout.unpack(x))
    if j is not b:
        start = j.layout.unpack(j.layout.pack(j.model.initial[0]))
        for i, slot in enumerate(j.model.slots):
            if slot.name.startswith("ph["):
                values[i] = start[i]
    return tuple(values)


def read_back(b: Any, t: Any, x: int) -> None:
    """The witness test's end (mcheck.witness.suite): read back what a step may have changed
    inside the device, so a bug that only changed state is seen. A fault still open ends
    first (the device holds admin commands during it); then, as the judging model (the free
    hypervisor) allows: each member's mode (DEV_MODE_GET), the rest of a stopped or frozen
    source's context (DEV_CTX_READ to its last chunk: its bytes are compared), then on a
    running source one device write (a buffer posted, fetched, a page written, completed)
    and the record (WR_PENDING, WR_REPORT), which says whether the device records."""
    j = _judge_builder(b)
    x = j.layout.pack(_as_judged(b, j, x))
    tail = j.new(t.name, t.kind)
    tail.events, tail.clauses = t.events, t.clauses     # the events follow t's, numbered on
    members = range(1, j.model.params.as_dict()["members"] + 1)
    sides = [(m, d) for m in members for d in ("src", "dst")]

    def take(name: str, ok: str | None, **params: Any) -> None:
        nonlocal x
        for a in j.by_name.get(name, ()):
            act = j.model.actions[a]
            if params.items() <= act.params.items() and (ok is None or (act.event or {}).get("status") == ok):
                y = j.steps[a](x)
                if y is not None:
                    j.take(tail, a, y)
                    x = y
                    return

    for m, d in sides:
        for kind in FAULTS:
            take("fault_end", None, m=m, d=d, kind=kind)
    for m, d in sides:
        take("dev_mode_get", "OK", m=m, d=d)
    for m in members:
        take("dev_ctx_read", "OK", m=m, d="src", last=True)
    for m in members:       # a device write on a running source, then the record: is it recording?
        for name, params in (("guest_init", {}), ("guest_post", {"q": 0}), ("consume", {"q": 0}),
                             ("dma_write", {"p": 0}), ("complete", {"q": 0})):
            take(name, None, m=m, d="src", **params)
        take("wr_pending", "OK", m=m)
        take("wr_report", "OK", m=m)
    t.probes += tail.probes


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
    side = b.model.actions[a_begin].params.get("d", "src")

    def plan(t: Any) -> None:
        y = b.steps[a_begin](x)
        b.take(t, a_begin, y)
        a_end = b.find(y, "fault_end", m=m, d=side, kind=kind)
        y2 = b.steps[a_end](y)
        if kind == "flr":
            # a DEV_MODE_SET during the FLR, held and answered once it ends: to the mode the
            # member has after it (a self-loop, which always succeeds and changes nothing)
            mode = b.model.decode_state(b.layout.unpack(y2))[f"mode[{m}][{side}]"]
            w = wire(m, side)
            b.hold(t, a_begin, codec.encode_command("DEV_MODE_SET", "SRIOV", w, {"mode": MODES[mode]}), tag=1)
            t.holds = True
        b.take(t, a_end, y2)
        if kind == "flr":
            b.complete_raw(t, 1, codec.encode_result("DEV_MODE_SET", "OK", "OK", {}), list(HOLD_CLAUSES))
        b.probe(t, y2)
    return plan


# ---------------------------------------------------------------- targeted tests
#
# The suite's walk follows the draft's example flow, which never sends what a device must
# refuse (an orphan chunk, an undefined mode, a resume of a half-written context) and never
# touches a frozen member; these tests send them from power-on, built on the model the
# suite is judged by (flow=free).


class _Script:
    """One targeted test: model actions taken one after the other from the initial state."""

    def __init__(self, b: Any, name: str, x: int) -> None:
        self.b, self.x = b, x
        self.t = b.new(name, "targeted")

    def take(self, name: str, status: str | None = None, **params: Any) -> None:
        b = self.b
        for a in b.by_name.get(name, ()):
            act = b.model.actions[a]
            if not params.items() <= act.params.items():
                continue
            if status is not None and (act.event is None or act.event.get("status") != status):
                continue
            y = b.steps[a](self.x)
            if y is not None:
                b.take(self.t, a, y)
                self.x = y
                return
        raise ValueError(f"targeted test {self.t.name}: {name}({params}) {status or ''} is not enabled")

    def mode(self, m: int, d: str, target: str) -> None:
        """DEV_MODE_SET from whatever mode the member is in (via STOP where P-TRANS needs it)."""
        state = self.b.model.decode_state(self.b.layout.unpack(self.x))
        frm = state[f"mode[{m}][{d}]"]
        if frm == target:
            return
        if self.b.model.params.as_dict().get("transitions") == "via-stop" and {frm, target} == {"ACTIVE", "FREEZE"}:
            self.take("dev_mode_set", "OK", m=m, d=d, frm=frm, target="STOP")
            frm = "STOP"
        self.take("dev_mode_set", "OK", m=m, d=d, frm=frm, target=target)

    def record(self, m: int) -> None:
        """WR_REPORT, then WR_PENDING, with what the model has recorded now."""
        state = self.b.model.decode_state(self.b.layout.unpack(self.x))
        pages = [int(k.split("[")[2][:-1]) for k, v in state.items() if k.startswith(f"dirty[{m}]") and v]
        self.take("wr_report", m=m, bitmap=sum(1 << p for p in pages))
        self.take("wr_pending", m=m, n=0)

    def fault(self, m: int, d: str, kind: str) -> None:
        self.take("fault_begin", m=m, d=d, kind=kind)
        self.take("fault_end", m=m, d=d, kind=kind)


def class_tests(model: Any, params: dict[str, Any]) -> list[Any]:
    from mcheck.conformance.gen import Builder
    from mcheck.model.registry import load_model
    free = load_model(model.name, judge_params(params))
    b = Builder(free, __import__(__name__, fromlist=["x"]))
    x0 = b.layout.pack(free.initial[0])
    faults = free.params.as_dict().get("faults", 1)
    tests = []

    # DRAFT-CTX-5: a chunk that continues no stream is EINVAL and changes nothing
    s = _Script(b, "orphan-chunks", x0)
    s.mode(1, "dst", "FREEZE")
    s.take("dev_ctx_write_orphan", m=1, d="dst", last=True)          # no stream was ever opened
    s.take("dev_ctx_write", "OK", m=1, d="dst", frm="FREEZE", part="first", last=False)
    s.take("dev_ctx_discard", m=1, d="dst")
    s.take("dev_ctx_write_orphan", m=1, d="dst", last=True)          # the stream was discarded
    s.take("dev_ctx_write", "OK", m=1, d="dst", frm="FREEZE", part="first", last=True)
    s.take("dev_ctx_write_orphan", m=1, d="dst", last=True)          # the stream is complete
    tests.append(s.t)
    if faults:      # on whichever side the judging model lets a fault hit
        side = next((d for d in ("dst", "src") if b.find(x0, "fault_begin", m=1, d=d, kind="flr") is not None), None)
        if side is not None:
            s = _Script(b, "orphan-after-flr", x0)
            s.mode(1, side, "FREEZE")
            s.take("dev_ctx_write", "OK", m=1, d=side, frm="FREEZE", part="first", last=False)
            s.fault(1, side, "flr")
            state = free.decode_state(b.layout.unpack(s.x))
            s.take("dev_mode_get", m=1, d=side, mode=state[f"mode[1][{side}]"])    # P-FLR flr_mode
            s.mode(1, side, "FREEZE")
            s.take("dev_ctx_write_orphan", m=1, d=side, last=True)      # an FLR dropped the stream
            tests.append(s.t)

    # DRAFT-CTX-6: no resume of a half-written context
    s = _Script(b, "resume-partial-context", x0)
    s.mode(1, "dst", "FREEZE")
    s.take("dev_ctx_write", "OK", m=1, d="dst", frm="FREEZE", part="first", last=False)
    s.take("dev_mode_set_partial", m=1, d="dst", target="ACTIVE")
    s.take("dev_mode_set_partial", m=1, d="dst", target="STOP")
    s.take("dev_mode_get", m=1, d="dst", mode="FREEZE")
    s.take("dev_ctx_write", "OK", m=1, d="dst", frm="FREEZE", part="next", last=True)
    s.mode(1, "dst", "ACTIVE")
    tests.append(s.t)

    # DRAFT-MODE-3: a mode value the profile does not define is EINVAL, no side effect
    s = _Script(b, "unknown-mode", x0)
    for frm in ("ACTIVE", "STOP", "FREEZE"):
        s.mode(1, "src", frm)
        s.take("dev_mode_set", m=1, d="src", frm=frm, target="UNKNOWN")
        s.take("dev_mode_get", m=1, d="src", mode=frm)
    tests.append(s.t)

    # DRAFT-FRZ-1, DRAFT-MODE-4: accesses reach a frozen member and change nothing
    s = _Script(b, "frozen-access", x0)
    s.take("peer_access", m=1, d="src")
    s.mode(1, "src", "STOP")
    s.take("guest_cfg_write", m=1, d="src")
    s.mode(1, "src", "FREEZE")
    for access in ("peer_access", "guest_cfg_write"):     # each, then the whole context read
        s.take(access, m=1, d="src")
        s.take("dev_ctx_read", "OK", m=1, d="src", frm="FREEZE", last=False)
        s.take("dev_ctx_read", "OK", m=1, d="src", frm="FREEZE", last=True)
        s.take("dev_ctx_discard", m=1, d="src")
    tests.append(s.t)

    # DRAFT-FLOW-3, DRAFT-WR-1: WR_STOP turns recording off (a cancel leaves nothing recording)
    s = _Script(b, "wr-stop", x0)
    s.take("wr_start", m=1)
    s.take("guest_post", m=1, d="src", q=0)
    s.take("consume", m=1, d="src", q=0)
    s.take("wr_stop", m=1)
    s.take("dma_write", m=1, d="src", p=0)
    s.take("complete", m=1, d="src", q=0)
    s.record(1)         # only what was recorded before the stop
    tests.append(s.t)

    if faults:
        # DRAFT-FLR-1 (P-FLR): the mode and write recording after an FLR of a stopped, recording source
        s = _Script(b, "flr-keeps", x0)
        s.take("wr_start", m=1)
        s.take("guest_post", m=1, d="src", q=0)
        s.take("consume", m=1, d="src", q=0)
        s.take("dma_write", m=1, d="src", p=0)
        s.take("complete", m=1, d="src", q=0)
        s.mode(1, "src", "STOP")
        s.fault(1, "src", "flr")
        state = free.decode_state(b.layout.unpack(s.x))
        s.take("dev_mode_get", m=1, d="src", mode=state["mode[1][src]"])
        n = sum(1 for k, v in state.items() if k.startswith("dirty[1]") and v)
        s.take("wr_pending", m=1, n=n)
        s.record(1)
        tests.append(s.t)
    return tests


def capture_of(codec: Codec, act: Any, queues: int, model: Any, after: dict[str, Any] | None = None) -> list[tuple]:
    """What a capture of a device taking model action `act` shows (see adapt14.capture_of):
    the admin command with the answer the step's event gives (one chunk of a read), or the
    side-band record on the pair's wire member; nothing for steps no record shows (the
    guest's init and config writes, a reset's end)."""
    ev = act.event
    if ev is None:
        return []
    pages = model.params.as_dict().get("pages", 2)
    if ev["kind"] == "admin":
        _, readable, writable = steps_of(codec, act, queues, after, pages)[0]
        return [("admin", {"readable": readable, "writable": writable})]
    kind = {"reset_begin": "member_reset"}.get(ev["kind"], ev["kind"])
    if kind not in ("dma_write", "used_notify", "config_notify", "doorbell", "flr_begin", "flr_end", "member_reset"):
        return []
    fields: dict[str, Any] = {"member": wire(ev["member"], ev.get("side", "src"))}
    if kind == "dma_write":
        fields.update(address=RANGE_ADDR + ev["page"] * PAGE_SIZE, length=64)
    elif kind in ("used_notify", "doorbell"):
        fields["queue"] = ev.get("queue", 0)
    return [(kind, fields)]
