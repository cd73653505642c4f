"""Sub-commands of the conformance side: gen-tests, conform, migrate-demo.

`register(sub)` is what mcheck.cli's COMMAND_MODULES calls; `main()` runs the same
commands standalone (`python -m mcheck.conformance ...`), together with the device's
`emulate` and `replay` (with `--backend`).
"""

from __future__ import annotations

import argparse

from mcheck.device import cli as device_cli


def register(sub: argparse._SubParsersAction) -> None:
    from mcheck.conformance import conform, migrate
    conform.register(sub)
    migrate.register(sub)


def _register_standalone(sub: argparse._SubParsersAction) -> None:
    from mcheck.conformance import replay_command
    device_cli.register(sub)
    register(sub)
    replay_command.register(sub)


def main(argv: list[str] | None = None) -> int:
    return device_cli.standalone(argv, _register_standalone)
