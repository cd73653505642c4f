"""The Linux reference traces describe the emulator's device with the Linux relaxations
(T1a, T1b): each one replays clean to an emulator started in the documented configuration
(traces/README.md, docs/replay.md), and against the model with the same preset:

    mcheck emulate --listen unix:S --members 1 --queues 2 --objects 4 --compat linux
    mcheck replay traces/linux/X.jsonl -p compat=linux -p objects=4 --backend emulator:unix:S  -> exit 0
    mcheck replay traces/linux/X.jsonl -p compat=linux -p objects=4                            -> exit 0
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.device.spawn import start_emulator, stop_emulator

TRACES = Path(__file__).resolve().parents[2] / "traces"
REFERENCE = sorted(TRACES.glob("linux/*.jsonl"))
# the documented configuration (traces/make_flows.py EMULATOR)
CONFIG = {"members": 1, "queues": 2, "objects": 4}


def test_generator_describes_the_documented_configuration() -> None:
    spec = importlib.util.spec_from_file_location("make_flows", TRACES / "make_flows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.EMULATOR == CONFIG


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    """ONE emulator process in the documented configuration, shared by every trace."""
    sock = tmp_path_factory.mktemp("refemu") / "dev.sock"
    proc = start_emulator(sock, members=CONFIG["members"],
                          extra=["--queues", str(CONFIG["queues"]), "--objects", str(CONFIG["objects"]),
                                 "--compat", "linux"])
    yield f"emulator:unix:{sock}"
    stop_emulator(proc)


def test_there_are_reference_traces() -> None:
    assert len(REFERENCE) >= 8


@pytest.mark.parametrize("trace", REFERENCE, ids=lambda p: p.stem)
def test_reference_trace_replays_clean_to_the_emulator(trace: Path, device: str, capsys) -> None:
    code = main(["replay", str(trace), "-p", "compat=linux", "-p", f"objects={CONFIG['objects']}", "--backend", device])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err


@pytest.mark.parametrize("trace", REFERENCE, ids=lambda p: p.stem)
def test_reference_trace_replays_clean_against_the_linux_preset(trace: Path, capsys) -> None:
    code = main(["replay", str(trace), "-p", "compat=linux", "-p", f"objects={CONFIG['objects']}"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
