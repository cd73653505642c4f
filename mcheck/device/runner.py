"""Run a test trace against a device backend and judge what the device answers and does.

A test passes when, step by step,
- every admin answer is one the model permits: the whole observed exchange replays clean
  against the model (Judge.replay), so fields the model leaves free (which error, which
  qualifier, EAGAIN) never fail a device; the test's expected bytes (one permitted
  answer) only explain a rejected answer;
- a command the model holds (during a member FLR or reset) is held, and answered with
  the expected bytes once the fault ends; a command the model answers is not held;
- every workload step and probe is done (or refused) as the model says;
- the whole observed exchange (the device's answers and its DMA writes and
  notifications, in the order they happened) replays clean against the model.
A failure names the step, what the device did, what the model expected, and clauses:
the refusing guards' clauses from the replay, else the clauses of the expected action.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Iterator

from mcheck.device.backend import DeviceError, batch_of
from mcheck.model.build import LoadedModel
from mcheck.model.evaluate import evaluate
from mcheck.replay.engine import UNEXPLAINED, Replayer, divergence_violation
from mcheck.trace.codec import Codec
from mcheck.trace.events import AdminCommand, AdminComplete

GUEST_PAGE = 4096          # bytes of one guest-memory page (docs/device-protocol.md, mem_read)
INJECTED = ("flr_begin", "flr_end", "member_reset", "owner_reset", "pm_begin", "pm_end", "doorbell")


@dataclass
class Failure:
    step: int                 # event index in the test trace
    message: str
    clauses: list[str]


@dataclass
class Outcome:
    name: str
    passed: bool
    failures: list[Failure] = field(default_factory=list)
    observed: list[Any] = field(default_factory=list)
    steps: int = 0
    commands: int = 0


class Judge:
    """One model replayer reused across tests (its generated step code is built once)."""

    def __init__(self, model: LoadedModel, adapter: Any, codec: Codec) -> None:
        self.model = model
        self.adapter = adapter
        self.codec = codec
        self.replayer = Replayer(model, hidden_kinds=getattr(adapter, "HIDDEN", ("doorbell",)))
        self.observe: Callable[[Any], Any] = adapter.observe_wrapper(model)
        # the replayer's state right after construction; restored before every test, so the
        # generated step code is built once whatever per-run fields the replayer keeps
        # (the explanation's built bug variants are kept: they depend on the model only)
        self._fresh = {k: copy.copy(v) for k, v in vars(self.replayer).items() if k not in ("_variants", "_safe")}

    def expected_clauses(self, event: Any) -> list[str]:
        """Clauses of the model actions that emit this (expected) event."""
        obs = self.observe(event)
        if obs is None:
            return []
        out: set[str] = set()
        hold = set(self.adapter.HOLD_CLAUSES)
        for a in self.replayer._matching(obs):
            act = self.model.actions[a]
            guarded = {c for g in act.guards for c in g.clauses}
            guards = [g for g in act.guards if g.clauses and not set(g.clauses) <= hold]
            out.update(set(act.clauses) - guarded)                  # what the action cites
            out.update(guards[-1].clauses if guards else ())        # the chosen answer's own rule
        return sorted(out)

    def replay(self, observed: Iterable[Any]) -> tuple[int, list[str], str] | None:
        """None if the observed events replay clean, else (position, clauses, message)."""
        r = self.replayer
        for k, v in self._fresh.items():
            setattr(r, k, copy.copy(v))
        for n, ev in enumerate(observed):
            obs = self.observe(ev)
            if obs is None:
                continue
            if r.advance(obs, n):
                continue
            d = r.explain(obs, n, ev.timestamp)
            v = divergence_violation(self.model, r, d)
            clauses = [c for c in d.clauses if c != UNEXPLAINED]
            return n, clauses, v.message
        return None


def _status(codec: Codec, writable: bytes | None) -> str:
    if writable is None:
        return "no answer (held)"
    res = codec.decode_result(None, writable)
    q = f"/{res.qualifier_name or res.qualifier}" if res.qualifier else ""
    return f"{res.status_name or res.status}{q}"


def _cmd(codec: Codec, readable: bytes) -> str:
    try:
        c = codec.decode_command(readable)
    except Exception:  # noqa: BLE001 - a description only
        return "admin command"
    return f"{c.name or hex(c.opcode)} member {c.member}"


def _request_of(ev: Any) -> tuple | None:
    kind = ev.KIND
    if kind == "annotation":
        if not ev.text.startswith("step "):
            return None
        req = json.loads(ev.text[5:])
        return ("work", req["op"], req["member"], req["queue"], req)
    if kind in ("admin", "submit"):
        return ("submit", ev.readable)
    if kind in INJECTED:
        return ("inject", kind, getattr(ev, "member", 0), getattr(ev, "queue", 0))
    return None


def _power_on(backend: Any, plan: list[tuple[Any, tuple | None]], device_config: dict[str, Any],
              out: Outcome) -> Iterator[Any] | None:
    """Power the device on and send the test's requests (pipelined); their answers in
    order, or None (with the failure recorded in `out`) when the device cannot be reached."""
    try:
        backend.power_on(device_config)
        return iter(batch_of(backend, [r[:3] if r[0] == "control" else r[:4] for _, r in plan if r is not None]))
    except DeviceError as exc:
        out.failures.append(Failure(-1, str(exc), []))
        out.passed = False
        return None


def run_test(backend: Any, judge: Judge, events: list[Any], name: str, device_config: dict[str, Any]) -> Outcome:
    """Send the test's driver-side requests (pipelined), then judge the answers in order."""
    if hasattr(judge.adapter, "DRIVEN"):
        if getattr(backend, "autonomous", False):
            return run_test_autonomous(backend, judge, events, name, device_config)
        return run_test_replayed(backend, judge, events, name, device_config)
    codec = judge.codec
    loose = judge.adapter.LOOSE_BODY
    exact_answers = getattr(judge.adapter, "EXACT_ANSWERS", False)
    out = Outcome(name=name, passed=True)
    fail = out.failures
    observed = out.observed
    step_of_observed: list[int] = []
    plan = [(ev, _request_of(ev)) for ev in events]
    answers = _power_on(backend, plan, device_config, out)
    if answers is None:
        return out
    held: dict[int, bytes] = {}                 # test tag -> readable of a command the device holds
    held_by_device: dict[int, bytes] = {}       # backend tag -> readable
    late: dict[bytes, list[bytes]] = {}         # readable -> completions seen for held commands
    answered_early: set[int] = set()
    btag = getattr(backend, "tag", 0) - sum(1 for _, r in plan if r is not None and r[0] == "submit")

    def collect(step: int, evs: list[Any]) -> None:
        for dev in evs:
            if isinstance(dev, AdminComplete):
                readable = held_by_device.pop(dev.tag, None)
                if readable is None:
                    continue
                late.setdefault(readable, []).append(dev.writable)
                observed.append(AdminCommand(index=len(observed), timestamp=dev.timestamp, readable=readable,
                                             writable=dev.writable, codec=codec))
            else:
                observed.append(dev)
            step_of_observed.append(step)

    explain: dict[int, str] = {}            # test step -> how the answer differs from the test's example answer

    def compare(step: int, readable: bytes, got: bytes, want: bytes, expected_event: Any) -> None:
        cname = codec.decode_command(readable).name
        same = got[:4] == want[:4] if cname in loose else got == want
        if not same:
            detail = "" if got[:4] != want[:4] else f" (result bytes differ: {got.hex()} vs {want.hex()})"
            explain[step] = (f"{_cmd(codec, readable)}: device answered {_status(codec, got)}, "
                             f"the suite's example answer is {_status(codec, want)}{detail}")
            if exact_answers:     # the model gives one answer here (draft-v1): other bytes fail
                fail.append(Failure(step, explain[step].replace("the suite's example answer is",
                                                                "the model expects"),
                                    judge.expected_clauses(expected_event)))

    for ev, req in plan:
        step = ev.index
        kind = ev.KIND
        if kind == "complete":
            if ev.tag in answered_early:
                continue
            readable = held.pop(ev.tag, b"")
            got_list = late.get(readable)
            if not got_list:
                fail.append(Failure(step, f"{_cmd(codec, readable)}: the device did not complete the held command "
                                          "when the fault ended", list(judge.adapter.HOLD_CLAUSES)))
                continue
            got = got_list.pop(0)
            expected = AdminCommand(index=step, timestamp=ev.timestamp, readable=readable, writable=ev.writable, codec=codec)
            compare(step, readable, got, ev.writable, expected)
            continue
        if req is None:
            continue
        answer, devs = next(answers)
        out.steps += 1
        if req[0] == "work":
            collect(step, devs)
            want = req[4]
            if answer != want["expect"]:
                what = "did" if answer else "refused"
                fail.append(Failure(step, f"workload step {want['op']} member {want['member']} queue {want['queue']}: "
                                          f"the device {what} it, the model {'allows' if want['expect'] else 'forbids'} it here",
                                    want.get("clauses") or []))
        elif req[0] == "inject":
            observed.append(ev)
            step_of_observed.append(step)
            collect(step, devs)
        else:
            out.commands += 1
            btag += 1
            collect(step, devs)
            if kind == "admin":
                if answer is None:
                    held_by_device[btag] = ev.readable
                    fail.append(Failure(step, f"{_cmd(codec, ev.readable)}: device held the command, the model "
                                              f"answers {_status(codec, ev.writable)} at once", judge.expected_clauses(ev)))
                else:
                    observed.append(AdminCommand(index=len(observed), timestamp=ev.timestamp, readable=ev.readable,
                                                 writable=answer, codec=codec))
                    step_of_observed.append(step)
                    compare(step, ev.readable, answer, ev.writable, ev)
            else:   # a submit the model holds
                if answer is not None:
                    answered_early.add(ev.tag)
                    observed.append(AdminCommand(index=len(observed), timestamp=ev.timestamp, readable=ev.readable,
                                                 writable=answer, codec=codec))
                    step_of_observed.append(step)
                    fail.append(Failure(step, f"{_cmd(codec, ev.readable)}: device answered {_status(codec, answer)} "
                                              "during the member FLR/reset; the model holds it until the fault ends",
                                        list(judge.adapter.HOLD_CLAUSES)))
                else:
                    held[ev.tag] = ev.readable
                    held_by_device[btag] = ev.readable
    verdict = judge.replay(observed)
    if verdict is not None:
        n, clauses, message = verdict
        step = step_of_observed[n] if n < len(step_of_observed) else -1
        if not clauses:
            src = next((e for e in events if e.index == step), None)
            clauses = judge.expected_clauses(src) if src is not None and src.KIND == "admin" else []
        why = f" ({explain[step]})" if step in explain else ""
        fail.append(Failure(step, f"replay against the model: {message}{why}", clauses))
        for f in fail:          # an answer whose bytes differ, and whose own command cites no clause:
            if not f.clauses:   # the clauses the replay names for what went wrong
                f.clauses = list(clauses)
    out.passed = not fail
    return out


