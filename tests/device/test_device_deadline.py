"""The device timeout is a deadline per request: a device that trickles one byte at a time
cannot keep the host waiting (issue 15, item 7)."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import pytest

from mcheck.device.backend import DeviceError, EmulatorBackend, seconds
from mcheck.device.protocol import FrameReader

ROOT = Path(__file__).resolve().parents[2]


def trickler(path: str, stop: threading.Event) -> None:
    """A 'device' that starts a 4 KiB frame and then sends its body one byte every 0.3 s."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    conn, _ = srv.accept()
    conn.recv(65536)
    conn.sendall((4096).to_bytes(4, "little") + b"H")
    while not stop.is_set():
        try:
            conn.sendall(b" ")
        except OSError:
            break
        time.sleep(0.3)
    conn.close()
    srv.close()


def test_a_trickling_device_hits_the_deadline(tmp_path):
    path = str(tmp_path / "slow.sock")
    stop = threading.Event()
    t = threading.Thread(target=trickler, args=(path, stop), daemon=True)
    t.start()
    while not (tmp_path / "slow.sock").exists():
        time.sleep(0.01)
    start = time.monotonic()
    try:
        with pytest.raises(DeviceError, match="within 1 s"):
            EmulatorBackend(f"unix:{path}", timeout=1.0)
    finally:
        stop.set()
    assert time.monotonic() - start < 3.0      # an idle timeout would wait for ever


def test_frame_reader_deadline_counts_from_the_request():
    a, b = socket.socketpair()
    try:
        reader = FrameReader(a)
        b.sendall(b"\0\0")                      # half a length prefix, then nothing
        with pytest.raises(TimeoutError):
            reader.read(time.monotonic() + 0.2)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "0", "soon"])
def test_timeouts_must_be_finite_positive_seconds(text):
    with pytest.raises(argparse.ArgumentTypeError):
        seconds(text)


def hangs_up_after_hello(path: str) -> None:
    """A 'device' that greets and then closes the connection at the first request."""
    from mcheck.device.protocol import HELLO, json_frame
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    conn, _ = srv.accept()
    reader = FrameReader(conn)
    reader.read()
    conn.sendall(json_frame(HELLO, {"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1], "queues": 2}))
    reader.read()
    conn.close()
    srv.close()


@pytest.mark.parametrize("quiet", [True, False])
def test_a_device_error_is_explained_and_no_property_holds_beside_it(tmp_path, capsys, quiet):
    from mcheck.cli import main
    path = str(tmp_path / "bye.sock")
    threading.Thread(target=hangs_up_after_hello, args=(path,), daemon=True).start()
    while not (tmp_path / "bye.sock").exists():
        time.sleep(0.01)
    args = ["replay", str(ROOT / "traces" / "faulty" / "dma-after-stop.jsonl"), "--backend", f"emulator:unix:{path}", "--device-timeout", "5"]
    code = main(args + (["-q"] if quiet else []))
    out = capsys.readouterr().out
    assert code != 0
    if quiet:
        assert out.startswith("verdict: ERROR (device") and "closed the connection" in out
    else:
        table = [line for line in out.splitlines() if line.strip().startswith("device-matches-trace")]
        assert table and "holds" not in table[0], out
