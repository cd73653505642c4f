"""Clause coverage of a model: where each catalogue clause is encoded and what kills it.

*Encoded*: a guard, an outcome (a guard a helper states for the model), a cite or a
property names the clause (`Site`s recorded at model-load time). *Killed*: a catalogue
bug makes the explicit checker violate a property that cites the clause, or a capture
diverges from the model at an event whose divergence cites it. Clauses encoded only in
guards (validation order, answers) are typically killed by captures, not by properties.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from mcheck.model.catalogue import Catalogue, Clause
from mcheck.errors import InputError, McheckError
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.build import LoadedModel, build_model
from mcheck.model.definition import Model, Site
from mcheck.verdict import VIOLATED, Result

SCHEMA = "mcheck-clauses/1"
ENCODED_KILLED = "encoded+killed"
ENCODED_NOT_KILLED = "encoded-not-killed"
OUT_OF_SCOPE = "out-of-scope"
NOT_ENCODED = "not-encoded"
TRACE_SUFFIXES = (".jsonl", ".pcapng")


@dataclass(kw_only=True)
class BugRun:
    bug: str
    params: dict[str, Any]
    verdict: str
    violated: list[str]      # property names
    clauses: list[str]       # clauses those properties cite
    seconds: float


@dataclass(kw_only=True)
class CaptureRun:
    name: str
    path: str
    verdict: str             # the replay verdict, or "skipped"
    clauses: list[str]       # clauses the divergences cite
    note: str = ""


@dataclass(kw_only=True)
class Row:
    clause: str
    info: Clause | None      # None: not in the catalogue (see `errors`)
    sites: list[Site]
    bugs: list[str] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.sites:
            return ENCODED_KILLED if (self.bugs or self.captures) else ENCODED_NOT_KILLED
        if self.info is not None and self.info.scope == "out":
            return OUT_OF_SCOPE
        return NOT_ENCODED


def natural(clause: str) -> list[Any]:
    """D-DP-2 before D-DP-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", clause)]


def clause_sites(model: LoadedModel) -> dict[str, list[Site]]:
    """Clause -> distinct places the model states it, guards and cites first, then properties."""
    out: dict[str, dict[Site, None]] = {}
    for act in model.actions:
        for clause, sites in act.sites.items():
            bucket = out.setdefault(clause, {})
            for site in sites:
                bucket[site] = None
    for prop in model.properties:
        for clause in prop.clauses:
            bucket = out.setdefault(clause, {})
            if prop.site is not None:
                bucket[prop.site] = None
    return {c: sorted(s, key=lambda x: (x.kind == "property", x.file, x.line)) for c, s in out.items()}


def encoded_clauses(model: LoadedModel) -> set[str]:
    """Every clause an action instance or a property names (also those without a site)."""
    return {c for a in model.actions for c in a.clauses} | {c for p in model.properties for c in p.clauses}


# --------------------------------------------------------------------------- bugs


