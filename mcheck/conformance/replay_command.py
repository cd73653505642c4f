"""`mcheck replay`, registered above both mcheck.replay and the device side.

mcheck.replay replays a trace against the model and knows nothing of devices; this module
hands it the device branch (`--backend`, `--device-timeout`, mcheck.conformance.replay_backend)
so that one `replay` command serves both.
"""

from __future__ import annotations

import argparse

from mcheck.conformance.replay_backend import add_backend_argument, run_backend_replay
from mcheck.replay import cli as replay_cli
from mcheck.report.outputs import Outputs


class _DeviceReplay:
    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        add_backend_argument(p)

    def run(self, args: argparse.Namespace, outputs: Outputs) -> int:
        return run_backend_replay(args, outputs)


def register(sub: argparse._SubParsersAction) -> None:
    replay_cli.register(sub, device=_DeviceReplay())
