"""The kill matrix: every catalogue bug, run as an emulator process, must fail the generated suite.

`start_emulator` runs `python -m mcheck.device emulate` as a real subprocess on a Unix
socket and waits until it accepts connections; `kill_row` runs a suite against it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    profile: str
    bug: str | None
    caught: bool
    test: str | None
    clauses: list[str]
    message: str
    tests_run: int
    seconds: float


def start_emulator(sock: str | Path, *, profile: str = "virtio-1.4", members: int = 1, bugs: list[str] | None = None,
                   capture: str | None = None, extra: list[str] | None = None, wait: float = 10.0) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mcheck.device", "emulate", "--listen", f"unix:{sock}", "--profile", profile,
           "--members", str(members)]
    for b in bugs or []:
        cmd += ["--bug", b]
    if capture:
        cmd += ["--capture", capture]
    cmd += extra or []
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}: {proc.stderr.read()}")
        if os.path.exists(sock):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(sock))
                return proc
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"emulator did not listen on {sock} within {wait} s")


def stop_emulator(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM (the emulator writes its capture), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def kill_row(suite: str | Path, sock: str | Path, profile: str, bug: str | None, members: int = 1) -> Row:
    from mcheck.device.conform import run_suite
    proc = start_emulator(sock, profile=profile, members=members, bugs=[bug] if bug else [])
    start = time.monotonic()
    try:
        result, outcomes, _ = run_suite(str(suite), f"emulator:unix:{sock}", fail_fast=bug is not None)
    finally:
        stop_emulator(proc)
    failed = next((o for o in outcomes if not o.passed), None)
    if failed is None:
        return Row(profile, bug, False, None, [], "all tests pass", len(outcomes), time.monotonic() - start)
    f = failed.failures[0]
    return Row(profile, bug, True, failed.name, f.clauses, f.message, len(outcomes), time.monotonic() - start)


def markdown(rows: list[Row]) -> str:
    lines = ["| profile | emulator | caught | first failing test | clauses | tests run | failure |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        msg = r.message.replace("|", "\\|")
        if len(msg) > 140:
            msg = msg[:137] + "..."
        lines.append(f"| {r.profile} | {('--bug ' + r.bug) if r.bug else 'correct'} | "
                     f"{'yes' if r.caught else ('no' if r.bug else 'passes all')} | {r.test or '-'} | "
                     f"{', '.join(r.clauses) or '-'} | {r.tests_run} | {msg} |")
    return "\n".join(lines) + "\n"


def catalogue(profile: str) -> list[str]:
    if profile == "virtio-1.4":
        from models.virtio_1_4 import Virtio14 as cls
    else:
        from models.draft_v1 import DraftV1 as cls  # type: ignore[assignment]
    return list(cls.bugs)
