"""`mcheck migrate-demo`: a live migration between two emulator processes, checked end to end.

A source and a destination emulator run as separate processes. This process plays the
guest (it posts buffers and takes used-buffer notifications), lets the devices work, and
drives the hypervisor flow:

- draft-v1 (the seed draft's example flow): WR_CAPS_QUERY, WR_START, a full copy, pre-copy
  rounds (WR_PENDING, WR_REPORT, copy the reported pages), DEV_MODE_SET(STOP), the final
  WR_REPORT and copy, DEV_MODE_SET(FREEZE), DEV_MODE_GET, DEV_CTX_SIZE_GET,
  DEV_CTX_FIELDS_QUERY, DEV_CTX_READ, WR_STOP; the ring pages (outside the tracked range)
  are copied while the source is frozen; destination DEV_MODE_SET(FREEZE),
  DEV_CTX_WRITE, DEV_MODE_SET(ACTIVE), DEV_MODE_GET.
- virtio-1.4 (the Linux flows, linux-qemu-flows.md §9.1-9.7), one `--scenario`:
  `normal` (R1 + R2): PF bring-up on both hosts; source OBJ_CREATE / METADATA_GET / GET_ALL
  (pre-copy), MODE_SET(stop), METADATA_GET, GET_ALL (final record); every guest page copied
  (virtio 1.4 has no write reporting); destination MODE_SET(stop), OBJ_CREATE(SET),
  PARTS_SET(record); source OBJ_DESTROY; destination OBJ_DESTROY, MODE_SET(resume); the
  guest continues on the destination.
  `cancel-precopy` (R3): the destination loads the pre-copy record, then the migration is
  cancelled: the source (never stopped) destroys its object and keeps the guest; the
  destination is torn down (OBJ_DESTROY, FLR).
  `cancel-after-switchover` (R4): after the final GET and the destination's SET, the source
  destroys its object and resumes; the destination is torn down.
  `flr-stop-copy` (R6): an FLR of the source member after its final GET; the migration fails,
  the hypervisor destroys the object and sends MODE_SET(stop), MODE_SET(resume); the
  guest driver starts the member again.
  `feature-mismatch`: the destination offers fewer features than the guest negotiated on
  the source (its DEV_FEATURES are read first); it must refuse the SET (D-DP-7), and the
  hypervisor then cancels after switchover (R4). A destination that accepts is resumed.

The checks (each failure one FAIL line naming its clauses): guest memory identical at
switchover; the source's final record equal to the parts the source device holds (its
state over the device protocol); after the destination's resume its parts (a GET) equal
the record, with only features it offers and the ones the guest negotiated (I-DP-5, D-DP-3,
D-DP-7); no DMA write nor notification by the source while it is stopped nor by the
destination before its resume (D-DP-9, D-DP-16, I-DP-5); the guest never left waiting: a
buffer written back at the stop is notified once the device that has the guest runs again;
every posted buffer completed exactly once and returned in the guest's used ring, whose
used index never goes back; a cancelled migration leaves the source's parts as they were;
an FLR returns the parts to their defaults (D-DP-22) and the recovery MODE_SETs succeed
(D-DP-20/21). Both host captures replay against the model; for virtio-1.4 the merged
capture `merged.jsonl` (source member 1 as wire member 1, destination member 1 as wire
member 2, owner-level events as member 0) replays against the pair model
virtio-1.4-migration when it is installed.

`--source ADDR --destination ADDR` (virtio-1.4): no emulator is started; the scenario runs
against two running device endpoints (an emulator, a bridge), and since nothing there writes
a capture for the demo, it records both captures itself from what crosses the sockets
(`RecordingBackend`: each admin command with its answer, each injected event, each event the
device reports, timestamped in the order received) and replays those. A check that needs a
control an arbitrary device may not offer (`state` for the parts it holds, the power_on
option `features`) is skipped with a `note:` naming it. `--scenario all` runs every
scenario in turn (each from a power_on): the pair conformance suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

from mcheck.device.backend import DeviceError, EmulatorBackend
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.device.virtq import avail_addr, used_addr
from mcheck.errors import InputError, ModelDefinitionError
from mcheck.trace.codec import Codec
from mcheck.trace.events import AdminCommand, AdminComplete, TraceHeader
from mcheck.trace.profile import load_profile

PAGE = 4096
SEQ = re.compile(rb"m(\d+) q(\d+) seq(\d{8})")


def unwrap_index(ring_index: int, posted: int) -> int:
    """The buffer a 16-bit ring index in a payload stands for: the latest of the `posted` buffers
    (counted from 0) whose index is `ring_index` modulo 2^16. At most a queue's worth is
    outstanding, so after 65,536 buffers an index still names one buffer, not two."""
    last = posted - 1
    return last - ((last - ring_index) % 0x10000)
SCENARIOS = {
    "normal": "R1 + R2: the guest moves to the destination",
    "cancel-precopy": "R3: cancelled during pre-copy; the source, never stopped, keeps the guest",
    "cancel-after-switchover": "R4: cancelled after the final GET; the source resumes, the destination is torn down",
    "flr-stop-copy": "R6: FLR of the source member after its final GET; the migration fails, the source is recovered",
    "feature-mismatch": "the destination offers fewer features: it must refuse the SET (D-DP-7), then R4",
}
# the feature the feature-mismatch destination does not offer: VIRTIO_F_RING_RESET (bit 40)
MISSING_FEATURE = 40
PAIR_MODEL = "virtio-1.4-migration"
#: --buffers cap: the payload sequence has 8 digits (SEQ), and a million buffers already take
#: hours through two emulator processes; more is a typo, not a test
MAX_BUFFERS = 1_000_000
COMPARED = ("DRV_FEATURES", "PCI_COMMON_CFG", "DEVICE_STATUS", "VQ_CFG", "VQ_NOTIFY_CFG")


@dataclass
class Host:
    name: str
    dev: EmulatorBackend
    member: int
    codec: Codec
    log: list[str]
    stopped_at: int | None = None      # request count when the stop completed
    # while set, the device must not touch guest memory nor notify: "after it was stopped" (a
    # stopped source) or "before its resume" (a destination); None while it may work
    quiet: str | None = None
    writes_after_stop: list[str] = field(default_factory=list)      # DMA writes while quiet
    quiet_notifications: int = 0

    def cmd(self, name: str, group: Any, fields: dict[str, Any], *, member: int | None = None,
            expect: str | None = "OK", clauses: str = "") -> Any:
        readable = self.codec.encode_command(name, group, self.member if member is None else member, fields)
        writable = self.dev.submit(readable)
        if writable is None:
            raise DemoFailure(f"{self.name}: {name} was held by the device although no FLR, reset or PM transition "
                              "was in progress (D-DP-17, D-DP-18, D-DP-19 allow holding only then)")
        res = self.codec.decode_result(name, writable)
        label = name
        if name == "DEV_MODE_SET" and "flags" in fields:
            label += "(stop)" if fields["flags"] & 1 else "(resume)"
        self.log.append(f"{self.name:<11} {label:<24} -> {res.status_name}")
        if expect and res.status_name != expect:
            why = f" ({clauses})" if clauses else ""
            raise DemoFailure(f"{self.name}: {name} answered {res.status_name}/{res.qualifier_name}, "
                              f"expected {expect}{why}")
        return res


class DemoFailure(Exception):
    pass


class Clock:
    """One clock for both recorders: wall-clock nanoseconds, strictly increasing, so the merged
    capture keeps the order in which the demo saw things cross the two sockets."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> int:
        self.last = max(time.time_ns(), self.last + 1)
        return self.last


