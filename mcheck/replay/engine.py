"""Replay a trace against a model: the set of model states consistent with it so far.

Captures are incomplete: guest activity is not recorded, completions get lost, a field
can be unknown. So between two observed events the model may take *hidden* steps
(actions that emit nothing, or whose event kind the capture does not record), and an
observed event is explained by any enabled action whose emitted event agrees with it on
every field both know. The replayer keeps the set of candidate states (bounded); when it
becomes empty the event is a divergence: the report names the event, what the model
allowed instead, the clauses whose guards refused the observed event, and the candidate
states just before. With `keep_going` it resynchronises (taking the observed command
with whatever answer the model allows, or skipping it) and carries on.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from mcheck.explore.codegen import Layout
from mcheck.explore.check import coverage
from mcheck.model.build import LoadedModel
from mcheck.model.evaluate import evaluate
from mcheck.replay.stepper import step_functions
from mcheck.report.text import format_event
from mcheck.errors import InputError
from mcheck.verdict import BOUNDED, ERROR, HOLDS, VIOLATED, Change, PropertyVerdict, Result, Step, Violation, Witness

DEFAULT_MAX_CANDIDATES = 100_000
WINDOW = 32          # events of history kept for a divergence's witness
UNEXPLAINED = "MCHECK-UNEXPLAINED"  # no action of the model can ever emit such an event


@dataclass(kw_only=True)
class Divergence:
    index: int
    timestamp: int
    observed: dict[str, Any]
    expected: list[str]
    clauses: list[str]
    candidates: list[dict[str, Any]]
    path: list[tuple[int, int]]  # (action, event index or -1 for hidden) leading to a candidate
    root: int | None = None      # the packed state the path starts from


@dataclass
class _Layer:
    """Back-links for one event: hidden steps form a forest rooted at the candidates the
    event started from (each state linked once), and the matched step links each new
    candidate to the closure state it came from."""

    event: int
    hidden: dict[int, tuple[int, int]] = field(default_factory=dict)
    matched: dict[int, tuple[int, int]] = field(default_factory=dict)

    def back(self, state: int, out: list[tuple[int, int]], hidden_event: int = -1) -> int:
        """Append (action, event index) steps that reach `state` within this layer, newest
        first; return the candidate the layer started from."""
        if state in self.matched:
            state, a = self.matched[state]
            out.append((a, self.event))
        while state in self.hidden:
            state, a = self.hidden[state]
            out.append((a, hidden_event))
        return state


def _key(ev: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (ev.get("kind"), ev.get("cmd"), ev.get("member"))


def _agrees(model_event: dict[str, Any], observed: dict[str, Any]) -> bool:
    return all(model_event[k] == v for k, v in observed.items() if k in model_event)


class Replayer:
    """Walks observed events through one loaded model."""

    def __init__(self, model: LoadedModel, *, hidden_kinds: Iterable[str] = ("doorbell",),
                 max_candidates: int = DEFAULT_MAX_CANDIDATES) -> None:
        self.model = model
        self.layout = Layout.of(model)
        self.steps = step_functions(model, self.layout)
        self.max_candidates = max_candidates
        hidden = set(hidden_kinds)
        self.hidden = [a.index for a in model.actions if a.event is None or a.event["kind"] in hidden]
        self.by_key: dict[tuple[Any, Any, Any], list[int]] = {}
        for a in model.actions:
            if a.event is not None:
                self.by_key.setdefault(_key(a.event), []).append(a.index)
        self.candidates = {self.layout.pack(v) for v in model.initial}
        self.layers: deque[_Layer] = deque(maxlen=WINDOW)
        self.fired = [0] * len(model.actions)
        self.max_seen = len(self.candidates)
        self.bound_hit = False

    # -- the candidate set
    def _close(self, states: set[int], layer: _Layer) -> set[int]:
        """Every state reachable from `states` by hidden steps (bounded)."""
        seen = set(states)
        todo = list(states)
        steps, hidden = self.steps, self.hidden
        while todo:
            x = todo.pop()
            for a in hidden:
                y = steps[a](x)
                if y is not None and y not in seen:
                    seen.add(y)
                    layer.hidden[y] = (x, a)
                    todo.append(y)
                    if len(seen) > self.max_candidates:
                        self.bound_hit = True
                        return seen
        return seen

    def _matching(self, observed: dict[str, Any]) -> list[int]:
        return [a for a in self.by_key.get(_key(observed), ()) if _agrees(self.model.actions[a].event, observed)]

    def advance(self, observed: dict[str, Any], index: int) -> bool:
        """Take one observed event; False when no candidate explains it (the set is kept)."""
        layer = _Layer(event=index)
        closed = self._close(self.candidates, layer)
        nxt: set[int] = set()
        for a in self._matching(observed):
            step = self.steps[a]
            for x in closed:
                y = step(x)
                if y is not None:
                    if y not in nxt:
                        layer.matched[y] = (x, a)
                    nxt.add(y)
                    self.fired[a] += 1
        self.max_seen = max(self.max_seen, len(closed))
        if not nxt:
            self._pending = (closed, layer)
            return False
        self.layers.append(layer)
        self.candidates = nxt
        return True

    # -- explaining a divergence
    def explain(self, observed: dict[str, Any], index: int, timestamp: int) -> Divergence:
        closed, layer = self._pending
        alternatives = self._alternatives(observed, closed)
        clauses = self._refusing_clauses(observed, closed)
        sample = sorted(closed)[:3]
        candidates = [self.model.decode_state(self.layout.unpack(x)) for x in sample]
        root, path = self._path(sample[0], layer) if sample else (None, [])
        self.layers.append(layer)
        return Divergence(index=index, timestamp=timestamp, observed=observed, expected=alternatives,
                          clauses=clauses, candidates=candidates, path=path, root=root)

    def _alternatives(self, observed: dict[str, Any], closed: set[int]) -> list[str]:
        """Observable events the model allowed here: same command and member first, else any."""
        same = self.by_key.get(_key(observed), [])
        pool = same or [a for acts in self.by_key.values() for a in acts]
        allowed = {format_event(dict(self.model.actions[a].event)) for a in pool
                   if any(self.steps[a](x) is not None for x in closed)}
        return sorted(allowed)[:12]

    def _refusing_clauses(self, observed: dict[str, Any], closed: set[int]) -> list[str]:
        """Clauses of the guards that refused every action emitting the observed event."""
        acts = self._matching(observed)
        if not acts:
            return [UNEXPLAINED]
        clauses: dict[str, None] = {}
        unpack = self.layout.unpack
        for a in acts:
            for x in closed:
                values = unpack(x)
                for g in self.model.actions[a].guards:
                    if not evaluate(g.cond, values):
                        clauses.update(dict.fromkeys(g.clauses))
        return list(clauses) or [UNEXPLAINED]

    def resync(self, observed: dict[str, Any]) -> None:
        """After a divergence: take the command with any answer the model allows, else skip it."""
        closed, layer = self._pending
        loose = {k: v for k, v in observed.items() if k in ("kind", "cmd", "member", "group")}
        nxt = {y for a in self._matching(loose) for x in closed if (y := self.steps[a](x)) is not None}
        self.candidates = nxt or closed

    def _path(self, state: int, current: _Layer) -> tuple[int, list[tuple[int, int]]]:
        """The oldest state within the history window and the (action, event index or -1
        when hidden) steps from it to `state`, a closure state of the `current` layer."""
        out: list[tuple[int, int]] = []
        state = current.back(state, out)
        for layer in reversed(self.layers):
            state = layer.back(state, out)
        out.reverse()
        return state, out


def divergence_violation(model: LoadedModel, r: Replayer, d: Divergence) -> Violation:
    """The divergence as a violation whose witness is the model's explanation of the
    events just before it (within the history window), with the state changes."""
    steps = []
    x = d.root
    before = r.layout.unpack(x) if x is not None else ()
    for number, (a, ev_index) in enumerate(d.path, 1):
        act = model.actions[a]
        event = dict(act.event) if act.event else None
        if event is not None and ev_index >= 0:
            event["index"] = ev_index
        x = r.steps[a](x)
        after = r.layout.unpack(x)
        changes = [Change(field=s.name, before=s.sort.decode(b), after=s.sort.decode(c))
                   for s, b, c in zip(model.slots, before, after) if b != c]
        steps.append(Step(number=number, action=act.name, params=dict(act.params), label=act.label, event=event,
                          clauses=list(act.clauses), changes=changes))
        before = after
    initial = model.decode_state(r.layout.unpack(d.root)) if d.root is not None else {}
    observed = format_event({k: v for k, v in d.observed.items()})
    message = (f"event {d.index} (t={d.timestamp} ns): observed {observed}; the model allowed "
               f"{', '.join(d.expected) if d.expected else 'no such event here'}")
    return Violation(property="divergence", kind="divergence", clauses=d.clauses, message=message,
                     witness=Witness(initial=initial, steps=steps), event_index=d.index, candidates=d.candidates,
                     expected=d.expected)


@dataclass(kw_only=True)
class ReplayOutcome:
    result: Result
    events: int
    error: InputError | None = None  # the trace was damaged after `events` events


def replay_events(model: LoadedModel, events: Iterator[Any], *, keep_going: bool = False,
                  hidden_kinds: Iterable[str] = ("doorbell",), max_candidates: int = DEFAULT_MAX_CANDIDATES,
                  progress: Callable[[int, float], None] | None = None) -> ReplayOutcome:
    """Replay decoded trace events; a reader's InputError propagates after the good events."""
    r = Replayer(model, hidden_kinds=hidden_kinds, max_candidates=max_candidates)
    start = time.monotonic()
    divergences: list[Divergence] = []
    count = 0
    error: InputError | None = None
    try:
        for event in events:
            observed = model.model.observe(event)
            count += 1
            if progress is not None and count % 4096 == 0:
                progress(count, time.monotonic() - start)
            if observed is None:
                continue
            if r.advance(observed, event.index):
                continue
            divergences.append(r.explain(observed, event.index, event.timestamp))
            if not keep_going:
                break
            r.resync(observed)
    except InputError as exc:
        error = exc
    seconds = time.monotonic() - start
    violations = [divergence_violation(model, r, d) for d in divergences]
    if error is not None:
        verdict = ERROR
    elif divergences:
        verdict = VIOLATED
    elif r.bound_hit:
        verdict = BOUNDED
    else:
        verdict = HOLDS
    clauses = sorted({c for d in divergences for c in d.clauses})
    prop = PropertyVerdict(name="conforms", kind="divergence", clauses=clauses or ["D-GA-2"],
                           verdict=VIOLATED if divergences else (BOUNDED if error or r.bound_hit else HOLDS),
                           description="every observed event is one the model allows at that point")
    cov = coverage(model, r.fired)
    cov.update(events=count, divergences=len(divergences), max_candidates=r.max_seen)
    notes = [f"{count:,} events replayed, at most {r.max_seen:,} candidate states"]
    if error is not None:
        notes.append(f"trace damaged after {count:,} events: {error}")
    if r.bound_hit:
        notes.append(f"candidate set exceeded {max_candidates:,} states; hidden steps were cut (verdict bounded)")
    result = Result(model=model.name, params=model.params.as_dict(), engine="replay", verdict=verdict,
                    states=r.max_seen, transitions=sum(r.fired), depth=count, seconds=round(seconds, 6),
                    bounds_hit=["max-candidates"] if r.bound_hit else [], properties=[prop],
                    violations=violations, coverage=cov, notes=notes)
    return ReplayOutcome(result=result, events=count, error=error)
