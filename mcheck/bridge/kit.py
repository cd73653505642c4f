"""mcheck bridge kit: the device side of mcheck's device socket protocol in one file.

Copy this file into your tree. It needs Python >= 3.10 and the standard library only;
it imports nothing from mcheck, so it does not tie your firmware simulator or hardware
bridge to an mcheck version. You write one class, a `Device`, whose methods call into
your firmware; `serve(device, "unix:/tmp/dev.sock")` does the rest:

- addresses: `unix:PATH` or `tcp:HOST:PORT` (`parse_address`);
- the frame loop: length-prefixed frames, pipelined requests answered in order, device
  events sent before the answer they belong to, an `X` frame for a malformed request (the
  connection carries on) and a closed connection only when the byte stream loses its
  framing (a bad length prefix);
- the 68-byte trace records a device receives (`submit`, the injected `flr_begin`,
  `flr_end`, `member_reset`, `owner_reset`, `pm_begin`, `pm_end`, `doorbell`) and sends
  (`complete`, `dma_write`, `used_notify`, `config_notify`, `pme`, `pci_read`):
  `pack_record` / `unpack_record`;
- HELLO, answered from the `Description` your device declares;
- `power_on`, `mem_read`, `mem_write`, `state`, `ping` and `quiesce` control requests;
- for a device that works on its own (`Description.autonomous`): what it emits between
  requests goes out ahead of the next answer, counted in the A frame's `before`.

The protocol is docs/device-protocol.md of mcheck ("Writing a bridge" walks through a
bridge step by step); the record byte table is docs/trace-format.md.

Why the record code is here twice: `pack_record` / `unpack_record` repeat, for the kinds
a device handles, what `mcheck.trace.record.pack_event` / `unpack_event` do. That is on
purpose, so this file stays dependency-free; mcheck's test suite
(tests/device/test_bridge_kit.py) checks that both produce the same bytes for every kind,
in both directions, payloads included.

Clause names in the docstrings (D-DP-10, D-GA-1, ...) are those of mcheck's virtio 1.4
clause catalogue (`mcheck clauses virtio-1.4` prints each with its spec text).
"""

from __future__ import annotations

import abc
import json
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any
from collections.abc import Callable

__all__ = [
    "BridgeError", "Description", "Device", "PowerOn", "Record", "RecordError", "BridgeServer", "Bridge",
    "parse_address", "pack_record", "unpack_record", "frame", "serve",
]

PROTOCOL_VERSION = 1
MAX_FRAME = 16 << 20
MAX_QUIESCE_MS = 60_000

# frame types (docs/device-protocol.md, "Frames")
HELLO = b"H"      # both ways: JSON
SUBMIT = b"S"     # to the device: a submit record (an admin command)
INJECT = b"I"     # to the device: an injected event record (FLR, resets, PM, doorbell)
WORKLOAD = b"W"   # to the device: JSON {"op", "member", "queue"}
CONTROL = b"P"    # to the device: JSON {"op": "power_on" | "mem_read" | "mem_write" | "state" | "ping" | "quiesce", ...}
EVENT = b"E"      # to the client: a dma_write, used_notify, config_notify, pme or pci_read record
COMPLETE = b"C"   # to the client: a complete record (an admin command's answer)
QUEUED = b"Q"     # to the client: JSON {"tag"}, the command is held; its C frame comes later
ACK = b"A"        # to the client: JSON, a W, I or P request is done
ERROR = b"X"      # to the client: UTF-8 text, the request was malformed or failed

_SENT_BY_DEVICE = {EVENT: "EVENT", COMPLETE: "COMPLETE", QUEUED: "QUEUED", ACK: "ACK", ERROR: "ERROR"}
_LEN = struct.Struct("<I")

# ---------------------------------------------------------------------------- records

RECORD = struct.Struct("<4sBBBBQQQQQQIIHH")   # magic, version, kind, flags, profile, index, timestamp,
RECORD_SIZE = RECORD.size                       # tag, member, arg0, arg1, len_a, len_b, aq, reserved (68 bytes)
MAGIC = b"MCKT"
RECORD_VERSION = 1
FLAG_WRITABLE = 0x01
FLAG_TAG = 0x02
PROFILE_CODES = {"virtio-1.4": 1, "draft-v1": 2}

