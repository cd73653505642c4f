"""One model definition, two engines: the virtio-1.4 model's expressions walked into Z3.

The trivial fact checked: every invariant holds in the initial state, and DEV_MODE_SET's
successful stop sets the member's mode to stopped, as the concrete engine says.
"""

from __future__ import annotations

import z3

from mcheck.model.evaluate import evaluate
from mcheck.model.registry import load_model
from mcheck.symbolic.translate import Encoding, int_width, translate


def _state(model, enc, tag):
    return [enc.var(f"{s.name}@{tag}", s.sort) for s in model.slots]


def test_invariants_hold_in_the_initial_state_in_z3():
    model = load_model("virtio-1.4", {"members": 2})
    exprs = [p.expr for p in model.properties if p.kind == "invariant"]
    enc = Encoding(int_width(exprs, [s.sort for s in model.slots]))
    state = _state(model, enc, 0)
    solver = z3.Solver(ctx=enc.ctx)
    for term, slot, value in zip(state, model.slots, model.initial[0], strict=True):
        solver.add(term == enc.value(slot.sort, value))
    solver.add(z3.Not(z3.And(*[translate(e, enc, state) for e in exprs])))
    assert solver.check() == z3.unsat
    assert all(evaluate(e, model.initial[0]) for e in exprs)


def test_successful_stop_sets_mode_stopped_in_both_engines():
    model = load_model("virtio-1.4", {"members": 1})
    stop = next(a for a in model.actions
                if a.name == "mode_set" and a.event["flags"] == 1 and a.event.get("status") == "OK")
    mode = model.slot("mode[1]")
    new_mode = stop.assigns[mode.index]
    enc = Encoding(int_width([stop.guard, new_mode], [s.sort for s in model.slots]))
    state = _state(model, enc, 0)
    solver = z3.Solver(ctx=enc.ctx)
    for term, slot in zip(state, model.slots, strict=True):
        dom = enc.domain(slot.sort, term)
        if dom is not None:
            solver.add(dom)
    solver.add(translate(stop.guard, enc, state))
    solver.add(translate(new_mode, enc, state) != enc.value(mode.sort, mode.sort.encode("stopped")))
    assert solver.check() == z3.unsat  # Z3: whenever the stop is enabled, the new mode is stopped
    assert mode.sort.decode(evaluate(new_mode, model.initial[0])) == "stopped"
