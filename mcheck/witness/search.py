"""The shortest counterexample, and where it departs from the model without the bug.

The search is the explicit engine's breadth-first search, bounded by a depth that doubles
until a violation turns up or the whole space is explored, so the first one found is a
shortest one without exploring states deeper than it. A catalogue bug (`-p bug=NAME`) is
then lined up with the *correct* model (the same parameters without the bug): the path is
walked in both, and the first step whose action the correct model cannot take to the same
state is where the bug acts (`departure`). A capture of the path shows the bug only if some
event of it is one the correct model cannot explain; when none is (the bug changed state
that no event shows yet), the shortest continuation of the buggy model whose events the
correct model cannot explain is appended (`extension`), found by replaying candidates
against the correct model.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from mcheck.errors import InputError
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import build_witness, check
from mcheck.explore.codegen import Layout
from mcheck.model.build import ActionInstance, LoadedModel, restricted
from mcheck.model.registry import load_model
from mcheck.replay.engine import SHOULD
from mcheck.replay.stepper import step_functions
from mcheck.verdict import Violation, Witness

FIRST_DEPTH = 4
#: continuations tried when the path's events do not show the bug: steps, buggy states
#: expanded, and seconds spent judging candidates
EXTEND_DEPTH = 6
EXTEND_STATES = 2000
EXTEND_SECONDS = 20.0
#: more steps a witness may take to avoid an answer that departs from a SHOULD
SHOULD_EXTRA = 4


@dataclass(kw_only=True)
class Counterexample:
    """A violation's path in the model that has it (`model`) and how the model without
    the bug (`correct`; the same model when no bug is selected) sees it.

    `actions` are action indices of `model` from its initial state `initial` (packed):
    the violation's witness, then `extension` more steps. `departure` is the 0-based step
    where the correct model first cannot follow (None: it follows every step)."""

    model: LoadedModel
    correct: LoadedModel
    violation: Violation
    initial: int
    actions: list[int]
    departure: int | None
    extension: int = 0
    states: list[int] = field(default_factory=list)   # packed states of `model` along `actions`

    @property
    def witness(self) -> Witness:
        return self.violation.witness

    @property
    def bug(self) -> str | None:
        value = self.model.params.as_dict().get("bug")
        return None if value in (None, "none") else value

    def full_witness(self) -> Witness:
        """The witness with the extension's steps (numbered on from the violation's)."""
        layout = Layout.of(self.model)
        steps = step_functions(self.model, layout)

        def successors(x: int) -> list[tuple[int, int]]:
            return [(a, y) for a, f in enumerate(steps) if (y := f(x)) is not None]
        return build_witness(self.model, successors, layout.unpack, self.initial, self.actions,
                             self.witness.initial_index)


def correct_model(model: LoadedModel, spec: str) -> LoadedModel:
    """The model with the same parameters and no catalogue bug."""
    params = model.params.as_dict()
    if params.get("bug") in (None, "none"):
        return model
    return load_model(spec, {k: v for k, v in params.items() if k != "bug"})


def shortest_violation(model: LoadedModel, *, prop: str | None = None, max_depth: int | None = None,
                       timeout: float | None = None) -> Violation:
    """The shortest violation (of `prop`, else of any invariant, transition property or
    deadlock freedom) by breadth-first search with a doubling depth bound."""
    names = [p.name for p in model.properties if p.kind != "sometimes"] + ["deadlock_free"]
    if prop is not None and prop not in names:
        goals = [p.name for p in model.properties if p.kind == "sometimes"]
        why = (" is a sometimes goal: its violation (never reached) has no path" if prop in goals
               else " is not a property of the model")
        raise InputError(f"--property {prop}{why}; choose one of {', '.join(names)}")
    depth = FIRST_DEPTH
    while True:
        limit = depth if max_depth is None else min(depth, max_depth)
        result, exp = check(model, Bounds(max_depth=limit, timeout=timeout))
        found = [v for v in result.violations if v.kind != "sometimes" and (prop is None or v.property == prop)]
        if found:
            return min(found, key=lambda v: len(v.witness.steps))
        if exp.complete or (max_depth is not None and limit >= max_depth) or "timeout" in " ".join(result.bounds_hit):
            bound = "in the whole reachable space" if exp.complete else f"within {', '.join(result.bounds_hit)}"
            what = f"property {prop} is" if prop else "no property is"
            raise InputError(f"{model.name}: {what} not violated {bound}; there is no counterexample to write"
                             .replace("no property is not", "no property is"))
        depth *= 2


def _same_step(correct: LoadedModel, csteps: list[Any], xc: int, act: Any, decoded_after: dict[str, Any],
               layout: Layout) -> int | None:
    """The correct model's state after the action with `act`'s name, parameters and event
    from `xc`, if it reaches the state the buggy model reached."""
    for c in correct.actions:
        if c.name != act.name or dict(c.params) != dict(act.params) or c.event != act.event:
            continue
        y = csteps[c.index](xc)
        if y is not None and correct.decode_state(layout.unpack(y)) == decoded_after:
            return y
    return None


def departure(model: LoadedModel, correct: LoadedModel, initial: int, actions: list[int]) -> tuple[int | None, list[int]]:
    """(the first step the correct model cannot follow, the buggy model's packed states)."""
    layout = Layout.of(model)
    clayout = Layout.of(correct)
    bsteps = step_functions(model, layout)
    csteps = step_functions(correct, clayout) if correct is not model else bsteps
    xb = xc = initial
    states = [initial]
    first: int | None = None
    for i, a in enumerate(actions):
        y = bsteps[a](xb)
        assert y is not None, "a witness replays (mcheck.explore.check.build_witness checked it)"
        if first is None and correct is not model:
            yc = _same_step(correct, csteps, xc, model.actions[a], model.decode_state(layout.unpack(y)), clayout)
            if yc is None:
                first = i
            else:
                xc = yc
        xb = y
        states.append(y)
    return first, states


def find(model: LoadedModel, spec: str, *, prop: str | None = None, max_depth: int | None = None,
         timeout: float | None = None,
         shows: Callable[[Counterexample, list[int]], bool] | None = None) -> Counterexample:
    """The counterexample of `model` (built from `spec` with its parameters). `shows(cx,
    actions)` says whether a capture of those actions diverges from the correct model; when
    the violation's own path does not, the shortest continuation that does is appended."""
    violation = shortest_violation(model, prop=prop, max_depth=max_depth, timeout=timeout)
    model, violation = _without_should(model, violation, timeout=timeout)
    correct = correct_model(model, spec)
    layout = Layout.of(model)
    initial = layout.pack(model.initial[violation.witness.initial_index])
    actions = list(violation.witness.action_indices)
    first, states = departure(model, correct, initial, actions)
    cx = Counterexample(model=model, correct=correct, violation=violation, initial=initial, actions=actions,
                        departure=first, states=states)
    if first is not None and shows is not None and not shows(cx, actions):
        more = _extension(cx, shows)
        if more is not None:
            cx.actions = actions + more
            cx.extension = len(more)
            cx.states = departure(model, correct, initial, cx.actions)[1]
    return cx


def _departs_from_should(act: ActionInstance) -> bool:
    return act.event is not None and SHOULD in act.event


def _without_should(model: LoadedModel, violation: Violation, *,
                    timeout: float | None) -> tuple[LoadedModel, Violation]:
    """A witness that needs an answer departing from a SHOULD (a device that follows the
    SHOULD refuses the command, so a conformance test built on it cannot catch the bug) is
    replaced by the shortest violation of the same property among the actions that do not,
    if one exists within SHOULD_EXTRA more steps; else it is kept."""
    if not any(_departs_from_should(model.actions[a]) for a in violation.witness.action_indices):
        return model, violation
    polite = restricted(model, lambda a: not _departs_from_should(a))
    try:
        other = shortest_violation(polite, prop=violation.property,
                                   max_depth=len(violation.witness.action_indices) + SHOULD_EXTRA, timeout=timeout)
    except InputError:
        return model, violation
    return polite, other


def _extension(cx: Counterexample, shows: Callable[[Counterexample, list[int]], bool]) -> list[int] | None:
    """The shortest continuation (at most EXTEND_DEPTH steps, EXTEND_STATES states, EXTEND_SECONDS) after
    which a capture diverges from the correct model; only steps with an event are judged."""
    layout = Layout.of(cx.model)
    steps = step_functions(cx.model, layout)
    deadline = time.monotonic() + EXTEND_SECONDS
    start = cx.states[-1]
    seen = {start}
    todo: deque[tuple[int, list[int]]] = deque([(start, [])])
    while todo and len(seen) <= EXTEND_STATES and time.monotonic() < deadline:
        x, path = todo.popleft()
        if len(path) >= EXTEND_DEPTH:
            continue
        for act in cx.model.actions:
            y = steps[act.index](x)
            if y is None:
                continue
            more = path + [act.index]
            if act.event is not None and shows(cx, cx.actions + more):
                return more
            if y not in seen:
                seen.add(y)
                todo.append((y, more))
    return None
