"""Judging a device's behaviour against the model: the verdict types, the model replayer a
suite's tests share (`Judge`), and one virtio-1.4 test's judgement through that replay
(`ReplaySession`), which both virtio-1.4 runners use (mcheck.conformance.driven for driven
devices, mcheck.conformance.autonomous for devices that act on their own); the runners decide
only what to send the device and when.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcheck.model.build import LoadedModel
from mcheck.model.evaluate import evaluate
from mcheck.replay.engine import UNEXPLAINED, Replayer, divergence_violation
from mcheck.trace.codec import Codec
from mcheck.trace.events import AdminCommand, AdminComplete

INJECTED = ("flr_begin", "flr_end", "member_reset", "owner_reset", "pm_begin", "pm_end", "doorbell")
FAULT_BEGIN = {"flr_begin": "flr", "pm_begin": "pm"}
FAULT_END = {"flr_end": "flr", "pm_end": "pm"}


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

    def fresh_replayer(self) -> Replayer:
        """The replayer, restored to its state right after construction (`_fresh`)."""
        for k, v in self._fresh.items():
            setattr(self.replayer, k, copy.copy(v))
        return self.replayer

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
        r = self.fresh_replayer()
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


def answer_text(codec: Codec, writable: bytes | None) -> str:
    """An admin answer's status (and qualifier) for a message, or that there is none."""
    if writable is None:
        return "no answer (held)"
    res = codec.decode_result(None, writable)
    q = f"/{res.qualifier_name or res.qualifier}" if res.qualifier else ""
    return f"{res.status_name or res.status}{q}"


def command_text(codec: Codec, readable: bytes) -> str:
    """An admin command's name and member for a message."""
    try:
        c = codec.decode_command(readable)
    except Exception:  # noqa: BLE001 - a description only
        return "admin command"
    return f"{c.name or hex(c.opcode)} member {c.member}"


def member_of(codec: Codec, readable: bytes) -> int | None:
    """The member an admin command names, or None if it does not decode."""
    try:
        return codec.decode_command(readable).member
    except Exception:  # noqa: BLE001 - an undecodable command names no member
        return None


