"""The device side's sub-command, `emulate`, and the standalone runner of sub-commands.

`register(sub)` is what mcheck.cli's COMMAND_MODULES calls; `main()` runs `emulate`
without the main CLI (`python -m mcheck.device emulate ...`), which tests and demos use to
start emulators as separate processes quickly (no model, no report stack).
`standalone(argv, register)` is the shared runner: one-line errors, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from mcheck.errors import McheckError


def register(sub: argparse._SubParsersAction) -> None:
    from mcheck.device import emulate
    p = sub.add_parser("emulate", help="run the software device (owner + members) on a socket")
    emulate.add_arguments(p)
    p.set_defaults(run=emulate.run_emulate)


def standalone(argv: list[str] | None, register_all: Callable[[argparse._SubParsersAction], None]) -> int:
    """Parse `argv` with the sub-commands `register_all` adds and run the chosen one."""
    parser = argparse.ArgumentParser(prog="mcheck")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register_all(sub)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
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


def main(argv: list[str] | None = None) -> int:
    return standalone(argv, register)
