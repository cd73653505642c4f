"""Start the software device as a separate process (`python -m mcheck.device emulate`).

`start_emulator` runs the emulator as a real subprocess on a Unix socket and waits until
it accepts connections; `stop_emulator` ends it so that it writes its capture. Used by
the kill matrix, the migration demo, tests and benchmarks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def start_emulator(sock: str | Path, *, profile: str = "virtio-1.4", members: int = 1, bugs: list[str] | None = None,
                   capture: str | None = None, extra: list[str] | None = None, wait: float = 10.0,
                   autonomous: bool = False, seed: int | None = None,
                   max_delay_ms: float | None = None) -> subprocess.Popen:
    """`autonomous`: the emulator acts on its own (`--autonomous`, with `--seed` and
    `--max-delay-ms` when given)."""
    cmd = [sys.executable, "-m", "mcheck.device", "emulate", "--listen", f"unix:{sock}", "--profile", profile,
           "--members", str(members)]
    for b in bugs or []:
        cmd += ["--bug", b]
    if autonomous:
        cmd += ["--autonomous"]
        cmd += ["--seed", str(seed)] if seed is not None else []
        cmd += ["--max-delay-ms", f"{max_delay_ms:g}"] if max_delay_ms is not None else []
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
            raise RuntimeError(f"emulator exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
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