class ReplaySession:
    """One virtio-1.4 test's observed device behaviour, judged through the model's replay as
    the runner reports it:

    - every admin answer, DMA write, notification, PME, PCI read and accepted injected event
      is fed to the replay (`feed`) in the order it happened; the first divergence is the
      test's failure (`diverged`) and the events after it are recorded, not judged (`broken`);
    - a command the device holds is a failure when it is held outside a fault, or not
      answered when its member's fault ends (D-DP-17/18/19); held answers are fed in queue
      order per member (D-AQ-6, `release_held`), with a note on the failure when the device
      completed them out of that order;
    - a driver or silent device step the runner drives (`driven`) narrows the replay's
      candidate states to those after it;
    - the test's example answers only explain a divergence (`compare`).

    `driven_ops`: the workload steps the runner drives (op -> model action name); every
    other model action without an event stays a hidden step of the replay. `describe(ev,
    where)`: the start of the failure message for a device event `ev` the runner reported
    with an occasion `where` that the replay refuses, up to "no state the model allows
    here permits it"."""

    def __init__(self, judge: Judge, events: list[Any], out: Outcome, driven_ops: dict[str, str],
                 describe: Callable[[Any, str], str]) -> None:
        self.judge = judge
        self.model = judge.model
        self.adapter = judge.adapter
        self.codec = judge.codec
        self.events = events
        self.fail = out.failures
        self.observed = out.observed
        self.driven_ops = driven_ops
        self.describe = describe
        self.hold_clauses = list(self.adapter.HOLD_CLAUSES)
        self.replayer = r = judge.fresh_replayer()
        r.hidden = [a for a in r.hidden if self.model.actions[a].name not in driven_ops.values()
                    and self.model.actions[a].event is None]
        self.broken = False                          # the replay diverged: later events are not judged
        self.explain: dict[int, str] = {}            # test step -> how the answer differs from the example
        self.expected_of: dict[int, bytes] = {}      # test step -> the suite's example answer of a held command
        self.held: dict[int, dict[str, Any]] = {}    # backend tag -> held command (its answer once given)
        self.reordered: list[int] = []               # steps of held commands answered before earlier ones
        self.in_fault: dict[int, set[str]] = {}      # member -> faults in progress
        for ev in events:
            if ev.KIND == "complete":
                src = next((e for e in events if e.KIND == "submit" and e.tag == ev.tag), None)
                if src is not None:
                    self.expected_of[src.index] = ev.writable

    def diverged(self, step: int, what: str, clauses: list[str]) -> None:
        """The test's failure at `step`; nothing after it is judged."""
        self.broken = True
        if self.reordered:  # what the device did next may follow from the order it processed them in
            clauses = sorted(set(clauses) | {"D-AQ-6"})
            what += (f" (earlier, the device completed held commands out of queue order, first at step "
                     f"{self.reordered[0]}; they are judged in queue order, the order D-AQ-6 makes the device "
                     "process them)")
        self.fail.append(Failure(step, what, clauses))

    def feed(self, step: int, ev: Any, where: str | None = None, during: bool = False,
             blame: Sequence[str] = ()) -> None:
        """One observed event into the replay. `where`: the occasion of a device event (see
        `describe`); `during`: an admin answer given during its member's fault; `blame`: the
        clauses the suite names for the step, for a device event whose refusing guards name
        none (else `recent_clauses`)."""
        self.observed.append(ev)
        if self.broken:
            return
        obs = self.judge.observe(ev)
        if obs is None:
            return
        n = len(self.observed) - 1
        r = self.replayer
        if r.advance(obs, n):
            return
        d = r.explain(obs, n, ev.timestamp)
        v = divergence_violation(self.model, r, d)
        clauses = [c for c in d.clauses if c != UNEXPLAINED]
        if ev.KIND == "admin":
            src = next((e for e in self.events if e.index == step), None)
            if not clauses and src is not None and src.KIND == "admin":
                clauses = self.judge.expected_clauses(src)
            if during:
                clauses = sorted(set(clauses) | set(self.hold_clauses))
                what = (f"{command_text(self.codec, ev.readable)}: device answered "
                        f"{answer_text(self.codec, ev.writable)} during the member's FLR/reset/PM transition; "
                        f"the model holds it until the fault ends (replay: {v.message})")
            else:
                why = f" ({self.explain[step]})" if step in self.explain else ""
                what = f"replay against the model: {v.message}{why}"
        elif where is not None:
            what = f"{self.describe(ev, where)}no state the model allows here permits it ({v.message})"
            clauses = clauses or list(blame) or self.recent_clauses(n)
        else:
            what = f"replay against the model: {v.message}"
            clauses = clauses or self.recent_clauses(n)
        self.diverged(step, what, clauses)

    def recent_clauses(self, n: int) -> list[str]:
        """For a divergence whose refusing guards name no clause: the clauses of the most
        recent observed event that changed what the model allows (an accepted command, a
        fault), which is what the device got wrong."""
        for ev in reversed(self.observed[:n]):
            if ev.KIND == "admin" and (ev.writable is None or ev.writable[:2] != b"\0\0"):
                continue
            if ev.KIND not in ("admin",) + INJECTED or ev.KIND == "doorbell":
                continue
            found = self.judge.expected_clauses(ev)
            if found:
                return found
        return []

    def collect(self, step: int, evs: list[Any], where: str | None = None, blame: Sequence[str] = ()) -> None:
        """What the device reported doing at `step`: a held command's answer is kept until the
        member's earlier held commands are answered (`release_held`), anything else is fed."""
        for dev in evs:
            if isinstance(dev, AdminComplete):
                h = self.held.get(dev.tag)
                if h is None or "writable" in h:
                    continue
                h["writable"], h["timestamp"] = dev.writable, dev.timestamp
                if any(k < dev.tag and g["member"] == h["member"] and "writable" not in g
                       for k, g in self.held.items()):
                    self.reordered.append(h["step"])
                self.release_held()
            else:
                self.feed(step, dev, where, blame=blame)

    def release_held(self, flush: bool = False) -> None:
        """Feed the answers of held commands to the replay in queue order per member (D-AQ-6:
        the device processes one admin queue's commands in order; Q10 leaves the order of
        their completions open), so an answer waits for the earlier commands' answers;
        `flush`: every answer given, at the end of the test."""
        for tag in sorted(self.held):
            h = self.held.get(tag)
            if h is None or "writable" not in h:
                continue
            if not flush and any(k < tag and g["member"] == h["member"] and "writable" not in g
                                 for k, g in self.held.items()):
                continue
            del self.held[tag]
            want = self.expected_of.get(h["step"])
            if want is not None:
                self.compare(h["step"], h["readable"], h["writable"], want)
            self.feed(h["step"], AdminCommand(index=len(self.observed), timestamp=h["timestamp"],
                                              readable=h["readable"], writable=h["writable"], codec=self.codec))

    def compare(self, step: int, readable: bytes, got: bytes, want: bytes) -> None:
        """Note how the device's answer differs from the suite's example answer (it explains a
        divergence at this step; on its own it is no failure)."""
        cname = self.codec.decode_command(readable).name
        same = got[:4] == want[:4] if cname in self.adapter.LOOSE_BODY else got == want
        if not same:
            detail = "" if got[:4] != want[:4] else f" (result bytes differ: {got.hex()} vs {want.hex()})"
            self.explain[step] = (f"{command_text(self.codec, readable)}: device answered "
                                  f"{answer_text(self.codec, got)}, the suite's example answer is "
                                  f"{answer_text(self.codec, want)}{detail}")

    def driven(self, step: int, op: str, m: int, q: int, blame: list[str] | None = None) -> None:
        """The device or guest did step `op` (one of `driven_ops`): the candidates become the
        states after it; if no candidate allows it, that is the failure, naming the refusing
        guards' clauses, else `blame` (None: `recent_clauses`)."""
        if self.broken:
            return
        r = self.replayer
        acts = [a for a in self.model.actions
                if a.name == self.driven_ops[op] and self.adapter.work_matches(a, m, q)]
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
        self.diverged(step, f"workload step {op} member {m} queue {q}: the device did it, no state the model "
                            "allows here permits it",
                      sorted(refusing) or (list(blame) if blame is not None else self.recent_clauses(len(self.observed))))

    def allowed_states(self) -> list[dict[str, Any]]:
        """Every state the replay allows here (hidden steps taken or not), decoded."""
        r = self.replayer
        return [self.model.decode_state(r.layout.unpack(x)) for x in r._close(r.candidates).states]

    def check_memory(self, check: dict[str, Any], pages: dict[int, bytes]) -> str | None:
        """A guest-memory check of the test, judged by the adapter against every state the
        replay allows (the device may not have fetched a buffer yet: that state is one):
        what is wrong, or None."""
        r = self.replayer
        return self.adapter.judge_check(self.model, r.layout, r._close(r.candidates).states, check, pages)

    def injected(self, step: int, ev: Any, kind: str, m: int) -> None:
        """The device accepted injected event `ev` (`kind`, member `m`): it is observed, and a
        fault begins or ends; a held command of the member whose fault ends (or that a member
        reset cancels) must now be answered (`finish`)."""
        self.feed(step, ev)
        if kind in FAULT_BEGIN:
            self.in_fault.setdefault(m, set()).add(FAULT_BEGIN[kind])
        for h in self.held.values():
            if h["member"] == m and (FAULT_END.get(kind) in h["faults"] or kind == "member_reset"):
                h["ended"] = step
        if kind in FAULT_END:
            self.in_fault.get(m, set()).discard(FAULT_END[kind])

    def command(self, step: int, ev: Any, answer: bytes | None, tag: int) -> int | None:
        """The device's answer to the test's admin command `ev` (a submit or an admin event),
        sent with backend tag `tag`; None: the device holds it. Returns the command's member."""
        m = member_of(self.codec, ev.readable)
        faults = set(self.in_fault.get(m, ())) if m is not None else set()
        if answer is None:
            self.held[tag] = {"readable": ev.readable, "step": step, "member": m, "faults": faults, "ended": None}
            if not faults and not self.broken:
                self.diverged(step, f"{command_text(self.codec, ev.readable)}: device held the command outside "
                                    "any fault; the model answers it at once",
                              self.judge.expected_clauses(ev) if ev.KIND == "admin" else self.hold_clauses)
            return m
        if ev.KIND == "admin":
            self.compare(step, ev.readable, answer, ev.writable)
        elif step in self.expected_of:
            self.compare(step, ev.readable, answer, self.expected_of[step])
        self.feed(step, AdminCommand(index=len(self.observed), timestamp=ev.timestamp, readable=ev.readable,
                                     writable=answer, codec=self.codec), during=bool(faults))
        return m

    def finish(self) -> None:
        """The end of the test: every held answer given is fed; a held command whose fault
        ended and that the device did not answer fails."""
        self.release_held(flush=True)
        for h in self.held.values():
            if h["ended"] is not None and not self.broken:
                self.diverged(h["step"], f"{command_text(self.codec, h['readable'])}: the device did not answer "
                                         f"the held command when the fault ended (step {h['ended']})",
                              self.hold_clauses)