def _member_of(codec: Codec, readable: bytes) -> int | None:
    try:
        return codec.decode_command(readable).member
    except Exception:  # noqa: BLE001 - an undecodable command names no member
        return None


def _with_checks(events: list[Any], adapter: Any) -> list[tuple[Any, tuple | None]]:
    """The test's requests, each with its event; a guest-memory check annotation
    (`check {...}`) becomes one `mem_read` control request per page the adapter needs,
    carrying the check (the runner judges it once every page is read)."""
    plan: list[tuple[Any, tuple | None]] = []
    for ev in events:
        if ev.KIND == "annotation" and ev.text.startswith("check "):
            check = json.loads(ev.text[6:])
            for page in adapter.check_pages(check):
                plan.append((ev, ("control", "mem_read", {"member": check["member"], "page": page}, check)))
            continue
        plan.append((ev, _request_of(ev)))
    return plan


FAULT_BEGIN = {"flr_begin": "flr", "pm_begin": "pm"}
FAULT_END = {"flr_end": "flr", "pm_end": "pm"}


def run_test_replayed(backend: Any, judge: Judge, events: list[Any], name: str,
                      device_config: dict[str, Any]) -> Outcome:
    """Send the test's driver-side requests (pipelined), then judge everything the device did
    through the model's replay, step by step (adapters with `DRIVEN`, virtio-1.4):

    - every admin answer, DMA write, notification, PME and PCI read is an observed event of
      the replay, in the order it happened; a held command's answer is observed when the
      device gives it;
    - a command the device holds is a failure only when it is held outside a fault, or not
      answered when its member's fault ends (D-DP-17/18/19); one answered during a fault is
      judged by the replay (the model holds MODE_SET and SET: answering them there diverges);
    - a driver or silent device step (`DRIVEN`: init, fetch) the device did narrows the
      replay's candidate states to those after it; if no candidate state allows it, that is
      the failure. A step the device declines is not a failure: device work is never
      required at a given moment, and the test's later steps are judged from the states the
      device's actual answers leave, not from the walk's choice.
    The test's expected answers only explain a divergence."""
    codec = judge.codec
    adapter = judge.adapter
    model = judge.model
    loose = adapter.LOOSE_BODY
    hold_clauses = list(adapter.HOLD_CLAUSES)
    out = Outcome(name=name, passed=True)
    fail = out.failures
    observed = out.observed
    plan = _with_checks(events, adapter)
    answers = _power_on(backend, plan, device_config, out)
    if answers is None:
        return out

    r = judge.replayer
    for k, v in judge._fresh.items():
        setattr(r, k, copy.copy(v))
    r.hidden = [a for a in r.hidden if model.actions[a].name not in adapter.DRIVEN.values()
                and (model.actions[a].event is None)]
    broken = False                                   # the replay diverged: later events are not judged
    explain: dict[int, str] = {}                     # test step -> how the answer differs from the example
    expected_of: dict[int, bytes] = {}               # test step -> the suite's example answer
    held: dict[int, dict[str, Any]] = {}             # backend tag -> held command (its answer once given)
    reordered: list[int] = []                        # steps of held commands answered before earlier ones
    in_fault: dict[int, set[str]] = {}               # member -> faults in progress
    work_clauses: dict[int, list[str]] = {}          # test step -> the clauses the suite names for it
    btag = getattr(backend, "tag", 0) - sum(1 for _, q in plan if q is not None and q[0] == "submit")
    for ev in events:
        if ev.KIND == "complete":
            src = next((e for e in events if e.KIND == "submit" and e.tag == ev.tag), None)
            if src is not None:
                expected_of[src.index] = ev.writable

    def diverged(step: int, what: str, clauses: list[str]) -> None:
        nonlocal broken
        broken = True
        if reordered:       # what the device did next may follow from the order it processed them in
            clauses = sorted(set(clauses) | {"D-AQ-6"})
            what += (f" (earlier, the device completed held commands out of queue order, first at step "
                     f"{reordered[0]}; they are judged in queue order, the order D-AQ-6 makes the device process them)")
        fail.append(Failure(step, what, clauses))


    def feed(step: int, ev: Any, work: str | None = None, during: bool = False) -> None:
        """One observed event into the replay."""
        observed.append(ev)
        if broken:
            return
        obs = judge.observe(ev)
        if obs is None:
            return
        n = len(observed) - 1
        if r.advance(obs, n):
            return
        d = r.explain(obs, n, ev.timestamp)
        v = divergence_violation(model, r, d)
        clauses = [c for c in d.clauses if c != UNEXPLAINED]
        if not clauses and ev.KIND != "admin" and work is None:
            clauses = recent_clauses(n)
        if ev.KIND == "admin":
            src = next((e for e in events if e.index == step), None)
            if not clauses and src is not None and src.KIND == "admin":
                clauses = judge.expected_clauses(src)
            if during:
                clauses = sorted(set(clauses) | set(hold_clauses))
                what = (f"{_cmd(codec, ev.readable)}: device answered {_status(codec, ev.writable)} during the "
                        f"member's FLR/reset/PM transition; the model holds it until the fault ends "
                        f"(replay: {v.message})")
            else:
                why = f" ({explain[step]})" if step in explain else ""
                what = f"replay against the model: {v.message}{why}"
        elif work is not None:
            what = f"{work}: the device did it, no state the model allows here permits it ({v.message})"
            if not clauses:       # guards without clauses: the test's blame (what set what this needs)
                clauses = list(work_clauses.get(step, [])) or recent_clauses(n)
        else:
            what = f"replay against the model: {v.message}"
        diverged(step, what, clauses)

    def recent_clauses(n: int) -> list[str]:
        """For a divergence whose refusing guards name no clause: the clauses of the most
        recent observed event that changed what the model allows (an accepted command, a
        fault), which is what the device got wrong."""
        for ev in reversed(observed[:n]):
            if ev.KIND == "admin" and (ev.writable is None or ev.writable[:2] != b"\0\0"):
                continue
            if ev.KIND not in ("admin",) + INJECTED or ev.KIND == "doorbell":
                continue
            found = judge.expected_clauses(ev)
            if found:
                return found
        return []

    def collect(step: int, evs: list[Any], work: str | None = None) -> None:
        for dev in evs:
            if isinstance(dev, AdminComplete):
                h = held.get(dev.tag)
                if h is None or "writable" in h:
                    continue
                h["writable"], h["timestamp"] = dev.writable, dev.timestamp
                if any(k < dev.tag and g["member"] == h["member"] and "writable" not in g for k, g in held.items()):
                    reordered.append(h["step"])
                release_held()
            else:
                feed(step, dev, work)

    def release_held(flush: bool = False) -> None:
        """Feed the answers of held commands to the replay in queue order per member (D-AQ-6:
        the device processes one admin queue's commands in order; Q10 leaves the order of
        their completions open), so an answer waits for the earlier commands' answers."""
        for tag in sorted(held):
            h = held.get(tag)
            if h is None or "writable" not in h:
                continue
            if not flush and any(k < tag and g["member"] == h["member"] and "writable" not in g
                                 for k, g in held.items()):
                continue
            del held[tag]
            want = expected_of.get(h["step"])
            if want is not None:
                compare(h["step"], h["readable"], h["writable"], want)
            feed(h["step"], AdminCommand(index=len(observed), timestamp=h["timestamp"], readable=h["readable"],
                                         writable=h["writable"], codec=codec))

    def compare(step: int, readable: bytes, got: bytes, want: bytes) -> None:
        cname = codec.decode_command(readable).name
        same = got[:4] == want[:4] if cname in loose else got == want
        if not same:
            detail = "" if got[:4] != want[:4] else f" (result bytes differ: {got.hex()} vs {want.hex()})"
            explain[step] = (f"{_cmd(codec, readable)}: device answered {_status(codec, got)}, "
                             f"the suite's example answer is {_status(codec, want)}{detail}")

    def driven(step: int, op: str, m: int, q: int) -> None:
        """The device did driver/silent step `op`: the candidates become the states after it."""
        if broken:
            return
        acts = [a for a in model.actions if a.name == adapter.DRIVEN[op] and adapter.work_matches(a, m, q)]
        closed = r._close(r.candidates).states
        nxt = frozenset(y for a in acts for x in closed if (y := r.steps[a.index](x)) is not None)
        if nxt:
            r.candidates = nxt
            return
        refusing: set[str] = set()
        for a in acts:
            for x in list(closed)[:64]:
                values = r.layout.unpack(x)
                refusing.update(c for g in a.guards if not evaluate(g.cond, values) for c in g.clauses)
        diverged(step, f"workload step {op} member {m} queue {q}: the device did it, no state the model allows "
                       "here permits it", sorted(refusing) or list(work_clauses.get(step, [])))

    pages: dict[int, bytes] = {}                     # guest pages read for the current check
    for ev, req in plan:
        step = ev.index
        if req is None:
            continue
        answer, devs = next(answers)
        out.steps += 1
        if req[0] == "control":              # one page of a guest-memory check
            collect(step, devs)
            page = req[2]["page"]
            data = answer.get("data") if isinstance(answer, dict) else None
            try:
                pages[page] = bytes.fromhex(data) if isinstance(data, str) else b""
            except ValueError:
                pages[page] = b""
            check = req[3]
            if len(pages) < len(adapter.check_pages(check)):
                continue
            got, pages = pages, {}
            if broken:
                continue
            if any(len(v) != GUEST_PAGE for v in got.values()):
                diverged(step, f"mem_read of member {check['member']} page {page}: the device returned "
                               f"{len(got[page])} bytes, not a guest page", list(check["clauses"]))
                continue
            wrong = adapter.judge_check(model, r.layout, r._close(r.candidates).states, check, got)
            if wrong is not None:
                diverged(step, wrong, list(check["clauses"]))
            continue
        if req[0] == "work":
            want = req[4]
            op, m, q = want["op"], want["member"], want["queue"]
            label = f"workload step {op} member {m} queue {q}"
            work_clauses[step] = want.get("clauses") or []
            if answer and op in adapter.DRIVEN:
                driven(step, op, m, q)
            collect(step, devs, label if answer else None)
        elif req[0] == "inject":
            kind, m = req[1], req[2]
            if answer:
                feed(step, ev)
                if kind in FAULT_BEGIN:
                    in_fault.setdefault(m, set()).add(FAULT_BEGIN[kind])
                for h in held.values():
                    if h["member"] == m and (FAULT_END.get(kind) in h["faults"] or kind == "member_reset"):
                        h["ended"] = step
                if kind in FAULT_END:
                    in_fault.get(m, set()).discard(FAULT_END[kind])
            collect(step, devs)
        else:
            out.commands += 1
            btag += 1
            collect(step, devs)
            m = _member_of(codec, ev.readable)
            faults = set(in_fault.get(m, ())) if m is not None else set()
            if answer is None:
                held[btag] = {"readable": ev.readable, "step": step, "member": m, "faults": faults, "ended": None}
                if not faults and not broken:
                    diverged(step, f"{_cmd(codec, ev.readable)}: device held the command outside any fault; "
                                   "the model answers it at once",
                             judge.expected_clauses(ev) if ev.KIND == "admin" else hold_clauses)
            else:
                if ev.KIND == "admin":
                    compare(step, ev.readable, answer, ev.writable)
                elif step in expected_of:
                    compare(step, ev.readable, answer, expected_of[step])
                feed(step, AdminCommand(index=len(observed), timestamp=ev.timestamp, readable=ev.readable,
                                        writable=answer, codec=codec), during=bool(faults))
    release_held(flush=True)
    for h in held.values():
        if h["ended"] is not None and not broken:
            diverged(h["step"], f"{_cmd(codec, h['readable'])}: the device did not answer the held command when "
                                f"the fault ended (step {h['ended']})", hold_clauses)
    out.passed = not fail
    return out


