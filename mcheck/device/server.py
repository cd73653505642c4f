"""The emulator's socket server: one thread per client, one device, every exchange captured.

Requests from all clients are serialised on the device with a lock. A frame that cannot
be understood gets an ERROR frame and the connection carries on; a frame whose length
prefix is broken (the stream has lost its framing) gets an ERROR frame and that one
connection is closed. Other clients never notice either.

An autonomous emulator (`mcheck emulate --autonomous`) also works on its own: a
background thread per device takes the device-internal steps (fetch, complete, notify)
whenever the device allows them, after seeded random delays, under the same lock. What
the device does between requests is queued and delivered, as E (and C) frames, before the
frames of the next request from any client; `P {"op": "quiesce"}` waits until the device
is idle and hands the queue over (docs/device-protocol.md, "Autonomous devices").
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import stat
import sys
import threading
import time
from typing import Any

from mcheck.device.protocol import (
    INJECT_TYPES,
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
from mcheck.errors import InputError
from mcheck.trace.writer import TraceWriter
from mcheck.trace.events import (
    AdminCommand,
    AdminComplete,
    AdminSubmit,
    ConfigNotify,
    DmaWrite,
    PciRead,
    Pme,
    TraceHeader,
    UsedNotify,
)
from mcheck.trace.record import PROFILE_CODES, RecordError, pack_event, unpack_event



DEFAULT_MAX_DELAY_MS = 5.0
MAX_QUIESCE_MS = 60_000
# device-internal steps the autonomous device takes on its own (Virtio14Device.workload ops)
AUTONOMOUS_OPS = ("fetch", "complete", "notify")


class Emulator:
    """Owns the device, the capture and the lock; `handle` serves one request frame.

    With `autonomous`, `start()` runs the device's own work in a background thread (see
    `_worker`); every request hands over the events queued since the last one."""

    def __init__(self, device: Any, capture: str | None = None, *, autonomous: bool = False, seed: int = 0,
                 max_delay_ms: float = DEFAULT_MAX_DELAY_MS) -> None:
        self.device = device
        self.codec = device.codec
        self.pcode = PROFILE_CODES.get(device.profile_name, 0)
        self.lock = threading.Lock()
        # the capture is written as it happens (flushed per record): a crash keeps it, and a
        # path that cannot be written fails here, before the session
        self.capture = TraceWriter(capture, self.header(), self.codec) if capture else None
        self.index = 0
        self.last_ts = 0
        self.autonomous = autonomous
        self.seed = seed
        self.max_delay = max_delay_ms / 1000.0
        self.rng = random.Random(seed)
        self.cond = threading.Condition(self.lock)
        self.queued: list[bytes] = []            # frames the device produced on its own, not yet delivered
        self.kicked = False                      # something changed: the worker looks for work
        self.busy = False                        # the worker has an attempt scheduled
        self.last_activity = time.monotonic()    # the last request or device step
        self.notify_due: set[tuple[int, int]] = set()   # (member, queue) with used buffers not yet notified
        self.closing = False
        self.thread: threading.Thread | None = None

    # -- capture
    def _stamp(self) -> tuple[int, int]:
        ts = max(time.time_ns(), self.last_ts + 1)
        self.last_ts = ts
        self.index += 1
        return self.index - 1, ts

    def _record(self, cls: type, **fields: Any) -> Any:
        index, ts = self._stamp()
        event = cls(index=index, timestamp=ts, **fields)
        if self.capture is not None:
            self.capture.append(event)
        return event

    def header(self) -> TraceHeader:
        topo = self.device.topology()
        return TraceHeader(profile=self.device.profile_name, members=tuple(topo["members"]), queues=topo["queues"])

    def write_capture(self) -> None:
        """Close the capture (every record is already on disk)."""
        if self.capture is not None:
            with self.lock:
                self.capture.close()

    # -- acting on its own
    def start(self) -> None:
        """Start the background worker (autonomous devices only)."""
        if self.autonomous and self.thread is None:
            self.thread = threading.Thread(target=self._worker, name="mcheck-device-worker", daemon=True)
            self.thread.start()

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self.thread is not None:
            self.thread.join(timeout=2.0)

    def _worker(self) -> None:
        """The device's own work: after each request (a kick) it takes one device-internal
        step the device allows now, picked at random, after a random delay in
        [0, max_delay]; it keeps going while it finds something to do. `busy` is true while
        an attempt is scheduled, so a quiesce does not report an idle device that is about
        to act."""
        while True:
            with self.cond:
                while not self.kicked and not self.closing:
                    self.cond.wait()
                if self.closing:
                    return
                self.kicked = False
                self.busy = True
                delay = self.rng.uniform(0.0, self.max_delay)
            if delay:
                time.sleep(delay)      # the device's own pace, not a synchronisation
            with self.cond:
                if self.closing:
                    return
                did = self._act()
                if did:
                    self.kicked = True
                    self.last_activity = time.monotonic()
                self.busy = self.kicked
                self.cond.notify_all()

    def _act(self) -> bool:
        """One device-internal step the device takes now (the lock is held): complete a
        fetched buffer, notify used buffers, or fetch from a queue whose doorbell it has not
        served to the end (one rung while stopped, served after the resume); False when the
        device has nothing to do."""
        topo = self.device.topology()
        choices = [(op, m, q) for m in topo["members"] for q in range(topo["queues"]) for op in AUTONOMOUS_OPS
                   if op != "notify" or (m, q) in self.notify_due]
        self.rng.shuffle(choices)
        for op, m, q in choices:
            done, raw = self.device.workload(op, m, q)
            if not done:
                continue
            self.queued += self._device_events(raw)
            if op == "notify":
                self.notify_due.discard((m, q))
            return True
        return False

    def _take_queued(self) -> list[bytes]:
        out, self.queued = self.queued, []
        return out

    def _served(self) -> None:
        """After a request (the lock is held): the worker looks for work again."""
        if self.autonomous:
            self.last_activity = time.monotonic()
            self.kicked = True
            self.cond.notify_all()

    def _on_doorbell(self, m: int, q: int) -> None:
        """An autonomous device reads the avail ring when the doorbell arrives (as hardware
        does on the doorbell write): the new buffers are in flight at once; writing them
        back and notifying follow at the worker's random delays."""
        while self.device.workload("fetch", m, q)[0]:
            pass

    def _quiesce(self, req: dict[str, Any]) -> list[bytes]:
        """Wait until the device has been idle for `idle_ms` with nothing scheduled, at most
        `max_ms`; answer the queued events, then ACK {"quiet", "waited_ms", "before"}."""
        idle, most = req.get("idle_ms", 10), req.get("max_ms", 1000)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= MAX_QUIESCE_MS
                   for v in (idle, most)):
            raise ProtocolError(f"quiesce needs idle_ms and max_ms in 0..{MAX_QUIESCE_MS}")
        start = time.monotonic()
        deadline = start + most / 1000.0
        with self.cond:
            while True:
                now = time.monotonic()
                quiet_for = now - self.last_activity
                if not self.autonomous or (not self.busy and not self.kicked and quiet_for >= idle / 1000.0):
                    quiet = True
                    break
                if now >= deadline:
                    quiet = False
                    break
                wait = deadline - now if (self.busy or self.kicked) else min(deadline - now, idle / 1000.0 - quiet_for)
                self.cond.wait(max(wait, 0.0002))
            pre = self._take_queued()
        body: dict[str, Any] = {"quiet": quiet, "waited_ms": round((time.monotonic() - start) * 1000.0, 3)}
        if self.autonomous:
            body["before"] = len(pre)
        return pre + [json_frame(ACK, body)]

    def _ack(self, pre: list[bytes], body: dict[str, Any]) -> bytes:
        """A JSON terminal frame; an autonomous device says how many of the frames before it
        happened before the request was taken (`before`)."""
        if self.autonomous:
            body = {**body, "before": len(pre)}
        return json_frame(ACK, body)

    # -- requests
    def _device_events(self, raw: list[tuple]) -> list[bytes]:
        out = []
        for ev in raw:
            kind = ev[0]
            if kind == "dma_write" and self.autonomous:
                for q in range(self.device.topology()["queues"]):
                    self.notify_due.add((ev[1], q))
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
            hello = {**self.header().to_json(), "device": self.device.topology(), "bugs": sorted(self.device.bugs),
                     "variants": sorted(getattr(self.device, "variants", ()))}
            if self.autonomous:
                hello.update(autonomous=True, max_delay_ms=self.max_delay * 1000.0, seed=self.seed)
            return [json_frame(HELLO, hello)]
        if ftype == SUBMIT:
            event = self._unpack(body)
            if not isinstance(event, AdminSubmit):
                raise ProtocolError(f"a SUBMIT frame carries a submit record, not {event.KIND}")
            with self.lock:
                pre = self._take_queued()
                writable, raw = self.device.admin(event.tag, event.readable)
                out = pre + self._device_events(raw)
                self._served()
                if writable is None:
                    return out + [json_frame(QUEUED, {"tag": event.tag})]
                rec = self._record(AdminCommand, tag=event.tag, readable=event.readable, writable=writable, codec=self.codec)
                done = AdminComplete(index=rec.index, timestamp=rec.timestamp, tag=event.tag, writable=writable)
                return out + [frame(COMPLETE, pack_event(done, self.pcode))]
        if ftype == INJECT:
            event = self._unpack(body)
            if event.KIND not in INJECT_TYPES:
                raise ProtocolError(f"cannot inject a {event.KIND} record (only {', '.join(INJECT_TYPES)})")
            with self.lock:
                pre = self._take_queued()
                member = getattr(event, "member", 0)
                queue = getattr(event, "queue", 0)
                fields = {"member": member} if event.KIND != "owner_reset" else {}
                if event.KIND == "doorbell":
                    fields["queue"] = queue
                self._record(INJECT_TYPES[event.KIND], **fields)
                done, raw = self.device.inject(event.KIND, member, queue)
                if done and self.autonomous and event.KIND == "doorbell":
                    self._on_doorbell(member, queue)
                self._served()
                return pre + self._device_events(raw) + [self._ack(pre, {"done": done})]
        if ftype == WORKLOAD:
            req = json_body(body)
            op, m, q = req.get("op"), req.get("member", 0), req.get("queue", 0)
            if not isinstance(op, str) or not isinstance(m, int) or not isinstance(q, int):
                raise ProtocolError("a WORKLOAD frame needs {\"op\": str, \"member\": int, \"queue\": int}")
            with self.lock:
                pre = self._take_queued()
                done, raw = self.device.workload(op, m, q)
                self._served()
                return pre + self._device_events(raw) + [self._ack(pre, {"done": done})]
        if ftype == CONTROL:
            req = json_body(body)
            if req.get("op") == "quiesce":
                return self._quiesce(req)
            with self.lock:
                pre = [] if req.get("op") == "power_on" else self._take_queued()
                try:
                    answer = self._control(req)
                except ProtocolError:
                    self.queued[:0] = pre      # undelivered: they go with the next request
                    raise
                self._served()
                return pre + [self._ack(pre, answer)]
        raise ProtocolError(f"unknown frame type {ftype!r}" + (f" ({NAMES[ftype]} is sent by the device)" if ftype in NAMES else ""))

    def _control(self, req: dict[str, Any]) -> dict[str, Any]:
        """A control request other than quiesce (the lock is held)."""
        op = req.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "power_on":
            cfg = req.get("config", {})
            if not isinstance(cfg, dict):
                raise ProtocolError("power_on config must be an object")
            topo = self.device.topology()
            before = {"members": len(topo["members"]), "queues": topo["queues"],
                      "objects": topo.get("objects", 1), "pages": topo.get("pages", 8)}
            wanted = {**before, **cfg}
            check_sizes(wanted)      # before anything is stored: a bad request leaves the device as it was
            try:
                self.device.configure(**wanted)
            except (TypeError, ValueError) as exc:
                self.device.configure(**before)
                raise ProtocolError(f"bad power_on config: {exc}") from None
            if self.capture is not None:   # a capture holds the exchange since the last power-on
                self.capture.restart(self.header())
            self.queued.clear()       # and nothing the device did before it is delivered
            self.notify_due.clear()
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
            return {"events": self.capture.count if self.capture is not None else 0}
        raise ProtocolError(f"unknown control op {op!r}")

    def _unpack(self, body: bytes) -> Any:
        try:
            return unpack_event(body, self.codec)
        except RecordError as exc:
            raise ProtocolError(f"bad record: {exc}") from None


