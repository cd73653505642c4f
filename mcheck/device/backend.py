"""Device backends: something that answers admin commands and does device work.

    submit(readable) -> writable bytes, or None when the device holds the command
    inject(kind, member, queue) -> bool     FLR begin/end, member/owner reset, PM begin/end, doorbell
    workload(op, member, queue) -> bool     guest or device workload step
    events() -> list of trace events        what the device did since the last call
                                            (DmaWrite, UsedNotify, ConfigNotify, Pme, PciRead, and
                                            AdminComplete for held commands answered later)

`EmulatorBackend` speaks docs/device-protocol.md over a socket, with a timeout on every
request; `ModelBackend` (mcheck.conformance.modelbackend) answers from the model in-process.
A device that does not answer in time, closes the connection or sends a malformed frame
raises `DeviceError` naming the request, never hangs.
"""

from __future__ import annotations

import argparse
import math
import socket
import time
from typing import Any, Protocol

from mcheck.device.protocol import (
    INJECT_TYPES,
    ACK,
    COMPLETE,
    CONTROL,
    ERROR,
    EVENT,
    HELLO,
    INJECT,
    QUEUED,
    SUBMIT,
    WORKLOAD,
    FrameReader,
    ProtocolError,
    frame,
    json_body,
    json_frame,
    parse_address,
)
from mcheck.errors import McheckError
from mcheck.trace.codec import Codec
from mcheck.trace.events import AdminComplete, AdminSubmit, TraceHeader
from mcheck.trace.profile import load_profile
from mcheck.trace.record import PROFILE_CODES, RecordError, pack_event, unpack_event

DEFAULT_TIMEOUT = 2.0


