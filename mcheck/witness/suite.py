"""A counterexample as a conformance test: the driver inputs of its steps, with the answers
and device behaviour the model *without* the bug expects (mcheck.conformance.gen's Builder turns
model actions into test events, so the test is judged like any generated one).

The path is walked in the correct model. A step it takes the same way becomes that step's
inputs; where the bug departs, the same command (or fault, or guest step) is sent and the
correct model's answer expected; device work the correct model forbids there is asked for
and must be refused; a command the correct model holds (during a fault) is sent as held.
The test ends with the correct state's probes (device work it forbids must be refused) and
the adapter's read-back (`read_back`: the faults still open end, then e.g. a DEV_PARTS_GET,
a DEV_MODE_GET, the context, the write record), so a bug that only changed device state is
seen; not after a held command, whose effect comes when the device answers it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mcheck.explore.codegen import Layout
from mcheck.model.evaluate import evaluate
from mcheck.witness.capture import adapter_of
from mcheck.witness.search import Counterexample


def build_test(cx: Counterexample, name: str = "witness") -> Any:
    from mcheck.conformance.gen import Builder
    from mcheck.trace.codec import Codec
    from mcheck.trace.profile import load_profile
    correct, model = cx.correct, cx.model
    adapter = adapter_of(correct)
    b = Builder(correct, adapter)
    t = b.new(name, "witness")
    x = b.layout.pack(correct.initial[cx.witness.initial_index])
    blayout = Layout.of(model)
    codec = Codec(load_profile(adapter.PROFILE))
    queues = model.params.as_dict().get("queues", 1)
    tag = 0
    admin_actions = [c.index for c in correct.actions if c.event is not None and c.event.get("kind") == "admin"]
    for i, a in enumerate(cx.actions):
        act = model.actions[a]
        key = (act.name, tuple(sorted((k, v) for k, v in act.params.items() if k != "outcome")))
        enabled = [(c, y) for c in b.by_label.get(key, ()) if (y := b.steps[c](x)) is not None]
        after = model.decode_state(blayout.unpack(cx.states[i + 1]))
        same = [(c, y) for c, y in enabled if correct.actions[c].event == act.event
                and (cx.departure is None or i < cx.departure) and correct.decode_state(b.layout.unpack(y)) == after]
        if not enabled and act.event is not None and act.event.get("kind") == "admin":
            # a parameter that is the answer, not the command (e.g. a count reported), or an
            # outcome the correct model names as another action (draft-v1's refused orphan
            # chunk): the correct model's instance that sends the same bytes
            readable = adapter.capture_of(codec, act, queues, model, after)[0][1]["readable"]
            for c in [*b.by_name.get(act.name, ()), *admin_actions]:
                y = b.steps[c](x)
                if y is not None and adapter.capture_of(codec, correct.actions[c], queues, correct,
                                                        correct.decode_state(b.layout.unpack(y)))[0][1]["readable"] == readable:
                    enabled = [(c, y)]
                    break
        picks = same or [(c, y) for c, y in enabled if correct.actions[c].event == act.event] or enabled
        pick = picks[0] if picks else None
        if pick is not None:
            b.take(t, pick[0], pick[1])
            x = pick[1]
            continue
        refusing = sorted({c for c_act in b.by_label.get(key, ()) for g in correct.actions[c_act].guards
                           if not evaluate(g.cond, b.layout.unpack(x)) for c in g.clauses})
        op = adapter.probe_actions(act)
        if op is not None:              # device work the correct model forbids here
            if hasattr(adapter, "probe_request"):
                op, m, q = adapter.probe_request(act)
            else:
                m, q = act.params.get("m", 0), act.params.get("q", 0)
            b.step_note(t, op, m, q, False, refusing)
            t.probes += 1
            continue
        if (act.event is not None and act.event.get("kind") == "admin"
                and set(refusing) & set(adapter.HOLD_CLAUSES)):      # held by the correct model (a fault)
            tag += 1
            readable = adapter.capture_of(codec, act, queues, model, after)[0][1]["readable"]
            b.hold(t, a, readable, tag)
            t.holds = True
            t.clauses.update(refusing)
            continue
        break        # nothing the correct model can be asked here
    b.probe(t, x)
    read_back = getattr(adapter, "read_back", getattr(adapter, "observe_state", None))
    if read_back is not None and not t.holds:     # a held command acts later: x is not the device's state
        read_back(b, t, x)
    return t


def write_suite(cx: Counterexample, out: str | Path) -> Path:
    """A one-test suite directory (suite.json and witness.jsonl) for `mcheck conform`."""
    from mcheck.conformance.gen import Suite, write_suite as write
    start = time.monotonic()
    t = build_test(cx)
    v = cx.violation
    coverage = {"tests": 1, "probes": t.probes, "witness": {
        "model": cx.model.name, "bug": cx.bug, "property": v.property, "clauses": list(v.clauses),
        "steps": len(cx.actions), "departure_step": None if cx.departure is None else cx.departure + 1}}
    return write(Suite(model=cx.correct, tests=[t], coverage=coverage, seconds=time.monotonic() - start), out)