# what one device may be configured to (members x pages x 4 KiB of guest memory at most 256 MiB)
SIZE_LIMITS = {"members": (1, 64), "queues": (1, 8), "objects": (1, 64), "pages": (1, 4096)}
MAX_GUEST_PAGES = 65536
MAX_CLIENTS = 64


def check_sizes(cfg: dict[str, Any]) -> None:
    """A device configuration's sizes are integers within SIZE_LIMITS (ProtocolError naming the
    field otherwise), so no request can make the emulator allocate without bound."""
    for key, (lo, hi) in SIZE_LIMITS.items():
        value = cfg.get(key)
        if type(value) is not int or not lo <= value <= hi:
            raise ProtocolError(f"bad power_on config: {key} must be an integer {lo}..{hi}, got {value!r}")
    if cfg["members"] * cfg["pages"] > MAX_GUEST_PAGES:
        raise ProtocolError(f"bad power_on config: members x pages = {cfg['members'] * cfg['pages']} "
                            f"exceeds {MAX_GUEST_PAGES} guest pages")


_clients = threading.BoundedSemaphore(MAX_CLIENTS)


def serve_client(emu: Emulator, conn: socket.socket) -> None:
    if not _clients.acquire(blocking=False):
        try:
            conn.sendall(frame(ERROR, f"too many clients (at most {MAX_CLIENTS} at once)".encode()))
        finally:
            conn.close()
        return
    try:
        _serve(emu, conn)
    finally:
        _clients.release()


