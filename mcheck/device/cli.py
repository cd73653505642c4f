"""Sub-commands of the device side: emulate, gen-tests, conform, migrate-demo.

`register(sub)` is what mcheck.cli's COMMAND_MODULES calls; `main()` runs the same
commands standalone (`python -m mcheck.device ...`), which tests and demos use to start
emulators as separate processes.
"""

from __future__ import annotations

import argparse
import os
import sys

from mcheck.errors import McheckError


def register(sub: argparse._SubParsersAction, *, only_emulate: bool = False) -> None:
    from mcheck.device import emulate
    p = sub.add_parser("emulate", help="run the software device (owner + members) on a socket")
    emulate.add_arguments(p)
    p.set_defaults(run=emulate.run_emulate)
    if only_emulate:
        return
    try:
        from mcheck.device import conform
    except ImportError:  # pragma: no cover - during development
        return
    conform.register(sub)
    try:
        from mcheck.device import migrate
    except ImportError:  # pragma: no cover
        return
    migrate.register(sub)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcheck")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    argv = sys.argv[1:] if argv is None else argv
    quick = bool(argv) and argv[0] == "emulate"      # an emulator process starts without the report stack
    register(sub, only_emulate=quick)
    if not quick:
        from mcheck.device import replay_backend
        replay_backend.register_standalone(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except McheckError as exc:
        print(f"mcheck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("MCHECK_DEBUG"):
            raise
        print(f"mcheck: internal error: {type(exc).__name__}: {exc} (set MCHECK_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
