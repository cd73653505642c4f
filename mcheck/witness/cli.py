"""`mcheck witness MODEL [-p k=v]... [--property P] --trace F / --suite DIR / --itf F`."""

from __future__ import annotations

import argparse
from typing import Any

from mcheck.errors import InputError
from mcheck.model.params import parse_assignments
from mcheck.model.registry import load_model
from mcheck.paths import check_output, check_output_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("witness", help="write the shortest counterexample as a trace, a conformance test and ITF",
                       description="Search MODEL for its shortest violation (explicit engine, breadth first) and "
                                   "write it as replayable data (docs/witness.md).",
                       epilog="A model file is Python code, run with your permissions (docs/model-guide.md).")
    from mcheck.engines.cli import add_model_arguments
    add_model_arguments(p)
    p.add_argument("--property", metavar="NAME", help="the property whose violation to write (default: the shortest "
                                                      "violation of any invariant, transition property or deadlock)")
    p.add_argument("--max-depth", type=int, metavar="N", help="do not search beyond depth N")
    p.add_argument("--timeout", type=float, metavar="S", help="stop each search round after S seconds")
    p.add_argument("--trace", metavar="FILE", help="the capture (.jsonl or .pcapng) for mcheck replay; its header "
                                                   "names the model without the bug")
    p.add_argument("--suite", metavar="DIR", help="a one-test conformance suite for mcheck conform")
    p.add_argument("--itf", metavar="FILE", help="the path as Apalache ITF JSON (every state, every variable)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only what was written")
    p.set_defaults(run=run_witness)


def run_witness(args: argparse.Namespace) -> int:
    if not (args.trace or args.suite or args.itf):
        raise InputError("mcheck witness: nothing to write; give --trace FILE, --suite DIR and/or --itf FILE")
    if args.max_depth is not None and args.max_depth < 1:
        raise InputError(f"--max-depth {args.max_depth}: must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise InputError(f"--timeout {args.timeout}: must be positive")
    if args.trace:
        from mcheck.trace.io import trace_format
        trace_format(args.trace)
        check_output(args.trace, "--trace")
    check_output(args.itf, "--itf")
    check_output_dir(args.suite, "--suite")
    from mcheck.witness import capture, itf, search, suite
    model = load_model(args.model, parse_assignments(args.params))
    correct = search.correct_model(model, args.model)
    shows = capture.divergence_judge(correct) if args.trace or args.suite else None
    cx = search.find(model, args.model, prop=args.property, max_depth=args.max_depth, timeout=args.timeout,
                     shows=shows)
    if not args.quiet:
        print(describe(cx))
    if args.trace:
        events, last = capture.capture(cx)
        at = capture.CorrectReplay(cx.correct).first_divergence(events)
        expect = expectation(cx, at, last)
        count = capture.write_capture(cx, args.trace, expect)
        print(f"trace: {args.trace} ({count} events; mcheck replay: "
              + (f"divergence at event {at}, step {expect['divergence_step']})" if at is not None else
                 "no divergence: no event of the path shows the bug)"))
    if args.suite:
        path = suite.write_suite(cx, args.suite)
        print(f"suite: {path} (1 test: mcheck conform {args.suite} --backend ...)")
    if args.itf:
        itf.write_itf(cx, args.itf)
        print(f"itf: {args.itf} ({len(cx.actions) + 1} states)")
    return 0


def expectation(cx: Any, at: int | None, last: list[int]) -> dict[str, Any]:
    """What `mcheck replay` of the capture shows (the header's `expect`)."""
    v = cx.violation
    out: dict[str, Any] = {"property": v.property, "clauses": list(v.clauses), "violation_step": len(v.witness.steps)}
    if cx.bug:
        out["bug"] = cx.bug
        out["departure_step"] = None if cx.departure is None else cx.departure + 1
    if at is None:
        out["verdict"] = "holds"
    else:
        out.update(verdict="violated", divergence_event=at,
                   divergence_step=next(i for i, e in enumerate(last, 1) if at <= e))
    return out


def describe(cx: Any) -> str:
    """The counterexample as numbered steps with the changed fields (like `mcheck check`)."""
    v = cx.violation
    lines = [f"{cx.model.name}: {v.message} [{', '.join(v.clauses)}]"]
    w = cx.full_witness()
    for s in w.steps:
        mark = ""
        if cx.departure is not None and s.number == cx.departure + 1:
            mark = f"   <- bug {cx.bug} acts here"
        if s.number == len(v.witness.steps) + 1:
            lines.append("  then, so that a capture shows the bug:")
        changes = ", ".join(f"{c.field}: {c.before} -> {c.after}" for c in s.changes)
        lines.append(f"  {s.number}. {s.label}{mark}" + (f"\n       {changes}" if changes else ""))
    return "\n".join(lines)