#: The record kinds that cross a device socket, with their kind codes.
KINDS: dict[str, int] = {
    "submit": 2, "complete": 3, "dma_write": 4, "used_notify": 5, "config_notify": 6, "doorbell": 7,
    "flr_begin": 8, "flr_end": 9, "member_reset": 10, "owner_reset": 11, "pm_begin": 13, "pm_end": 14,
    "pme": 15, "pci_read": 16,
}
_KIND_NAMES = {code: name for name, code in KINDS.items()}
#: Kinds a client injects with an I frame.
INJECTED = ("flr_begin", "flr_end", "member_reset", "owner_reset", "pm_begin", "pm_end", "doorbell")
#: Kinds a device sends in E frames.
DEVICE_EVENTS = ("dma_write", "used_notify", "config_notify", "pme", "pci_read")
_OFF_SOCKET = {0: "a trace header", 1: "an admin (joined) record", 12: "an annotation"}


class RecordError(ValueError):
    """A record that cannot be packed or read."""


@dataclass(frozen=True)
class Record:
    """One trace record as it crosses the socket. Only the fields of its kind matter:

    ====================  =====================================================
    submit                tag, aq, readable (24-byte command header + data)
    complete              tag, aq, writable (8-byte status + result)
    dma_write             member, address, length
    used_notify,doorbell  member, queue
    pci_read              member, offset, value (length is len(value))
    owner_reset           (nothing)
    every other kind      member
    ====================  =====================================================

    `index` and `timestamp` (integer ns) are stamped by the bridge on what it sends.
    """

    kind: str
    member: int = 0
    queue: int = 0
    tag: int = 0
    aq: int = 0
    readable: bytes = b""
    writable: bytes = b""
    address: int = 0
    length: int = 0
    offset: int = 0
    value: bytes = b""
    index: int = 0
    timestamp: int = 0


def pack_record(rec: Record, profile_code: int = 0) -> bytes:
    """The record's bytes: the 68-byte header, then part A, then part B."""
    kind = KINDS.get(rec.kind)
    if kind is None:
        raise RecordError(f"cannot pack a {rec.kind!r} record (kinds: {', '.join(KINDS)})")
    flags = tag = member = arg0 = arg1 = aq = 0
    a = b = b""
    if rec.kind == "submit":
        flags, tag, aq, a = FLAG_TAG, rec.tag, rec.aq, rec.readable
    elif rec.kind == "complete":
        flags, tag, aq, b = FLAG_TAG | FLAG_WRITABLE, rec.tag, rec.aq, rec.writable
    elif rec.kind == "dma_write":
        member, arg0, arg1 = rec.member, rec.address, rec.length
    elif rec.kind in ("used_notify", "doorbell"):
        member, arg0 = rec.member, rec.queue
    elif rec.kind == "pci_read":
        member, arg0, arg1, a = rec.member, rec.offset, len(rec.value), rec.value
    elif rec.kind != "owner_reset":
        member = rec.member
    try:
        head = RECORD.pack(MAGIC, RECORD_VERSION, kind, flags, profile_code, rec.index, rec.timestamp, tag, member,
                           arg0, arg1, len(a), len(b), aq, 0)
    except struct.error as exc:
        raise RecordError(f"{rec.kind} record field out of range: {exc}") from None
    return head + bytes(a) + bytes(b)


def unpack_record(buf: bytes) -> Record:
    """Read one record; raises RecordError with a one-line reason."""
    if len(buf) < RECORD_SIZE:
        raise RecordError(f"record of {len(buf)} bytes is shorter than the {RECORD_SIZE}-byte record header")
    (magic, version, kind, _flags, _profile, index, ts, tag, member, arg0, arg1, len_a, len_b, aq,
     _reserved) = RECORD.unpack_from(buf, 0)
    if magic != MAGIC:
        raise RecordError(f"bad record magic {bytes(magic)!r} (expected {MAGIC!r})")
    if version != RECORD_VERSION:
        raise RecordError(f"record version {version} is not supported (expected {RECORD_VERSION})")
    if RECORD_SIZE + len_a + len_b != len(buf):
        raise RecordError(f"record lengths ({RECORD_SIZE} + {len_a} + {len_b}) do not match the packet length {len(buf)}")
    name = _KIND_NAMES.get(kind)
    if name is None:
        what = _OFF_SOCKET.get(kind)
        raise RecordError(f"{what} (kind {kind}) does not cross a device socket" if what else f"unknown event kind {kind}")
    a = bytes(buf[RECORD_SIZE : RECORD_SIZE + len_a])
    b = bytes(buf[RECORD_SIZE + len_a :])
    common = {"index": index, "timestamp": ts}
    if name == "submit":
        return Record(name, tag=tag, aq=aq, readable=a, **common)
    if name == "complete":
        return Record(name, tag=tag, aq=aq, writable=b, **common)
    if name == "dma_write":
        return Record(name, member=member, address=arg0, length=arg1, **common)
    if name in ("used_notify", "doorbell"):
        return Record(name, member=member, queue=arg0, **common)
    if name == "pci_read":
        if len(a) != arg1:
            raise RecordError(f"pci_read value has {len(a)} bytes but its length is {arg1}")
        return Record(name, member=member, offset=arg0, length=arg1, value=a, **common)
    if name == "owner_reset":
        return Record(name, **common)
    return Record(name, member=member, **common)


