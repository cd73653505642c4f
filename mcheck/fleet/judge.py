"""What a worker does with one capture: replay it and return one results-table row.

This is the single-capture replayer (`mcheck.replay`: open_trace, model_choice,
replay_events) with two things a batch needs:

* **warm models**: building a model and generating its step functions costs about a
  second, replaying a short capture a few milliseconds, so each worker process builds
  each distinct (model, parameters) once and gives every replay a shallow copy of the
  pristine model instance (a model keeps per-capture state, such as its observer, in
  attributes it creates on first use, so copies never share it). The replayer's own
  cache of catalogue-bug and relaxation variants (`engine._VARIANTS`) is per process too.
* **never raising**: every outcome is a row; bad input, a timeout and an internal error
  become verdict `error` with a `reason` and an `error_kind`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any
from collections.abc import Iterator, Mapping

from mcheck.errors import InputError, McheckError
from mcheck.explore.codegen import Layout
from mcheck.fleet.sources import META_KEYS
from mcheck.fleet.table import (
    CONFORMING, DIVERGENT, ERROR, KIND_BOUNDED, KIND_CORRUPT, KIND_INTERNAL, KIND_TIMEOUT, KIND_UNKNOWN_PROFILE,
    KIND_UNREADABLE, error_row, new_row,
)
from mcheck.model.build import LoadedModel
from mcheck.model.registry import load_model
from mcheck.replay import model_choice, open_trace
from mcheck.replay.engine import DEFAULT_MAX_CANDIDATES, ReplayOutcome, replay_events
from mcheck.replay.stepper import step_functions
from mcheck.verdict import BOUNDED, ERROR as REPLAY_ERROR, HOLDS, VIOLATED

MODEL_LIMIT = 32           # distinct (model, parameters) kept warm per worker process
CHECK_EVERY = 256          # events between two looks at the clock
_MODELS: dict[tuple[Any, ...], tuple[LoadedModel, list[Any]]] = {}


class CaptureTimeout(Exception):
    """The capture took longer than its deadline."""


@dataclasses.dataclass(frozen=True)
class JudgeOptions:
    """What every capture of a batch is replayed with (sent to the workers once per task)."""

    timeout: float | None = None
    params: tuple[tuple[str, str], ...] = ()
    max_candidates: int = DEFAULT_MAX_CANDIDATES


def warm_model(name: str, given: Mapping[str, Any]) -> tuple[LoadedModel, list[Any]]:
    """The model for (name, given) and its step functions, built once per process; the
    model instance is a fresh shallow copy for each call."""
    key = (name, tuple(sorted((k, repr(v)) for k, v in given.items())))
    hit = _MODELS.get(key)
    if hit is None:
        loaded = load_model(name, dict(given))
        hit = (loaded, step_functions(loaded, Layout.of(loaded)))
        if len(_MODELS) >= MODEL_LIMIT:
            _MODELS.clear()
        _MODELS[key] = hit
    loaded, steps = hit
    return dataclasses.replace(loaded, model=copy.copy(loaded.model)), steps


def _worker_name() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _header_meta(doc: Mapping[str, Any]) -> dict[str, str]:
    fleet = doc.get("fleet")
    if not isinstance(fleet, dict):
        return {}
    return {k: str(fleet[k]) for k in META_KEYS if isinstance(fleet.get(k), (str, int)) and not isinstance(fleet.get(k), bool)}


def _kind_of(exc: McheckError) -> str:
    text = str(exc)
    return KIND_UNKNOWN_PROFILE if "not a built-in profile" in text else KIND_CORRUPT


def replay_capture(path: str, options: JudgeOptions, seen: dict[str, Any]) -> ReplayOutcome:
    """Replay one capture with warm models under the options' deadline. `seen` receives the
    trace header (`header`) and the first event's timestamp (`first_t`) as they are read.
    Raises InputError (bad capture), CaptureTimeout or OSError."""
    start = time.monotonic()
    deadline = start + options.timeout if options.timeout else None
    trace = open_trace(path)
    seen["header"] = trace.header
    name, given = model_choice(trace.header, None, dict(options.params))
    loaded, steps = warm_model(name, given)

    def timed(events: Iterator[Any]) -> Iterator[Any]:
        n = 0
        for event in events:
            if n == 0:
                seen["first_t"] = event.timestamp
            n += 1
            if deadline is not None and n % CHECK_EVERY == 0 and time.monotonic() > deadline:
                raise CaptureTimeout(f"over the {options.timeout:g} s limit after {n:,} events (--timeout)")
            yield event

    return replay_events(loaded, timed(iter(trace.events)), max_candidates=options.max_candidates,
                         source=path, steps=steps)


def judge(path: str, meta: Mapping[str, str], digest: str, options: JudgeOptions) -> dict[str, Any]:
    """One results-table row for the capture at `path` (never raises for bad input)."""
    start = time.monotonic()
    seen: dict[str, Any] = {}
    worker = _worker_name()

    def failed(kind: str, reason: str) -> dict[str, Any]:
        row = error_row(path, digest, meta, kind, reason, worker=worker)
        _fill_header(row, seen, meta)
        row["seconds"] = round(time.monotonic() - start, 6)
        return row

    try:
        outcome = replay_capture(path, options, seen)
    except CaptureTimeout as exc:
        return failed(KIND_TIMEOUT, f"timeout: {exc}")
    except McheckError as exc:
        return failed(_kind_of(exc), str(exc))
    except OSError as exc:
        return failed(KIND_UNREADABLE, f"{path}: {exc.strerror or exc}")
    except Exception as exc:  # a bug in mcheck or a model: reported on the row, the batch goes on
        return failed(KIND_INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
    result = outcome.result
    row = new_row(path, digest, meta, worker=worker)
    _fill_header(row, seen, meta)
    row.update(replay_verdict=result.verdict, events=outcome.events, model=result.model,
               seconds=round(time.monotonic() - start, 6))
    divergences = [v for v in result.violations if v.kind == "divergence"]
    if divergences:
        first = divergences[0]
        row.update(first_divergence=first.event_index, clauses=list(first.clauses),
                   suspected_bugs=list(dict.fromkeys(s["bug"] for s in result.coverage.get("suspects", [])
                                                     if s.get("divergence") == first.event_index)),
                   relaxations=[e["id"] for e in first.explained_by])
    if result.verdict == HOLDS:
        row["verdict"] = CONFORMING
    elif result.verdict == VIOLATED:
        row["verdict"] = DIVERGENT
    elif result.verdict == BOUNDED:
        row.update(verdict=ERROR, error_kind=KIND_BOUNDED,
                   reason=f"not judged: the candidate set exceeded {options.max_candidates:,} states "
                          f"(raise --max-candidates)")
    else:
        assert result.verdict == REPLAY_ERROR
        row.update(verdict=ERROR, error_kind=KIND_CORRUPT, reason=str(outcome.error))
    return row


def _fill_header(row: dict[str, Any], seen: Mapping[str, Any], meta: Mapping[str, str]) -> None:
    header = seen.get("header")
    if header is not None:
        row["profile"] = header.profile
        for key, value in _header_meta(header.doc).items():
            if key not in meta:
                row[key] = value
    if "first_t" in seen:
        row["timestamp"] = seen["first_t"]


def capture_report(path: str, options: JudgeOptions) -> str:
    """The capture's own HTML report (mcheck.report.html), as text: the client writes it,
    so a remote cluster needs no access to the output directory."""
    from mcheck.report.html import render_html, report_data
    try:
        outcome = replay_capture(path, options, {})
    except (McheckError, OSError, CaptureTimeout) as exc:
        raise InputError(f"{path}: {exc}") from None
    return render_html(report_data(outcome.result, source=path))


def warm(paths: list[str], options: JudgeOptions | None = None) -> int:
    """Judge `paths` to build their models (and, for a divergent one, every catalogue bug's
    variant) in this process; the process id. `client.run(warm, paths)` warms every worker
    before a timed batch (benchmarks, tests)."""
    import os
    for path in paths:
        judge(path, {}, "warm-up", options or JudgeOptions())
    return os.getpid()
