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