def frame(ftype: bytes, body: bytes) -> bytes:
    """One frame: le32 length (type + body), the type letter, the body."""
    return _LEN.pack(len(body) + 1) + ftype + body


def json_frame(ftype: bytes, obj: dict[str, Any]) -> bytes:
    return frame(ftype, json.dumps(obj, separators=(",", ":")).encode())


# ---------------------------------------------------------------------------- what a device declares


class BridgeError(Exception):
    """A request the device cannot serve; its message goes back to mcheck in an X frame.

    Raise it from any `Device` method with a one-line reason ("member 3 does not exist").
    """


@dataclass
class Description:
    """What the device declares in its HELLO answer (and after each power-on).

    profile     the protocol profile: "virtio-1.4" (or "draft-v1", or a custom profile's name)
    members     the member ids (SR-IOV VF numbers), e.g. [1, 2]
    queues      split virtqueues per member
    objects     resource-object ids the owner has (virtio-1.4: the DEVICE_CAP_GET limits)
    pages       guest memory pages (4 KiB) per member
    autonomous  True when the device does work on its own (fetches, DMA writes,
                notifications) between requests instead of only when a W frame asks.
                HELLO says so at its top level; what the device emits between requests
                goes out ahead of the next answer, A frames count it in `before`, and the
                `quiesce` control op waits until the device is idle (see `Device.acting`,
                `Device.busy`)
    max_delay_ms  autonomous devices: the longest the device waits before a step of its
                own (mcheck's idle window at a quiescence point is at least this); None
                leaves it out of HELLO
    bugs        known deviations, by mcheck bug-catalogue name (normally empty)
    extra       further topology keys for the HELLO `device` object (e.g. {"compat": "none"})
    """

    profile: str
    members: list[int]
    queues: int = 1
    objects: int = 1
    pages: int = 8
    autonomous: bool = False
    max_delay_ms: float | None = None
    bugs: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise BridgeError when the description cannot be sent."""
        if not isinstance(self.profile, str) or not self.profile:
            raise BridgeError(f"Description.profile must name the profile (e.g. 'virtio-1.4'), got {self.profile!r}")
        members = self.members
        if not isinstance(members, (list, tuple)) or not members or not all(_uint(m) for m in members):
            raise BridgeError(f"Description.members must be a non-empty list of member ids, got {members!r}")
        if len(set(members)) != len(members):
            raise BridgeError(f"Description.members lists a member twice: {list(members)}")
        for name in ("queues", "objects", "pages"):
            value = getattr(self, name)
            if not _uint(value) or value < 1:
                raise BridgeError(f"Description.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.autonomous, bool):
            raise BridgeError(f"Description.autonomous must be true or false, got {self.autonomous!r}")
        delay = self.max_delay_ms
        if delay is not None and (not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0):
            raise BridgeError(f"Description.max_delay_ms must be a non-negative number of milliseconds, got {delay!r}")
        if delay is not None and not self.autonomous:
            raise BridgeError("Description.max_delay_ms is declared by autonomous devices only")
        if not isinstance(self.bugs, (list, tuple)) or not all(isinstance(b, str) for b in self.bugs):
            raise BridgeError(f"Description.bugs must be a list of bug names, got {self.bugs!r}")
        clash = set(self.extra) & {"members", "queues", "objects", "pages", "autonomous", "max_delay_ms"}
        if clash:
            raise BridgeError(f"Description.extra repeats a declared key: {sorted(clash)[0]!r}")

    def topology(self) -> dict[str, Any]:
        """The HELLO `device` object (also returned by power_on)."""
        return {"members": list(self.members), "queues": self.queues, "objects": self.objects, "pages": self.pages,
                **self.extra}

    def hello(self) -> dict[str, Any]:
        """The whole HELLO answer: the trace header keys, `autonomous` (and `max_delay_ms`),
        `device` and `bugs`."""
        hello = {"mcheck_trace": 1, "profile": self.profile, "members": list(self.members), "queues": self.queues,
                 "autonomous": self.autonomous, "device": self.topology(), "bugs": sorted(self.bugs)}
        if self.max_delay_ms is not None:
            hello["max_delay_ms"] = self.max_delay_ms
        return hello


@dataclass(frozen=True)
class PowerOn:
    """A power_on request: the topology to reset the device to. Keys mcheck leaves out
    keep the device's declared values; `options` holds any other key (e.g. draft-v1's
    "paired", "initialised")."""

    members: int
    queues: int
    objects: int
    pages: int
    options: dict[str, Any] = field(default_factory=dict)


def _uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _Outbox:
    """A device's emitted records, and the lock that keeps its own work apart from requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()          # guards `records` and `last`
        self.records: list[Record] = []
        self.acting = threading.RLock()       # held while a request is served, and by `Device.acting()`
        self.last = time.monotonic()          # the last emitted record or served request

    def touch(self) -> None:
        with self.lock:
            self.last = time.monotonic()