def seconds(text: str) -> float:
    """argparse type: a finite, positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of seconds above 0")
    return value


def _before(answer: dict[str, Any], n: int) -> int:
    """How many of an answer's n event frames came before the request (the ACK's `before`;
    absent: a device that acts only on request, whose frames all follow from the request)."""
    before = answer.get("before", 0)
    return before if isinstance(before, int) and 0 <= before <= n else 0


class DeviceError(McheckError):
    """The device failed to take part in the protocol (timeout, disconnect, malformed frame)."""


def batch_of(backend: Any, requests: list[tuple]) -> list[tuple[Any, list[Any]]]:
    """`backend.batch(requests)`, or the same one request at a time for backends without it."""
    if hasattr(backend, "batch"):
        return backend.batch(requests)
    out = []
    for req in requests:
        if req[0] == "submit":
            answer = backend.submit(req[1])
        elif req[0] == "inject":
            answer = backend.inject(req[1], req[2], req[3])
        elif req[0] == "control":
            if not hasattr(backend, "control"):
                raise DeviceError(f"this backend has no control requests ({req[1]})")
            answer = backend.control(req[1], **req[2])
        else:
            answer = backend.workload(req[1], req[2], req[3])
        out.append((answer, backend.events()))
    return out


class Backend(Protocol):
    codec: Codec

    def submit(self, readable: bytes) -> bytes | None: ...
    def inject(self, kind: str, member: int = 0, queue: int = 0) -> bool: ...
    def workload(self, op: str, member: int, queue: int = 0) -> bool: ...
    def events(self) -> list[Any]: ...
    def power_on(self, config: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class EmulatorBackend:
    """A client of the device protocol."""

    def __init__(self, address: str, *, timeout: float = DEFAULT_TIMEOUT, connect_timeout: float | None = None) -> None:
        self.address = address
        self.timeout = timeout
        family, sockaddr = parse_address(address)
        deadline = time.monotonic() + (connect_timeout if connect_timeout is not None else timeout)
        while True:
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(sockaddr)
                break
            except OSError as exc:
                self.sock.close()
                if time.monotonic() >= deadline:
                    raise DeviceError(f"cannot connect to the device at {address}: {exc.strerror or exc}") from None
                time.sleep(0.05)
        self.reader = FrameReader(self.sock)
        self.requests = 0          # every request, numbered from 1
        self.commands = 0          # admin commands, numbered from 1
        self.tag = 0
        self.pending: dict[int, str] = {}   # held commands: tag -> "command #N (NAME)"
        self._events: list[Any] = []
        self.codec = Codec(load_profile("virtio-1.4"))
        hello = self._request(json_frame(HELLO, {"version": 1}), "HELLO", expect=HELLO)
        try:
            self.header = TraceHeader.from_json({k: v for k, v in hello.items() if k in ("mcheck_trace", "profile", "members", "queues")})
        except ValueError as exc:
            raise DeviceError(f"device at {address} sent a bad HELLO: {exc}") from None
        self.device_info = hello
        # the device takes its internal steps on its own (docs/device-protocol.md, "Autonomous devices")
        self.autonomous = bool(hello.get("autonomous"))
        self.before: list[int] = []     # per answer of the last batch: event frames that came before the request
        self.codec = Codec(load_profile(self.header.profile))
        self.pcode = PROFILE_CODES.get(self.header.profile, 0)

    def describe(self, readable: bytes) -> str:
        opcode = int.from_bytes(readable[0:2], "little")
        return self.codec.profile.opcode_names.get(opcode, f"opcode {opcode:#x}")

    # -- the request loop
    def _request(self, data: bytes, what: str, *, expect: bytes) -> Any:
        """Send one request, collect frames until its terminal frame."""
        self._send(data, what)
        return self._answer(what, expect)

    def _send(self, data: bytes, what: str) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise DeviceError(f"device connection lost sending {what}: {exc.strerror or exc}") from None

    def _answer(self, what: str, expect: bytes, tag: int | None = None) -> Any:
        """Read frames until the terminal frame of one request; device events go to the event list."""
        tag = self.tag if tag is None else tag
        deadline = time.monotonic() + self.timeout     # per request, not per byte (docs/device-protocol.md)
        while True:
            try:
                got = self.reader.read(deadline)
            except TimeoutError:
                raise DeviceError(f"device did not answer {what} within {self.timeout:g} s") from None
            except ProtocolError as exc:
                raise DeviceError(f"device sent a malformed frame in answer to {what}: {exc}") from None
            except OSError as exc:
                raise DeviceError(f"device connection lost waiting for {what}: {exc.strerror or exc}") from None
            if got is None:
                raise DeviceError(f"device closed the connection without answering {what}")
            ftype, body = got
            try:
                if ftype == ERROR:
                    raise DeviceError(f"device refused {what}: {body.decode('utf-8', 'replace')}")
                if ftype == EVENT:
                    self._events.append(unpack_event(body, self.codec))
                    continue
                if ftype == COMPLETE:
                    done = unpack_event(body, self.codec)
                    if not isinstance(done, AdminComplete):
                        raise ProtocolError(f"COMPLETE frame carries a {done.KIND} record")
                    if expect == COMPLETE and done.tag == tag:
                        return done.writable
                    if done.tag not in self.pending:
                        raise ProtocolError(f"completion for unknown tag {done.tag}")
                    self.pending.pop(done.tag)
                    self._events.append(done)
                    continue
                if ftype == QUEUED and expect == COMPLETE:
                    return None
                if ftype == expect:
                    return json_body(body)
                raise ProtocolError(f"unexpected frame type {ftype!r}")
            except (ProtocolError, RecordError, UnicodeDecodeError) as exc:
                raise DeviceError(f"device sent a malformed frame in answer to {what}: {exc}") from None

    def batch(self, requests: list[tuple], window: int = 64) -> list[tuple[Any, list[Any]]]:
        """Pipelined requests: ("submit", readable) | ("inject", kind, m, q) | ("work", op, m, q)
        | ("control", op, fields). Returns (answer, events) per request: writable or None
        (held) for a submit, the ACK object for a control, the `done` flag otherwise; events
        are what the device did while serving it (an autonomous device: and before it,
        `self.before` says how many came first). Up to `window` requests are in flight at
        once; each still has its own timeout."""
        out: list[tuple[Any, list[Any]]] = []
        self.before = []
        for start in range(0, len(requests), window):
            chunk = requests[start : start + window]
            frames, meta = [], []
            for req in chunk:
                data, what, expect, tag = self._encode(req)
                frames.append(data)
                meta.append((what, expect, tag, req[0]))
            self._send(b"".join(frames), meta[0][0])
            for what, expect, tag, kind in meta:
                self._events = []
                answer = self._answer(what, expect, tag)
                if expect == COMPLETE:
                    if answer is None and tag is not None:    # a submit always has its tag
                        self.pending[tag] = what
                    out.append((answer, self._events))
                    self.before.append(len(self._events))
                else:
                    out.append((answer if kind == "control" else bool(answer.get("done")), self._events))
                    self.before.append(_before(answer, len(self._events)))
                self._events = []
        return out

    def _encode(self, req: tuple) -> tuple[bytes, str, bytes, int | None]:
        self.requests += 1
        if req[0] == "submit":
            self.commands += 1
            self.tag += 1
            readable = req[1]
            ev = AdminSubmit(index=self.requests, timestamp=time.time_ns(), tag=self.tag, readable=readable)
            return (frame(SUBMIT, pack_event(ev, self.pcode)), f"command #{self.commands} ({self.describe(readable)})",
                    COMPLETE, self.tag)
        if req[0] == "inject":
            _, kind, member, queue = req
            fields: dict[str, Any] = {} if kind == "owner_reset" else {"member": member}
            if kind == "doorbell":
                fields["queue"] = queue
            ev = INJECT_TYPES[kind](index=self.requests, timestamp=time.time_ns(), **fields)
            what = f"request #{self.requests} (inject {kind}" + (f" member {member})" if kind != "owner_reset" else ")")
            return frame(INJECT, pack_event(ev, self.pcode)), what, ACK, None
        if req[0] == "control":
            _, op, fields = req
            return (json_frame(CONTROL, {"op": op, **fields}), f"request #{self.requests} (control {op})", ACK, None)
        _, op, member, queue = req
        return (json_frame(WORKLOAD, {"op": op, "member": member, "queue": queue}),
                f"request #{self.requests} (workload {op} member {member} queue {queue})", ACK, None)

    # -- the backend interface
    def submit(self, readable: bytes) -> bytes | None:
        data, what, expect, tag = self._encode(("submit", readable))
        writable = self._request(data, what, expect=expect)
        if writable is None:
            self.pending[self.tag] = what
        return writable

    def inject(self, kind: str, member: int = 0, queue: int = 0) -> bool:
        data, what, expect, _ = self._encode(("inject", kind, member, queue))
        return bool(self._request(data, what, expect=expect).get("done"))

    def workload(self, op: str, member: int, queue: int = 0) -> bool:
        data, what, expect, _ = self._encode(("work", op, member, queue))
        return bool(self._request(data, what, expect=expect).get("done"))

    def control(self, op: str, **fields: Any) -> dict[str, Any]:
        self.requests += 1
        return self._request(json_frame(CONTROL, {"op": op, **fields}), f"request #{self.requests} (control {op})", expect=ACK)

    def quiesce(self, idle_ms: float, max_ms: float) -> tuple[bool, list[Any]]:
        """Wait until the device has been idle for `idle_ms` (at most `max_ms`): (quiet, what
        it did meanwhile and since its last answer). A device that does not act on its own
        answers at once."""
        answer = self.control("quiesce", idle_ms=idle_ms, max_ms=max_ms)
        return bool(answer.get("quiet")), self.events()

    def power_on(self, config: dict[str, Any]) -> None:
        self.control("power_on", config=config)
        self.pending.clear()
        self._events.clear()

    def events(self) -> list[Any]:
        out, self._events = self._events, []
        return out

    def mem_read(self, member: int, page: int) -> bytes:
        return bytes.fromhex(self.control("mem_read", member=member, page=page)["data"])

    def mem_write(self, member: int, page: int, data: bytes) -> None:
        self.control("mem_write", member=member, page=page, data=data.hex())

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> EmulatorBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
