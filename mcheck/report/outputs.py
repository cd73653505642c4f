"""The report options every verdict-producing command shares: --junit, --sarif, --report.

`check`, `replay` and `conform` call `add_output_arguments` on their parser and
`emit_outputs` once they hold a `Result`, so the three commands write the same files the
same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import os

import networkx as nx

from mcheck.model.registry import BUILTIN
from mcheck.report.html import write_report
from mcheck.report.junit import write_junit
from mcheck.report.paths import check_output, check_output_dir
from mcheck.report.sarif import write_sarif
from mcheck.verdict import Result


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reports (docs/reports.md)")
    group.add_argument("--junit", metavar="FILE", help="write JUnit XML: one test case per property")
    group.add_argument("--sarif", metavar="FILE", help="write SARIF 2.1.0: one rule per clause, one result per violation")
    group.add_argument("--report", metavar="DIR", help="write a self-contained HTML report to DIR/index.html")


def check_output_arguments(args: argparse.Namespace) -> None:
    """Refuse --junit, --sarif and --report paths that cannot be written, before the run."""
    check_output(getattr(args, "junit", None), "--junit")
    check_output(getattr(args, "sarif", None), "--sarif")
    check_output_dir(getattr(args, "report", None), "--report")
    if getattr(args, "json", None) is not None:
        check_output(args.json, "--json", stdout=True)


def source_file(spec: str | None) -> str | None:
    """The file behind a model spec or trace path: a built-in model name becomes its module's file."""
    if not spec:
        return None
    if os.path.isfile(spec):
        return spec
    if spec in BUILTIN:
        found = importlib.util.find_spec(BUILTIN[spec].partition(":")[0])
        if found is not None and found.origin:
            return os.path.relpath(found.origin) if found.origin.startswith(os.getcwd() + os.sep) else found.origin
    return None


def emit_outputs(args: argparse.Namespace, result: Result, source_path: str | None, *,
                 graph: nx.MultiDiGraph | None = None) -> list[str]:
    """Write every report the options ask for; return the paths written.

    `source_path` is the model spec or the trace file (used as the SARIF artifact and in
    the report's summary); `graph`, the reachable graph when it was recorded, lets the HTML
    report draw the neighbours of the counterexample's states.
    """
    source = source_file(source_path)
    written = []
    if getattr(args, "junit", None):
        write_junit(result, args.junit)
        written.append(args.junit)
    if getattr(args, "sarif", None):
        write_sarif(result, args.sarif, source)
        written.append(args.sarif)
    if getattr(args, "report", None):
        written.append(write_report(result, args.report, graph=graph, source=source or source_path))
    return written