_LAZY = threading.Lock()


class Device(abc.ABC):
    """The operations the host side (mcheck: driver and hypervisor) asks of a device.

    Implement each abstract method by calling into the firmware simulator or hardware.
    The bridge calls them one at a time (the `acting()` lock serialises every client), so
    they need no locking of their own. An autonomous device that works in a thread of its
    own wraps each step in `with self.acting():` and may emit from there.

    What the device does while serving a request (DMA writes, notifications, completions
    of held commands) it reports with the `emit_*` methods and `complete_held` *before*
    returning: the bridge sends those events ahead of the request's answer, in the order
    they were emitted, which is the order mcheck judges them in (a DEV_MODE_SET(stop)
    writes the fetched buffers back before it completes: D-DP-10, D-DP-11).

    Refuse a request mcheck got wrong (a member that does not exist, a page out of range)
    by raising BridgeError with a one-line reason. Any other exception is a bridge bug:
    mcheck gets an X frame naming the operation and the exception, and the bridge keeps
    serving.
    """

    # -- what the device is

    @abc.abstractmethod
    def describe(self) -> Description:
        """The device's current topology and profile (HELLO; asked again after each power_on)."""

    @abc.abstractmethod
    def power_on(self, config: PowerOn) -> None:
        """Power-on reset with this topology: every member running and reset, every held
        command dropped (no completion is sent for it), no resource objects, each group's
        enabled opcodes back to LIST_QUERY/LIST_USE (D-GA-7), guest memory zeroed and the
        guest driver's rings laid out (docs/device-protocol.md, "Workload steps").
        mcheck sends one before every test. Raise BridgeError for a topology the device
        cannot take."""

    # -- admin commands (S frames)

    @abc.abstractmethod
    def admin(self, tag: int, readable: bytes) -> bytes | None:
        """Execute one admin command from the owner's admin virtqueue.

        `readable` is exactly what the driver put in the device-readable buffer: the
        24-byte command header (le16 opcode, le16 group type, 12 reserved bytes, le64
        group member id) and the command data. Return the device-writable bytes: le16
        status, le16 status qualifier, 4 reserved bytes, then the command result.

        Validate in D-GA-1's order (group type, opcode enabled for the group by LIST_USE,
        member id, then the command's own fields), and change nothing when the answer is
        an error. Return None to *hold* the command: a DEV_MODE_SET or DEV_PARTS_SET for
        a member in an FLR, a reset or a power-management transition waits for its end
        (D-DP-17, D-DP-18, D-DP-19); answer it later with `complete_held(tag, writable)`,
        normally from the `inject` call that ends the fault. `tag` identifies the command
        only for that."""

    # -- injected events (I frames)

    @abc.abstractmethod
    def inject(self, kind: str, member: int, queue: int) -> bool:
        """Something the platform or hypervisor does to the device, as `kind`:

        flr_begin / flr_end    a member's function-level reset starts / ends: the member
                               returns to its reset state (D-DP-22); held commands are
                               answered at the end
        member_reset           a member device reset (starts and completes at once)
        owner_reset            the owner (PF) is reset: enabled opcodes back to
                               LIST_QUERY/LIST_USE (D-GA-7), driver capabilities and
                               resource objects dropped (D-CAP-5, D-RO-8)
        pm_begin / pm_end      a member's power-management transition starts / ends
        doorbell               the driver notified `queue` of `member`

        Return True when it happened, False when the device refuses it now (an FLR
        begin while the member is already in one, an unknown member)."""

    # -- workload (W frames)

    @abc.abstractmethod
    def workload(self, op: str, member: int, queue: int) -> bool:
        """Do one workload step now (docs/device-protocol.md, "Workload steps").

        Guest-driver steps: `init` (features, rings, DRIVER_OK), `post` (one buffer into
        the avail ring). Device steps: `fetch`, `complete` (emit one dma_write for the
        buffer's data), `notify` (emit used_notify), `config` (emit config_notify),
        `service`, `run`, `pme` (emit pme), `pci_read` (emit pci_read with the bytes
        read). Return True when done, False when the device's rules forbid it now:
        a stopped member fetches, writes and notifies nothing (D-DP-9, D-DP-16), signals
        no PME (D-DP-15), yet answers PCI reads with valid data (D-DP-13). Return False
        for an op the device does not know."""

    # -- guest memory (P frames), for the hypervisor's copy of dirty pages

    @abc.abstractmethod
    def mem_read(self, member: int, page: int) -> bytes:
        """The 4096 bytes of guest memory page `page` of `member`."""

    @abc.abstractmethod
    def mem_write(self, member: int, page: int, data: bytes) -> None:
        """Overwrite guest memory page `page` of `member` with `data` (4096 bytes)."""

    # -- optional

    def state(self) -> dict[str, Any]:
        """Internal state for people debugging a failing test (the `state` control op)."""
        return {}

    def control(self, op: str, request: dict[str, Any]) -> dict[str, Any]:
        """A control op the kit does not handle itself; the answer is the A frame's JSON."""
        raise BridgeError(f"unknown control op {op!r}")

    # -- reporting what the device did

    def emit_dma_write(self, member: int, address: int, length: int) -> None:
        """The member wrote `length` bytes of guest memory at `address`."""
        self._emit(Record("dma_write", member=member, address=address, length=length))

    def emit_used_notify(self, member: int, queue: int) -> None:
        """The member sent a used-buffer notification for `queue`."""
        self._emit(Record("used_notify", member=member, queue=queue))

    def emit_config_notify(self, member: int) -> None:
        """The member sent a configuration-change notification."""
        self._emit(Record("config_notify", member=member))

    def emit_pme(self, member: int) -> None:
        """The member signalled a PCI PME."""
        self._emit(Record("pme", member=member))

    def emit_pci_read(self, member: int, offset: int, value: bytes) -> None:
        """A read of the member's configuration space or BARs at `offset` returned `value`."""
        self._emit(Record("pci_read", member=member, offset=offset, length=len(value), value=bytes(value)))

    def complete_held(self, tag: int, writable: bytes) -> None:
        """Answer the held command `tag` (one `admin` returned None for) with `writable`."""
        self._emit(Record("complete", tag=tag, writable=bytes(writable)))

    def acting(self) -> Any:
        """A context manager an autonomous device holds while it does a step of its own work
        (and emits its events), so that the step falls wholly before or after a request:

            with self.acting():
                self.firmware.poll()            # may call self.emit_dma_write(...)

        The bridge holds the same (re-entrant) lock while it serves a request."""
        return self._box().acting

    def busy(self) -> bool:
        """An autonomous device: True while it has work of its own scheduled (a quiesce
        request waits until this is False and nothing was emitted for `idle_ms`)."""
        return False

    def take_events(self) -> list[Record]:
        """Everything emitted since the last call, in order (the bridge calls this)."""
        box = self._box()
        with box.lock:
            taken = list(box.records)
            box.records.clear()
        return taken

    def _box(self) -> _Outbox:
        box = self.__dict__.get("_kit_outbox")
        if box is None:            # created on first use: a subclass need not call Device.__init__
            with _LAZY:
                box = self.__dict__.setdefault("_kit_outbox", _Outbox())
        return box

    def _emit(self, rec: Record) -> None:
        box = self._box()
        with box.lock:
            box.records.append(rec)
            box.last = time.monotonic()

    def _requeue(self, records: list[Record]) -> None:
        """Records taken for a request that failed: they go out with the next answer."""
        box = self._box()
        with box.lock:
            box.records[:0] = records


