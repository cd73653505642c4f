"""Trace replay against a model: `replay_file(path) -> ReplayResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from mcheck.errors import InputError
from mcheck.model.build import LoadedModel
from mcheck.model.params import resolve_params
from mcheck.model.registry import BUILTIN, find_model_class, load_model
from mcheck.replay.engine import DEFAULT_MAX_CANDIDATES, replay_events
from mcheck.trace.events import TraceHeader
from mcheck.trace.io import read_trace
from mcheck.verdict import ReplayResult

# which built-in model explains traces of which wire profile
MODEL_FOR_PROFILE = {"virtio-1.4": "virtio-1.4", "draft-v1": "draft-v1"}


def model_for_trace(header: TraceHeader, model: str | None, params: Mapping[str, Any]) -> LoadedModel:
    """The model named, or the one of the trace's profile, sized by the trace's topology and
    set up by the header's `params`, unless the given parameters say otherwise.

    The header only speaks for the built-in models: a model file may not know its parameters.
    """
    return load_model(*model_choice(header, model, params))


def model_choice(header: TraceHeader, model: str | None, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model name and parameters `model_for_trace` builds, without building it: a batch
    replayer (mcheck.fleet) builds each distinct choice once per process."""
    name = model or MODEL_FOR_PROFILE.get(header.profile)
    if name is None:
        raise InputError(f"trace profile {header.profile!r} has no built-in model; name one with --model")
    given = dict(params)
    if name in BUILTIN:
        from_header = {key: value for key, value in header.params.items() if key not in given}
        if from_header:
            cls = find_model_class(name)
            try:
                resolve_params(cls.declared_params(), from_header, cls.name or cls.__name__)
            except InputError as exc:
                raise InputError(f"trace header params: {exc}") from None
        given.update(from_header)
        for key, value in find_model_class(name).topology_params(header.members or [], header.queues).items():
            given.setdefault(key, value)
        # what the model asks for when it judges a capture (e.g. its finest abstraction)
        for key, value in (getattr(find_model_class(name), "replay_params", None) or {}).items():
            given.setdefault(key, value)
    return name, given


def open_trace(path: str | Path, *, profile: str | None = None, reader: str = "fast"):
    """The joined event stream of a trace, through the fast reader or pyshark."""
    if reader == "pyshark":
        from mcheck.trace.pyshark_reader import read_trace_pyshark
        return read_trace_pyshark(path, profile=profile, join=True)
    if reader != "fast":
        raise InputError(f"unknown reader {reader!r}; use fast or pyshark")
    return read_trace(path, profile=profile, join=True)


def replay_file(path: str | Path, *, model: str | None = None, params: Mapping[str, Any] | None = None,
                profile: str | None = None, keep_going: bool = False, hidden_kinds: Iterable[str] | None = None,
                max_candidates: int = DEFAULT_MAX_CANDIDATES, reader: str = "fast",
                progress: Callable[[int, float], None] | None = None) -> ReplayResult:
    """Replay a JSONL or pcapng trace. A file that cannot be opened raises InputError; damage
    further in ends the replay with verdict `error` after the readable part was replayed,
    so the divergences before the damage are still reported. `reader="pyshark"` reads a
    pcapng through tshark and the Lua dissector instead of the built-in reader."""
    trace = open_trace(path, profile=profile, reader=reader)
    loaded = model_for_trace(trace.header, model, params or {})
    return replay_events(loaded, trace.events, keep_going=keep_going, hidden_kinds=hidden_kinds,
                         max_candidates=max_candidates, progress=progress, source=str(path)).result


__all__ = ["replay_file", "open_trace", "model_for_trace", "model_choice", "replay_events"]
