"""`mcheck replay-batch SOURCES...` and `mcheck fleet-gen DIR` (docs/fleet.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable

from mcheck.errors import InputError
from mcheck.fleet.ci import write_junit_fleet, write_sarif_fleet
from mcheck.fleet.judge import JudgeOptions
from mcheck.fleet.report import write_fleet_report
from mcheck.fleet.sources import expand_sources
from mcheck.fleet.summary import representatives, set_report_links, summarise
from mcheck.fleet.table import JOURNAL, Journal, judged, write_table
from mcheck.model.params import parse_assignments
from mcheck.replay.engine import DEFAULT_MAX_CANDIDATES
from mcheck.paths import check_output_dir

DEFAULT_OUT = "fleet-results"
DEFAULT_TIMEOUT = 600.0


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay-batch", help="replay many captures on a Dask cluster and write a fleet triage report")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="capture files, directories, glob patterns, or a .csv manifest (path,host,device_model,firmware,migration_id)")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="submit to this Dask scheduler (tcp://HOST:PORT); default: a local cluster, one process per CPU")
    p.add_argument("--workers", type=_positive(int), metavar="N", help="worker processes of the local cluster (default: CPUs)")
    p.add_argument("--out", metavar="DIR", help=f"output directory (default {DEFAULT_OUT}, or the --resume directory)")
    p.add_argument("--resume", metavar="DIR",
                   help="skip the captures (by content hash) an earlier run into DIR already judged")
    p.add_argument("--timeout", type=_positive(float), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"per capture: past it the capture is an error row (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter for every capture (the trace header's own win otherwise)")
    p.add_argument("--max-candidates", type=_positive(int), default=DEFAULT_MAX_CANDIDATES, metavar="N",
                   help=f"bound on the replay's candidate set (default {DEFAULT_MAX_CANDIDATES:,})")
    p.add_argument("--no-capture-reports", action="store_true",
                   help="do not render each group's representative capture report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the tally line")
    p.set_defaults(run=run_batch_command)

    g = sub.add_parser("fleet-gen", help="write a synthetic fleet of captures with ground truth (tests, benchmarks)")
    g.add_argument("out", metavar="DIR", help="where to write captures/, manifest.csv and ground-truth.json")
    g.add_argument("-n", "--count", type=_positive(int), default=1000, metavar="N", help="captures (default 1000)")
    g.add_argument("--firmware", action="append", metavar="MODEL@VERSION=BUG:W,...",
                   help="a simulated firmware version and its mix of catalogue bugs ('none': clean); repeatable, "
                        "captures are spread evenly over them (default: four versions of two device models)")
    g.add_argument("--corrupt", type=_fraction, default=0.01, metavar="F", help="share of corrupt files (default 0.01)")
    g.add_argument("--days", type=_positive(float), default=3.0, metavar="D", help="captures start within D days (default 3)")
    g.add_argument("--pcapng", type=_fraction, default=0.25, metavar="F", help="share written as pcapng (default 0.25)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--templates", metavar="DIR", help="mcheck's traces/ directory (default: the one next to the package)")
    g.set_defaults(run=run_fleet_gen)


def run_batch_command(args: argparse.Namespace) -> int:
    from mcheck.fleet.runner import BatchProgress, connect, representative_reports, run_batch
    out = args.out or args.resume or DEFAULT_OUT
    check_output_dir(out, "--out")
    done = judged(args.resume) if args.resume else {}
    captures = expand_sources(args.sources, exclude=out)
    params = tuple(parse_assignments(args.params).items())
    options = JudgeOptions(timeout=args.timeout, params=params, max_candidates=args.max_candidates)
    try:
        os.makedirs(out, exist_ok=True)
        if not args.resume or os.path.abspath(args.resume) != os.path.abspath(out):
            Path(out, JOURNAL).unlink(missing_ok=True)   # a fresh run starts a fresh journal
    except OSError as exc:
        raise InputError(f"--out {out}: {exc.strerror}") from None
    journal = Journal(out)
    cluster = connect(args.scheduler, args.workers)
    try:
        progress = BatchProgress(quiet=args.quiet)
        rows = run_batch(cluster, captures, options, journal, done_rows=done, progress=progress)
        write_table(out, rows)
        summary = summarise(rows)
        if not args.no_capture_reports:
            links = {}
            for path, page in representative_reports(cluster, representatives(summary), options):
                if page is None:
                    continue
                rel = os.path.join("captures", next(r["sha256"] for r in rows if r["path"] == path)[:16])
                os.makedirs(os.path.join(out, rel), exist_ok=True)
                with open(os.path.join(out, rel, "index.html"), "w", encoding="utf-8", errors="backslashreplace") as fh:
                    fh.write(page)
                links[path] = f"{rel}/index.html"
            set_report_links(summary, links)
    finally:
        journal.close()
        cluster.close()
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1, default=str)
        fh.write("\n")
    report = write_fleet_report(summary, out)
    write_junit_fleet(summary, os.path.join(out, "junit.xml"))
    write_sarif_fleet(summary, os.path.join(out, "fleet.sarif"))
    t = summary["tally"]
    skipped = sum(1 for r in rows if r["sha256"] in done)
    print(f"{summary['inputs']:,} captures: {t['conforming']:,} conforming, {t['divergent']:,} divergent, "
          f"{t['error']:,} error" + (f" ({skipped:,} judged before, --resume)" if skipped else ""))
    if not args.quiet:
        for g in summary["by_bug"][:10]:
            print(f"  divergent, {g['bug']}: {g['captures']:,}")
        for g in summary["errors"]:
            print(f"  error, {g['kind']}: {g['captures']:,}")
        print(f"report: {report}; table: {os.path.join(out, 'results.jsonl')}")
    sys.stdout.flush()
    return 0 if t["divergent"] == 0 and t["error"] == 0 else 1


def run_fleet_gen(args: argparse.Namespace) -> int:
    from mcheck.fleet.gen import DEFAULT_FIRMWARE, Templates, default_templates, generate, parse_firmware
    templates = Templates.load(Path(args.templates) if args.templates else default_templates())
    known = set(templates.faulty)
    firmware = [parse_firmware(spec, known) for spec in (args.firmware or DEFAULT_FIRMWARE)]
    truth = generate(Path(args.out), args.count, firmware, corrupt=args.corrupt, days=args.days, pcapng=args.pcapng,
                     seed=args.seed, templates=templates)
    counts = {"conforming": 0, "divergent": 0, "error": 0}
    for c in truth["captures"]:
        counts[c["expected"]] += 1
    print(f"{truth['count']:,} captures in {args.out}/captures: {counts['conforming']:,} clean, "
          f"{counts['divergent']:,} with a bug, {counts['error']:,} corrupt; ground truth {args.out}/ground-truth.json")
    return 0