def small_params(cls: type[Model], given: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters bug runs use: the user's, with `members` (the models' size parameter
    for replicated devices) at its lower bound unless given."""
    params = dict(given)
    for p in cls.declared_params():
        if p.name == "members" and p.name not in params and p.lo is not None:
            params["members"] = max(p.lo, 1)
    return params


def run_bugs(cls: type[Model], given: Mapping[str, Any], budget: float) -> list[BugRun]:
    """Check every catalogue bug with the explicit engine; `budget` seconds are shared out
    evenly, so one slow bug cannot starve the rest."""
    runs: list[BugRun] = []
    bugs = list(cls.bugs)
    deadline = time.monotonic() + budget
    for k, bug in enumerate(bugs):
        params = {**small_params(cls, given), "bug": bug}
        share = max((deadline - time.monotonic()) / (len(bugs) - k), 0.5)
        start = time.monotonic()
        model = build_model(cls, params)
        result, _ = check(model, Bounds(timeout=share))
        violated = [v.property for v in result.violations]
        cites = {p.name: p.clauses for p in model.properties}
        clauses = sorted({c for name in violated for c in cites.get(name, ())}, key=natural)
        runs.append(BugRun(bug=bug, params=model.params.as_dict(), verdict=result.verdict, violated=violated,
                           clauses=clauses, seconds=round(time.monotonic() - start, 3)))
    return runs


# --------------------------------------------------------------------------- captures


def default_trace_dirs() -> list[Path]:
    """traces/faulty, traces/spec, traces/migration and traces/draft of the source tree mcheck runs from, where present."""
    root = Path(__file__).resolve().parents[2] / "traces"
    return [d for d in (root / "faulty", root / "spec", root / "migration", root / "draft") if d.is_dir()]


def _judged_by(header: Any, cls: type[Model]) -> bool:
    """A capture is this model's when its header's `expect.model` names it, or, without one,
    when the model is the built-in model of the capture's profile (a pair capture and a
    single-member capture share the virtio-1.4 profile)."""
    from mcheck.replay import MODEL_FOR_PROFILE
    if cls.profile is None or header.profile != cls.profile:
        return False
    expect = header.doc.get("expect") if isinstance(getattr(header, "doc", None), dict) else None
    named = expect.get("model") if isinstance(expect, dict) else None
    return named == cls.name if named else MODEL_FOR_PROFILE.get(header.profile) == cls.name


def find_captures(dirs: Iterable[Path]) -> list[tuple[str, Path]]:
    """(name, path) of every capture under `dirs`; a .jsonl and a .pcapng of the same
    capture count once (the .jsonl). The name is the path below the directory's parent."""
    found: dict[str, Path] = {}
    for d in dirs:
        if not d.is_dir():
            raise InputError(f"--traces {d}: not a directory")
        for path in sorted(d.rglob("*")):
            if path.suffix not in TRACE_SUFFIXES or not path.is_file():
                continue
            name = path.relative_to(d.parent).with_suffix("").as_posix()
            if name not in found or path.suffix == ".jsonl":
                found[name] = path
    return sorted(found.items())


def _manifest_params(path: Path, name: str) -> dict[str, Any]:
    """Model parameters a capture needs, from a manifest.json in its directory or above it
    (the format of traces/manifest.json: group -> capture name -> {"params": {...}})."""
    for d in (path.parent, path.parent.parent):
        manifest = d / "manifest.json"
        if not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        key = path.relative_to(d).with_suffix("").as_posix()
        for group in data.values() if isinstance(data, dict) else ():
            entry = group.get(key) if isinstance(group, dict) else None
            if isinstance(entry, dict) and isinstance(entry.get("params"), dict):
                return dict(entry["params"])
    return {}


def run_captures(spec: str, cls: type[Model], captures: list[tuple[str, Path]], budget: float) -> list[CaptureRun]:
    """Replay each capture of the model's wire profile; record what its divergence cites.
    A replay cannot be cut short (explaining a divergence tries every catalogue bug), so
    once `budget` seconds are spent the remaining captures are skipped with a note."""
    from mcheck.replay import model_for_trace, open_trace
    from mcheck.replay.engine import replay_events

    runs: list[CaptureRun] = []
    models: dict[str, LoadedModel] = {}
    deadline = time.monotonic() + budget
    for name, path in captures:
        if time.monotonic() > deadline:
            runs.append(CaptureRun(name=name, path=str(path), verdict="skipped", clauses=[],
                                   note=f"--budget {budget:g} s spent before its replay"))
            continue
        try:
            trace = open_trace(path)
            if not _judged_by(trace.header, cls):
                continue
            params = _manifest_params(path, name)
            key = json.dumps([trace.header.members, trace.header.queues, trace.header.params, params],
                             sort_keys=True, default=str)   # header params too: they set up the model
            if key not in models:
                models[key] = model_for_trace(trace.header, spec, params)
            result: Result = replay_events(models[key], trace.events, source=str(path)).result
        except McheckError as exc:
            runs.append(CaptureRun(name=name, path=str(path), verdict="skipped", clauses=[], note=str(exc)))
            continue
        clauses = sorted({c for v in result.violations if v.kind == "divergence" for c in v.clauses}, key=natural)
        runs.append(CaptureRun(name=name, path=str(path), verdict=result.verdict,
                               clauses=clauses if result.verdict == VIOLATED else [], note=""))
    return runs


