"""The device side of the 2023 seed draft (draft-v1): ACTIVE / STOP / FREEZE, chunked device
context read and write, write recording (models/draft_v1.py, docs/draft-v1.md).

Memory layout per member (/tmp/draft14-design.md, "Guest memory pages"): data pages 0..P-1,
the used rings in page P (queue q at offset q*1024; with EVENT_IDX the avail_event after
each), the descriptor tables and avail rings in page P+1 (queue q's table at q*1024, its
avail ring 256 bytes further). The model's recorded range is the data pages and the
used-ring page: WR_START(range_addr 0, range_len (P+1)*page_size).

With `paired` (conformance suites), wire members 2m-1 (source) and 2m (destination) share
one guest memory: one guest, and the hypervisor's copy taken as perfect; the source starts
initialised by its guest driver, the destination at reset.

Readings the draft leaves open are options (constructor keywords, `power_on` config keys,
`mcheck emulate --flr-mode ...`):
- `flr_mode` keep | active (P-FLR, default keep): what a member FLR or reset does to the
  mode; `flr_tracking` keep-recording | stop-and-clear (default keep-recording): what it
  does to write recording. Either way the context returns to its defaults and the context
  cursors are cleared (source and destination alike).
- `event_idx` off | on: fetching an avail entry writes avail_event into the used ring.
- `transitions` any | via-stop (P-TRANS).
- `chunk` (bytes, default 64): the DEV_CTX_READ chunk size; a one-queue context (101
  bytes) takes two chunks.
The write-report form (a bitmap or a list of page addresses) is the loaded profile's
(`[write_report] form`; `wire_profile` loads another profile file than the built-in one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcheck.device.virtq import (
    DESC,
    PAGE,
    QSIZE,
    VIRTQ_DESC_F_WRITE,
    GuestMemory,
    payload,
)
from mcheck.errors import InputError
from mcheck.trace.codec import CTX_HEADER_SIZE, Codec, CodecError, opcode_words
from mcheck.trace.profile import Profile, load_profile

BUGS = frozenset({
    "write-while-frozen", "notify-while-stopped", "unreported-write", "unreported-ring-write",
    "context-changes-while-frozen", "frozen-accepts-access", "ctx-write-while-active", "ctx-missing-used-idx",
    "orphan-chunk-accepted", "resume-partial-context", "unknown-mode-accepted", "report-not-cleared",
    "report-drops-concurrent-write", "flr-wrong-mode", "flr-clears-record", "flr-answers-early", "wr-stop-ignored",
})
# the readings the emulator can take (option -> its values, the default first)
OPTIONS: dict[str, tuple[str, ...]] = {
    "flr_mode": ("keep", "active"),
    "flr_tracking": ("keep-recording", "stop-and-clear"),
    "event_idx": ("off", "on"),
    "transitions": ("any", "via-stop"),
}
DEFAULT_CHUNK = 64
DEVICE_FEATURES = (1 << 32) | (1 << 33)
DRIVER_OK_STATUS = 0x0F
MODES = {"ACTIVE": 0, "STOP": 1, "FREEZE": 2}
MODE_NAMES = {v: k for k, v in MODES.items()}
CFG_BYTES = 4
FIELD_LENGTHS = {"FEATURES": 8, "DRIVER_FEATURES": 8, "DEVICE_STATUS": 1, "DEVICE_CONFIG": CFG_BYTES, "VQ_SPLIT": 40}
HEAD_FIELDS = ("FEATURES", "DRIVER_FEATURES", "DEVICE_STATUS", "DEVICE_CONFIG")
# write recording: capabilities
MAX_RANGES = 2
PAGE_SIZES = (4096, 8192, 16384)
PAGE_SIZE_MASK = sum(PAGE_SIZES)
LOG2_MAX_PAGES = 16
ADDRESS_BYTES = 8          # one page address in an address-list report


class Reject(Exception):
    def __init__(self, status: str) -> None:
        self.status = status


def ring_addrs(pages: int, q: int) -> tuple[int, int, int]:
    """(descriptor table, avail ring, used ring) of queue q: the used ring in page `pages`
    (inside the recorded range), the table and avail ring in page `pages + 1`."""
    table = (pages + 1) * PAGE + q * 1024
    return table, table + 256, pages * PAGE + q * 1024


def avail_event_addr(pages: int, q: int) -> int:
    """Where the device writes avail_event (VIRTIO_F_EVENT_IDX): after the used ring's elements."""
    return ring_addrs(pages, q)[2] + 4 + 8 * QSIZE


