"""`mcheck replay TRACE --backend emulator:ADDR|model`: replay a trace *to a device*.

The driver-side events of the trace are sent to the device (admin command bytes,
FLR / resets, doorbells with the guest's buffer posts); where the trace shows the device
working (a DMA write, a used-buffer or config notification) the device is asked to do
that work step. What the device answers and does is then
1. compared with the responses recorded in the trace (status, qualifier and result
   bytes; DEV_PARTS_GET / LIST_QUERY bodies by their decoded summary), and
2. replayed against the model, like a capture.
Differences become violations of kind "device-differs"; the replay of the device's own
exchange gives the divergence verdict.

`mcheck replay` (mcheck/replay/cli.py, registered by mcheck.conformance.replay_command)
calls `run_backend_replay` when --backend is given, after refusing the replay options that
do not apply to a device (mcheck/options.py); `python -m mcheck.conformance replay TRACE
--backend B` is the same command standalone.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from mcheck.device.backend import DEFAULT_TIMEOUT, DeviceError, batch_of, seconds
from mcheck.conformance.modelbackend import open_backend
from mcheck.trace.events import AdminCommand, AdminComplete
from mcheck.verdict import (
    ERROR,
    HOLDS,
    VIOLATED,
    DeviceReplayResult,
    PropertyVerdict,
    Violation,
    Witness,
)

if TYPE_CHECKING:
    from mcheck.report.outputs import Outputs

# what the device is asked to do for a device event seen in the trace
WORK_FOR = {"dma_write": "service", "used_notify": "notify", "config_notify": "config"}
INJECTED = ("flr_begin", "flr_end", "member_reset", "owner_reset", "pm_begin", "pm_end")


def add_backend_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", metavar="B", default=None,
                   help="replay the trace to a device: emulator:unix:PATH, emulator:tcp:HOST:PORT, or model "
                        "(the in-process reference); reports where the device differs from the trace")
    p.add_argument("--device-timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds the device has for each request (default {DEFAULT_TIMEOUT:g})")


def requests_of(trace_events: list[Any]) -> list[tuple[Any, tuple]]:
    plan: list[tuple[Any, tuple]] = []
    posted: dict[int, list[int]] = {}   # member -> queues of buffers posted and not yet written, oldest first
    for ev in trace_events:
        kind = ev.KIND
        if kind in ("flr_begin", "member_reset"):
            posted.pop(ev.member, None)      # the reset member's guest driver starts its rings again
        if kind == "admin":
            if _shows_driver_ok(ev):      # the guest driver had initialised the member (no record of its own)
                plan.append((ev, ("work", "init", ev.command.member, 0)))
            plan.append((ev, ("submit", ev.readable)))
        elif kind == "doorbell":
            plan.append((ev, ("work", "init", ev.member, 0)))
            plan.append((ev, ("work", "post", ev.member, ev.queue)))
            posted.setdefault(ev.member, []).append(ev.queue)
            plan.append((ev, ("inject", "doorbell", ev.member, ev.queue)))
        elif kind in INJECTED:
            plan.append((ev, ("inject", kind, getattr(ev, "member", 0), 0)))
        elif kind in WORK_FOR:
            plan.append((ev, ("work", "init", ev.member, 0)))   # a device works only for an initialised driver
            queue = getattr(ev, "queue", None)
            if kind == "dma_write":
                # a DMA write does not name its queue: the device writes the oldest buffer posted
                queues = posted.get(ev.member, [])
                queue = queues.pop(0) if queues else 0
            plan.append((ev, ("work", WORK_FOR[kind], ev.member, queue or 0)))
    return plan


def _shows_driver_ok(ev: Any) -> bool:
    """A recorded DEV_PARTS_GET answer whose DEVICE_STATUS part has DRIVER_OK."""
    try:
        if ev.command.name != "DEV_PARTS_GET" or ev.result is None or ev.result.status != 0:
            return False
        return any(p.get("type") == "DEVICE_STATUS" and isinstance(p.get("value"), int) and p["value"] & 4
                   for p in ev.result.fields.get("parts", []))
    except Exception:  # noqa: BLE001 - an undecodable record is judged later
        return False


def backend_replay(path: str, backend_spec: str, *, model_name: str | None = None, params: dict[str, Any] | None = None,
                   profile: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                   reader: str = "fast") -> DeviceReplayResult:
    from mcheck.conformance.gen import adapter_for
    from mcheck.conformance.runner import Judge
    from mcheck.replay import model_for_trace, open_trace

    start = time.monotonic()
    trace = open_trace(path, profile=profile, reader=reader)
    header = trace.header
    events = list(trace.events)
    model = model_for_trace(header, model_name, params or {})
    adapter = adapter_for(model)
    judge = Judge(model, adapter, trace.codec)
    codec = trace.codec
    plan = requests_of(events)
    config = {"members": max(header.members) if header.members else model.params.as_dict().get("members", 1),
              "queues": header.queues or 1}
    differs: list[Violation] = []
    observed: list[Any] = []
    error = None
    backend = open_backend(backend_spec, timeout=timeout, profile=header.profile, params=model.params.as_dict())
    try:
        backend.power_on(config)
        answers = batch_of(backend, [r for _, r in plan])
    except DeviceError as exc:
        error = str(exc)
        answers = []
    finally:
        backend.close()
    held: dict[int, bytes] = {}
    btag = 0
    for (ev, req), (answer, devs) in zip(plan, answers, strict=False):   # no answers after a device error
        if req[0] == "submit":
            btag += 1
        for dev in devs:
            if isinstance(dev, AdminComplete):
                readable = held.pop(dev.tag, None)
                if readable is not None:
                    observed.append(AdminCommand(index=len(observed), timestamp=dev.timestamp, readable=readable,
                                                 writable=dev.writable, codec=codec))
            else:
                observed.append(dev)
        if req[0] == "inject":
            observed.append(ev)
        elif req[0] == "submit":
            if answer is None:
                held[btag] = ev.readable
                continue
            observed.append(AdminCommand(index=len(observed), timestamp=ev.timestamp, readable=ev.readable,
                                         writable=answer, codec=codec))
            want = ev.writable
            if want is None:
                continue
            name = codec.decode_command(ev.readable).name
            same = answer[:4] == want[:4] if name in adapter.LOOSE_BODY else answer == want
            if not same:
                got_r, want_r = codec.decode_result(name, answer), codec.decode_result(name, want)
                msg = (f"event {ev.index}: {name} member {codec.decode_command(ev.readable).member}: the device answered "
                       f"{got_r.status_name}/{got_r.qualifier_name} {answer.hex()}, the trace recorded "
                       f"{want_r.status_name}/{want_r.qualifier_name} {want.hex()}")
                differs.append(Violation(property="device-matches-trace", kind="device-differs",
                                         clauses=judge.expected_clauses(ev), message=msg,
                                         witness=Witness(initial={}, steps=[]), event_index=ev.index))
        elif req[0] == "work" and req[1] not in ("post", "init") and not answer:
            differs.append(Violation(property="device-matches-trace", kind="device-differs", clauses=[],
                                     message=f"event {ev.index}: the trace shows {ev.KIND} for member {ev.member}; "
                                             "the device did not do it when asked",
                                     witness=Witness(initial={}, steps=[]), event_index=ev.index))
    verdict = judge.replay(observed)
    violations = list(differs)
    if verdict is not None:
        n, clauses, message = verdict
        violations.append(Violation(property="device-conforms", kind="divergence", clauses=clauses,
                                    message=f"the device's exchange, replayed against the model: {message}",
                                    witness=Witness(initial={}, steps=[]), event_index=n))
    # the table never shows a property holding next to a violation of it: a device error is
    # the device-matches-trace property's too
    props = [
        PropertyVerdict(name="device-matches-trace", kind="device", clauses=sorted({c for v in differs for c in v.clauses}),
                        verdict=VIOLATED if differs else (ERROR if error else HOLDS),
                        description="the device answers every command as the trace recorded"),
        PropertyVerdict(name="device-conforms", kind="divergence", clauses=verdict[1] if verdict else [],
                        verdict=VIOLATED if verdict else HOLDS,
                        description="what the device answered and did is explained by the model"),
    ]
    notes = [f"{len(plan)} requests sent to {backend_spec}, {len(observed)} events observed from the device"]
    if error:
        notes.append(error)
        violations.append(Violation(property="device-matches-trace", kind="device-error", clauses=[], message=error,
                                    witness=Witness(initial={}, steps=[])))
    return DeviceReplayResult(model=model.name, params=model.params.as_dict(), engine="replay-device",
                              verdict=ERROR if error and not violations[:-1] else (VIOLATED if violations else HOLDS),
                              backend=backend_spec, requests=len(plan), observed_events=len(observed),
                              seconds=round(time.monotonic() - start, 6), properties=props, violations=violations,
                              notes=notes)


def run_backend_replay(args: argparse.Namespace, outputs: Outputs) -> int:
    """The body of `mcheck replay TRACE --backend B` (returns the exit code)."""
    from mcheck.model.params import parse_assignments
    from mcheck.report.outputs import emit

    result = backend_replay(args.trace, args.backend, model_name=args.model, params=parse_assignments(args.params),
                            profile=args.profile, timeout=args.device_timeout, reader=args.reader)
    if args.reader != "fast":
        result.notes.append(f"read with the {args.reader} reader")
    return emit(result, outputs, args.trace)