def _serve(emu: Emulator, conn: socket.socket) -> None:
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
                if got[0] == CONTROL and out:   # a quiesce may wait: what is answered goes out first
                    conn.sendall(b"".join(out))
                    out = []
                try:
                    out += emu.handle(*got)
                except ProtocolError as exc:
                    out.append(frame(ERROR, str(exc).encode()))
                except Exception as exc:   # a request the device code did not expect: answer, keep serving
                    msg = f"request not handled: {type(exc).__name__}: {exc}"
                    print(f"mcheck emulate: {msg}", file=sys.stderr, flush=True)
                    out.append(frame(ERROR, msg.encode()))
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


def _claim_unix_path(path: str) -> None:
    """Make room for a Unix socket at `path`: only a stale socket (nobody accepts on it) is
    removed; a live one, or anything that is not a socket, is refused."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise InputError(f"{path}: exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)          # stale: its server is gone
        return
    except OSError as exc:
        raise InputError(f"{path}: cannot tell whether the socket is in use ({exc.strerror or exc}); not replacing it") from None
    finally:
        probe.close()
    raise InputError(f"{path}: another server is listening on this socket")


def _check_exposure(host: str, allow_remote: bool) -> None:
    """TCP listeners bind loopback only unless the user asks otherwise: the protocol has no
    authentication (docs/device-protocol.md)."""
    if allow_remote:
        return
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"tcp:{host}: cannot resolve ({exc.strerror})") from None
    if not all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos):
        raise InputError(f"tcp:{host}: not a loopback address; the device protocol has no authentication, "
                         "so listening beyond this host needs --allow-remote")


def serve(emu: Emulator, address: str, *, ready: Any = None, allow_remote: bool = False) -> None:
    """Listen and serve until interrupted (KeyboardInterrupt / SystemExit); writes the capture last.

    A Unix socket is created mode 0600 whatever the umask, and removed at exit only if it is
    still the one this server created."""
    family, sockaddr = parse_address(address)
    listener = socket.socket(family, socket.SOCK_STREAM)
    created: tuple[int, int] | None = None
    try:
        if family == socket.AF_UNIX:
            _claim_unix_path(sockaddr)
            old = os.umask(0o177)
            try:
                listener.bind(sockaddr)
            finally:
                os.umask(old)
            os.chmod(sockaddr, 0o600)
            st = os.lstat(sockaddr)
            created = (st.st_dev, st.st_ino)
        else:
            _check_exposure(sockaddr[0], allow_remote)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(sockaddr)
        listener.listen(16)
    except BaseException:
        listener.close()
        raise
    if ready is not None:
        ready(listener.getsockname())
    emu.start()
    try:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve_client, args=(emu, conn), daemon=True).start()
    finally:
        listener.close()
        if created is not None:
            try:
                st = os.lstat(sockaddr)
                if (st.st_dev, st.st_ino) == created:
                    os.unlink(sockaddr)
            except FileNotFoundError:
                pass
        emu.close()
        emu.write_capture()
