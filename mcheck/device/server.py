"""The emulator's socket server: one thread per client, one device, every exchange captured.

Requests from all clients are serialised on the device with a lock. A frame that cannot
be understood gets an ERROR frame and the connection carries on; a frame whose length
prefix is broken (the stream has lost its framing) gets an ERROR frame and that one
connection is closed. Other clients never notice either.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from mcheck.device.protocol import (
    ACK,
    COMPLETE,
    CONTROL,
    ERROR,
    EVENT,
    HELLO,
    INJECT,
    NAMES,
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
from mcheck.trace.events import (
    AdminCommand,
    AdminComplete,
    AdminSubmit,
    ConfigNotify,
    DmaWrite,
    Doorbell,
    FlrBegin,
    FlrEnd,
    MemberReset,
    OwnerReset,
    PciRead,
    PmBegin,
    PmEnd,
    Pme,
    TraceHeader,
    UsedNotify,
)
from mcheck.trace.record import PROFILE_CODES, RecordError, pack_event, unpack_event

INJECTABLE = {"flr_begin": FlrBegin, "flr_end": FlrEnd, "member_reset": MemberReset, "owner_reset": OwnerReset,
              "pm_begin": PmBegin, "pm_end": PmEnd, "doorbell": Doorbell}


class Emulator:
    """Owns the device, the capture and the lock; `handle` serves one request frame."""

    def __init__(self, device: Any, capture: str | None = None) -> None:
        self.device = device
        self.codec = device.codec
        self.pcode = PROFILE_CODES.get(device.profile_name, 0)
        self.lock = threading.Lock()
        self.capture_path = capture
        self.captured: list[Any] = []
        self.index = 0
        self.last_ts = 0

    # -- capture
    def _stamp(self) -> tuple[int, int]:
        ts = max(time.time_ns(), self.last_ts + 1)
        self.last_ts = ts
        self.index += 1
        return self.index - 1, ts

    def _record(self, cls: type, **fields: Any) -> Any:
        index, ts = self._stamp()
        event = cls(index=index, timestamp=ts, **fields)
        if self.capture_path:
            self.captured.append(event)
        return event

    def header(self) -> TraceHeader:
        topo = self.device.topology()
        return TraceHeader(profile=self.device.profile_name, members=tuple(topo["members"]), queues=topo["queues"])

    def write_capture(self) -> None:
        if self.capture_path:
            from mcheck.trace.io import write_trace
            with self.lock:
                write_trace(self.capture_path, self.header(), list(self.captured), codec=self.codec)

    # -- requests
    def _device_events(self, raw: list[tuple]) -> list[bytes]:
        out = []
        for ev in raw:
            kind = ev[0]
            if kind == "dma_write":
                out.append(frame(EVENT, pack_event(self._record(DmaWrite, member=ev[1], address=ev[2], length=ev[3]), self.pcode)))
            elif kind == "used_notify":
                out.append(frame(EVENT, pack_event(self._record(UsedNotify, member=ev[1], queue=ev[2]), self.pcode)))
            elif kind == "config_notify":
                out.append(frame(EVENT, pack_event(self._record(ConfigNotify, member=ev[1]), self.pcode)))
            elif kind == "pme":
                out.append(frame(EVENT, pack_event(self._record(Pme, member=ev[1]), self.pcode)))
            elif kind == "pci_read":
                read = self._record(PciRead, member=ev[1], offset=ev[2], length=len(ev[3]), value=ev[3])
                out.append(frame(EVENT, pack_event(read, self.pcode)))
            elif kind == "complete":   # a held command answered now
                _, tag, writable, readable = ev
                self._record(AdminCommand, tag=tag, readable=readable, writable=writable, codec=self.codec)
                idx, ts = self.index - 1, self.last_ts
                out.append(frame(COMPLETE, pack_event(AdminComplete(index=idx, timestamp=ts, tag=tag, writable=writable), self.pcode)))
        return out

    def handle(self, ftype: bytes, body: bytes) -> list[bytes]:
        """The frames answering one request (the last one is terminal)."""
        if ftype == HELLO:
            json_body(body)
            return [json_frame(HELLO, {**self.header().to_json(), "device": self.device.topology(),
                                       "bugs": sorted(self.device.bugs),
                                       "variants": sorted(getattr(self.device, "variants", ()))})]
        if ftype == SUBMIT:
            event = self._unpack(body)
            if not isinstance(event, AdminSubmit):
                raise ProtocolError(f"a SUBMIT frame carries a submit record, not {event.KIND}")
            with self.lock:
                writable, raw = self.device.admin(event.tag, event.readable)
                out = self._device_events(raw)
                if writable is None:
                    return out + [json_frame(QUEUED, {"tag": event.tag})]
                rec = self._record(AdminCommand, tag=event.tag, readable=event.readable, writable=writable, codec=self.codec)
                done = AdminComplete(index=rec.index, timestamp=rec.timestamp, tag=event.tag, writable=writable)
                return out + [frame(COMPLETE, pack_event(done, self.pcode))]
        if ftype == INJECT:
            event = self._unpack(body)
            if event.KIND not in INJECTABLE:
                raise ProtocolError(f"cannot inject a {event.KIND} record (only {', '.join(INJECTABLE)})")
            with self.lock:
                member = getattr(event, "member", 0)
                queue = getattr(event, "queue", 0)
                fields = {"member": member} if event.KIND != "owner_reset" else {}
                if event.KIND == "doorbell":
                    fields["queue"] = queue
                self._record(INJECTABLE[event.KIND], **fields)
                done, raw = self.device.inject(event.KIND, member, queue)
                return self._device_events(raw) + [json_frame(ACK, {"done": done})]
        if ftype == WORKLOAD:
            req = json_body(body)
            op, m, q = req.get("op"), req.get("member", 0), req.get("queue", 0)
            if not isinstance(op, str) or not isinstance(m, int) or not isinstance(q, int):
                raise ProtocolError("a WORKLOAD frame needs {\"op\": str, \"member\": int, \"queue\": int}")
            with self.lock:
                done, raw = self.device.workload(op, m, q)
                return self._device_events(raw) + [json_frame(ACK, {"done": done})]
        if ftype == CONTROL:
            return [json_frame(ACK, self._control(json_body(body)))]
        raise ProtocolError(f"unknown frame type {ftype!r}" + (f" ({NAMES[ftype]} is sent by the device)" if ftype in NAMES else ""))

    def _control(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        with self.lock:
            if op == "ping":
                return {"ok": True}
            if op == "power_on":
                cfg = req.get("config", {})
                if not isinstance(cfg, dict):
                    raise ProtocolError("power_on config must be an object")
                topo = self.device.topology()
                try:
                    self.device.configure(**{"members": len(topo["members"]), "queues": topo["queues"],
                                                "objects": topo.get("objects", 1), "pages": topo.get("pages", 8), **cfg})
                except (TypeError, ValueError) as exc:
                    raise ProtocolError(f"bad power_on config: {exc}") from None
                self.captured.clear()     # a capture holds the exchange since the last power-on
                return {"ok": True, "device": self.device.topology()}
            if op == "mem_read":
                try:
                    return {"data": self.device.mem_read(req["member"], req["page"]).hex()}
                except (KeyError, IndexError, TypeError) as exc:
                    raise ProtocolError(f"bad mem_read: {exc!r}") from None
            if op == "mem_write":
                try:
                    self.device.mem_write(req["member"], req["page"], bytes.fromhex(req["data"]))
                except (KeyError, IndexError, TypeError, ValueError) as exc:
                    raise ProtocolError(f"bad mem_write: {exc!r}") from None
                return {"ok": True}
            if op == "state":
                return self.device.state()
            if op == "capture":
                return {"events": len(self.captured)}
        raise ProtocolError(f"unknown control op {op!r}")

    def _unpack(self, body: bytes) -> Any:
        try:
            return unpack_event(body, self.codec)
        except RecordError as exc:
            raise ProtocolError(f"bad record: {exc}") from None


def serve_client(emu: Emulator, conn: socket.socket) -> None:
    reader = FrameReader(conn)
    try:
        while True:
            try:
                got = reader.read()
            except ProtocolError as exc:
                conn.sendall(frame(ERROR, str(exc).encode()))
                return
            if got is None:
                return
            out: list[bytes] = []
            while got is not None:
                try:
                    out += emu.handle(*got)
                except ProtocolError as exc:
                    out.append(frame(ERROR, str(exc).encode()))
                try:       # answer a pipelined burst with one write
                    got = reader.buffered()
                except ProtocolError as exc:
                    out.append(frame(ERROR, str(exc).encode()))
                    conn.sendall(b"".join(out))
                    return
            conn.sendall(b"".join(out))
    except OSError:
        return
    finally:
        conn.close()


def serve(emu: Emulator, address: str, *, ready: Any = None) -> None:
    """Listen and serve until interrupted (KeyboardInterrupt / SystemExit); writes the capture last."""
    family, sockaddr = parse_address(address)
    if family == socket.AF_UNIX and os.path.exists(sockaddr):
        os.unlink(sockaddr)
    listener = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(sockaddr)
    listener.listen(16)
    if ready is not None:
        ready(listener.getsockname())
    try:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve_client, args=(emu, conn), daemon=True).start()
    finally:
        listener.close()
        if family == socket.AF_UNIX and os.path.exists(sockaddr):
            os.unlink(sockaddr)
        emu.write_capture()
