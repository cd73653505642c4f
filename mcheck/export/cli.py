"""`mcheck export MODEL [-p KEY=VALUE]... --promela FILE [--spin]`."""

from __future__ import annotations

import argparse

from mcheck.errors import InputError
from mcheck.paths import check_output
from mcheck.engines.cli import add_model_arguments
from mcheck.model.params import parse_assignments
from mcheck.model.registry import load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a model in another checker's language (Promela for SPIN)",
                       description="Write the model, for the given parameters, as Promela. SPIN then stores "
                                   "exactly the states mcheck stores; see docs/spin.md.")
    add_model_arguments(p)
    p.add_argument("--promela", metavar="FILE", required=True, help="write the model as Promela to FILE ('-' for stdout)")
    p.add_argument("--spin", action="store_true",
                   help="also run SPIN on the export (exhaustive BFS, no reduction) and print its states and violations")
    p.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from mcheck.export.promela import to_promela

    check_output(args.promela, "--promela", stdout=True)
    model = load_model(args.model, parse_assignments(args.params))
    export = to_promela(model)
    if args.promela == "-":
        print(export.text, end="")
    else:
        try:
            with open(args.promela, "w", encoding="utf-8") as f:
                f.write(export.text)
        except OSError as exc:
            raise InputError(f"cannot write {args.promela}: {exc.strerror}") from None
        note = f"; sometimes goals not exported: {', '.join(export.skipped)}" if export.skipped else ""
        print(f"wrote {args.promela}: {len(model.slots)} state variables, {len(model.actions)} actions, "
              f"{len(export.prop_markers) - 1} safety properties + deadlock check{note}")
    if not args.spin:
        return 0
    from mcheck.export.spin import run_spin

    res = run_spin(export)
    out = print if args.promela != "-" else (lambda *a: None)
    out(f"SPIN: {res.states:,} states stored, {res.transitions:,} transitions, errors: {res.errors:,} "
        f"(compile {res.compile_seconds:.2f} s, search {res.run_seconds:.2f} s, pan peak RSS {res.peak_rss_kb / 1024:.1f} MB)")
    for name in sorted(res.violated):
        out(f"  violated: {name}")
    for text in res.other_errors:
        out(f"  error: {text}")
    return 1 if (res.violated or res.other_errors) else 0