def report_form(profile: Profile) -> str:
    """The profile's WR_REPORT form: "bitmap" (one bit per page) or "address-list" (le64 page
    addresses)."""
    form = getattr(profile, "wr_report_form", None)
    if form:
        return str(form)
    layout = profile.commands.get("WR_REPORT")
    if layout is not None and any(f.type == "bitmap" for f in layout.result.fields):
        return "bitmap"
    return "address-list"


def report_field(profile: Profile) -> str:
    """The name of the WR_REPORT result field that carries the report."""
    layout = profile.commands["WR_REPORT"].result
    return layout.fields[-1].name if layout.fields else "bitmap"


def pending_bytes(form: str, ranges: list[tuple[int, int]]) -> int:
    """WR_PENDING: bytes of report data pending, per (pages in the range, pages recorded) of each
    range: 8 per recorded page in address-list form; ceil(range pages / 8) per range with any
    recorded page in bitmap form."""
    if form == "bitmap":
        return sum((n + 7) // 8 for n, rec in ranges if rec)
    return sum(ADDRESS_BYTES * rec for _n, rec in ranges)


def report_value(form: str, pages: list[int], npages: int, range_addr: int, page_size: int) -> Any:
    """The report of `pages` (indices in a span of `npages` pages starting at range_addr)."""
    if form == "bitmap":
        bits = 0
        for i in pages:
            bits |= 1 << i
        return bits.to_bytes((npages + 7) // 8, "little")
    return [range_addr + i * page_size for i in sorted(pages)]


@dataclass
class Queue:
    q: int
    enabled: bool = False
    addr: bool = False
    last_avail: int = 0
    used_idx: int = 0
    inflight: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Range:
    """One recorded range (WR_START): its pages at its own page size, the recorded page
    indices, and whether recording is on (WR_STOP turns it off; the record stays readable)."""
    addr: int
    length: int
    page_size: int
    active: bool = True
    dirty: set[int] = field(default_factory=set)
    last: int | None = None      # the page recorded most recently

    @property
    def pages(self) -> int:
        return self.length // self.page_size


@dataclass
class Member:
    mid: int
    mem: GuestMemory
    queues: list[Queue]
    source: bool = True          # the side the guest's rings belong to (a reset restarts them)
    mode: str = "ACTIVE"
    status: int = 0
    feat: bool = False
    cfg: int = 0
    fault: str = "none"
    ranges: dict[int, Range] = field(default_factory=dict)
    held: list[tuple[int, bytes]] = field(default_factory=list)
    rd: int = 0                  # read cursor: context bytes already read in this stream
    wr: str = "none"             # write stream: none | partial | whole
    wr_buf: bytes = b""          # bytes of the open stream not yet parsed (an entry split across chunks)
    wr_seen: set[Any] = field(default_factory=set)
    dropped: tuple[bytes, set[Any]] | None = None    # (bug orphan-chunk-accepted) the stream a DISCARD / FLR dropped

    @property
    def driver_ok(self) -> bool:
        return bool(self.status & 4)

    @property
    def recording(self) -> bool:
        return any(r.active for r in self.ranges.values())


def context_entries(*, feat: bool, status: int, cfg: int, queues: list[dict[str, Any]], pages: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {"type": "FEATURES", "value": [DEVICE_FEATURES if feat else 0]},
        {"type": "DRIVER_FEATURES", "value": [DEVICE_FEATURES if feat else 0]},
        {"type": "DEVICE_STATUS", "value": status},
        {"type": "DEVICE_CONFIG", "value": cfg.to_bytes(CFG_BYTES, "little")},
    ]
    for vq in queues:
        q = vq["q"]
        desc, avail, used = ring_addrs(pages, q) if vq["addr"] else (0, 0, 0)
        entries.append({"type": "VQ_SPLIT", "value": {
            "index": q, "size": QSIZE, "enabled": int(vq["enabled"]), "msix_vector": q + 1, "desc_addr": desc,
            "driver_addr": avail, "device_addr": used, "last_avail_idx": vq["last_avail"], "used_idx": vq["used_idx"],
            "inflight": (vq["last_avail"] - vq["used_idx"]) & 0xFFFF, "notify_off": q}})
    return entries


def context_bytes(codec: Codec, *, feat: bool, status: int, cfg: int, queues: list[dict[str, Any]], pages: int) -> bytes:
    """The whole device context, as the chunks of a DEV_CTX_READ stream concatenate."""
    return codec.encode_context(context_entries(feat=feat, status=status, cfg=cfg, queues=queues, pages=pages))


def head_size() -> int:
    """Bytes of the context's first part (features, driver features, status, config)."""
    return sum(CTX_HEADER_SIZE + FIELD_LENGTHS[n] for n in HEAD_FIELDS)


AUTONOMOUS = False    # acts only on request (mcheck.device.devices)


def make(*, members: int, queues: int, objects: int, pages: int, bugs: set[str], compat: str,
         variants: list[str], options: dict[str, Any]) -> DraftV1Device:
    """The device for `mcheck emulate` (mcheck.device.devices): `options` are the readings
    of the draft's open points (OPTIONS, `chunk`, `wire_profile`)."""
    if variants:
        raise InputError(f"--variant {variants[0]}: only the virtio-1.4 device has variants")
    if compat != "none":
        raise InputError(f"--compat {compat}: only the virtio-1.4 device has compatibility presets")
    try:
        return DraftV1Device(members=members, queues=queues, objects=objects, pages=pages, bugs=bugs, **options)
    except ValueError as exc:
        raise InputError(f"draft-v1 device: {exc}") from None


class DraftV1Device:
    profile_name = "draft-v1"

    def __init__(self, *, members: int = 2, queues: int = 1, objects: int = 1, pages: int = 2,
                 bugs: set[str] | frozenset[str] = frozenset(), wire_profile: str | None = None,
                 **options: Any) -> None:
        """`wire_profile`: a profile file with the draft's commands to speak instead of the
        built-in placeholder numbering (a vendor numbering, the address-list report form)."""
        self.codec = Codec(load_profile(wire_profile or self.profile_name))
        self.form = report_form(self.codec.profile)
        self.bugs = set(bugs)
        self.defaults = {"chunk": DEFAULT_CHUNK, **{k: v[0] for k, v in OPTIONS.items()}}
        self.defaults.update(self._options(options))
        self.configure(members=members, queues=queues, pages=pages)

    def bug(self, name: str) -> bool:
        return name in self.bugs

    @staticmethod
    def _options(given: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in given.items():
            if value is None:
                continue
            if key == "chunk":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"chunk {value!r}: must be a positive number of bytes")
            elif key in OPTIONS:
                if value not in OPTIONS[key]:
                    raise ValueError(f"{key} {value!r}: one of {', '.join(OPTIONS[key])}")
            else:
                raise ValueError(f"unknown draft-v1 option {key!r}")
            out[key] = value
        return out

    def configure(self, *, members: int, queues: int = 1, pages: int = 2, paired: bool = False,
                  initialised: str = "all", objects: int = 1, features: Any = None, **options: Any) -> None:
        self.options = {**self.defaults, **self._options(options)}
        self.chunk = self.options["chunk"]
        self.n_members, self.n_queues, self.pages, self.paired = members, queues, pages, paired
        self.members: dict[int, Member] = {}
        for m in range(1, members + 1):
            source = not (paired and m % 2 == 0)
            # the destination of a pair shares the guest's memory
            mem = GuestMemory(pages + 2) if source else self.members[m - 1].mem
            member = Member(mid=m, mem=mem, queues=[Queue(q) for q in range(queues)], source=source)
            self.members[m] = member
            if source:
                self._guest_rings(member)
            if initialised == "all" or (initialised == "odd" and m % 2 == 1):
                self._init(member)

    def opt(self, key: str) -> Any:
        return self.options[key]

    def topology(self) -> dict[str, Any]:
        return {"members": list(self.members), "queues": self.n_queues, "pages": self.pages, "paired": self.paired,
                "options": dict(self.options), "report_form": self.form}

    # ------------------------------------------------------------------ guest side

    def _guest_rings(self, member: Member) -> None:
        mem = member.mem
        for q in range(self.n_queues):
            desc, avail, used = ring_addrs(self.pages, q)
            mem.write(desc, bytes(16 * QSIZE))
            mem.write(avail, bytes(4 + 2 * QSIZE + 2))
            mem.write(used, bytes(4 + 8 * QSIZE + 2))
            for i in range(QSIZE):
                mem.write(desc + 16 * i, DESC.pack((i % self.pages) * PAGE, PAGE, VIRTQ_DESC_F_WRITE, 0))

    def _init(self, member: Member) -> None:
        member.feat, member.status = True, DRIVER_OK_STATUS
        for vq in member.queues:
            vq.enabled = vq.addr = True

    def _avail_idx(self, member: Member, q: int) -> int:
        return member.mem.read16(ring_addrs(self.pages, q)[1] + 2)

    def _post(self, member: Member, q: int) -> bool:
        _desc, avail, used = ring_addrs(self.pages, q)
        idx = self._avail_idx(member, q)
        if (idx - member.mem.read16(used + 2)) & 0xFFFF >= QSIZE:
            return False
        member.mem.write(avail + 4 + 2 * (idx % QSIZE), (idx % QSIZE).to_bytes(2, "little"))
        member.mem.write(avail + 2, ((idx + 1) & 0xFFFF).to_bytes(2, "little"))
        return True

    # ------------------------------------------------------------------ DMA and write recording

    def _write(self, member: Member, addr: int, data: bytes, events: list[tuple] | None, *, ring: bool) -> None:
        """A device write into guest memory: recorded in every active range it touches
        (buffer data and used-ring writes alike, DRAFT-WR-1), reported as an event if asked."""
        member.mem.write(addr, data)
        unrecorded = self.bug("unreported-ring-write") if ring else self.bug("unreported-write")
        if not unrecorded:
            end = addr + max(1, len(data))
            for r in member.ranges.values():
                if not r.active or end <= r.addr or addr >= r.addr + r.length:
                    continue
                first = (max(addr, r.addr) - r.addr) // r.page_size
                last = (min(end, r.addr + r.length) - 1 - r.addr) // r.page_size
                for page in range(first, last + 1):
                    r.dirty.add(page)
                    r.last = page
        if events is not None:
            events.append(("dma_write", member.mid, addr, len(data)))

    def may_run(self, member: Member, *modes: str) -> bool:
        return member.fault == "none" and member.driver_ok and member.mode in ("ACTIVE",) + modes

    # ------------------------------------------------------------------ admin commands

    def admin(self, tag: int, readable: bytes) -> tuple[bytes | None, list[tuple]]:
        events: list[tuple] = []
        try:
            cmd = self.codec.decode_command(readable)
        except CodecError:
            return self._raw("EINVAL", "INVALID_FIELD"), events
        name, m = cmd.name, cmd.member
        if name is None:
            return self._raw("EINVAL", "INVALID_OPCODE"), events
        if name in ("LIST_QUERY", "LIST_USE"):
            fields = {"opcodes": opcode_words((0, 1))} if name == "LIST_QUERY" else {}
            return self.codec.encode_result(name, "OK", "OK", fields), events
        member = self.members.get(m)
        if member is None:
            return self.codec.encode_result(name, "EINVAL", "INVALID_MEMBER", {}), events
        if member.fault != "none" and not (name == "DEV_MODE_SET" and self.bug("flr-answers-early")):
            member.held.append((tag, readable))      # answered once the FLR / reset completes
            return None, events
        try:
            fields = self._member_cmd(name, cmd.fields, member)
        except Reject as r:
            return self.codec.encode_result(name, r.status, "OK", {}), events
        return self.codec.encode_result(name, "OK", "OK", fields), events

    def _raw(self, status: str, qualifier: str) -> bytes:
        prof = self.codec.profile
        return prof.status[status].to_bytes(2, "little") + prof.qualifiers[qualifier].to_bytes(2, "little") + bytes(4)

    def context(self, member: Member) -> bytes:
        return context_bytes(self.codec, feat=member.feat, status=member.status, cfg=member.cfg, pages=self.pages,
                             queues=[{"q": vq.q, "enabled": vq.enabled, "addr": vq.addr, "last_avail": vq.last_avail,
                                      "used_idx": 0 if self.bug("ctx-missing-used-idx") else vq.used_idx}
                                     for vq in member.queues])

    def _member_cmd(self, name: str, f: dict[str, Any], member: Member) -> dict[str, Any]:
        if name == "DEV_MODE_GET":
            return {"mode": MODES[member.mode]}
        if name == "DEV_MODE_SET":
            return self._mode_set(member, f.get("mode", 0))
        if name == "DEV_CTX_SIZE_GET":       # the whole context; the read cursor does not move
            return {"size": len(self.context(member))}
        if name == "DEV_CTX_READ":
            if member.mode == "ACTIVE":
                raise Reject("EBUSY")
            ctx = self.context(member)
            start = min(member.rd, len(ctx))
            chunk = ctx[start : start + self.chunk]
            member.rd = start + len(chunk)
            return {"size": len(chunk), "remaining_ctx_size": len(ctx) - member.rd, "context": chunk}
        if name == "DEV_CTX_WRITE":
            if member.mode != "FREEZE" and not (member.mode == "ACTIVE" and self.bug("ctx-write-while-active")):
                raise Reject("EBUSY")
            self._write_chunk(member, bytes(f.get("context", b"")))
            member.rd = 0             # the context changed: a read starts again
            return {}
        if name == "DEV_CTX_FIELDS_QUERY":
            names = list(HEAD_FIELDS) + ["VQ_SPLIT"] * self.n_queues
            return {"fields": [{"type": n, "length": FIELD_LENGTHS[n]} for n in names]}
        if name == "DEV_CTX_DISCARD":
            member.rd = 0
            if member.wr == "partial":      # a half-written context goes back to its defaults
                self._reset_context(member)
            self._drop_stream(member)
            return {}
        if name == "WR_CAPS_QUERY":
            return {"max_ranges": MAX_RANGES, "page_size_mask": PAGE_SIZE_MASK, "log2_max_pages": LOG2_MAX_PAGES}
        if name == "WR_START":
            return self._wr_start(member, f)
        if name == "WR_STOP":
            r = member.ranges.get(f.get("range_addr", 0))
            if r is not None and not self.bug("wr-stop-ignored"):   # a range that does not record: a no-op
                r.active = False
            return {}
        if name == "WR_PENDING":
            return {"pending_bytes": pending_bytes(self.form, [(r.pages, len(r.dirty)) for r in member.ranges.values()])}
        if name == "WR_REPORT":
            return self._wr_report(member, f)
        raise Reject("EINVAL")

    # ------------------------------------------------------------------ modes

    def _mode_set(self, member: Member, value: int) -> dict[str, Any]:
        target = MODE_NAMES.get(value)
        if target is None:            # a mode the profile does not define: EINVAL, no side effect
            if self.bug("unknown-mode-accepted"):
                return {}
            raise Reject("EINVAL")
        frm = member.mode
        if self.opt("transitions") == "via-stop" and {frm, target} == {"ACTIVE", "FREEZE"}:
            raise Reject("EINVAL")
        if frm == "FREEZE" and target != "FREEZE" and member.wr == "partial" and not self.bug("resume-partial-context"):
            raise Reject("EINVAL")    # a half-written context is never resumed (DRAFT-CTX-6)
        if target != frm:
            member.rd = 0             # a mode change restarts the read stream (DRAFT-CTX-5)
        member.mode = target
        return {}

    # ------------------------------------------------------------------ context write

    def _write_chunk(self, member: Member, chunk: bytes) -> None:
        """One DEV_CTX_WRITE chunk (DRAFT-CTX-5): it opens a stream when it begins with a
        context entry (the header of a type the profile defines, reserved zero) and no stream
        is open (or the last one is complete), else it
        continues the open stream; entries are loaded as they complete (an entry may be
        split across chunks), and the stream is complete once every field has arrived. A
        chunk that continues no stream, or does not parse, is EINVAL and changes nothing."""
        starts = (len(chunk) >= 2 and int.from_bytes(chunk[:2], "little") in self.codec.profile.context
                  and (len(chunk) < 4 or chunk[2:4] == b"\0\0"))
        if member.wr == "partial":
            buf, seen = member.wr_buf + chunk, set(member.wr_seen)
        elif starts:
            buf, seen = chunk, set()
        elif self.bug("orphan-chunk-accepted"):
            # taken as the rest of a context: of the stream a DISCARD or FLR dropped, else of one
            # whose first part (features to config) arrived
            buf, seen = member.dropped if member.dropped is not None else (b"", set(HEAD_FIELDS))
            buf, seen = buf + chunk, set(seen)
        else:
            raise Reject("EINVAL")
        entries, rest, seen = self._parse(buf, seen)
        member.dropped = None
        member.wr, member.wr_buf, member.wr_seen = ("whole" if seen >= self._required() else "partial"), rest, seen
        if member.wr == "whole":
            member.wr_buf, member.wr_seen = b"", set()
        self._load(member, entries)

    def _drop_stream(self, member: Member) -> None:
        """No write stream is open any more (DISCARD, FLR, reset)."""
        if member.wr == "partial" and self.bug("orphan-chunk-accepted"):
            member.dropped = (member.wr_buf, set(member.wr_seen))
        member.wr, member.wr_buf, member.wr_seen = "none", b"", set()

    def _required(self) -> set[Any]:
        return set(HEAD_FIELDS) | {("VQ_SPLIT", q) for q in range(self.n_queues)}

    def _parse(self, buf: bytes, seen: set[Any]) -> tuple[list[dict[str, Any]], bytes, set[Any]]:
        """The whole entries in `buf` (validated), the bytes of an entry still incomplete, and
        the fields seen so far; Reject(EINVAL) for anything that is no context."""
        entries, pos, required = [], 0, self._required()
        while len(buf) - pos >= CTX_HEADER_SIZE:
            if seen >= required:
                raise Reject("EINVAL")          # bytes after a complete context
            number = int.from_bytes(buf[pos : pos + 2], "little")
            length = int.from_bytes(buf[pos + 4 : pos + 8], "little")
            item = self.codec.profile.context.get(number)
            if item is None or item.name not in FIELD_LENGTHS or length != FIELD_LENGTHS[item.name]:
                raise Reject("EINVAL")
            end = pos + CTX_HEADER_SIZE + length
            if end > len(buf):
                break
            try:
                (entry,) = self.codec.decode_context(buf[pos:end])
            except (CodecError, ValueError):
                raise Reject("EINVAL") from None
            key: Any = item.name
            if item.name == "VQ_SPLIT":
                key = ("VQ_SPLIT", entry["value"].get("index"))
                if not 0 <= key[1] < self.n_queues:
                    raise Reject("EINVAL")
            if key in seen:
                raise Reject("EINVAL")
            seen = seen | {key}
            entries.append(entry)
            pos = end
        if seen >= required and pos < len(buf):
            raise Reject("EINVAL")
        return entries, buf[pos:], seen

    def _load(self, member: Member, entries: list[dict[str, Any]]) -> None:
        for e in entries:
            t, v = e.get("type"), e.get("value")
            if t == "FEATURES":
                member.feat = bool(v and v[0])
            elif t == "DEVICE_STATUS" and isinstance(v, int):
                member.status = v
            elif t == "DEVICE_CONFIG" and isinstance(v, bytes):
                member.cfg = int.from_bytes(v, "little")
            elif t == "VQ_SPLIT" and isinstance(v, dict):
                vq = member.queues[v["index"]]
                vq.enabled, vq.addr = bool(v.get("enabled")), bool(v.get("desc_addr"))
                vq.last_avail, vq.used_idx = v.get("last_avail_idx", 0), v.get("used_idx", 0)
                # buffers fetched and not yet used are fetched again from the avail ring
                vq.inflight = [(n % QSIZE, n) for n in range(vq.used_idx, vq.last_avail)]

    # ------------------------------------------------------------------ write recording

    def _wr_start(self, member: Member, f: dict[str, Any]) -> dict[str, Any]:
        ps, addr, length = f.get("page_size", 0), f.get("range_addr", 0), f.get("range_len", 0)
        if ps not in PAGE_SIZES or length <= 0 or addr % ps or length % ps:
            raise Reject("EINVAL")
        others = [r for a, r in member.ranges.items() if a != addr]
        if any(addr < r.addr + r.length and r.addr < addr + length for r in others):
            raise Reject("EINVAL")            # overlapping ranges are refused
        if addr not in member.ranges and sum(r.active for r in others) >= MAX_RANGES:
            raise Reject("ENOSPC")
        member.ranges = {a: r for a, r in member.ranges.items() if r.active or r.dirty}
        member.ranges[addr] = Range(addr=addr, length=length, page_size=ps)   # recording on, record empty
        return {}

    def _wr_report(self, member: Member, f: dict[str, Any]) -> dict[str, Any]:
        """Report and clear the recorded pages of [range_addr, range_addr + range_len) in one
        step (nothing can be recorded in between: the device serialises it with its DMA)."""
        addr, length = f.get("range_addr", 0), f.get("range_len", 0)
        r = next((x for x in member.ranges.values() if x.addr <= addr < x.addr + x.length), None)
        ps = r.page_size if r is not None else PAGE
        if addr % ps or length % ps:
            raise Reject("EINVAL")
        npages = length // ps
        pages: list[int] = []
        if r is not None:
            first = (addr - r.addr) // ps
            span = {p for p in r.dirty if first <= p < first + npages}
            pages = sorted(p - first for p in span)
            if self.bug("report-drops-concurrent-write") and r.last in span:
                pages.remove(r.last - first)   # the page written while the report was built: lost
                r.dirty -= {r.last}
            if not self.bug("report-not-cleared"):
                r.dirty -= span
            if not r.dirty:
                r.last = None
            if not r.active and not r.dirty:
                del member.ranges[r.addr]
        return {report_field(self.codec.profile): report_value(self.form, pages, npages, addr, ps)}

    # ------------------------------------------------------------------ faults

    def _reset_context(self, member: Member) -> None:
        member.feat, member.status, member.cfg = False, 0, 0
        for vq in member.queues:
            vq.enabled = vq.addr = False
            vq.last_avail = vq.used_idx = 0
            vq.inflight = []

    def _reset(self, member: Member) -> None:
        """A member FLR or reset (P-FLR): the context returns to its defaults and the context
        cursors are cleared; the mode and write recording as `flr_mode` / `flr_tracking` say."""
        to_active = (self.opt("flr_mode") == "active") != self.bug("flr-wrong-mode")
        if to_active:
            member.mode = "ACTIVE"
        self._reset_context(member)
        member.rd = 0
        self._drop_stream(member)
        if self.opt("flr_tracking") == "stop-and-clear" or self.bug("flr-clears-record"):
            member.ranges = {}
        if member.source:
            self._guest_rings(member)       # the guest driver's rings restart with the device

    def inject(self, kind: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        events: list[tuple] = []
        member = self.members.get(m)
        if kind == "owner_reset":
            return True, events
        if member is None:
            return False, events
        if kind in ("flr_begin", "member_reset"):
            if member.fault != "none":
                return False, events
            member.fault = "flr" if kind == "flr_begin" else "reset"
            self._reset(member)
            if kind == "member_reset":      # a member reset completes at once
                member.fault = "none"
                self._release(member, events)
            return True, events
        if kind == "flr_end":
            if member.fault != "flr":
                return False, events
            member.fault = "none"
            self._release(member, events)
            return True, events
        return kind == "doorbell", events

    def _release(self, member: Member, events: list[tuple]) -> None:
        held, member.held = member.held, []
        for tag, readable in held:
            writable, more = self.admin(tag, readable)
            events.extend(more)
            if writable is not None:
                events.append(("complete", tag, writable, readable))

    # ------------------------------------------------------------------ workload

    def _access(self, member: Member) -> bool:
        """A config write reaching the member (the guest's or a peer's P2P write): it changes
        the context in ACTIVE and STOP and is dropped in FREEZE (DRAFT-MODE-4, DRAFT-FRZ-1)."""
        if member.fault != "none" or not member.driver_ok:
            return False
        if member.mode != "FREEZE" or self.bug("frozen-accepts-access"):
            member.cfg ^= 1
        return True

    def workload(self, op: str, m: int, q: int = 0) -> tuple[bool, list[tuple]]:
        events: list[tuple] = []
        member = self.members.get(m)
        if member is None:
            return False, events
        if op == "hv_reset":        # the hypervisor resets the VF out of band (an aborted migration)
            self._reset(member)
            member.mode = "ACTIVE"
            return True, events
        if op == "init":
            if member.fault != "none" or member.driver_ok or member.mode == "FREEZE":
                return False, events
            self._init(member)
            return True, events
        if op in ("cfgwrite", "peer"):
            return self._access(member), events
        if op == "config":
            if self.may_run(member):
                member.cfg ^= 1
                events.append(("config_notify", m, 0, 0))
                return True, events
            if self.may_run(member, "STOP") and self.bug("notify-while-stopped"):
                member.cfg ^= 1
                events.append(("config_notify", m, 0, 0))
                return True, events
            if member.mode == "FREEZE" and member.driver_ok and self.bug("context-changes-while-frozen"):
                member.cfg ^= 1         # applied silently while frozen
            return False, events
        if op == "dma":             # write an in-flight buffer's data into page `q`
            if not self.may_run(member, *(("FREEZE",) if self.bug("write-while-frozen") else ())):
                return False, events
            busy = next((vq for vq in member.queues if vq.inflight), None)
            if busy is None or not 0 <= q < self.pages:
                return False, events
            _desc_id, seq = busy.inflight[0]
            self._write(member, q * PAGE, payload(m, busy.q, seq), events, ring=False)
            return True, events
        if not 0 <= q < self.n_queues:
            return False, events
        vq = member.queues[q]
        if op == "post":
            if member.fault != "none" or not member.driver_ok or not vq.enabled:
                return False, events
            return self._post(member, q), events
        if op == "fetch":
            if not self.may_run(member) or not vq.enabled or self._avail_idx(member, q) == vq.last_avail:
                return False, events
            slot = vq.last_avail % QSIZE
            desc_id = member.mem.read16(ring_addrs(self.pages, q)[1] + 4 + 2 * slot)
            vq.inflight.append((desc_id, vq.last_avail))
            vq.last_avail = (vq.last_avail + 1) & 0xFFFF
            if self.opt("event_idx") == "on":    # avail_event: the next entry the device reads
                self._write(member, avail_event_addr(self.pages, q), vq.last_avail.to_bytes(2, "little"), None,
                            ring=True)
            return True, events
        if op == "complete":
            if not self.may_run(member) or not vq.inflight:
                return False, events
            desc_id, _seq = vq.inflight.pop(0)
            used = ring_addrs(self.pages, q)[2]
            self._write(member, used + 4 + 8 * (vq.used_idx % QSIZE),
                        desc_id.to_bytes(4, "little") + (64).to_bytes(4, "little"), None, ring=True)
            vq.used_idx = (vq.used_idx + 1) & 0xFFFF
            self._write(member, used + 2, vq.used_idx.to_bytes(2, "little"), None, ring=True)
            events.append(("used_notify", m, q, 0))
            return True, events
        if op == "service":         # the real workload: fetch, write the buffer's own page, complete
            if not vq.inflight and not self.workload("fetch", m, q)[0]:
                return False, events
            if not self.may_run(member, *(("FREEZE",) if self.bug("write-while-frozen") else ())):
                return False, events
            desc_id, seq = vq.inflight[0]
            addr = DESC.unpack_from(member.mem.data, ring_addrs(self.pages, q)[0] + 16 * desc_id)[0]
            self._write(member, addr, payload(m, q, seq), events, ring=False)
            ok, more = self.workload("complete", m, q)
            events.extend(more)
            return ok, events
        return False, events

    # ------------------------------------------------------------------ hypervisor memory access

    def mem_read(self, m: int, page: int) -> bytes:
        return self.members[m].mem.page(page)

    def mem_write(self, m: int, page: int, data: bytes) -> None:
        self.members[m].mem.set_page(page, data)

    def state(self) -> dict[str, Any]:
        return {"members": {str(m): {"mode": x.mode, "status": x.status, "cfg": x.cfg, "fault": x.fault,
                                     "rec": x.recording, "read_cursor": x.rd, "write_stream": x.wr,
                                     "ranges": [{"addr": r.addr, "len": r.length, "page_size": r.page_size,
                                                 "active": r.active, "dirty": sorted(r.dirty)}
                                                for r in x.ranges.values()],
                                     "dirty": sorted({p for r in x.ranges.values() for p in r.dirty}),
                                     "queues": [{"last_avail": v.last_avail, "used_idx": v.used_idx,
                                                 "inflight": len(v.inflight), "avail_idx": self._avail_idx(x, v.q)}
                                                for v in x.queues]}
                            for m, x in self.members.items()}}
