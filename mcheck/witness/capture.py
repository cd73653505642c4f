"""A counterexample as a capture: the trace events a device taking its steps would show.

The wire form of each step comes from the profile's device adapter (`capture_of`: the
admin command with the answer the step's event gives, or the side-band record), between
annotations naming the step. Every encoded event is observed back through the model's
observation and must agree with the step's event on every field both know (the replay's
matching rule), so the file says what the model step says. The header names the profile
and the parameters of the model *without* the bug, so `mcheck replay FILE` judges the
capture against the correct model, and `expect` documents the divergence the writer
found by replaying it so.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mcheck.errors import ModelRuntimeError
from mcheck.explore.codegen import Layout
from mcheck.model.build import LoadedModel
from mcheck.replay.engine import Replayer
from mcheck.trace.codec import Codec
from mcheck.trace.events import EVENT_TYPES, Annotation, TraceHeader
from mcheck.trace.io import write_trace
from mcheck.trace.profile import load_profile
from mcheck.witness.search import Counterexample

TICK = 1000   # ns between events


def adapter_of(model: LoadedModel) -> Any:
    """The device adapter of the model's wire profile (what a model step means on the wire)."""
    from mcheck.conformance.gen import adapter_for
    return adapter_for(model)


def _drop_observer(model: LoadedModel) -> None:
    """A model's observation may keep per-capture state (virtio-1.4, draft-v1): start afresh."""
    model.model.__dict__.pop("_obs", None)


_COMPILED: dict[int, tuple[LoadedModel, Any, Codec, Layout, list[Any]]] = {}


def _compiled(model: LoadedModel) -> tuple[Any, Codec, Layout, list[Any]]:
    """The model's adapter, codec, layout and step functions, built once per model."""
    from mcheck.replay.stepper import step_functions
    kept = _COMPILED.get(id(model))
    if kept is None or kept[0] is not model:
        adapter = adapter_of(model)
        layout = Layout.of(model)
        kept = _COMPILED[id(model)] = (model, adapter, Codec(load_profile(adapter.PROFILE)), layout,
                                       step_functions(model, layout))
    return kept[1:]


def step_events(model: LoadedModel, initial: int, actions: list[int], start: int = 0) -> tuple[list[Any], list[int]]:
    """The trace events of `actions` from packed state `initial`, an annotation before each
    step, and per step the index of its last event (its annotation's when it has none)."""
    adapter, codec, layout, steps = _compiled(model)
    params = model.params.as_dict()
    queues = params.get("queues", 1)
    events: list[Any] = []
    last: list[int] = []
    x = initial
    for number, a in enumerate(actions, start + 1):
        act = model.actions[a]
        y = steps[a](x)
        if y is None:
            raise ModelRuntimeError(f"{model.source}: step {number} ({act.label}) is not enabled when the path is replayed")
        after = model.decode_state(layout.unpack(y))
        n = len(events)
        events.append(Annotation(index=n, timestamp=(n + 1) * TICK, text=f"step {number}: {act.label}"))
        for kind, fields in adapter.capture_of(codec, act, queues, model, after):
            n = len(events)
            extra = {"codec": codec} if kind == "admin" else {}
            events.append(EVENT_TYPES[kind](index=n, timestamp=(n + 1) * TICK, **fields, **extra))
        last.append(len(events) - 1)
        x = y
    return events, last


def check_round_trip(model: LoadedModel, events: list[Any], labels: dict[int, tuple[str, dict[str, Any]]]) -> None:
    """Every encoded event, observed back, agrees with its step's event (`labels`: event
    index -> step label and model event); a step the capture cannot show is an error."""
    _drop_observer(model)
    observe = model.model.observe
    for ev in events:
        seen = observe(ev)
        if ev.index not in labels or seen is None:
            continue
        label, want = labels[ev.index]
        differ = {k: (want[k], v) for k, v in seen.items() if k in want and k != "should" and want[k] != v}
        if differ:
            k, (w, v) = next(iter(differ.items()))
            raise ModelRuntimeError(f"{model.name}: the capture of {label} reads back as {k}={v!r}, the step says "
                                    f"{k}={w!r}: the profile's adapter cannot show this step")
    _drop_observer(model)


class CorrectReplay:
    """Replays candidate captures against the correct model, quickly (one replayer, reset
    between captures, its caches kept: they depend on the model only)."""

    KEEP = ("_variants", "_safe", "_closures", "_step_cache", "_match_cache", "_cache_weight")

    def __init__(self, correct: LoadedModel) -> None:
        self.model = correct
        self.replayer = Replayer(correct)
        self._fresh = {k: copy.copy(v) for k, v in vars(self.replayer).items() if k not in self.KEEP}

    def first_divergence(self, events: list[Any]) -> int | None:
        """The index of the first event the correct model cannot explain, or None."""
        for k, v in self._fresh.items():
            setattr(self.replayer, k, copy.copy(v))
        _drop_observer(self.model)
        try:
            for ev in events:
                obs = self.model.model.observe(ev)
                if obs is not None and not self.replayer.advance(obs, ev.index):
                    return ev.index
            return None
        finally:
            _drop_observer(self.model)


def header(cx: Counterexample, expect: dict[str, Any]) -> TraceHeader:
    """The profile, topology and parameters of the correct model, and what to expect."""
    adapter = adapter_of(cx.correct)
    params = cx.correct.params.as_dict()
    members = adapter.device_config(params)["members"]
    title = f"mcheck witness: {cx.violation.property} of {cx.model.name}" + (f" with bug {cx.bug}" if cx.bug else "")
    return TraceHeader(profile=adapter.PROFILE, members=tuple(range(1, members + 1)), queues=params.get("queues", 1),
                       params={k: v for k, v in params.items() if k != "bug"},
                       doc={"title": title, "expect": expect})


def capture(cx: Counterexample, actions: list[int] | None = None) -> tuple[list[Any], list[int]]:
    """The events of the path (checked to read back as its steps) and each step's last event."""
    actions = cx.actions if actions is None else actions
    events, last = step_events(cx.model, cx.initial, actions)
    labels: dict[int, tuple[str, dict[str, Any]]] = {}
    start = 0
    for a, end in zip(actions, last, strict=True):
        act = cx.model.actions[a]
        for i in range(start, end + 1):
            if act.event is not None:
                labels[i] = (act.label, dict(act.event))
        start = end + 1
    check_round_trip(cx.model, events, labels)
    return events, last


def write_capture(cx: Counterexample, path: str | Path, expect: dict[str, Any]) -> int:
    """Write the capture (.jsonl or .pcapng by the extension); returns the event count."""
    events, _ = capture(cx)
    adapter = adapter_of(cx.correct)
    return write_trace(path, header(cx, expect), events, codec=Codec(load_profile(adapter.PROFILE)))


def divergence_judge(correct: LoadedModel) -> Any:
    """`shows(cx, actions)` for `search.find`: does a capture of those actions diverge from
    the correct model?"""
    replay = CorrectReplay(correct)

    def shows(cx: Counterexample, actions: list[int]) -> bool:
        try:
            events, _ = capture(cx, actions)
        except ModelRuntimeError:      # a step no capture can show (it reads back as another)
            return False
        return replay.first_divergence(events) is not None
    return shows