# ---------------------------------------------------------------------------------------------
# autonomous devices (docs/device-protocol.md, "Autonomous devices")

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
        req = _request_of(ev)
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
    model = judge.model
    hold_clauses = list(adapter.HOLD_CLAUSES)
    info = getattr(backend, "device_info", {}) or {}
    if idle_ms is None:
        advertised = info.get("max_delay_ms", 0)
        idle_ms = max(QUIET_MS, float(advertised) if isinstance(advertised, (int, float)) else 0.0)
    if max_ms is None:
        max_ms = min(QUIET_MAX_MS, getattr(backend, "timeout", 2.0) * 500.0)
    idle_ms = min(idle_ms, max_ms / 2)     # a device slower than that needs a longer --timeout
    out = Outcome(name=name, passed=True)
    fail = out.failures
    observed = out.observed
    plan = autonomous_plan(events, device_config, idle_ms, max_ms, getattr(adapter, "check_pages", None))
    try:
        backend.power_on(device_config)
    except DeviceError as exc:
        fail.append(Failure(-1, str(exc), []))
        out.passed = False
        return out

    r = judge.replayer
    for k, v in judge._fresh.items():
        setattr(r, k, copy.copy(v))
    # the guest's steps the runner drives narrow the candidates; the device's own silent
    # steps (fetch, a reset's end) are hidden: it takes them whenever it likes
    driven_ops = {op: act for op, act in adapter.DRIVEN.items() if op in HOST_STEPS}
    r.hidden = [a for a in r.hidden if model.actions[a].name not in driven_ops.values()
                and model.actions[a].event is None]
    members = range(1, int(device_config.get("members", 1)) + 1)
    queues = range(int(device_config.get("queues", 1)))
    broken = False
    explain: dict[int, str] = {}
    expected_of: dict[int, bytes] = {}
    held: dict[int, dict[str, Any]] = {}
    in_fault: dict[int, set[str]] = {}
    unprocessed_reported = False
    btag = getattr(backend, "tag", 0)        # the backend numbers the submits it sends from here
    last_mode_set: dict[int, bool] = {}      # member -> whether its last answered DEV_MODE_SET succeeded
    for ev in events:
        if ev.KIND == "complete":
            src = next((e for e in events if e.KIND == "submit" and e.tag == ev.tag), None)
            if src is not None:
                expected_of[src.index] = ev.writable

    reordered: list[int] = []       # steps of held commands answered before earlier ones of their member

    def diverged(step: int, what: str, clauses: list[str]) -> None:
        nonlocal broken
        broken = True
        if reordered:       # what the device did next may follow from the order it processed them in
            clauses = sorted(set(clauses) | {"D-AQ-6"})
            what += (f" (earlier, the device completed held commands out of queue order, first at step "
                     f"{reordered[0]}; they are judged in queue order, the order D-AQ-6 makes the device process them)")
        fail.append(Failure(step, what, clauses))

    def recent_clauses(n: int) -> list[str]:
        for ev in reversed(observed[:n]):
            if ev.KIND == "admin" and (ev.writable is None or ev.writable[:2] != b"\0\0"):
                continue
            if ev.KIND not in ("admin",) + INJECTED or ev.KIND == "doorbell":
                continue
            found = judge.expected_clauses(ev)
            if found:
                return found
        return []

    def feed(step: int, ev: Any, where: str | None = None, during: bool = False) -> None:
        """One observed event into the replay; `where` names a device event's occasion."""
        observed.append(ev)
        if broken:
            return
        obs = judge.observe(ev)
        if obs is None:
            return
        n = len(observed) - 1
        if r.advance(obs, n):
            return
        d = r.explain(obs, n, ev.timestamp)
        v = divergence_violation(model, r, d)
        clauses = [c for c in d.clauses if c != UNEXPLAINED]
        if ev.KIND == "admin":
            src = next((e for e in events if e.index == step), None)
            if not clauses and src is not None and src.KIND == "admin":
                clauses = judge.expected_clauses(src)
            if during:
                clauses = sorted(set(clauses) | set(hold_clauses))
                what = (f"{_cmd(codec, ev.readable)}: device answered {_status(codec, ev.writable)} during the "
                        f"member's FLR/reset/PM transition; the model holds it until the fault ends "
                        f"(replay: {v.message})")
            else:
                why = f" ({explain[step]})" if step in explain else ""
                what = f"replay against the model: {v.message}{why}"
        elif where is not None:
            what = f"{ev.KIND} {where}: no state the model allows here permits it ({v.message})"
            clauses = clauses or recent_clauses(n)
        else:
            what = f"replay against the model: {v.message}"
            clauses = clauses or recent_clauses(n)
        diverged(step, what, clauses)

    def collect(step: int, evs: list[Any], where: str | None = None) -> None:
        for dev in evs:
            if isinstance(dev, AdminComplete):
                h = held.get(dev.tag)
                if h is None or "writable" in h:
                    continue
                h["writable"], h["timestamp"] = dev.writable, dev.timestamp
                if any(k < dev.tag and g["member"] == h["member"] and "writable" not in g for k, g in held.items()):
                    reordered.append(h["step"])
                release_held()
            else:
                feed(step, dev, where)

    def release_held(flush: bool = False) -> None:
        """Held commands' answers go to the replay in queue order per member (D-AQ-6: one
        admin queue's commands are processed in order; when their completions arrive is
        open, Q10), so an answer waits for the answers of the member's earlier ones."""
        for tag in sorted(held):
            h = held.get(tag)
            if h is None or "writable" not in h:
                continue
            if not flush and any(k < tag and g["member"] == h["member"] and "writable" not in g
                                 for k, g in held.items()):
                continue
            del held[tag]
            want = expected_of.get(h["step"])
            if want is not None:
                compare(h["step"], h["readable"], h["writable"], want)
            feed(h["step"], AdminCommand(index=len(observed), timestamp=h["timestamp"], readable=h["readable"],
                                         writable=h["writable"], codec=codec))

    def compare(step: int, readable: bytes, got: bytes, want: bytes) -> None:
        cname = codec.decode_command(readable).name
        same = got[:4] == want[:4] if cname in adapter.LOOSE_BODY else got == want
        if not same:
            detail = "" if got[:4] != want[:4] else f" (result bytes differ: {got.hex()} vs {want.hex()})"
            explain[step] = (f"{_cmd(codec, readable)}: device answered {_status(codec, got)}, "
                             f"the suite's example answer is {_status(codec, want)}{detail}")

    def driven(step: int, op: str, m: int, q: int) -> None:
        """The guest took step `op` (init): the candidates become the states after it."""
        if broken:
            return
        acts = [a for a in model.actions if a.name == driven_ops[op] and adapter.work_matches(a, m, q)]
        closed = r._close(r.candidates).states
        nxt = frozenset(y for a in acts for x in closed if (y := r.steps[a.index](x)) is not None)
        if nxt:
            r.candidates = nxt
            return
        refusing: set[str] = set()
        for a in acts:
            for x in list(closed)[:64]:
                values = r.layout.unpack(x)
                refusing.update(c for g in a.guards if not evaluate(g.cond, values) for c in g.clauses)
        diverged(step, f"workload step {op} member {m} queue {q}: the device did it, no state the model allows "
                       "here permits it", sorted(refusing) or recent_clauses(len(observed)))

    def processed(step: int, why: str, quiet: bool, pages: dict[tuple[int, int], bytes]) -> None:
        """The runner's obligation at a quiescence point (see the docstring above): a member
        that is running, not in a fault and DRIVER_OK in every candidate state has used
        every buffer its guest made available."""
        nonlocal unprocessed_reported
        if broken or unprocessed_reported:
            return
        states = [model.decode_state(r.layout.unpack(x)) for x in r._close(r.candidates).states]
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
        """A guest-memory check of the test, judged by the adapter against every state the
        replay allows (the device may not have fetched a buffer yet: that state is one)."""
        if broken:
            return
        why = adapter.judge_check(model, r.layout, r._close(r.candidates).states, check, read)
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
            collect(step, devs[:before], f"done on its own before the check at step {step}")
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
                collect(step, devs, f"done on its own by the quiescence point at {why}")
                return
            collect(step, devs[:before], f"done on its own by the quiescence point at {why}")
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
            collect(step, devs[:before], f"done on its own before workload step {op}")
            if answer and op in driven_ops:
                driven(step, op, m, q)
            collect(step, devs[before:], f"in answer to workload step {op} member {m} queue {q}")
        elif req[0] == "inject":
            kind, m = req[1], req[2]
            collect(step, devs[:before], f"done on its own before {kind}")
            if answer:
                feed(step, ev)
                if kind in FAULT_BEGIN:
                    in_fault.setdefault(m, set()).add(FAULT_BEGIN[kind])
                for h in held.values():
                    if h["member"] == m and (FAULT_END.get(kind) in h["faults"] or kind == "member_reset"):
                        h["ended"] = step
                if kind in FAULT_END:
                    in_fault.get(m, set()).discard(FAULT_END[kind])
            collect(step, devs[before:], f"in answer to {kind}")
        else:
            out.commands += 1
            btag += 1
            collect(step, devs, f"before {_cmd(codec, ev.readable)} completed")
            m = _member_of(codec, ev.readable)
            faults = set(in_fault.get(m, ())) if m is not None else set()
            if answer is None:
                held[btag] = {"readable": ev.readable, "step": step, "member": m, "faults": faults, "ended": None}
                if not faults and not broken:
                    diverged(step, f"{_cmd(codec, ev.readable)}: device held the command outside any fault; "
                                   "the model answers it at once",
                             judge.expected_clauses(ev) if ev.KIND == "admin" else hold_clauses)
            else:
                if ev.KIND == "admin":
                    compare(step, ev.readable, answer, ev.writable)
                elif step in expected_of:
                    compare(step, ev.readable, answer, expected_of[step])
                if m is not None and codec.decode_command(ev.readable).name == "DEV_MODE_SET":
                    last_mode_set[m] = answer[:2] == b"\0\0"
                feed(step, AdminCommand(index=len(observed), timestamp=ev.timestamp, readable=ev.readable,
                                        writable=answer, codec=codec), during=bool(faults))

    def liveness(key: tuple) -> list[tuple[Any, tuple]]:
        """After a quiescence point of the test's device work where the device is quiet and
        in order: for each member and queue that is running, DRIVER_OK, not in a fault and
        has nothing posted or in flight in every state the replay allows, the runner posts a
        buffer and rings the doorbell (what a guest would do), then waits for quiescence:
        the buffer must be used (`processed`). A device that stopped when it should not
        have (say, on a DEV_MODE_SET it refused) is caught here."""
        if broken or unprocessed_reported or len(pages) != 2 * len(members):
            return []
        states = [model.decode_state(r.layout.unpack(x)) for x in r._close(r.candidates).states]
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
        for (ev, req), (answer, devs), before in zip(entries, got, befores):
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
    release_held(flush=True)
    for h in held.values():
        if h["ended"] is not None and not broken:
            diverged(h["step"], f"{_cmd(codec, h['readable'])}: the device did not answer the held command when "
                                f"the fault ended (step {h['ended']})", hold_clauses)
    out.passed = not fail
    return out
