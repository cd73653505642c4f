"""The conformance runner for driven virtio-1.4 devices (adapters with `DRIVEN`): the runner
sends every step of the test, the device-internal ones included, and judges what the
device answered and did through the model's replay (mcheck.conformance.judging.ReplaySession).
"""

from __future__ import annotations

import json
from typing import Any

from mcheck.conformance.judging import Judge, Outcome, ReplaySession
from mcheck.conformance.plan import power_on, request_of

GUEST_PAGE = 4096          # bytes of one guest-memory page (docs/device-protocol.md, mem_read)


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
        plan.append((ev, request_of(ev)))
    return plan


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
    adapter = judge.adapter
    out = Outcome(name=name, passed=True)
    plan = _with_checks(events, adapter)
    answers = power_on(backend, plan, device_config, out)
    if answers is None:
        return out
    session = ReplaySession(judge, events, out, adapter.DRIVEN, lambda _ev, where: f"{where}: the device did it, ")
    btag = getattr(backend, "tag", 0) - sum(1 for _, q in plan if q is not None and q[0] == "submit")
    pages: dict[int, bytes] = {}                     # guest pages read for the current check
    for ev, req in plan:
        step = ev.index
        if req is None:
            continue
        answer, devs = next(answers)
        out.steps += 1
        if req[0] == "control":              # one page of a guest-memory check
            session.collect(step, devs)
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
            if session.broken:
                continue
            if any(len(v) != GUEST_PAGE for v in got.values()):
                session.diverged(step, f"mem_read of member {check['member']} page {page}: the device returned "
                                       f"{len(got[page])} bytes, not a guest page", list(check["clauses"]))
                continue
            wrong = session.check_memory(check, got)
            if wrong is not None:
                session.diverged(step, wrong, list(check["clauses"]))
            continue
        if req[0] == "work":
            want = req[4]
            op, m, q = want["op"], want["member"], want["queue"]
            blame = want.get("clauses") or []        # the clauses the suite names for the step
            if answer and op in adapter.DRIVEN:
                session.driven(step, op, m, q, blame)
            session.collect(step, devs, f"workload step {op} member {m} queue {q}" if answer else None, blame)
        elif req[0] == "inject":
            if answer:
                session.injected(step, ev, req[1], req[2])
            session.collect(step, devs)
        else:
            out.commands += 1
            btag += 1
            session.collect(step, devs)
            session.command(step, ev, answer, btag)
    session.finish()
    out.passed = not out.failures
    return out
