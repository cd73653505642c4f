"""The emulator validates before it stores, caps what a client can make it hold, and answers
malformed requests with an X frame while the connection lives on (issue 15, items 4 and 6)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mcheck.device.backend import EmulatorBackend
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.device.protocol import CONTROL, ERROR, FrameReader, frame, json_frame, parse_address
from mcheck.device.server import MAX_CLIENTS, Emulator, serve_client
from mcheck.device.virtio14 import Virtio14Device
from mcheck.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def ask(conn: socket.socket, data: bytes) -> tuple[bytes, bytes]:
    conn.sendall(data)
    got = FrameReader(conn).read()
    assert got is not None
    return got


@pytest.fixture
def served():
    """An in-process emulator; `connect()` gives a client socket served by serve_client."""
    emu = Emulator(Virtio14Device(members=1))
    conns = []

    def connect() -> socket.socket:
        a, b = socket.socketpair()
        threading.Thread(target=serve_client, args=(emu, b), daemon=True).start()
        conns.append(a)
        return a
    yield emu, connect
    for c in conns:
        c.close()


def test_a_huge_power_on_is_refused_and_the_device_keeps_serving(served):
    emu, connect = served
    c = connect()
    ftype, body = ask(c, json_frame(CONTROL, {"op": "power_on", "config": {"pages": 10 ** 12}}))
    assert ftype == ERROR and b"pages must be an integer 1..4096" in body
    ftype, body = ask(c, json_frame(CONTROL, {"op": "power_on", "config": {"members": 64, "pages": 4096}}))
    assert ftype == ERROR and b"guest pages" in body
    assert emu.device.topology()["pages"] == 8          # nothing of either request was stored
    other = connect()                                   # a later client is served at once
    ftype, _ = ask(other, json_frame(CONTROL, {"op": "ping"}))
    assert ftype != ERROR


@pytest.mark.parametrize("bad", [{"members": "2"}, {"queues": 1.5}, {"objects": -1}, {"pages": True}])
def test_power_on_sizes_are_typed_integers(served, bad):
    _emu, connect = served
    ftype, body = ask(connect(), json_frame(CONTROL, {"op": "power_on", "config": bad}))
    assert ftype == ERROR and b"must be an integer" in body


def test_deep_json_gets_an_x_frame_and_the_connection_lives_on(served, capfd):
    _emu, connect = served
    c = connect()
    ftype, body = ask(c, frame(CONTROL, b"[" * 100_000 + b"]" * 100_000))
    assert ftype == ERROR and b"nested too deeply" in body
    ftype, _ = ask(c, json_frame(CONTROL, {"op": "ping"}))
    assert ftype != ERROR
    assert "Traceback" not in capfd.readouterr().err


def test_connections_beyond_the_cap_are_turned_away(tmp_path):
    proc = start_emulator(tmp_path / "d.sock")
    held = []
    try:
        for _ in range(MAX_CLIENTS):
            held.append(EmulatorBackend(f"unix:{tmp_path / 'd.sock'}"))
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.connect(str(tmp_path / "d.sock"))
        got = FrameReader(extra).read()
        assert got is not None and got[0] == ERROR and b"too many clients" in got[1]
        extra.close()
        held.pop().close()                              # a freed slot is usable again
        held.append(EmulatorBackend(f"unix:{tmp_path / 'd.sock'}"))
    finally:
        for b in held:
            b.close()
        stop_emulator(proc)


@pytest.mark.parametrize("args,message", [
    (["--pages", "100000000"], "--pages 100000000: must be 1..4096"),
    (["--members", "64", "--pages", "4096"], "guest pages"),
    (["--queues", "0"], "--queues 0: must be 1..8"),
])
def test_emulate_refuses_sizes_it_cannot_hold(tmp_path, args, message):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "mcheck.device", "emulate", "--listen", f"unix:{tmp_path / 'd.sock'}",
                        *args], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_ports_above_65535_are_refused():
    with pytest.raises(InputError, match="above 65535"):
        parse_address("tcp:127.0.0.1:70000")
