"""A device that hangs, hangs up or garbles a frame gives a verdict naming the command; the
emulator answers a malformed frame with an error and keeps serving everyone."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from mcheck.device.backend import DeviceError, EmulatorBackend
from mcheck.device.protocol import ERROR, HELLO, SUBMIT, FrameReader, frame, json_frame
from mcheck.trace.codec import Codec
from mcheck.trace.profile import load_profile

CODEC = Codec(load_profile("virtio-1.4"))
GET = CODEC.encode_command("DEV_PARTS_GET", "SRIOV", 1, {"obj_id": 0, "type": 1})


def fake_device(path: str, behaviour: str) -> threading.Thread:
    """A device that says HELLO properly, then misbehaves on the first SUBMIT."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def run() -> None:
        try:
            serve()
        except OSError:
            pass
        finally:
            listener.close()

    def serve() -> None:
        conn, _ = listener.accept()
        reader = FrameReader(conn)
        while True:
            got = reader.read()
            if got is None:
                break
            ftype, _body = got
            if ftype == HELLO:
                conn.sendall(json_frame(HELLO, {"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1], "queues": 1}))
            elif ftype in (b"P", b"W", b"I"):
                conn.sendall(json_frame(b"A", {"ok": True, "done": True}))
            elif ftype == SUBMIT:
                if behaviour == "silent":
                    threading.Event().wait(3)
                elif behaviour == "hangup":
                    conn.close()
                    break
                elif behaviour == "garbage":
                    conn.sendall(frame(b"C", b"not a record"))
                elif behaviour == "badlength":
                    conn.sendall(struct.pack("<I", 0) + b"zzzz")
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _submit_until_error(path: str, behaviour: str) -> str:
    fake_device(path, behaviour)
    b = EmulatorBackend(f"unix:{path}", timeout=0.5)
    for _ in range(16):       # commands #1..#16 are answered by nobody: the first one fails
        with pytest.raises(DeviceError) as info:
            b.submit(GET)
        return str(info.value)
    raise AssertionError("unreachable")


def test_timeout_names_the_command(tmp_path):
    msg = _submit_until_error(str(tmp_path / "d.sock"), "silent")
    assert msg == "device did not answer command #1 (DEV_PARTS_GET) within 0.5 s"


def test_disconnect_names_the_command(tmp_path):
    msg = _submit_until_error(str(tmp_path / "d.sock"), "hangup")
    assert "closed the connection" in msg and "command #1 (DEV_PARTS_GET)" in msg


@pytest.mark.parametrize("behaviour", ["garbage", "badlength"])
def test_malformed_frame_names_the_command(tmp_path, behaviour):
    msg = _submit_until_error(str(tmp_path / "d.sock"), behaviour)
    assert "malformed frame" in msg and "command #1 (DEV_PARTS_GET)" in msg


def test_conform_against_a_silent_device_fails_fast_with_the_command(tmp_path, suite14):
    from mcheck.conformance.conform import run_suite
    suite_dir, _ = suite14
    path = str(tmp_path / "d.sock")
    fake_device(path, "silent")
    result, outcomes, _ = run_suite(str(suite_dir), f"emulator:unix:{path}", timeout=0.3, only=["walk-001"])
    assert result.verdict == "violated"
    message = outcomes[0].failures[0].message
    assert message.startswith("device did not answer command #1 (") and message.endswith(") within 0.3 s")


def test_emulator_answers_malformed_frames_and_keeps_serving(emulator):
    addr = emulator()
    path = addr[len("unix:"):]
    good = EmulatorBackend(addr)
    bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bad.connect(path)
    bad.settimeout(2)
    reader = FrameReader(bad)
    # an unknown frame type, a broken record, a bad JSON body: an ERROR each, connection kept
    for junk in (frame(b"Z", b"??"), frame(SUBMIT, b"MCKT short"), frame(b"W", b"{not json")):
        bad.sendall(junk)
        ftype, body = reader.read()
        assert ftype == ERROR and body
    assert good.submit(CODEC.encode_command("LIST_QUERY", "SRIOV", 0, {}))[:2] == b"\0\0"
    # a broken length prefix loses the framing: ERROR, then that connection only is closed
    bad.sendall(struct.pack("<I", 0xFFFFFFF0))
    ftype, body = reader.read()
    assert ftype == ERROR and b"frame length" in body
    assert reader.read() is None
    assert good.submit(CODEC.encode_command("LIST_QUERY", "SRIOV", 0, {}))[:2] == b"\0\0"
    good.close()
