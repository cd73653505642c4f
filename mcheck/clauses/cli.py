"""`mcheck clauses MODEL`: which catalogue clauses the model encodes, where, and what kills them."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from mcheck.clauses.analysis import (
    SCHEMA, NOT_ENCODED, OUT_OF_SCOPE, build_rows, default_trace_dirs, find_captures, row_json, run_bugs,
    run_captures, show_path, summary, summary_line,
)
from mcheck.model.catalogue import model_catalogue
from mcheck.errors import InputError
from mcheck.paths import check_output
from mcheck.model.build import build_model
from mcheck.model.params import parse_assignments
from mcheck.model.registry import BUILTIN, find_model_class

DEFAULT_BUDGET = 10.0
SHOWN_SITES = 2
SHOWN_KILLERS = 3


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clauses", help="clause coverage: where each catalogue clause is encoded and which bug kills it")
    p.add_argument("model", metavar="MODEL", help=f"built-in model ({', '.join(sorted(BUILTIN))}) or path to a model file")
    p.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter, repeatable; bug runs also use it (members defaults to its lower bound there)")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON (docs/result-schema.md, 'clauses'); '-' for stdout")
    p.add_argument("--traces", nargs="+", metavar="DIR",
                   help="directories of captures to replay for capture kills "
                        "(default: traces/faulty, traces/spec, traces/migration and traces/draft of the source tree, where present)")
    p.add_argument("--budget", type=_seconds, default=DEFAULT_BUDGET, metavar="S",
                   help=f"seconds shared by the bug runs, and as many for the capture replays: a bug not killed "
                        f"within its share kills nothing, captures left when the time is spent are skipped "
                        f"(default {DEFAULT_BUDGET:g})")
    p.set_defaults(run=run_clauses)


def clause_report(spec: str, given: dict[str, Any], trace_dirs: list[Path] | None, budget: float) -> dict[str, Any]:
    """Everything `mcheck clauses` shows, as the JSON document of docs/result-schema.md."""
    start = time.monotonic()
    cls = find_model_class(spec)
    catalogue = model_catalogue(cls)
    if catalogue is None:
        raise InputError(f"model {cls.name or spec} has no clause catalogue: set clause_catalogue in the model class "
                         f"or add clauses/{cls.name or cls.__name__}.toml next to its file (docs/model-guide.md)")
    model = build_model(cls, given)
    bug_runs = run_bugs(cls, given, budget) if cls.bugs else []
    dirs = default_trace_dirs() if trace_dirs is None else trace_dirs
    capture_runs = run_captures(spec, cls, find_captures(dirs), budget) if dirs else []
    rows, errors = build_rows(model, catalogue, bug_runs, capture_runs)
    notes = [f"bug {r.bug}: no violation within its share of --budget ({r.verdict})"
             for r in bug_runs if r.verdict != "violated"]
    notes += [f"capture {c.name} skipped: {c.note}" for c in capture_runs if c.verdict == "skipped"]
    return {
        "schema": SCHEMA,
        "model": model.name,
        "params": model.params.as_dict(),
        "catalogue": {"name": catalogue.name, "path": show_path(str(catalogue.path)), "title": catalogue.title,
                      "related": sorted({c.catalogue for c in catalogue.related.values()})},
        "clauses": [row_json(r) for r in rows],
        "errors": errors,
        "bugs": [{"bug": r.bug, "params": r.params, "verdict": r.verdict, "violated": r.violated,
                  "clauses": r.clauses, "seconds": r.seconds} for r in bug_runs],
        "captures": [{"capture": c.name, "path": show_path(c.path), "verdict": c.verdict, "clauses": c.clauses,
                      "note": c.note or None} for c in capture_runs],
        "trace_dirs": [show_path(str(d)) for d in dirs],
        "summary": {"device_must": summary(rows, catalogue), "clauses": len(rows)},
        "notes": notes,
        "seconds": round(time.monotonic() - start, 3),
    }


def _status_text(row: dict[str, Any]) -> str:
    if row["status"] == OUT_OF_SCOPE:
        return f"out-of-scope({row['reason']})"
    if row["status"] == NOT_ENCODED:
        return "NOT ENCODED"
    return row["status"]


def _where_text(row: dict[str, Any]) -> str:
    sites = row["encoded"]
    shown = ", ".join(f"{s['kind']} {Path(s['file']).name}:{s['line']}" for s in sites[:SHOWN_SITES])
    return shown + (f" (+{len(sites) - SHOWN_SITES}, {len(sites)} places)" if len(sites) > SHOWN_SITES else "") or "-"


def _killers_text(row: dict[str, Any]) -> str:
    names = row["killed_by"]["bugs"] + row["killed_by"]["captures"]
    shown = ", ".join(names[:SHOWN_KILLERS])
    return shown + (f" (+{len(names) - SHOWN_KILLERS})" if len(names) > SHOWN_KILLERS else "") or "-"


def render_table(report: dict[str, Any]) -> str:
    head = ("clause", "strength", "side", "encoded at", "killed by", "status")
    body = [(r["clause"], r["strength"] or "?", r["side"] or "?", _where_text(r), _killers_text(r), _status_text(r))
            for r in report["clauses"]]
    widths = [max(len(head[k]), *(len(row[k]) for row in body)) if body else len(head[k]) for k in range(len(head) - 1)]
    lines = [f"clauses of {report['model']} against catalogue {report['catalogue']['name']} "
             f"({report['catalogue']['path']})"]
    for row in [head, *body]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    lines.append("")
    killed = sum(1 for b in report["bugs"] if b["verdict"] == "violated")
    diverged = sum(1 for c in report["captures"] if c["verdict"] == "violated")
    lines.append(f"bugs: {killed} of {len(report['bugs'])} violate a property; captures: {diverged} of "
                 f"{len(report['captures'])} diverge (from {', '.join(report['trace_dirs']) or 'no trace directory'})")
    lines.extend(f"note: {n}" for n in report["notes"])
    lines.extend(f"error: {e['message']}" for e in report["errors"])
    lines.append(summary_line(report["summary"]["device_must"]))
    return "\n".join(lines)


def run_clauses(args: argparse.Namespace) -> int:
    check_output(args.json, "--json", stdout=True)
    dirs = [Path(d) for d in args.traces] if args.traces else None
    report = clause_report(args.model, parse_assignments(args.params), dirs, args.budget)
    if args.json:
        text = json.dumps(report, indent=2, default=str)
        if args.json == "-":
            print(text)
            return 0
        try:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--json {args.json}: cannot write: {exc.strerror}") from None
    print(render_table(report))
    return 0
