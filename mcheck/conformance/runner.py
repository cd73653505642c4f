"""Run a test trace against a device backend and judge what the device answers and does.

`run_test` is the entry point: it runs a draft-v1 test here, a virtio-1.4 test with
`mcheck.conformance.driven.run_test_replayed` (the runner drives the device's internal steps)
or, for a device that acts on its own, `mcheck.conformance.autonomous.run_test_autonomous`;
both judge through `mcheck.conformance.judging.ReplaySession`.

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

from typing import Any

from mcheck.conformance.autonomous import HOST_STEPS, autonomous_plan, run_test_autonomous
from mcheck.conformance.driven import run_test_replayed
from mcheck.conformance.judging import INJECTED, Failure, Judge, Outcome, answer_text, command_text
from mcheck.conformance.plan import power_on, request_of
from mcheck.trace.events import AdminCommand, AdminComplete

# what the runner's importers use (mcheck.conformance.conform, replay_backend, the tests)
__all__ = ["HOST_STEPS", "INJECTED", "Failure", "Judge", "Outcome", "autonomous_plan", "run_test",
           "run_test_autonomous", "run_test_replayed"]


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
    plan = [(ev, request_of(ev)) for ev in events]
    answers = power_on(backend, plan, device_config, out)
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

    device_shaped: set[str] = getattr(judge.adapter, "OBSERVED_ANSWERS", set())

    def compare(step: int, readable: bytes, got: bytes, want: bytes, expected_event: Any) -> None:
        cname = codec.decode_command(readable).name
        if cname in device_shaped and got[:4] == want[:4]:   # the device shapes it (draft-v1 context chunks)
            wrong = judge.adapter.check_answer(codec, readable, got, want)
            if wrong is not None:
                explain[step] = (f"{command_text(codec, readable)}: device answered {answer_text(codec, got)}: "
                                 f"{wrong}")
                if exact_answers:
                    fail.append(Failure(step, explain[step], judge.expected_clauses(expected_event)))
            return
        same = got[:4] == want[:4] if cname in loose else got == want
        if not same:
            detail = "" if got[:4] != want[:4] else f" (result bytes differ: {got.hex()} vs {want.hex()})"
            explain[step] = (f"{command_text(codec, readable)}: device answered {answer_text(codec, got)}, "
                             f"the suite's example answer is {answer_text(codec, want)}{detail}")
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
                fail.append(Failure(step, f"{command_text(codec, readable)}: the device did not complete the held command "
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
                    fail.append(Failure(step, f"{command_text(codec, ev.readable)}: device held the command, the model "
                                              f"answers {answer_text(codec, ev.writable)} at once", judge.expected_clauses(ev)))
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
                    fail.append(Failure(step, f"{command_text(codec, ev.readable)}: device answered {answer_text(codec, answer)} "
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
