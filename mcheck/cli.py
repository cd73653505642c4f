"""The `mcheck` command line: one sub-command per job.

Each sub-command lives in the module that does the job and exposes
`register(subparsers)`, which adds its parser and sets `run=<function(args) -> int>`.
This module only assembles them and turns `McheckError` into one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from mcheck import __version__
from mcheck.errors import McheckError

# Modules that contribute sub-commands, in the order they appear in --help.
COMMAND_MODULES = (
    "mcheck.engines.cli",
    "mcheck.witness.cli",
    "mcheck.trace.cli",
    "mcheck.conformance.replay_command",   # mcheck.replay.cli's `replay` plus the device --backend
    "mcheck.fleet.cli",
    "mcheck.device.cli",
    "mcheck.conformance.cli",
    "mcheck.export.cli",
    "mcheck.report.cli",
    "mcheck.clauses.cli",
)

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (argparse's own default is also 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mcheck", description="Model checker and trace replayer for device live-migration protocols.")
    parser.add_argument("--version", action="version", version=f"mcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except McheckError as exc:
        print(f"mcheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a traceback shown to a user is a bug: one line, and a way to see it
        if isinstance(exc, OSError) and exc.filename is not None:
            # a file the command could not open, read or write: the file and the reason
            print(f"mcheck: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        if os.environ.get("MCHECK_DEBUG"):
            raise
        print(f"mcheck: internal error: {type(exc).__name__}: {exc} (set MCHECK_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