class RecordingBackend(EmulatorBackend):
    """A client of a device endpoint that records its own capture of what crosses the socket,
    the way the emulator's `--capture` does: each admin command with the device's answer (a
    held one when its completion arrives), each injected event (before what the device did
    about it), and each event the device reports, in the order received and stamped by
    `clock`. A power_on starts the capture afresh. Workload and control requests leave no
    record of their own, only the device events they bring. `name` (source / destination)
    prefixes every DeviceError."""

    def __init__(self, address: str, *, name: str, clock: Clock, timeout: float, connect_timeout: float = 1.0) -> None:
        self.name = name
        self.clock = clock
        self.captured: list[Any] = []
        self.topology: dict[str, Any] | None = None     # the power_on answer's `device`
        self._asked: deque[tuple] = deque()              # requests sent, their answers not read yet
        self._held: dict[int, bytes] = {}                # tag -> readable of a held command
        try:
            super().__init__(address, timeout=timeout, connect_timeout=connect_timeout)
        except DeviceError as exc:
            raise DeviceError(f"--{name}: {exc}") from None

    def _encode(self, req: tuple) -> tuple[bytes, str, bytes, int | None]:
        encoded = super()._encode(req)
        if req[0] == "submit":
            self._asked.append(("submit", self.tag, req[1]))
        elif req[0] == "inject":
            self._asked.append(("inject", req[1], req[2], req[3]))
        else:
            self._asked.append((req[0], req[1]))
        return encoded

    def control(self, op: str, **fields: Any) -> dict[str, Any]:
        self._asked.append(("control", op))
        return super().control(op, **fields)

    def _answer(self, what: str, expect: bytes, tag: int | None = None) -> Any:
        asked = self._asked.popleft() if self._asked else ("hello",)
        start = len(self._events)
        try:
            answer = super()._answer(what, expect, tag)
        except DeviceError as exc:
            self._take(asked, None, self._events[start:], failed=True)
            raise DeviceError(f"{self.name} endpoint {self.address}: {exc}") from None
        self._take(asked, answer, self._events[start:], failed=False)
        return answer

    def _stamp(self, event: Any) -> None:
        self.captured.append(dataclasses.replace(event, index=len(self.captured), timestamp=self.clock()))

    def _take(self, asked: tuple, answer: Any, events: list[Any], *, failed: bool) -> None:
        kind = asked[0]
        if kind == "hello":
            return
        if kind == "control" and asked[1] == "power_on":
            self.captured.clear()                     # the capture holds the exchange since the power-on
            self._held.clear()
            if isinstance(answer, dict) and isinstance(answer.get("device"), dict):
                self.topology = answer["device"]
            return
        if kind == "inject":
            before = len(events) if failed else _before_count(answer, len(events))
        else:
            before = len(events)                      # a command completes after what it did
        for i, ev in enumerate(events):
            if i == before and kind == "inject":
                self._injected(asked)
            if isinstance(ev, AdminComplete):         # a held command answered now
                readable = self._held.pop(ev.tag, None)
                if readable is not None:
                    self._stamp(AdminCommand(index=0, timestamp=0, tag=ev.tag, readable=readable,
                                             writable=ev.writable, codec=self.codec))
            else:
                self._stamp(ev)
        if failed:
            return
        if kind == "inject" and before >= len(events):
            self._injected(asked)
        if kind == "submit":
            _, tag, readable = asked
            if answer is None:
                self._held[tag] = readable
            else:
                self._stamp(AdminCommand(index=0, timestamp=0, tag=tag, readable=readable, writable=answer,
                                         codec=self.codec))

    def _injected(self, asked: tuple) -> None:
        from mcheck.device.protocol import INJECT_TYPES
        _, kind, member, queue = asked
        fields: dict[str, Any] = {} if kind == "owner_reset" else {"member": member}
        if kind == "doorbell":
            fields["queue"] = queue
        self._stamp(INJECT_TYPES[kind](index=0, timestamp=0, **fields))

    def trace_header(self) -> TraceHeader:
        topo = self.topology or {}
        members = topo.get("members")
        queues = topo.get("queues")
        return TraceHeader(profile=self.header.profile,
                           members=tuple(members) if isinstance(members, list) else self.header.members,
                           queues=queues if isinstance(queues, int) else self.header.queues)

    def write_capture(self, path: Path) -> None:
        from mcheck.trace.io import write_trace
        write_trace(path, self.trace_header(), list(self.captured), codec=self.codec)


def _before_count(answer: Any, n: int) -> int:
    """Of an ACK's n event frames, how many came before the request (`before`; absent: 0)."""
    before = answer.get("before", 0) if isinstance(answer, dict) else 0
    return before if isinstance(before, int) and not isinstance(before, bool) and 0 <= before <= n else 0


def _words(value: Any) -> int:
    if isinstance(value, list):
        return sum(int(w) << (64 * i) for i, w in enumerate(value))
    return int(value) if isinstance(value, int) else 0


def _bits(mask: int) -> str:
    return ", ".join(str(b) for b in range(mask.bit_length()) if mask >> b & 1)


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:#x}" if value > 9 else str(value)
    return repr(value)


def _key(part: dict[str, Any]) -> tuple:
    return part.get("type"), part.get("index"), part.get("offset")


def _name(key: tuple) -> str:
    kind, index, offset = key
    return kind + (f" {index}" if index is not None else "") + (f" @{offset}" if offset is not None else "")


def compare_parts(a: list[dict[str, Any]], b: list[dict[str, Any]], a_is: str, b_is: str) -> list[str]:
    """The differences between two part lists in the parts a migration restores (COMPARED):
    one phrase per part that differs or is missing on one side."""
    one = {_key(p): p.get("value") for p in a if p.get("type") in COMPARED}
    two = {_key(p): p.get("value") for p in b if p.get("type") in COMPARED}
    out = []
    for key in sorted(set(one) | set(two), key=lambda k: (COMPARED.index(k[0]), k[1] or 0, k[2] or 0)):
        if key not in two:
            out.append(f"{_name(key)} missing {b_is}")
        elif key not in one:
            out.append(f"{_name(key)} missing {a_is}")
        elif key[0] == "DRV_FEATURES" and _words(one[key]) != _words(two[key]):
            out.append(f"{_name(key)} {_words(one[key]):#x} {a_is}, {_words(two[key]):#x} {b_is}")
        elif key[0] != "DRV_FEATURES" and one[key] != two[key]:
            x, y = one[key], two[key]
            if isinstance(x, dict) and isinstance(y, dict):
                for f in sorted(set(x) | set(y)):
                    if x.get(f) != y.get(f):
                        out.append(f"{_name(key)} {f} {_show(x.get(f))} {a_is}, {_show(y.get(f))} {b_is}")
            else:
                out.append(f"{_name(key)} {_show(x)} {a_is}, {_show(y)} {b_is}")
    return out


def part_value(parts: list[dict[str, Any]], kind: str, default: Any = None) -> Any:
    return next((p.get("value") for p in parts if p.get("type") == kind), default)


