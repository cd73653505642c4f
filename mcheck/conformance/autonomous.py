"""The conformance runner for virtio-1.4 devices that act on their own (HELLO `autonomous`,
docs/device-protocol.md, "Autonomous devices"): what a host sends such a device and when
(`autonomous_plan`: admin commands, injected events and the guest's steps as written, the
test's device-internal steps as quiescence points), the obligation at a quiescence point
the model cannot state, and the liveness post; what the device answered and did is judged
through the model's replay (mcheck.conformance.judging.ReplaySession).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcheck.device.backend import DeviceError, batch_of
from mcheck.conformance.judging import Failure, Judge, Outcome, ReplaySession, command_text
from mcheck.conformance.plan import request_of

# workload steps a host can drive: the guest driver's own steps and a PCI configuration read;
# every other step of a test (fetch, complete, notify, config, pme, service, run, dma) is the
# device's own work, which an autonomous device takes when it decides to
HOST_STEPS = ("init", "post", "pci_read")
QUIET_MS = 5.0            # a quiescence point waits until the device has been idle this long ...
QUIET_MAX_MS = 1000.0     # ... but no longer than this
# the runner's obligation at a quiescence point: a running member processes the buffers the
# guest made available, those posted while it was stopped included (run_test_autonomous)
PROCESSED_CLAUSES = ["D-DP-12", "D-DP-21"]


def autonomous_plan(events: list[Any], device_config: dict[str, Any], idle_ms: float, max_ms: float,
                    check_pages: Callable[[dict[str, Any]], list[int]] | None = None) -> list[tuple[Any, tuple]]:
    """The requests a host sends for a test to an autonomous device, each with the test
    event it stands for: admin commands, injected events and host steps as written; every
    device-internal step or probe of the test becomes a *quiescence point* (one per run of
    consecutive ones): a `quiesce`, then a read of each member's ring pages, so the
    runner sees what the device did there and checks that it processed what it had to.
    A quiescence point also comes before each `post` (a device that is behind the test's
    walk catches up first, so the guest never has more buffers out than the model's
    abstraction holds) and at the end of the test (events the device has not yet
    delivered). A guest-memory check of the test (`check {...}`, read with `check_pages`)
    stays where it is."""
    members = range(1, int(device_config.get("members", 1)) + 1)
    quiesce = ("control", "quiesce", {"idle_ms": idle_ms, "max_ms": max_ms})
    reads = [("control", "mem_read", {"member": m, "page": page}) for m in members for page in (0, 1)]
    plan: list[tuple[Any, tuple]] = []
    at_point = False                 # the last request is a quiescence point's

    def point(ev: Any, why: str, kind: str) -> None:
        nonlocal at_point
        if not at_point:
            key = (ev, why, kind)      # one object for the point's requests: the runner cuts the plan there
            plan.append((key, quiesce))
            plan.extend((key, r) for r in reads)
            at_point = True

    for ev in events:
        if ev.KIND == "annotation" and ev.text.startswith("check ") and check_pages is not None:
            check = json.loads(ev.text[6:])      # a guest-memory check: mem_read, judged by the adapter
            plan.extend((ev, ("control", "mem_read", {"member": check["member"], "page": page}, check))
                        for page in check_pages(check))
            at_point = False
            continue
        req = request_of(ev)
        if req is None:
            continue
        if req[0] == "work" and req[1] not in HOST_STEPS:
            point(ev, f"step {ev.index}, the test's {req[1]}", "work")
            continue
        if req[0] == "work" and req[1] == "post":
            point(ev, f"step {ev.index}, before the guest posts a buffer", "post")
        plan.append((ev, req))
        at_point = False
    if events:
        point(events[-1], "end of test", "end")
    return plan


def run_test_autonomous(backend: Any, judge: Judge, events: list[Any], name: str, device_config: dict[str, Any],
                        *, idle_ms: float | None = None, max_ms: float | None = None) -> Outcome:
    """Run a test against a device that acts on its own (HELLO `autonomous`), judging
    everything it did by replay against the model.

    The runner drives only what a host can: admin commands, injected events (doorbells,
    FLR, member and owner resets, PM transitions), the guest driver's steps (`init`,
    `post`), PCI reads, and mem_read. The test's device-internal steps and probes become
    quiescence points (`autonomous_plan`). Judged:

    - every admin answer, DMA write, used-buffer or config notification, PME and PCI read,
      in the order the device reports them (events it produced between requests come
      before the request they are delivered with, as the ACK's `before` says), by the
      model's replay. The device's silent steps (a fetch, a member reset's end) are
      hidden model actions, so the replay keeps every state consistent with whenever
      the device may have taken them; the guest's `init` narrows the candidates like a
      driven step. A DMA write or notification while stopped (D-DP-9, D-DP-16), one
      after the stop completed without writing a fetched buffer back (D-DP-10/11), PCI
      reads, and every admin answer are judged exactly as in `run_test_replayed`;
    - held commands: held during a member's FLR, reset or PM transition and answered when
      it ends (D-DP-17/18/19), their answers replayed in queue order per member (D-AQ-6),
      as in `run_test_replayed`; the suite's guest-memory checks (the used index after a
      stop, D-DP-10/11) by the adapter, against every state the replay allows;
    - an obligation the model cannot state (its device actions are all optional, it has
      no "eventually"): at each quiescence point, for each member that is running, not
      in a fault and DRIVER_OK in every state the replay allows, every buffer the guest
      made available has been used (avail idx == used idx in the guest's rings, read
      with mem_read). Buffers posted and doorbells rung while stopped must therefore be
      processed once the member is resumed and the device is quiet (D-DP-12: driver
      notifications are accepted while stopped, not lost; D-DP-21: the resume returns
      the member to normal operation). After a quiescence point of the test's device
      work, such a member with nothing posted or in flight gets a buffer from the runner
      (`post` and a doorbell, as a guest would) that must be used by the next quiescence
      (`liveness`): a member that stopped when it should not have shows up there.

    The plan is sent in runs, each up to the end of a quiescence point, and judged before
    the next run is sent (the liveness post depends on what the replay allows there).
    `idle_ms` is the idle window of a quiescence point (default: QUIET_MS, at least the
    device's `max_delay_ms` from HELLO), `max_ms` its bound (default QUIET_MAX_MS, at most
    half the backend's request timeout; the idle window is at most half the bound)."""
    from mcheck.device.virtq import PAGE, avail_addr, used_addr
    from mcheck.trace.events import Doorbell
    codec = judge.codec
    adapter = judge.adapter
    info = getattr(backend, "device_info", {}) or {}
    if idle_ms is None:
        advertised = info.get("max_delay_ms", 0)
        idle_ms = max(QUIET_MS, float(advertised) if isinstance(advertised, (int, float)) else 0.0)
    if max_ms is None:
        max_ms = min(QUIET_MAX_MS, getattr(backend, "timeout", 2.0) * 500.0)
    idle_ms = min(idle_ms, max_ms / 2)     # a device slower than that needs a longer --timeout
    out = Outcome(name=name, passed=True)
    fail = out.failures
    plan = autonomous_plan(events, device_config, idle_ms, max_ms, getattr(adapter, "check_pages", None))
    try:
        backend.power_on(device_config)
    except DeviceError as exc:
        fail.append(Failure(-1, str(exc), []))
        out.passed = False
        return out

    # the guest's steps the runner drives narrow the candidates; the device's own silent
    # steps (fetch, a reset's end) are hidden: it takes them whenever it likes
    driven_ops = {op: act for op, act in adapter.DRIVEN.items() if op in HOST_STEPS}
    session = ReplaySession(judge, events, out, driven_ops, lambda ev, where: f"{ev.KIND} {where}: ")
    members = range(1, int(device_config.get("members", 1)) + 1)
    queues = range(int(device_config.get("queues", 1)))
    unprocessed_reported = False
    btag = getattr(backend, "tag", 0)        # the backend numbers the submits it sends from here
    last_mode_set: dict[int, bool] = {}      # member -> whether its last answered DEV_MODE_SET succeeded

    def processed(step: int, why: str, quiet: bool, pages: dict[tuple[int, int], bytes]) -> None:
        """The runner's obligation at a quiescence point (see the docstring above): a member
        that is running, not in a fault and DRIVER_OK in every candidate state has used
        every buffer its guest made available."""
        nonlocal unprocessed_reported
        if session.broken or unprocessed_reported:
            return
        states = session.allowed_states()
        for m in members:
            if not states or not all(s.get(f"mode[{m}]") == "running" and s.get(f"phase[{m}]") == "none"
                                     and s.get(f"status[{m}]") == "driver_ok" for s in states):
                continue
            ring, used = pages.get((m, 0)), pages.get((m, 1))
            if ring is None or used is None:
                continue
            for q in queues:
                a = int.from_bytes(ring[avail_addr(q) + 2: avail_addr(q) + 4], "little")
                u = int.from_bytes(used[used_addr(q) - PAGE + 2: used_addr(q) - PAGE + 4], "little")
                if a != u:
                    unprocessed_reported = True
                    late = "" if quiet else f"; the device was still busy after {max_ms:g} ms"
                    clauses = list(PROCESSED_CLAUSES)
                    if last_mode_set.get(m) is False:    # a refused DEV_MODE_SET must leave the mode alone
                        late += "; the member's last DEV_MODE_SET was refused, which has no side effect (I-DP-7)"
                        clauses.append("I-DP-7")
                    fail.append(Failure(step, f"member {m} queue {q}: {(a - u) & 0xFFFF} buffer(s) the guest made "
                                              f"available were not used at the quiescence point ({why}: avail idx {a}, "
                                              f"used idx {u}, idle window {idle_ms:g} ms{late}), although the member "
                                              "is running and DRIVER_OK in every state the model allows here: "
                                              "doorbells accepted while stopped are not lost (D-DP-12) and a "
                                              "resumed member operates normally (D-DP-21)",
                                        clauses))
                    return

    def checked(step: int, check: dict[str, Any], read: dict[int, bytes]) -> None:
        """A guest-memory check of the test (`ReplaySession.check_memory`); its failure does
        not end the judging of the test."""
        if session.broken:
            return
        why = session.check_memory(check, read)
        if why is not None:
            fail.append(Failure(step, why, list(check.get("clauses") or [])))

    quiet = True
    pages: dict[tuple[int, int], bytes] = {}
    check_read: dict[int, bytes] = {}

    def judge_entry(ev: Any, req: tuple, answer: Any, devs: list[Any], before: int | None) -> None:
        """One request of the plan and what the device answered and did."""
        nonlocal quiet, pages, check_read, btag
        before = len(devs) if before is None else before
        if req[0] == "control" and len(req) > 3:          # a check's page
            step, check = ev.index, req[3]
            session.collect(step, devs[:before], f"done on its own before the check at step {step}")
            data = answer.get("data") if isinstance(answer, dict) else None
            if isinstance(data, str):
                check_read[req[2]["page"]] = bytes.fromhex(data)
            wanted = adapter.check_pages(check)
            if all(p in check_read for p in wanted):
                checked(step, check, {p: check_read[p] for p in wanted})
                check_read = {}
            return
        if req[0] == "control":
            step_ev, why, _kind = ev
            step = step_ev.index
            if req[1] == "quiesce":
                quiet = bool(answer.get("quiet"))
                pages = {}
                session.collect(step, devs, f"done on its own by the quiescence point at {why}")
                return
            session.collect(step, devs[:before], f"done on its own by the quiescence point at {why}")
            data = answer.get("data")
            if isinstance(data, str):
                try:
                    pages[(req[2]["member"], req[2]["page"])] = bytes.fromhex(data)
                except ValueError:
                    pass
            if len(pages) == 2 * len(members):
                processed(step, why, quiet, pages)
            return
        step = ev.index
        out.steps += 1
        if req[0] == "work":
            want = req[4]
            op, m, q = want["op"], want["member"], want["queue"]
            session.collect(step, devs[:before], f"done on its own before workload step {op}")
            if answer and op in driven_ops:
                session.driven(step, op, m, q)
            session.collect(step, devs[before:], f"in answer to workload step {op} member {m} queue {q}")
        elif req[0] == "inject":
            kind = req[1]
            session.collect(step, devs[:before], f"done on its own before {kind}")
            if answer:
                session.injected(step, ev, kind, req[2])
            session.collect(step, devs[before:], f"in answer to {kind}")
        else:
            out.commands += 1
            btag += 1
            session.collect(step, devs, f"before {command_text(codec, ev.readable)} completed")
            m = session.command(step, ev, answer, btag)
            if answer is not None and m is not None and codec.decode_command(ev.readable).name == "DEV_MODE_SET":
                last_mode_set[m] = answer[:2] == b"\0\0"

    def liveness(key: tuple) -> list[tuple[Any, tuple]]:
        """After a quiescence point of the test's device work where the device is quiet and
        in order: for each member and queue that is running, DRIVER_OK, not in a fault and
        has nothing posted or in flight in every state the replay allows, the runner posts a
        buffer and rings the doorbell (what a guest would do), then waits for quiescence:
        the buffer must be used (`processed`). A device that stopped when it should not
        have (say, on a DEV_MODE_SET it refused) is caught here."""
        if session.broken or unprocessed_reported or len(pages) != 2 * len(members):
            return []
        states = session.allowed_states()
        test_ev = key[0]
        out_reqs: list[tuple[Any, tuple]] = []
        for m in members:
            for q in queues:
                if not states or not all(s.get(f"mode[{m}]") == "running" and s.get(f"phase[{m}]") == "none"
                                         and s.get(f"status[{m}]") == "driver_ok"
                                         and s.get(f"avail[{m}][{q}]") == 0 and s.get(f"inflight[{m}][{q}]") == 0
                                         for s in states):
                    continue
                ring, used = pages[(m, 0)], pages[(m, 1)]
                if ring[avail_addr(q) + 2: avail_addr(q) + 4] != used[used_addr(q) - PAGE + 2: used_addr(q) - PAGE + 4]:
                    continue
                want = {"op": "post", "member": m, "queue": q, "expect": True, "clauses": []}
                out_reqs += [(test_ev, ("work", "post", m, q, want)),
                             (Doorbell(index=test_ev.index, timestamp=test_ev.timestamp, member=m, queue=q),
                              ("inject", "doorbell", m, q))]
        if not out_reqs:
            return []
        live = (test_ev, f"step {test_ev.index}, after the runner posted a buffer on a running member", "live")
        out_reqs.append((live, ("control", "quiesce", {"idle_ms": idle_ms, "max_ms": max_ms})))
        out_reqs += [(live, ("control", "mem_read", {"member": m, "page": page})) for m in members for page in (0, 1)]
        return out_reqs

    def send(entries: list[tuple[Any, tuple]]) -> bool:
        """Send a run of the plan (pipelined) and judge it; False if the device is gone."""
        try:
            got = batch_of(backend, [req[:3] if req[0] == "control" else req[:4] for _, req in entries])
        except DeviceError as exc:
            fail.append(Failure(-1, str(exc), []))
            return False
        befores = list(getattr(backend, "before", None) or []) or [None] * len(got)
        for (ev, req), (answer, devs), before in zip(entries, got, befores, strict=False):
            judge_entry(ev, req, answer, devs, before)
        return True

    start = 0
    while start < len(plan):      # up to the end of the next quiescence point, then judged
        end = start
        while end < len(plan) and not (isinstance(plan[end][0], tuple) and plan[end][1][1] == "mem_read"
                                       and (end + 1 == len(plan) or plan[end + 1][0] is not plan[end][0])):
            end += 1
        end = min(end + 1, len(plan))
        if not send(plan[start:end]):
            out.passed = False
            return out
        last = plan[end - 1][0]
        if isinstance(last, tuple) and last[2] == "work":
            live = liveness(last)
            if live and not send(live):
                out.passed = False
                return out
        start = end
    session.finish()
    out.passed = not fail
    return out
