"""The device socket protocol: length-prefixed frames carrying trace records (docs/device-protocol.md).

A frame is `le32 length | u8 type | body` where `length` counts the type byte and the
body. Record bodies are the 68-byte trace records of `mcheck.trace.record`; control
bodies are UTF-8 JSON objects.
"""

from __future__ import annotations

import json
import socket
import time
import struct
from typing import Any

from mcheck.errors import InputError
from mcheck.trace.events import EVENT_TYPES

MAX_FRAME = 16 << 20

# client -> device
HELLO = b"H"      # JSON {"version": 1}; answered by HELLO with the device's trace header JSON
SUBMIT = b"S"     # record: AdminSubmit (tag, readable)  -> E* then COMPLETE (same tag) or QUEUED
INJECT = b"I"     # record: flr_begin / flr_end / member_reset / owner_reset / pm_begin / pm_end / doorbell -> E* then ACK
WORKLOAD = b"W"   # JSON {"op", "member", "queue"}: a guest or device workload step (pme and pci_read
                  # included) -> E* then ACK {"done"}
CONTROL = b"P"    # JSON {"op": "power_on" | "mem_read" | "mem_write" | "state" | "ping" | "quiesce", ...} -> ACK
                  # (quiesce {"idle_ms", "max_ms"}: E* of what an autonomous device did, then ACK {"quiet", ...})
# device -> client
EVENT = b"E"      # record: dma_write / used_notify / config_notify / pme / pci_read
COMPLETE = b"C"   # record: AdminComplete (tag, writable)
QUEUED = b"Q"     # JSON {"tag"}: the command is held (e.g. during a member FLR); its COMPLETE comes later
ACK = b"A"        # JSON object: the request is done; an autonomous device adds "before": how many of the
                  # frames before it happened before the request was taken (docs/device-protocol.md)
ERROR = b"X"      # UTF-8 text: the request was malformed or failed

TERMINAL = {COMPLETE, QUEUED, ACK, ERROR}
NAMES = {HELLO: "HELLO", SUBMIT: "SUBMIT", INJECT: "INJECT", WORKLOAD: "WORKLOAD", CONTROL: "CONTROL",
         EVENT: "EVENT", COMPLETE: "COMPLETE", QUEUED: "QUEUED", ACK: "ACK", ERROR: "ERROR"}
_LEN = struct.Struct("<I")
# the event kinds an INJECT frame may carry: what a driver or hypervisor injects into a
# device (FLR, resets, power management, doorbells)
INJECT_TYPES = {kind: EVENT_TYPES[kind] for kind in ("flr_begin", "flr_end", "member_reset", "owner_reset", "pm_begin",
                                                     "pm_end", "doorbell")}


class ProtocolError(Exception):
    """A frame that cannot be read; `fatal` means the byte stream lost its framing."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def frame(ftype: bytes, body: bytes) -> bytes:
    return _LEN.pack(len(body) + 1) + ftype + body


def json_frame(ftype: bytes, obj: dict[str, Any]) -> bytes:
    return frame(ftype, json.dumps(obj, separators=(",", ":")).encode())


def json_body(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"frame body is not JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("frame body is JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolError("frame body must be a JSON object")
    return obj


class FrameReader:
    """Reads whole frames from a socket (keeps partial data across timeouts)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def buffered(self) -> tuple[bytes, bytes] | None:
        """The next frame if it is already wholly buffered, else None (never reads)."""
        if len(self.buf) >= 4:
            (length,) = _LEN.unpack_from(self.buf, 0)
            if length < 1 or length > MAX_FRAME:
                raise ProtocolError(f"bad frame length {length} (1..{MAX_FRAME})", fatal=True)
            if len(self.buf) >= 4 + length:
                ftype = bytes(self.buf[4:5])
                body = bytes(self.buf[5 : 4 + length])
                del self.buf[: 4 + length]
                return ftype, body
        return None

    def read(self, deadline: float | None = None) -> tuple[bytes, bytes] | None:
        """(type, body), or None at a clean end of stream. socket.timeout propagates. With a
        `deadline` (time.monotonic()), TimeoutError once it passes, however the bytes trickle in."""
        while True:
            got = self.buffered()
            if got is not None:
                return got
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("deadline passed")
                self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                if self.buf:
                    raise ProtocolError(f"connection closed inside a frame ({len(self.buf)} bytes pending)", fatal=True)
                return None
            self.buf += chunk


def parse_address(text: str) -> tuple[int, Any]:
    """`unix:PATH` or `tcp:HOST:PORT` -> (address family, sockaddr)."""
    kind, _, rest = text.partition(":")
    if kind == "unix" and rest:
        return socket.AF_UNIX, rest
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            if int(port) > 65535:
                raise InputError(f"bad device address {text!r}: port {port} is above 65535")
            return socket.AF_INET, (host, int(port))
    raise InputError(f"bad device address {text!r}: use unix:PATH or tcp:HOST:PORT (e.g. tcp:127.0.0.1:7000)")