# ---------------------------------------------------------------------------- requests


class Bridge:
    """Turns request frames into answer frames for one device (no sockets: `handle` is
    what the frame loop calls, and what a unit test can call directly).

    Every request is served with the device's `acting()` lock held. What the device
    emitted since the previous request (an autonomous device's own work) goes out first,
    then what it emitted while serving the request, then the terminal frame; an autonomous
    device's A frames say with `before` how many of those frames came before the request.
    A request that fails gets only its X frame: what was taken for it goes out with the
    next answer."""

    def __init__(self, device: Device, *, log: Callable[[str], None] | None = None) -> None:
        self.device = device
        self.box = device._box()
        self.index = 0
        self.last_ts = 0
        self.log = log if log is not None else (lambda text: print(text, file=sys.stderr, flush=True))
        desc = self._describe()
        self.profile_code = PROFILE_CODES.get(desc.profile, 0)
        self.autonomous = desc.autonomous
        self._before = 0                      # frames of the current request that came before it

    def _describe(self) -> Description:
        desc = self.device.describe()
        if not isinstance(desc, Description):
            raise BridgeError(f"Device.describe() must return a Description, got {type(desc).__name__}")
        desc.check()
        return desc

    def _stamp(self, rec: Record) -> bytes:
        self.last_ts = max(time.time_ns(), self.last_ts + 1)
        self.index += 1
        return pack_record(replace(rec, index=self.index, timestamp=self.last_ts), self.profile_code)

    def _frames(self, records: list[Record]) -> list[bytes]:
        """The E and C frames of emitted records, in order."""
        out = []
        for rec in records:
            if rec.kind == "complete":
                out.append(frame(COMPLETE, self._stamp(rec)))
            elif rec.kind in DEVICE_EVENTS:
                out.append(frame(EVENT, self._stamp(rec)))
            else:
                raise BridgeError(f"a device cannot send a {rec.kind} record")
        return out

    def _drain(self) -> list[bytes]:
        """The frames of what the device emitted while serving the current request."""
        return self._frames(self.device.take_events())

    def _ack(self, answer: dict[str, Any]) -> bytes:
        if self.autonomous:
            answer = {**answer, "before": self._before}
        return json_frame(ACK, answer)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A Device method; a BridgeError passes through, anything else becomes one (and is logged)."""
        try:
            return fn(*args)
        except BridgeError:
            raise
        except Exception as exc:  # noqa: BLE001 - the bridge must keep serving
            self.log(f"bridge: Device.{what} raised {type(exc).__name__}: {exc}")
            raise BridgeError(f"device failed in {what}: {type(exc).__name__}: {exc}") from None

    def handle(self, ftype: bytes, body: bytes) -> list[bytes]:
        """The frames answering one request frame; the last one is its terminal frame."""
        try:
            if ftype == CONTROL:
                req = _json(body, "CONTROL")
                if req.get("op") == "quiesce":
                    return self._quiesce(req)
            with self.box.acting:
                # HELLO is not a device request; a power-on drops what came before it
                fresh = ftype == HELLO or (ftype == CONTROL and req.get("op") == "power_on")
                pre = [] if fresh else self.device.take_events()
                try:
                    self._before = len(pre)
                    out = self._frames(pre) + self._handle(ftype, body)
                except BaseException:
                    self.device._requeue(pre)
                    raise
                self.box.touch()
                return out
        except (BridgeError, RecordError) as exc:
            return [frame(ERROR, str(exc).encode())]

    def _quiesce(self, req: dict[str, Any]) -> list[bytes]:
        """Wait, without holding the device, until it has emitted nothing for `idle_ms` and is
        not `busy()`, at most `max_ms`; then send what it emitted and ACK {"quiet", "waited_ms"}.
        A device that is not autonomous is quiet at once."""
        idle, most = req.get("idle_ms", 10), req.get("max_ms", 1000)
        for name, value in (("idle_ms", idle), ("max_ms", most)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= MAX_QUIESCE_MS:
                raise BridgeError(f"quiesce: {name} must be a number of milliseconds in 0..{MAX_QUIESCE_MS}, got {value!r}")
        start = time.monotonic()
        while True:
            with self.box.acting:
                now = time.monotonic()
                with self.box.lock:
                    quiet_for = now - self.box.last
                quiet = not self.autonomous or (quiet_for * 1000 >= idle and not self._call("busy", self.device.busy))
                if quiet or (now - start) * 1000 >= most:
                    pre = self.device.take_events()
                    self._before = len(pre)
                    waited = round((now - start) * 1000, 3)
                    return self._frames(pre) + [self._ack({"quiet": quiet, "waited_ms": waited})]
            time.sleep(0.001)

    def _handle(self, ftype: bytes, body: bytes) -> list[bytes]:
        if ftype == HELLO:
            req = _json(body, "HELLO")
            version = req.get("version", PROTOCOL_VERSION)
            if version != PROTOCOL_VERSION:
                raise BridgeError(f"protocol version {version!r} is not supported (this bridge speaks {PROTOCOL_VERSION})")
            return [json_frame(HELLO, self._describe().hello())]
        if ftype == SUBMIT:
            rec = unpack_record(body)
            if rec.kind != "submit":
                raise BridgeError(f"a SUBMIT frame carries a submit record, not {rec.kind}")
            writable = self._call("admin", self.device.admin, rec.tag, rec.readable)
            if writable is not None and not isinstance(writable, (bytes, bytearray)):
                raise BridgeError(f"Device.admin must return bytes or None, got {type(writable).__name__}")
            out = self._drain()
            if writable is None:
                return out + [json_frame(QUEUED, {"tag": rec.tag})]
            return out + [frame(COMPLETE, self._stamp(Record("complete", tag=rec.tag, aq=rec.aq, writable=bytes(writable))))]
        if ftype == INJECT:
            rec = unpack_record(body)
            if rec.kind not in INJECTED:
                raise BridgeError(f"cannot inject a {rec.kind} record (only {', '.join(INJECTED)})")
            done = self._call("inject", self.device.inject, rec.kind, rec.member, rec.queue)
            return self._drain() + [self._ack({"done": bool(done)})]
        if ftype == WORKLOAD:
            req = _json(body, "WORKLOAD")
            op, m, q = req.get("op"), req.get("member", 0), req.get("queue", 0)
            if not isinstance(op, str) or not _uint(m) or not _uint(q):
                raise BridgeError('a WORKLOAD frame needs {"op": str, "member": int, "queue": int}')
            done = self._call("workload", self.device.workload, op, m, q)
            return self._drain() + [self._ack({"done": bool(done)})]
        if ftype == CONTROL:
            answer = self._control(_json(body, "CONTROL"))
            return self._drain() + [self._ack(answer)]
        if ftype in _SENT_BY_DEVICE:
            raise BridgeError(f"unknown frame type {ftype!r} ({_SENT_BY_DEVICE[ftype]} is sent by the device)")
        raise BridgeError(f"unknown frame type {ftype!r}")

    def _control(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "power_on":
            cfg = req.get("config", {})
            if not isinstance(cfg, dict):
                raise BridgeError("power_on config must be an object")
            desc = self._describe()
            merged = {"members": len(desc.members), "queues": desc.queues, "objects": desc.objects,
                      "pages": desc.pages, **cfg}
            for key in ("members", "queues", "objects", "pages"):
                if not _uint(merged[key]) or merged[key] < 1:
                    raise BridgeError(f"bad power_on config: {key} must be a positive integer, got {merged[key]!r}")
            options = {k: v for k, v in merged.items() if k not in ("members", "queues", "objects", "pages")}
            self._call("power_on", self.device.power_on,
                       PowerOn(merged["members"], merged["queues"], merged["objects"], merged["pages"], options))
            self.device.take_events()     # nothing from before the power-on is reported after it
            desc = self._describe()
            self.autonomous = desc.autonomous
            return {"ok": True, "device": desc.topology()}
        if op in ("mem_read", "mem_write"):
            m, page = req.get("member"), req.get("page")
            if not _uint(m) or not _uint(page):
                raise BridgeError(f'{op} needs {{"member": int, "page": int}}, got member={m!r} page={page!r}')
            if op == "mem_read":
                data = self._call("mem_read", self.device.mem_read, m, page)
                if not isinstance(data, (bytes, bytearray)):
                    raise BridgeError(f"Device.mem_read must return bytes, got {type(data).__name__}")
                return {"data": bytes(data).hex()}
            try:
                data = bytes.fromhex(req["data"])
            except (KeyError, TypeError, ValueError):
                raise BridgeError("mem_write needs \"data\": a hex string") from None
            self._call("mem_write", self.device.mem_write, m, page, data)
            return {"ok": True}
        if op == "state":
            return self._call("state", self.device.state)
        if not isinstance(op, str):
            raise BridgeError(f'a CONTROL frame needs {{"op": str}}, got {op!r}')
        answer = self._call("control", self.device.control, op, req)
        if not isinstance(answer, dict):
            raise BridgeError(f"Device.control({op!r}) must return a JSON object")
        return answer


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BridgeError(f"{what} frame body is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BridgeError(f"{what} frame body must be a JSON object")
    return obj


# ---------------------------------------------------------------------------- sockets


def parse_address(text: str) -> tuple[int, Any]:
    """`unix:PATH` or `tcp:HOST:PORT` -> (address family, socket address)."""
    kind, _, rest = text.partition(":")
    if kind == "unix" and rest:
        return socket.AF_UNIX, rest
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit() and int(port) < 65536:
            return socket.AF_INET6 if ":" in host else socket.AF_INET, (host.strip("[]"), int(port))
    raise BridgeError(f"bad address {text!r}: use unix:PATH or tcp:HOST:PORT (e.g. tcp:127.0.0.1:7000)")


class _Framing(Exception):
    """The byte stream lost its framing: answer X, then close the connection."""


class _Reader:
    """Whole frames from one connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buf = bytearray()

    def buffered(self) -> tuple[bytes, bytes] | None:
        """The next frame if it is already wholly received (never blocks)."""
        if len(self.buf) < 4:
            return None
        (length,) = _LEN.unpack_from(self.buf, 0)
        if length < 1 or length > MAX_FRAME:
            raise _Framing(f"bad frame length {length} (1..{MAX_FRAME}): closing the connection")
        if len(self.buf) < 4 + length:
            return None
        ftype, body = bytes(self.buf[4:5]), bytes(self.buf[5 : 4 + length])
        del self.buf[: 4 + length]
        return ftype, body

    def read(self) -> tuple[bytes, bytes] | None:
        """The next frame, or None when the client has closed the connection."""
        while True:
            got = self.buffered()
            if got is not None:
                return got
            chunk = self.conn.recv(65536)
            if not chunk:
                if self.buf:
                    raise _Framing(f"connection closed inside a frame ({len(self.buf)} bytes pending)")
                return None
            self.buf += chunk


