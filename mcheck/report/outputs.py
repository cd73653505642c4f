"""The output step every verdict-producing command shares: --json, --quiet, --junit,
--sarif, --report.

`check`, `replay` (with or without --backend) and `conform` call `add_output_arguments`
on their parser, build one `Outputs` from the parsed options before any work (which
refuses paths that cannot be written), and hand their result to `emit` at the end; so the
commands write the same files the same way and none drops an option.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from mcheck.model.registry import BUILTIN
from mcheck.report.html import write_report
from mcheck.report.json_out import write_result
from mcheck.report.junit import write_junit
from mcheck.paths import check_output, check_output_dir
from mcheck.report.sarif import write_sarif
from mcheck.report.text import render
from mcheck.verdict import ERROR, Result


def add_output_arguments(parser: argparse.ArgumentParser, *, quiet_help: str = "print only the verdict line") -> None:
    group = parser.add_argument_group("outputs (docs/reports.md, docs/result-schema.md)")
    group.add_argument("--json", metavar="PATH", help="write the result as JSON (docs/result-schema.md: one schema "
                                                      "per kind); '-' for stdout, which then carries only the JSON")
    group.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    group.add_argument("--junit", metavar="FILE", help="write JUnit XML: one test case per property")
    group.add_argument("--sarif", metavar="FILE", help="write SARIF 2.1.0: one rule per clause, one result per violation")
    group.add_argument("--report", metavar="DIR", help="write a self-contained HTML report to DIR/index.html")


@dataclass(frozen=True)
class Outputs:
    """What the run writes and prints, taken from the options by `from_args`."""

    json: str | None = None
    junit: str | None = None
    sarif: str | None = None
    report: str | None = None
    quiet: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Outputs:
        """The output options, each path checked before the run: a result that cannot be
        written is lost work."""
        out = cls(json=args.json, junit=args.junit, sarif=args.sarif, report=args.report, quiet=args.quiet)
        check_output(out.junit, "--junit")
        check_output(out.sarif, "--sarif")
        check_output_dir(out.report, "--report")
        check_output(out.json, "--json", stdout=True)
        return out


def verdict_line(result: Result) -> str:
    """`verdict: VIOLATED`, with the reason when the run ended in an error."""
    reasons = [v.message for v in result.violations if v.kind.endswith("error")] if result.verdict == ERROR else []
    return f"verdict: {result.verdict.upper()}" + (f" ({reasons[0]})" if reasons else "")


def emit(result: Result, outputs: Outputs, source_path: str | None, *, graph: nx.MultiDiGraph | None = None,
         text: Callable[[Result, bool], str] | None = None) -> int:
    """Write every output asked for, print the text report (none when the JSON goes to
    stdout), return the run's exit code. `text(result, quiet)` renders the text report
    (default: `render`, or the verdict line alone with --quiet)."""
    if outputs.json:
        write_result(result, outputs.json)
    emit_outputs(outputs, result, source_path, graph=graph)
    if outputs.json != "-":
        if text is not None:
            print(text(result, outputs.quiet))
        else:
            print(verdict_line(result) if outputs.quiet else render(result))
    sys.stdout.flush()
    return result.exit_code


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


def emit_outputs(outputs: Outputs, result: Result, source_path: str | None, *,
                 graph: nx.MultiDiGraph | None = None) -> list[str]:
    """Write the JUnit, SARIF and HTML reports asked for; return the paths written.

    `source_path` is the model spec or the trace file (used as the SARIF artifact and in
    the report's summary); `graph`, the reachable graph when it was recorded, lets the HTML
    report draw the neighbours of the counterexample's states.
    """
    source = source_file(source_path)
    written = []
    if outputs.junit:
        write_junit(result, outputs.junit)
        written.append(outputs.junit)
    if outputs.sarif:
        write_sarif(result, outputs.sarif, source)
        written.append(outputs.sarif)
    if outputs.report:
        written.append(write_report(result, outputs.report, graph=graph, source=source or source_path))
    return written
