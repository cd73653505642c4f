"""The emulator's capture is checked at start and written as it happens (issue 15, item 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mcheck.device.backend import EmulatorBackend
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.trace.codec import opcode_words
from mcheck.trace.io import read_trace

ROOT = Path(__file__).resolve().parents[2]


def refuse(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mcheck.device", "emulate", *args], capture_output=True, text=True,
                          timeout=30, env=env)


@pytest.mark.parametrize("where", ["missing/cap.jsonl", "file/cap.pcapng"])
def test_an_unwritable_capture_path_fails_before_the_session(tmp_path, where):
    (tmp_path / "file").write_text("a file, not a directory")
    r = refuse("--listen", f"unix:{tmp_path / 'd.sock'}", "--capture", str(tmp_path / where))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "cannot write the capture" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "d.sock").exists()       # it never listened


@pytest.mark.parametrize("suffix", [".jsonl", ".pcapng"])
def test_sigkill_keeps_every_exchange_up_to_it(tmp_path, suffix):
    cap = tmp_path / f"cap{suffix}"
    proc = start_emulator(tmp_path / "d.sock", members=1, capture=str(cap))
    try:
        b = EmulatorBackend(f"unix:{tmp_path / 'd.sock'}")
        c = b.codec
        for _ in range(3):
            assert b.submit(c.encode_command("LIST_QUERY", "SRIOV", 0, {}))[:2] == b"\0\0"
        assert b.submit(c.encode_command("LIST_USE", "SRIOV", 0, {"opcodes": opcode_words((0, 1))}))[:2] == b"\0\0"
        b.close()
    finally:
        proc.send_signal(signal.SIGKILL)     # no chance to write anything at exit
        proc.wait(10)
    events = list(read_trace(cap, join=True).events)
    assert [e.command.name for e in events if e.KIND == "admin"] == ["LIST_QUERY"] * 3 + ["LIST_USE"]


def test_power_on_starts_the_capture_again(tmp_path):
    cap = tmp_path / "cap.jsonl"
    proc = start_emulator(tmp_path / "d.sock", members=1, capture=str(cap))
    try:
        b = EmulatorBackend(f"unix:{tmp_path / 'd.sock'}")
        c = b.codec
        assert b.submit(c.encode_command("LIST_QUERY", "SRIOV", 0, {}))[:2] == b"\0\0"
        b.power_on({"members": 2})
        assert b.submit(c.encode_command("LIST_QUERY", "SRIOV", 0, {}))[:2] == b"\0\0"
        b.close()
    finally:
        stop_emulator(proc)
    trace = read_trace(cap, join=True)
    assert trace.header.members == (1, 2)
    assert len([e for e in trace.events if e.KIND == "admin"]) == 1