# --------------------------------------------------------------------------- the table


def build_rows(model: LoadedModel, catalogue: Catalogue | None, bug_runs: list[BugRun],
               capture_runs: list[CaptureRun]) -> tuple[list[Row], list[dict[str, Any]]]:
    """Rows: every clause of the catalogue in file order, then cited clauses known only
    through a related catalogue or unknown. Errors: one per unknown clause and place."""
    sites = clause_sites(model)
    cited = encoded_clauses(model)
    rows: dict[str, Row] = {}
    if catalogue is not None:
        for cid, info in catalogue.clauses.items():
            rows[cid] = Row(clause=cid, info=info, sites=sites.get(cid, []))
    errors: list[dict[str, Any]] = []
    for cid in sorted(cited - set(rows), key=natural):
        known = catalogue.lookup(cid) if catalogue is not None else None
        rows[cid] = Row(clause=cid, info=known, sites=sites.get(cid, []))
        if known is None and catalogue is not None:
            places: list[Site | None] = [*sites.get(cid, [])] or [None]
            for site in places:
                where = f" at {show_path(site.file)}:{site.line}" if site else ""
                errors.append({"clause": cid, "file": site.file if site else None, "line": site.line if site else None,
                               "message": f"unknown clause {cid}{where}"})
    for run in bug_runs:
        for cid in run.clauses:
            if cid in rows:
                rows[cid].bugs.append(run.bug)
    for cap in capture_runs:
        for cid in cap.clauses:
            if cid in rows:
                rows[cid].captures.append(cap.name)
    return list(rows.values()), errors


def is_device_must(row: Row) -> bool:
    return row.info is not None and row.info.side == "device" and row.info.strength in ("MUST", "MUST NOT")


def summary(rows: list[Row], catalogue: Catalogue | None) -> dict[str, int]:
    """Counts over the device-side MUST / MUST NOT clauses of the model's own catalogue."""
    own = [r for r in rows if is_device_must(r) and catalogue is not None
           and r.info is not None and r.info.catalogue == catalogue.name]
    counts = {ENCODED_KILLED: 0, ENCODED_NOT_KILLED: 0, OUT_OF_SCOPE: 0, NOT_ENCODED: 0}
    for r in own:
        counts[r.status] += 1
    return {"encoded_killed": counts[ENCODED_KILLED], "encoded_not_killed": counts[ENCODED_NOT_KILLED],
            "out_of_scope": counts[OUT_OF_SCOPE], "not_encoded": counts[NOT_ENCODED]}


def summary_line(counts: Mapping[str, int]) -> str:
    return (f"device-side MUST clauses: {counts['encoded_killed']} encoded and killed, "
            f"{counts['encoded_not_killed']} encoded not killed, {counts['out_of_scope']} out of scope, "
            f"{counts['not_encoded']} not encoded")


def show_path(path: str) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def row_json(row: Row) -> dict[str, Any]:
    info = row.info
    return {"clause": row.clause, "catalogue": info.catalogue if info else None,
            "strength": info.strength if info else None, "side": info.side if info else None,
            "summary": info.summary if info else None, "scope": info.scope if info else None,
            "reason": (info.reason or None) if info else None,
            "encoded": [{"kind": s.kind, "file": show_path(s.file), "line": s.line} for s in row.sites],
            "killed_by": {"bugs": list(row.bugs), "captures": list(row.captures)},
            "status": row.status}
