"""The emulator's listener never destroys what it did not create and is not exposed by accident
(issue 15, items 9 and 14)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mcheck.device.spawn import start_emulator, stop_emulator

ROOT = Path(__file__).resolve().parents[2]


def emulate(*args: str, timeout: float = 20.0, umask: int | None = None) -> subprocess.CompletedProcess:
    """Run `mcheck emulate` expecting it to refuse to start (it exits on its own)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)
    return subprocess.run([sys.executable, "-m", "mcheck.device", "emulate", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, preexec_fn=set_umask)


def answers(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_a_regular_file_at_the_socket_path_is_left_alone(tmp_path):
    victim = tmp_path / "notes.txt"
    victim.write_text("precious")
    r = emulate("--listen", f"unix:{victim}")
    assert r.returncode == 2
    assert "not a socket" in r.stderr and "Traceback" not in r.stderr
    assert victim.read_text() == "precious"


def test_a_live_socket_is_not_stolen(tmp_path):
    sock = tmp_path / "dev.sock"
    first = start_emulator(sock)
    try:
        r = emulate("--listen", f"unix:{sock}")
        assert r.returncode == 2 and "another server is listening" in r.stderr
        assert answers(sock)          # the first emulator still owns its socket
    finally:
        stop_emulator(first)
    assert not sock.exists()          # and removed it when it stopped


def test_a_stale_socket_is_replaced(tmp_path):
    sock = tmp_path / "dev.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))
    dead.close()                      # the file stays, nobody listens
    assert stat.S_ISSOCK(os.lstat(sock).st_mode) and not answers(sock)
    proc = start_emulator(sock)
    try:
        assert answers(sock)
    finally:
        stop_emulator(proc)


def test_a_socket_it_did_not_create_is_not_removed_at_exit(tmp_path):
    sock = tmp_path / "dev.sock"
    proc = start_emulator(sock)
    try:
        os.unlink(sock)               # someone else takes the path over
        sock.write_text("someone else's")
    finally:
        stop_emulator(proc)
    assert sock.read_text() == "someone else's"


def test_the_unix_socket_is_private_whatever_the_umask(tmp_path):
    sock = tmp_path / "dev.sock"
    old = os.umask(0)
    try:
        proc = start_emulator(sock)
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600
    finally:
        stop_emulator(proc)


def test_tcp_binds_loopback_only_unless_allowed():
    r = emulate("--listen", "tcp:0.0.0.0:0")
    assert r.returncode == 2
    assert "--allow-remote" in r.stderr and "no authentication" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tcp_loopback_and_allow_remote_start(host, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for args in (["--listen", f"tcp:{host}:0"], ["--listen", "tcp:0.0.0.0:0", "--allow-remote"]):
        proc = subprocess.Popen([sys.executable, "-m", "mcheck.device", "emulate", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            line = proc.stdout.readline()
            assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
        finally:
            proc.terminate()
            proc.wait(10)