def serve_connection(bridge: Bridge, conn: socket.socket) -> None:
    """The frame loop of one client: read, answer in order, until the client leaves."""
    reader = _Reader(conn)
    try:
        while True:
            out: list[bytes] = []
            try:
                got = reader.read()
                while got is not None:
                    if got[0] == CONTROL and out:  # a quiesce may wait: what is answered goes out first
                        conn.sendall(b"".join(out))
                        out = []
                    out += bridge.handle(*got)
                    got = reader.buffered()      # a pipelined burst gets one write
            except _Framing as exc:
                conn.sendall(b"".join(out) + frame(ERROR, str(exc).encode()))
                return
            if not out:
                return                           # the client closed the connection
            conn.sendall(b"".join(out))
    except OSError:
        return
    finally:
        conn.close()


class BridgeServer:
    """Listens on an address and serves each client in its own thread."""

    def __init__(self, device: Device, address: str, *, log: Callable[[str], None] | None = None) -> None:
        self.address = address
        self.family, self.sockaddr = parse_address(address)
        self.bridge = Bridge(device, log=log)
        self._stop = threading.Event()
        self.listener: socket.socket | None = None

    def bind(self) -> Any:
        """Start listening; returns the bound socket address (the port for tcp:HOST:0)."""
        if self.family == socket.AF_UNIX and os.path.exists(self.sockaddr):
            os.unlink(self.sockaddr)      # a socket left over from an earlier run
        listener = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            if self.family != socket.AF_UNIX:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(self.sockaddr)
            listener.listen(16)
        except OSError as exc:
            listener.close()
            raise BridgeError(f"cannot listen on {self.address}: {exc.strerror or exc}") from None
        listener.settimeout(0.05)         # so that `close` from another thread is noticed soon
        self.listener = listener
        return listener.getsockname()

    def serve_forever(self) -> None:
        """Accept and serve clients until `close` (or KeyboardInterrupt / SystemExit)."""
        if self.listener is None:
            self.bind()
        assert self.listener is not None
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                conn.settimeout(None)
                threading.Thread(target=serve_connection, args=(self.bridge, conn), daemon=True).start()
        finally:
            self._cleanup()

    def close(self) -> None:
        """Stop accepting (connections already open finish their current burst)."""
        self._stop.set()

    def _cleanup(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.family == socket.AF_UNIX and os.path.exists(self.sockaddr):
            os.unlink(self.sockaddr)


def serve(device: Device, address: str, *, ready: Callable[[Any], None] | None = None) -> None:
    """Serve `device` on `address` until interrupted; `ready(sockname)` runs once listening."""
    server = BridgeServer(device, address)
    name = server.bind()
    if ready is not None:
        ready(name)
    server.serve_forever()