class Demo:
    def __init__(self, profile: str, bugs: list[str], out: Path, buffers: int, *, scenario: str = "normal",
                 dst_bugs: list[str] | None = None) -> None:
        self.profile, self.bugs, self.out, self.buffers = profile, bugs, out, buffers
        self.flow = flow_of(profile)
        self.scenario = scenario
        self.dst_bugs = list(dst_bugs or [])
        self.codec = Codec(load_profile(profile))
        self.log: list[str] = []
        self.completions: dict[int, list[str]] = {}     # seq -> hosts that completed it
        self.posted = 0
        self.problems: list[str] = []
        self.notes: list[str] = []
        # the guest: the host it runs on, the used index its last used-buffer notification
        # covered, the used index it last saw; `base` numbers buffers across a ring restart
        self.guest: Host | None = None
        self.notified = 0
        self.seen_used: int | None = None
        self.went_back = False
        self.base = 0
        self.abandoned: set[int] = set()
        self.negotiated: int | None = None
        self.no_state: dict[str, str] = {}      # host -> why its `state` gives no parts
        self.replay_details: dict[str, str] = {}   # capture -> the violated property and its clauses

    # -- guest and device work
    def post(self, host: Host) -> None:
        if host.dev.workload("post", host.member, 0):
            host.dev.inject("doorbell", host.member, 0)
            self.posted += 1

    def work(self, host: Host, op: str, arg: int = 0) -> bool:
        done = host.dev.workload(op, host.member, arg)
        self._collect(host)
        if host is self.guest and self.flow.guest_watches:
            self._watch(host)
        return done

    def cmd(self, host: Host, name: str, fields: dict[str, Any], **kw: Any) -> Any:
        """An SR-IOV admin command for the host's member; what the device did meanwhile is collected."""
        try:
            return host.cmd(name, "SRIOV", fields, **kw)
        finally:
            self._collect(host)

    def _collect(self, host: Host) -> None:
        for ev in host.dev.events():
            if ev.KIND == "used_notify":
                if host.quiet is not None:
                    host.quiet_notifications += 1
                elif host is self.guest and self.flow.guest_watches:
                    self.notified = self.used_index(host)
                continue
            if ev.KIND != "dma_write":
                continue
            page = host.dev.mem_read(host.member, ev.address // PAGE)
            off = ev.address % PAGE
            found = SEQ.search(page[off : off + ev.length])
            seq = self.base + unwrap_index(int(found.group(3)), self.posted - self.base) if found else -1
            where = f"{host.name} (DMA write at {ev.address:#x})"
            if host.stopped_at is not None or host.quiet is not None:
                host.writes_after_stop.append(f"seq {seq} at {ev.address:#x}")
                where += f" {host.quiet or 'after it was stopped'}"
            self.completions.setdefault(seq, []).append(where)

    def ring(self, host: Host) -> tuple[int, int]:
        """(avail index, used index) of queue 0 in the host's guest memory."""
        avail = host.dev.mem_read(host.member, avail_addr(0) // PAGE)[avail_addr(0) % PAGE + 2:][:2]
        return int.from_bytes(avail, "little"), self.used_index(host)

    def used_index(self, host: Host) -> int:
        page = host.dev.mem_read(host.member, used_addr(0) // PAGE)
        off = used_addr(0) % PAGE + 2
        return int.from_bytes(page[off : off + 2], "little")

    def _watch(self, host: Host) -> None:
        """The guest's used index never goes back (Q4: a device continues from it)."""
        used = self.used_index(host)
        if self.seen_used is not None and (used - self.seen_used) & 0xFFFF > 0x8000 and not self.went_back:
            self.went_back = True
            self.problems.append(f"the guest's used index went back from {self.seen_used} to {used} on the "
                                 f"{host.name}: the device did not continue from the used index in guest memory "
                                 "(Q4: no part carries last_avail_idx; D-DP-10/11: the stop wrote back every "
                                 "observed buffer)")
        self.seen_used = used

    def copy_pages(self, src: Host, dst: Host, pages: list[int]) -> None:
        for p in pages:
            dst.dev.mem_write(dst.member, p, src.dev.mem_read(src.member, p))

    def compare(self, src: Host, dst: Host, pages: int, why: str) -> None:
        for p in range(pages):
            a, b = src.dev.mem_read(src.member, p), dst.dev.mem_read(dst.member, p)
            if a != b:
                self.problems.append(f"guest page {p} differs between source and destination at switchover ({why})")

    # -- the draft-v1 flow
    def run_draft(self, src: Host, dst: Host, pages: int) -> None:
        s, d = src, dst
        s.cmd("WR_CAPS_QUERY", "SRIOV", {})
        tracked = pages + 1            # the data pages and the used-ring page (draft-v1 layout)
        s.cmd("WR_START", "SRIOV", {"page_size": PAGE, "mode": 0, "range_addr": 0, "range_len": PAGE * tracked})
        self.copy_pages(s, d, list(range(pages + 2)))                # the first, full copy
        self.log.append(f"hypervisor  copy pages 0..{pages + 1} (full copy under tracking)")
        rounds = max(1, self.buffers - 1)
        for _ in range(rounds):                                     # pre-copy rounds
            self.post(s)
            self.work(s, "service")
            n = s.cmd("WR_PENDING", "SRIOV", {}).fields.get("pending_bytes", 0)
            report = s.cmd("WR_REPORT", "SRIOV", {"range_addr": 0, "range_len": PAGE * tracked})
            dirty = self._bits(report.fields.get("bitmap", b""), tracked)
            self.log.append(f"hypervisor  WR_PENDING={n}, copy reported pages {dirty}")
            self.copy_pages(s, d, dirty)
        self.post(s)
        self.work(s, "fetch")                                       # in flight at the stop
        s.cmd("DEV_MODE_SET", "SRIOV", {"mode": 1})
        s.stopped_at = s.dev.requests
        for _ in range(2):                                          # the device's own timers
            self.work(s, "service")
        report = s.cmd("WR_REPORT", "SRIOV", {"range_addr": 0, "range_len": PAGE * tracked})
        dirty = self._bits(report.fields.get("bitmap", b""), tracked)
        self.copy_pages(s, d, dirty)
        self.log.append(f"hypervisor  final report: copy pages {dirty}")
        s.cmd("DEV_MODE_SET", "SRIOV", {"mode": 2})
        self.work(s, "service")                                     # a frozen device does nothing
        s.cmd("DEV_MODE_GET", "SRIOV", {})
        s.cmd("DEV_CTX_SIZE_GET", "SRIOV", {"freeze_mode": 1})
        s.cmd("DEV_CTX_FIELDS_QUERY", "SRIOV", {})
        ctx = b""
        for _ in range(64):                                         # the chunks of the context (implicit cursor)
            chunk = s.cmd("DEV_CTX_READ", "SRIOV", {}).fields
            ctx += bytes(chunk.get("context", b""))
            if not chunk.get("remaining_ctx_size") or not chunk.get("size"):
                break
        s.cmd("WR_STOP", "SRIOV", {"range_addr": 0})
        self.copy_pages(s, d, [pages + 1])
        self.log.append(f"hypervisor  copy ring page {pages + 1} (tables and avail rings, outside the tracked range) "
                        "while frozen")
        d.cmd("DEV_MODE_SET", "SRIOV", {"mode": 2})
        half = len(ctx) // 2                                        # written in two chunks (append cursor)
        d.cmd("DEV_CTX_WRITE", "SRIOV", {"context": ctx[:half]})
        d.cmd("DEV_CTX_WRITE", "SRIOV", {"context": ctx[half:]})
        d.cmd("DEV_MODE_SET", "SRIOV", {"mode": 0})
        d.cmd("DEV_MODE_GET", "SRIOV", {})
        self.compare(s, d, pages + 2, "a page the source wrote was not reported" if "unreported-write" in self.bugs
                     else "copy incomplete")
        self.log.append("switchover  the guest runs on the destination")

    # -- the virtio-1.4 flows (linux-qemu-flows.md §9)
    def run_v14(self, src: Host, dst: Host, pages: int) -> None:
        scenario = self.scenario
        for h in (src, dst):
            self.bring_up(h)
        self.guest = src
        if scenario == "feature-mismatch":
            self.probe_features(dst)
        self.work(src, "init")
        held = self.held_parts(src)
        self.negotiated = _words(part_value(held, "DRV_FEATURES", [0])) if held is not None else None
        self.cmd(src, "RESOURCE_OBJ_CREATE", {"obj_id": 0, "parts_type": 0})       # R1 step 2
        self.cmd(src, "DEV_PARTS_METADATA_GET", {"obj_id": 0, "type": 0})
        record = self.get_all(src)
        if scenario == "cancel-precopy":                        # R2 step 1-2 while the source runs
            self.load_setup(dst)
            self.cmd(dst, "DEV_PARTS_SET", {"obj_id": 0, "parts": record})
        for _ in range(self.buffers):                           # the VM runs during pre-copy
            self.post(src)
            if self.work(src, "service"):
                self.work(src, "notify")
        if scenario == "cancel-precopy":
            self.check_record(src, record, "pre-copy")
            return self.cancel_precopy(src, dst, record)
        record = self.switchover(src)
        self.check_record(src, record, "final")
        self.copy_pages(src, dst, list(range(pages)))
        self.log.append(f"hypervisor  copy every guest page 0..{pages - 1} at switchover "
                        "(virtio 1.4 has no write reporting)")
        self.compare(src, dst, pages, "copy incomplete")
        for _ in range(2):                                      # the source device's own timers run on
            self.work(src, "complete")
        self.load_setup(dst)
        refusal = scenario == "feature-mismatch"
        res = self.cmd(dst, "DEV_PARTS_SET", {"obj_id": 0, "parts": record}, expect=None if refusal else "OK",
                       clauses="I-DP-5, D-DP-5")
        for _ in range(2):                                      # the destination device's own timers
            self.work(dst, "service")
        if refusal:
            if res.status_name == "OK":
                self.log.append("hypervisor  the destination accepted the record: the migration goes on")
            else:
                self.log.append(f"hypervisor  the destination refused the record ({res.status_name}, D-DP-7): "
                                "cancel after switchover (R4)")
                return self.cancel_after_switchover(src, dst, record)
        if scenario == "cancel-after-switchover":
            return self.cancel_after_switchover(src, dst, record)
        if scenario == "flr-stop-copy":
            return self.flr_stop_copy(src, dst)
        self.cmd(src, "RESOURCE_OBJ_DESTROY", {"obj_id": 0})     # R1 step 7
        self.cmd(dst, "RESOURCE_OBJ_DESTROY", {"obj_id": 0})     # R2 step 4a
        self.cmd(dst, "DEV_MODE_SET", {"flags": 0}, clauses="D-DP-21")             # step 4c
        dst.quiet = None
        self.guest = dst
        self.log.append("switchover  the guest runs on the destination")
        self.settle(dst)
        after = self.inspect(dst)
        diffs = compare_parts(record, after, "in the source's record", "on the destination")
        if diffs:
            self.problems.append(f"after its resume the destination's parts differ from the source's final record: "
                                 f"{'; '.join(diffs)} (I-DP-5: a SET takes effect at the resume; D-DP-3)")
        self.check_features(dst, after)
        self.continue_on(dst, 2)

    def bring_up(self, h: Host) -> None:
        """R0: PF bring-up (each group's commands enabled by its own LIST_USE, D-GA-9)."""
        for group in ("SELF", "SRIOV"):
            ops = h.cmd("LIST_QUERY", group, {}, member=0).fields.get("opcodes", [])
            h.cmd("LIST_USE", group, {"opcodes": ops}, member=0)
        h.cmd("CAP_ID_LIST_QUERY", "SELF", {}, member=0)
        lim = h.cmd("DEVICE_CAP_GET", "SELF", {"id": 0}, member=0).fields
        m = min(lim.get("get_parts_limit", 1), lim.get("set_parts_limit", 1))
        h.cmd("DRIVER_CAP_SET", "SELF", {"id": 0, "get_parts_limit": m, "set_parts_limit": m}, member=0)

    def get_all(self, h: Host) -> list[dict[str, Any]]:
        return self.cmd(h, "DEV_PARTS_GET", {"obj_id": 0, "type": 1}).fields.get("parts", [])

    def inspect(self, h: Host) -> list[dict[str, Any]]:
        """The member's parts through a GET object of its own: OBJ_CREATE(GET), GET(ALL), OBJ_DESTROY."""
        self.cmd(h, "RESOURCE_OBJ_CREATE", {"obj_id": 0, "parts_type": 0})
        parts = self.get_all(h)
        self.cmd(h, "RESOURCE_OBJ_DESTROY", {"obj_id": 0})
        return parts

    def held_parts(self, h: Host) -> list[dict[str, Any]] | None:
        """The parts the device holds, from its state over the device protocol (None if it has
        none: `self.no_state[h.name]` says why)."""
        try:
            state = h.dev.control("state")
        except DeviceError as exc:
            self.no_state[h.name] = f"it refused the `state` control request ({str(exc).split(': ', 1)[-1]})"
            return None
        try:
            parts = state["members"][str(h.member)]["parts"]
            if not isinstance(parts, list):
                raise TypeError
            return parts
        except (KeyError, TypeError):
            self.no_state[h.name] = (f"its `state` answer has no members.{h.member}.parts (the parts a device holds "
                                     "are mcheck's emulator's state format, optional for other devices)")
            return None

    def check_record(self, src: Host, record: list[dict[str, Any]], which: str) -> None:
        """A GET that misreports the source's parts is caught even where source and destination agree."""
        held = self.held_parts(src)
        if held is None:
            self.notes.append(f"check skipped: the source's {which} DEV_PARTS_GET record against the parts the source "
                              f"device holds (D-DP-2, D-DP-3): the source device reports no parts in its state "
                              f"({self.no_state.get(src.name, '')})")
            return
        diffs = compare_parts(record, held, "reported", "held")
        if diffs:
            self.problems.append(f"the source's {which} DEV_PARTS_GET record misreports the parts the source device "
                                 f"holds: {'; '.join(diffs)}; the destination restores the record, not the guest's "
                                 "configuration (D-DP-2, D-DP-3, I-DP-5)")

    def probe_features(self, dst: Host) -> None:
        """feature-mismatch: the hypervisor reads the destination's DEV_FEATURES before the
        migration, so both the destination's own capture and the pair capture show what it
        offers, and its answer to the SET can be judged (D-DP-7)."""
        offered = _words(part_value(self.inspect(dst), "DEV_FEATURES", [0]))
        self.log.append(f"hypervisor  the destination offers features {offered:#x}")
        if offered >> MISSING_FEATURE & 1:
            self.notes.append(f"check skipped: the destination's refusal of a record with features it does not offer "
                              f"(D-DP-7): it still offers feature bit {MISSING_FEATURE}, so it did not take the "
                              "power_on option `features`; this scenario ran as a plain migration")

    def switchover(self, src: Host) -> list[dict[str, Any]]:
        """R1 step 5: one buffer in flight and one posted, not yet fetched; MODE_SET(stop) writes
        the first back (D-DP-10/11); METADATA_GET, GET_ALL: the final record."""
        self.cmd(src, "DEV_PARTS_METADATA_GET", {"obj_id": 0, "type": 0})
        self.post(src)
        self.work(src, "fetch")                                 # in flight at the stop
        self.post(src)                                          # posted, not observed at the stop
        self.cmd(src, "DEV_MODE_SET", {"flags": 1}, clauses="D-DP-20")            # step 5a
        src.stopped_at = src.dev.requests
        src.quiet = "after it was stopped"
        self.guest = None                                       # the VM is stopped: the guest looks at nothing
        self.cmd(src, "DEV_PARTS_METADATA_GET", {"obj_id": 0, "type": 0})     # step 5b
        return self.get_all(src)

    def load_setup(self, dst: Host) -> None:
        """R2 steps 1a-1c: the destination member is stopped before anything is loaded."""
        dst.quiet = "before its resume"
        self.cmd(dst, "DEV_MODE_SET", {"flags": 1}, clauses="D-DP-20")
        self.cmd(dst, "RESOURCE_OBJ_CREATE", {"obj_id": 0, "parts_type": 1})

    def teardown(self, dst: Host) -> None:
        """R3 destination: close_device destroys the object, then the function is reset."""
        self.cmd(dst, "RESOURCE_OBJ_DESTROY", {"obj_id": 0})
        self.flr(dst)
        self.log.append("hypervisor  the destination is torn down (OBJ_DESTROY, FLR)")

    def flr(self, h: Host) -> None:
        h.dev.inject("flr_begin", h.member, 0)
        h.dev.inject("flr_end", h.member, 0)
        self._collect(h)
        self.log.append(f"{h.name:<11} FLR")

    def settle(self, h: Host) -> None:
        """Right after a resume, before the guest posts anything: the device's own steps
        (completions, no new fetches). A buffer the stop wrote back (no notification allowed
        while stopped, D-DP-16) must now be notified, or the guest waits for ever."""
        for _ in range(2):
            self.work(h, "complete")
        used = self.used_index(h)
        if (used - self.notified) & 0xFFFF and (used - self.notified) & 0xFFFF < 0x8000:
            self.problems.append(f"the guest was left waiting on the {h.name}: used index {used} in guest memory, its "
                                 f"last used-buffer notification covered {self.notified}; the buffers written back at "
                                 "the stop were never notified after the resume (D-DP-11: written back at the stop; "
                                 "D-DP-16: no notification while stopped, so one is due once running)")
            self.notified = used

    def resume_source(self, src: Host, why: str, clauses: str) -> None:
        self.cmd(src, "DEV_MODE_SET", {"flags": 0}, clauses=clauses)
        src.quiet = None
        src.stopped_at = None
        self.guest = src
        self.log.append(f"hypervisor  the source resumes ({why})")

    def cancel_precopy(self, src: Host, dst: Host, record: list[dict[str, Any]]) -> None:
        """R3: the source was never stopped: no MODE_SET; its object goes, it keeps the guest."""
        self.cmd(src, "RESOURCE_OBJ_DESTROY", {"obj_id": 0})
        self.log.append("hypervisor  migration cancelled during pre-copy (R3): the source keeps running")
        self.teardown(dst)
        self.source_intact(src, record)
        self.continue_on(src, 2)

    def cancel_after_switchover(self, src: Host, dst: Host, record: list[dict[str, Any]]) -> None:
        """R4: the source's object goes and it resumes with its state; the destination is torn down."""
        self.cmd(src, "RESOURCE_OBJ_DESTROY", {"obj_id": 0})
        self.resume_source(src, "migration cancelled after switchover, R4", "D-DP-21")
        self.settle(src)
        self.teardown(dst)
        self.source_intact(src, record)
        self.continue_on(src, 2)

    def source_intact(self, src: Host, record: list[dict[str, Any]]) -> None:
        after = self.inspect(src)
        diffs = compare_parts(record, after, "in its last record", "now")
        if diffs:
            self.problems.append(f"the cancelled migration changed the source's parts: {'; '.join(diffs)} "
                                 "(I-DP-7, D-DP-21: the source continues as it was)")
        self.check_record(src, after, "post-cancel")

    def flr_stop_copy(self, src: Host, dst: Host) -> None:
        """R6: FLR of the source member after the final GET: the parts go back to their defaults
        (D-DP-22); Linux destroys the object (ENXIO if the device destroyed it, T5), the
        migration fails, and the hypervisor's MODE_SET(stop) and MODE_SET(resume) must succeed."""
        self.flr(src)
        lost = set(range(self.base, self.posted)) - set(self.completions)
        self.abandoned |= lost
        if lost:
            self.log.append(f"guest       buffers {sorted(lost)} abandoned: the FLR reset the rings (§2.4)")
        self.base, self.notified, self.seen_used = self.posted, 0, None
        self.cmd(src, "RESOURCE_OBJ_DESTROY", {"obj_id": 0}, expect=None)
        self.log.append("hypervisor  the migration failed (FLR during stop-copy, R6)")
        self.teardown(dst)
        try:
            self.cmd(src, "DEV_MODE_SET", {"flags": 1}, clauses="D-DP-20: the recovery stop after the FLR")
            src.quiet = "after it was stopped"
            self.resume_source(src, "recovery after the FLR, R6", "D-DP-21: the recovery resume after the FLR")
        except DemoFailure as exc:
            self.problems.append(str(exc))
            src.quiet = None
        after = self.inspect(src)
        wrong = []
        status = part_value(after, "DEVICE_STATUS", 0)
        if status:
            wrong.append(f"DEVICE_STATUS {_show(status)}")
        if _words(part_value(after, "DRV_FEATURES", [0])):
            wrong.append(f"DRV_FEATURES {_words(part_value(after, 'DRV_FEATURES')):#x}")
        for p in after:
            v = p.get("value")
            if p.get("type") == "VQ_CFG" and isinstance(v, dict):
                live = [f"{k} {_show(v[k])}" for k in ("enabled", "queue_desc", "queue_driver", "queue_device")
                        if v.get(k)]
                if live:
                    wrong.append(f"VQ_CFG {p.get('index')} {', '.join(live)}")
        if wrong:
            self.problems.append(f"after the FLR the source's parts are not the defaults: {'; '.join(wrong)} "
                                 "(D-DP-22: a member FLR returns every part to its default)")
        self.work(src, "init")                                  # the guest driver starts the member again
        self.log.append("guest       the driver initialises the reset member again")
        self.continue_on(src, 2)

    def check_features(self, dst: Host, after: list[dict[str, Any]]) -> None:
        offered = _words(part_value(after, "DEV_FEATURES", [0]))
        accepted = _words(part_value(after, "DRV_FEATURES", [0]))
        if accepted & ~offered:
            self.problems.append(f"after its resume the destination runs with feature bit(s) "
                                 f"{_bits(accepted & ~offered)} it does not offer (offers {offered:#x}, runs with "
                                 f"{accepted:#x}): the guest never negotiated them with it (D-DP-7: a SET with "
                                 "features the device does not offer must fail)")
        if self.negotiated is None:
            self.notes.append("check skipped: the destination's accepted features against the ones the guest "
                              "negotiated on the source (I-DP-5): the source device reports no parts in its state "
                              f"({self.no_state.get('source', '')})")
        elif accepted != self.negotiated:
            self.problems.append(f"after its resume the destination runs with accepted features {accepted:#x}, the "
                                 f"guest negotiated {self.negotiated:#x} on the source (bits "
                                 f"{_bits(accepted ^ self.negotiated)} differ; I-DP-5)")

    @staticmethod
    def _bits(raw: bytes, pages: int) -> list[int]:
        value = int.from_bytes(raw, "little")
        return [p for p in range(pages) if value >> p & 1]

    def continue_on(self, h: Host, extra: int) -> None:
        """The guest runs on `h`: posts, the device serves and notifies; at the end everything is drained."""
        if not self.flow.guest_watches:     # the guest only has the device serve what it posted
            for _ in range(4):
                self.work(h, "service")
            return
        for _ in range(extra):
            self.post(h)
            if self.work(h, "service"):
                self.work(h, "notify")
        drained = False
        for _ in range(16):
            if not self.work(h, "service"):
                break
            drained = True
        if drained:
            self.work(h, "notify")
        avail, used = self.ring(h)
        if avail != used:
            self.problems.append(f"{(avail - used) & 0xFFFF} buffer(s) the guest posted never came back in its used "
                                 f"ring on the {h.name} (avail index {avail}, used index {used}): lost or re-used "
                                 "(D-DP-10/11, Q4)")

    def judge(self, hosts: list[Host]) -> None:
        for h in hosts:
            writes = ", ".join(h.writes_after_stop)
            if writes and not self.flow.cites_clauses:
                self.problems.append(f"the {h.name} device wrote guest memory after it was stopped: {writes}")
            elif writes and h.name == "source":
                self.problems.append(f"the source device wrote guest memory after it was stopped: {writes} "
                                     "(D-DP-9, D-DP-16)")
            elif writes:
                self.problems.append(f"the destination device touched guest memory before its resume: {writes} "
                                     "(D-DP-9, D-DP-16; I-DP-5: SET parts take effect at the resume)")
            if h.quiet_notifications:
                when = "after it was stopped" if h.name == "source" else "before its resume"
                self.problems.append(f"the {h.name} device sent {h.quiet_notifications} used-buffer notification(s) "
                                     f"{when} (D-DP-16)")
        for seq in range(self.posted):
            done = self.completions.get(seq, [])
            if not done and seq not in self.abandoned:
                self.problems.append(f"buffer seq {seq} was lost: posted by the guest, never completed (MIG-VQ-1; D-DP-10, D-DP-11)")
            elif len(done) > 1:
                self.problems.append(f"buffer seq {seq} was completed {len(done)} times: {'; '.join(done)} (MIG-VQ-1; D-DP-10, D-DP-11)")


def run_demo(profile: str, bugs: list[str], out: Path, *, buffers: int = 3, timeout: float = 5.0,
             scenario: str = "normal", dst_bugs: list[str] | None = None) -> tuple[bool, Demo, dict[str, str]]:
    """One migration between two emulator processes started here; their own captures are replayed."""
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    flow = flow_of(profile)
    if not flow.scenarios and scenario != "normal":
        raise InputError(f"--scenario {scenario}: only the {_flows_with('scenarios')} flow has scenarios")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mcheck-migrate-"))
    pages = flow.pages
    demo = Demo(profile, bugs, out, buffers, scenario=scenario, dst_bugs=dst_bugs)
    caps = {"source": out / "source.jsonl", "destination": out / "destination.jsonl"}
    procs = []
    try:
        procs.append(start_emulator(tmp / "src.sock", profile=profile, members=flow.members, bugs=bugs,
                                    capture=str(caps["source"]), extra=["--pages", str(pages)]))
        procs.append(start_emulator(tmp / "dst.sock", profile=profile, members=flow.members,
                                    bugs=demo.dst_bugs, capture=str(caps["destination"]),
                                    extra=["--pages", str(pages)]))
        s_dev = EmulatorBackend(f"unix:{tmp / 'src.sock'}", timeout=timeout)
        d_dev = EmulatorBackend(f"unix:{tmp / 'dst.sock'}", timeout=timeout)
        flow.power_on(demo, s_dev, d_dev, pages)
        migrate(demo, s_dev, d_dev, pages)
        s_dev.close()
        d_dev.close()
    finally:
        for p in procs:
            stop_emulator(p)
    replays = replay_captures(profile, caps, out, buffers, notes=demo.notes, details=demo.replay_details)
    ok = not demo.problems and all(v == "holds" for v in replays.values())
    return ok, demo, replays


def power_on_v14(demo: Demo, s_dev: EmulatorBackend, d_dev: EmulatorBackend, pages: int) -> None:
    """Both devices at power-on with one member; feature-mismatch: the destination offers one
    feature fewer (the `features` option; a device that refuses it is powered on without it,
    and the scenario then notes that it could not check the refusal)."""
    from mcheck.device.virtio14 import DEVICE_FEATURES
    s_dev.power_on({"members": 1, "pages": pages})
    if demo.scenario != "feature-mismatch":
        d_dev.power_on({"members": 1, "pages": pages})
        return
    try:
        d_dev.power_on({"members": 1, "pages": pages, "features": DEVICE_FEATURES & ~(1 << MISSING_FEATURE)})
    except DeviceError as exc:
        demo.notes.append(f"the destination refused the power_on option `features` ({exc}); powered on without it")
        d_dev.power_on({"members": 1, "pages": pages})


def power_on_draft(demo: Demo, s_dev: EmulatorBackend, d_dev: EmulatorBackend, pages: int) -> None:
    """draft-v1: two members on each device (the pair's source and destination member); the
    source's guest driver is up, the destination's not yet."""
    s_dev.power_on({"members": 2, "pages": pages, "initialised": "odd"})
    d_dev.power_on({"members": 2, "pages": pages, "initialised": "none"})


def _run_draft(demo: Demo, src: Host, dst: Host, pages: int) -> None:
    demo.run_draft(src, dst, pages)
    demo.continue_on(dst, 0)


def _run_v14(demo: Demo, src: Host, dst: Host, pages: int) -> None:
    demo.run_v14(src, dst, pages)


@dataclass(frozen=True)
class Flow:
    """How migrate-demo migrates a device of one protocol (FLOWS); the demo asks these
    fields, never the profile's name."""

    members: int                 # members each emulator has
    dst_member: int              # the member the destination host drives
    pages: int                   # guest pages per member
    scenarios: bool              # has the --scenario variants (else only "normal")
    endpoints: bool              # can drive two running endpoints (--source/--destination)
    guest_watches: bool          # the guest follows used-buffer notifications and the used index
    cites_clauses: bool          # the end-to-end checks name spec clauses per end
    power_on: Callable[[Demo, EmulatorBackend, EmulatorBackend, int], None]
    run: Callable[[Demo, Host, Host, int], None]
    renumber: bool               # merged capture: the destination's member 1 becomes member 2
    replay_params: dict[str, int]       # model parameters each capture replays with
    buffers_from_demo: bool             # replay_params' buffers is a cap on the guest's --buffers
    hidden: tuple[str, ...]             # event kinds a capture does not record
    replayed: tuple[str, ...]           # the captures replayed against the single-device model
    pair_model: str | None              # the model the merged capture replays against, if any


FLOWS: dict[str, Flow] = {
    "virtio-1.4": Flow(members=1, dst_member=1, pages=8, scenarios=True, endpoints=True, guest_watches=True,
                       cites_clauses=True, power_on=power_on_v14, run=_run_v14, renumber=True,
                       replay_params={"members": 1, "queues": 1, "buffers": 2}, buffers_from_demo=False, hidden=("doorbell",),
                       replayed=("source", "destination"), pair_model=PAIR_MODEL),
    "draft-v1": Flow(members=2, dst_member=2, pages=2, scenarios=False, endpoints=False, guest_watches=False,
                     cites_clauses=False, power_on=power_on_draft, run=_run_draft, renumber=False,
                     replay_params={"members": 1, "pages": 2, "queues": 1, "buffers": 3}, buffers_from_demo=True,
                     hidden=("doorbell", "driver_init", "driver_cfg_write", "reset_end"),
                     replayed=("source", "merged"), pair_model=None),
}
DEFAULT_FLOW = "virtio-1.4"


def flow_of(profile: str) -> Flow:
    if profile not in FLOWS:
        raise InputError(f"migrate-demo: no migration flow for profile {profile!r} (known: {', '.join(FLOWS)})")
    return FLOWS[profile]


def _flows_with(feature: str) -> str:
    return ", ".join(p for p, f in FLOWS.items() if getattr(f, feature))


def migrate(demo: Demo, s_dev: EmulatorBackend, d_dev: EmulatorBackend, pages: int) -> None:
    """The scenario's flow between two powered-on devices, then the end-to-end checks."""
    src = Host("source", s_dev, 1, demo.codec, demo.log)
    dst = Host("destination", d_dev, demo.flow.dst_member, demo.codec, demo.log)
    try:
        demo.flow.run(demo, src, dst, pages)
    except DemoFailure as exc:
        demo.problems.append(str(exc))
    demo.judge([src, dst])


def run_endpoints(source: str, destination: str, out: Path, *, buffers: int = 3, timeout: float = 5.0,
                  scenario: str = "normal", profile: str = DEFAULT_FLOW) -> tuple[bool, Demo, dict[str, str]]:
    """One scenario against two running device endpoints (a flow with `endpoints`; ADDR as EmulatorBackend
    takes it). Nothing is started here and no device writes a capture for us: the demo records
    both captures itself from what crosses the sockets (RecordingBackend) and replays those.
    A device that breaks the protocol in the middle of the scenario fails it (one FAIL line)."""
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    demo = Demo(profile, [], out, buffers, scenario=scenario)
    pages = demo.flow.pages
    caps = {"source": out / "source.jsonl", "destination": out / "destination.jsonl"}
    clock = Clock()
    devs: list[RecordingBackend] = []
    try:
        for name, addr in (("source", source), ("destination", destination)):
            devs.append(RecordingBackend(addr, name=name, clock=clock, timeout=timeout))
        for dev in devs:
            if dev.header.profile != profile:
                raise InputError(f"--{dev.name} {dev.address}: the device speaks {dev.header.profile}; "
                                 f"--source/--destination drive {profile} devices only")
            if dev.autonomous:
                demo.notes.append(f"the {dev.name} endpoint works on its own (autonomous): the demo still asks "
                                  "for each device step with W requests and does not wait for quiescence, so "
                                  "what it sees may vary from run to run")
        s_dev, d_dev = devs
        out.mkdir(parents=True, exist_ok=True)
        try:
            demo.flow.power_on(demo, s_dev, d_dev, pages)
            migrate(demo, s_dev, d_dev, pages)
        except DeviceError as exc:
            demo.problems.append(f"the scenario stopped: {exc}")
        for dev in devs:
            dev.write_capture(caps[dev.name])
    finally:
        for dev in devs:
            dev.close()
    replays = replay_captures(profile, caps, out, buffers, notes=demo.notes, details=demo.replay_details)
    ok = not demo.problems and all(v == "holds" for v in replays.values())
    return ok, demo, replays


def run_suite(scenarios: list[str], out: Path, run_one: Any) -> list[tuple[str, bool, Demo, dict[str, str]]]:
    """Every scenario in turn (each starts with a power_on), captures in out/SCENARIO/:
    run_one(scenario, directory) -> (ok, demo, replays)."""
    results = []
    for scenario in scenarios:
        ok, demo, replays = run_one(scenario, out / scenario)
        results.append((scenario, ok, demo, replays))
    return results


CLAUSE = re.compile(r"\b([A-Z]+-[A-Z]+-)(\d+(?:/\d+)*)|\b(Q\d+)\b")


def clauses_named(lines: list[str]) -> list[str]:
    """The clause ids the lines name, in first-seen order (`D-DP-10/11` is D-DP-10 and D-DP-11)."""
    seen: list[str] = []
    for line in lines:
        for m in CLAUSE.finditer(line):
            ids = [m.group(3)] if m.group(3) else [m.group(1) + n for n in m.group(2).split("/")]
            seen += [i for i in ids if i not in seen]
    return seen


def merge_captures(source: Path, destination: Path, merged: Path, *, renumber: bool) -> None:
    """One two-host capture: both hosts' events sorted by timestamp and numbered again.
    `renumber` (virtio-1.4, one member per host): the destination's member 1 becomes member 2
    (the pair convention: wire member 2m-1 is the source of pair m, 2m its destination),
    in its admin commands' group_member_id too; owner-level events (member 0) keep 0."""
    from mcheck.trace.io import read_trace, write_trace
    a, b = read_trace(source), read_trace(destination)
    theirs = list(b.events)
    if renumber:
        theirs = [_as_member(e, {1: 2}) for e in theirs]
    events = sorted(list(a.events) + theirs, key=lambda e: e.timestamp)
    events = [dataclasses.replace(e, index=i) for i, e in enumerate(events)]
    header = a.header
    if renumber:
        header = dataclasses.replace(header, members=tuple(sorted(set(a.header.members) | {2})))
    write_trace(merged, header, events, codec=a.codec)


def _as_member(event: Any, mapping: dict[int, int]) -> Any:
    readable = getattr(event, "readable", None)
    if isinstance(readable, bytes) and len(readable) >= 24:
        member = int.from_bytes(readable[16:24], "little")
        if member in mapping:
            renumbered = readable[:16] + mapping[member].to_bytes(8, "little") + readable[24:]
            return dataclasses.replace(event, readable=renumbered)
        return event
    target = getattr(event, "member", None)
    if isinstance(target, int) and target in mapping and "member" in {f.name for f in dataclasses.fields(event)}:
        return dataclasses.replace(event, member=mapping[target])
    return event


def replay_captures(profile: str, caps: dict[str, Path], out: Path, buffers: int,
                    notes: list[str] | None = None, details: dict[str, str] | None = None) -> dict[str, str]:
    """The verdict of each capture's replay; `details` gets, per violated replay, the first
    violation's property and clauses."""
    from mcheck.model.registry import load_model
    from mcheck.replay.engine import replay_events
    from mcheck.trace.io import read_trace
    notes = notes if notes is not None else []
    verdicts: dict[str, str] = {}
    caps = {**caps, "merged": out / "merged.jsonl"}
    flow = flow_of(profile)
    merge_captures(caps["source"], caps["destination"], caps["merged"], renumber=flow.renumber)
    params = dict(flow.replay_params)
    if flow.buffers_from_demo:
        params["buffers"] = min(params["buffers"], buffers)
    hidden = flow.hidden
    targets = {name: caps[name] for name in flow.replayed}
    for name, path in targets.items():
        trace = read_trace(path, join=True)
        model = load_model(profile, params)
        outcome = replay_events(model, trace.events, hidden_kinds=hidden)
        verdicts[name] = outcome.result.verdict
        _detail(details, name, outcome)
    if flow.pair_model:
        try:
            pair = load_model(flow.pair_model, {"pairs": 1, "queues": 1, "buffers": 2})
        except (InputError, ModelDefinitionError) as exc:
            notes.append(f"merged.jsonl not replayed: the pair model {flow.pair_model} is not available ({exc})")
        else:
            trace = read_trace(caps["merged"], join=True)
            outcome = replay_events(pair, trace.events, hidden_kinds=tuple(pair.model.unobserved))
            verdicts["pair"] = outcome.result.verdict
            _detail(details, "pair", outcome)
    return verdicts


def _detail(details: dict[str, str] | None, name: str, outcome: Any) -> None:
    violations = outcome.result.violations
    if details is not None and violations:
        v = violations[0]
        details[name] = v.property + (f" ({', '.join(v.clauses)})" if v.clauses else "")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate-demo", help="migrate a live device between two emulator processes and check it")
    p.add_argument("--profile", choices=tuple(FLOWS), default=None,
                   help=f"protocol (default: the one whose catalogue has --bug, else {DEFAULT_FLOW})")
    p.add_argument("--bug", action="append", default=[], metavar="NAME", help="a catalogue bug for the SOURCE device")
    p.add_argument("--dst-bug", action="append", default=[], metavar="NAME",
                   help="a catalogue bug for the DESTINATION device (repeatable), e.g. dst-stale-position, "
                        "resume-no-notify, set-applied-early, accepts-unoffered-features")
    p.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="normal",
                   help="virtio-1.4 flow: " + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items())
                        + "; all: every scenario in turn (the pair conformance suite), captures in DIR/SCENARIO/")
    p.add_argument("--source", metavar="ADDR", default=None,
                   help="with --destination: a running device endpoint (unix:PATH or tcp:HOST:PORT) to use as the "
                        "source instead of starting an emulator (virtio-1.4); the demo records the captures itself")
    p.add_argument("--destination", metavar="ADDR", default=None,
                   help="with --source: a running device endpoint to use as the destination")
    p.add_argument("--out", default="reports/migrate-demo", metavar="DIR",
                   help="where the captures go (default reports/migrate-demo, generated output)")
    p.add_argument("--buffers", type=int, default=3, metavar="N", help="buffers the guest posts during pre-copy")
    p.set_defaults(run=run_migrate_demo)


def run_migrate_demo(args: argparse.Namespace) -> int:
    from mcheck.device.devices import bugs_of
    from mcheck.device.protocol import parse_address
    profile = args.profile
    dst_bugs = getattr(args, "dst_bug", [])
    scenario = getattr(args, "scenario", "normal")
    source, destination = getattr(args, "source", None), getattr(args, "destination", None)
    external = source is not None or destination is not None
    if external:
        if source is None or destination is None:
            given = "--source" if source is not None else "--destination"
            raise InputError(f"{given}: --source and --destination go together (two running device endpoints)")
        for opt, names in (("--bug", args.bug), ("--dst-bug", dst_bugs)):
            if names:
                raise InputError(f"{opt}: migrate-demo starts no device with --source/--destination, so it cannot "
                                 "seed a bug; start the endpoint with the bug instead")
        if profile is not None and not flow_of(profile).endpoints:
            raise InputError(f"--profile {profile}: --source/--destination drive {_flows_with('endpoints')} devices only")
        for opt, addr in (("--source", source), ("--destination", destination)):
            try:
                parse_address(addr)
            except InputError as exc:
                raise InputError(f"{opt}: {exc}") from None
        profile = profile or DEFAULT_FLOW
    named = args.bug + dst_bugs
    if profile is None:       # the flow whose catalogue has every bug named, else the default
        others = [p for p in FLOWS if p != DEFAULT_FLOW]
        profile = next((p for p in others if named and all(b in bugs_of(p) for b in named)), DEFAULT_FLOW)
    known = bugs_of(profile)
    for opt, names in (("--bug", args.bug), ("--dst-bug", dst_bugs)):
        for b in names:
            if b not in known:
                raise InputError(f"{opt} {b}: unknown bug for profile {profile} (known: {', '.join(sorted(known))})")
    if not flow_of(profile).scenarios and scenario == "all":
        raise InputError(f"--scenario all: only the {_flows_with('scenarios')} flow has scenarios")
    if not 0 <= args.buffers <= MAX_BUFFERS:
        raise InputError(f"--buffers {args.buffers}: must be 0..{MAX_BUFFERS:,}")
    out = Path(args.out)

    def run_one(sc: str, where: Path) -> tuple[bool, Demo, dict[str, str]]:
        if source is not None and destination is not None:
            return run_endpoints(source, destination, where, buffers=args.buffers, scenario=sc, profile=profile)
        return run_demo(profile, args.bug, where, buffers=args.buffers, scenario=sc, dst_bugs=dst_bugs)

    bugs = f" with source --bug {', '.join(args.bug)}" if args.bug else ""
    bugs += f"{' and' if args.bug else ' with'} destination --dst-bug {', '.join(dst_bugs)}" if dst_bugs else ""
    ends = f", endpoints source {source}, destination {destination}" if external else ""
    if scenario == "all":
        results = run_suite(list(SCENARIOS), out, run_one)
        print(f"migrate-demo: {profile}, pair conformance suite ({len(results)} scenarios){bugs}{ends}")
        for sc, ok, demo, replays in results:
            print(f"scenario {sc}: {'PASS' if ok else 'FAIL'}")
            bad = [f"capture {n}: replays against the {'pair ' if n == 'pair' else ''}model: {v.upper()}"
                   + (f": {demo.replay_details[n]}" if n in demo.replay_details else "")
                   for n, v in replays.items() if v != "holds"]
            for line in demo.problems:
                print(f"  FAIL: {line}")
            for line in bad:
                print(f"  {line}")
            for note in demo.notes:
                print(f"  note: {note}")
            named_clauses = clauses_named(demo.problems + bad)
            if named_clauses:
                print(f"  clauses: {', '.join(named_clauses)}")
        passed = sum(1 for r in results if r[1])
        print(f"suite: {passed} of {len(results)} scenarios pass; captures in {out}/SCENARIO/"
              + (" (recorded by migrate-demo from the socket exchange)" if external else ""))
        print(f"verdict: {'PASS' if passed == len(results) else 'FAIL'}")
        return 0 if passed == len(results) else 1
    ok, demo, replays = run_one(scenario, out)
    flow = f", scenario {scenario}" if flow_of(profile).scenarios else ""
    print(f"migrate-demo: {profile}{flow}{bugs}{ends}")
    for line in demo.log:
        print(f"  {line}")
    print(f"buffers posted by the guest: {demo.posted}; completed: "
          f"{sum(1 for s in demo.completions if 0 <= s < demo.posted)} distinct"
          + (f"; abandoned at a reset: {len(demo.abandoned)}" if demo.abandoned else ""))
    for name, verdict in replays.items():
        detail = f": {demo.replay_details[name]}" if name in demo.replay_details else ""
        print(f"capture {name}: replays against the {'pair ' if name == 'pair' else ''}model: {verdict.upper()}{detail}")
    for note in demo.notes:
        print(f"note: {note}")
    for problem in demo.problems:
        print(f"FAIL: {problem}")
    print(f"captures in {args.out}/" + (" (recorded by migrate-demo from the socket exchange)" if external else ""))
    print(f"verdict: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1
