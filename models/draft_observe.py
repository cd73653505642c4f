"""What a captured draft-v1 event means to the draft-v1 model (the observation contract of
issue 14; docs/draft-v1.md, docs/draft-v1-profile.md).

Member ids on the wire: one model member is a migration pair, and a trace that holds both
hosts names the source VF of pair m as member 2m-1 and its destination VF as member 2m.
Numbers come from the capture's own profile (mode values, the write-report form), so a
vendor profile with other numbers gives the same model events and the same verdicts. A
member reset has no end record in the trace formats; its end is a hidden step
(`reset_end`). Context sizes and device capabilities are left out: the model's context is
an abstraction, and a device's real size and limits are its own choice.

**The observer is stateful.** `DraftObserver` reads one capture's events in order and keeps,
per wire member:

* the recorded ranges of its OK WR_STARTs (address, length, page size), which turn a
  `dma_write` address and an address-list WR_REPORT into model page indices. A destination
  without ranges of its own uses its pair's source's; before any WR_START a page is
  `address // 4096`. A WR_START after every range was stopped starts a new list;
* the bytes of the context stream it is writing (DEV_CTX_WRITE `part`), and the bytes of the
  context stream it is reading, with the total of its last complete read (DEV_CTX_WRITE
  `last` on the pair's destination);
* the mode its last OK DEV_MODE_SET / DEV_MODE_GET named (a mode change restarts a read).

State moves only on answered commands (a command without a completion is observed from
its own bytes and changes nothing). A model loads one observer and replays one capture
at a time through it; an event index lower than the previous one (a new capture) clears
the state, and `reset()` does so explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: what the generic replayer needs to know about this vocabulary (mcheck/replay/rules.py):
#: an admin command observed without a status lost its completion; kind, cmd, member and
#: group name a command; a replay without divergence conforms to D-GA-2, as for virtio 1.4
REPLAY_RULES = {"command_kinds": ("admin",), "answer_field": "status",
                "command_fields": ("kind", "cmd", "member", "group"), "default_clauses": ("D-GA-2",)}

PAGE_SIZE = 4096
WIRE_KINDS = {"member_reset": "reset_begin"}
UNKNOWN_MODE = "UNKNOWN"


def pair_of(member: int) -> tuple[int, str]:
    """Wire member id -> (model member, side)."""
    return (member + 1) // 2, "src" if member % 2 else "dst"


def source_of(member: int) -> int:
    """The wire id of the source VF of `member`'s pair."""
    return member if member % 2 else member - 1


@dataclass
class _Range:
    addr: int
    length: int
    page_size: int
    active: bool = True

    @property
    def pages(self) -> int:
        return self.length // self.page_size if self.page_size else 0


def _mode_names(event: Any) -> dict[int, str]:
    codec = getattr(event, "codec", None)
    return {v: k for k, v in codec.profile.modes.items()} if codec is not None else {}


def _report_form(event: Any) -> str:
    codec = getattr(event, "codec", None)
    return getattr(codec.profile, "wr_report_form", "bitmap") if codec is not None else "bitmap"


def _field_of_kind(event: Any, cmd: str, kinds: tuple[str, ...], fields: dict[str, Any]) -> Any:
    """The result field of `cmd` whose layout type is one of `kinds` (its name is the profile's)."""
    layout = event.codec.profile.commands.get(cmd) if getattr(event, "codec", None) is not None else None
    if layout is not None:
        for f in layout.result.fields:
            if f.type in kinds:
                return fields.get(f.name)
    return None


class DraftObserver:
    """The observation of one draft-v1 capture (see the module docstring for its state)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new capture)."""
        self.ranges: dict[int, list[_Range]] = {}
        self.written: dict[int, int] = {}       # wire member -> bytes of its open write stream
        self.reading: dict[int, int] = {}       # wire member -> bytes read since its read stream began
        self.read_total: dict[int, int] = {}    # wire member -> size of its last complete read
        self.modes: dict[int, int] = {}         # wire member -> mode number, when known
        self.last_index = -1

    # ------------------------------------------------------------------ events

    def observe(self, event: Any) -> dict[str, Any] | None:
        """The model event `event` stands for; None for events the model does not see."""
        index = getattr(event, "index", 0)
        if index < self.last_index:
            self.reset()
        self.last_index = index
        kind = event.KIND
        if kind in ("annotation", "owner_reset"):
            return None
        if kind != "admin":
            return self._sideband(event)
        return self._admin(event)

    def _sideband(self, event: Any) -> dict[str, Any]:
        kind = event.KIND
        member, side = pair_of(event.member)
        out: dict[str, Any] = {"kind": WIRE_KINDS.get(kind, kind), "member": member, "side": side}
        if kind == "dma_write":
            out["page"] = self.page_of(event.member, event.address)
        elif kind in ("used_notify", "doorbell"):
            out["queue"] = event.queue
        elif kind in ("flr_begin", "member_reset"):
            self._member_reset(event.member)
        return out

    def _admin(self, event: Any) -> dict[str, Any]:
        cmd = event.command
        w = cmd.member
        member, side = pair_of(w)
        out: dict[str, Any] = {"kind": "admin", "cmd": cmd.name, "member": member, "side": side}
        f = cmd.fields
        result = event.result
        ok = result is not None and result.status == 0
        r = result.fields if result is not None else {}
        name = cmd.name
        if name == "DEV_MODE_SET":
            number = f.get("mode")
            out["mode"] = _mode_names(event).get(number, UNKNOWN_MODE)
        elif name == "DEV_CTX_SIZE_GET":
            out["freeze_mode"] = f.get("freeze_mode", 0)
        elif name == "DEV_CTX_WRITE":
            out.update(self._write_view(event, w, f.get("context", b"")))
        elif name == "WR_START":
            page_size = f.get("page_size", 0)
            out["range_pages"] = f.get("range_len", 0) // page_size if page_size else 0
        elif name == "WR_REPORT":
            out["range_pages"] = self._report_range(w, f.get("range_addr", 0), f.get("range_len", 0))[1]
        if result is not None:
            out["status"] = result.status_name or f"status {result.status}"
            if ok:
                self._answered_view(event, w, name, f, r, out)
            self._update(event, w, name, f, r, ok)
        return out

    def _answered_view(self, event: Any, w: int, name: str, f: dict[str, Any], r: dict[str, Any],
                       out: dict[str, Any]) -> None:
        """The keys an OK answer adds."""
        if name == "DEV_MODE_GET":
            number = r.get("mode")   # None when a short answer has no mode byte
            known = _mode_names(event).get(number) if isinstance(number, int) else None
            out["mode"] = known or f"mode {number}"
        elif name == "DEV_CTX_READ":
            out["last"] = r.get("remaining_ctx_size", 0) == 0
            out["empty"] = r.get("size", 0) == 0
        elif name == "DEV_CTX_FIELDS_QUERY":
            out["fields"] = ",".join(str(h.get("type")) for h in r.get("fields", []))
        elif name == "WR_PENDING":
            pending = r.get("pending_bytes", 0)
            if _report_form(event) == "address-list":
                out["pending_pages"] = pending // 8
            out["pending_any"] = pending > 0
        elif name == "WR_REPORT":
            out["bitmap"] = self._report_bitmap(event, w, f, r)

    # ------------------------------------------------------------------ context streams

    def _write_view(self, event: Any, w: int, chunk: bytes) -> dict[str, Any]:
        """`part` and (when the pair's source was read whole) `last` of a DEV_CTX_WRITE chunk."""
        so_far, total = self._stream(w)
        out: dict[str, Any] = {"part": "next" if so_far or not self._starts_context(event, chunk) else "first"}
        if total is not None:
            out["last"] = so_far + len(chunk) == total
        return out

    def _stream(self, w: int) -> tuple[int, int | None]:
        """(bytes of `w`'s open write stream, total of its pair's source's last complete read).
        A stream that already holds that total is complete (its source was read after it was
        written): the next chunk starts a new one."""
        so_far = self.written.get(w, 0)
        total = self.read_total.get(source_of(w))
        return (0 if so_far == total else so_far), total

    @staticmethod
    def _starts_context(event: Any, chunk: bytes) -> bool:
        """Whether a chunk sent with no stream open begins a context (DRAFT-CTX-5: a stream's
        first chunk begins with a context entry): its first bytes are an entry header of a
        type the profile defines, reserved zero. A chunk that does not is the rest of a
        stream the device no longer has open (after an FLR or DISCARD): part "next"."""
        codec = getattr(event, "codec", None)
        if codec is None:
            return True
        if len(chunk) < 2 or int.from_bytes(chunk[0:2], "little") not in codec.profile.context:
            return False
        return len(chunk) < 4 or chunk[2:4] == b"\0\0"

    def _update(self, event: Any, w: int, name: str, f: dict[str, Any], r: dict[str, Any], ok: bool) -> None:
        """What an answered command changes in the observer's state."""
        if name == "DEV_CTX_WRITE":
            if not ok:
                self.written[w] = 0
                return
            so_far, total = self._stream(w)
            done = so_far + len(f.get("context", b""))
            self.written[w] = 0 if done == total else done
            self.reading[w] = 0          # a context write restarts the read stream
        elif not ok:
            return
        elif name == "DEV_CTX_READ":
            done = self.reading.get(w, 0) + r.get("size", 0)
            if r.get("remaining_ctx_size", 0) == 0:
                if done:
                    self.read_total[w] = done
                done = 0
            self.reading[w] = done
        elif name == "DEV_CTX_DISCARD":
            self.written[w] = self.reading[w] = 0
        elif name in ("DEV_MODE_SET", "DEV_MODE_GET"):
            number = (f if name == "DEV_MODE_SET" else r).get("mode")
            if name == "DEV_MODE_SET" and self.modes.get(w) != number:
                self.reading[w] = 0      # a mode change restarts the read stream
            if number is not None:
                self.modes[w] = number
        elif name == "WR_START":
            ranges = self.ranges.get(w, [])
            if not any(x.active for x in ranges):
                ranges = []
            addr = f.get("range_addr", 0)
            ranges = [x for x in ranges if x.addr != addr]
            ranges.append(_Range(addr=addr, length=f.get("range_len", 0), page_size=f.get("page_size", 0)))
            self.ranges[w] = sorted(ranges, key=lambda x: x.addr)
        elif name == "WR_STOP":
            for x in self.ranges.get(w, []):
                if x.addr == f.get("range_addr", 0):
                    x.active = False

    def _member_reset(self, w: int) -> None:
        """An FLR or reset of wire member `w`: both context streams restart, the mode is unknown."""
        self.written[w] = self.reading[w] = 0
        self.modes.pop(w, None)

    # ------------------------------------------------------------------ pages

    def _ranges(self, w: int) -> list[_Range]:
        return [x for x in self.ranges.get(w) or self.ranges.get(source_of(w)) or [] if x.page_size]

    def page_of(self, w: int, address: int) -> int:
        """Model page index of guest address `address` for wire member `w`: pages are numbered
        across the member's recorded ranges in address order, so with one range it is
        (address - range_addr) // page_size. An address outside every range counts from the
        first range; with no range, address // 4096."""
        ranges = self._ranges(w)
        if not ranges:
            return address // PAGE_SIZE
        base = 0
        for x in ranges:
            if x.addr <= address < x.addr + x.length:
                return base + (address - x.addr) // x.page_size
            base += x.pages
        return (address - ranges[0].addr) // ranges[0].page_size

    def _report_range(self, w: int, addr: int, length: int) -> tuple[int, int]:
        """(model page of the reported range's first page, pages in it) of a WR_REPORT."""
        ranges = self._ranges(w)
        base = 0
        for x in ranges:
            if x.addr <= addr < x.addr + max(x.length, 1):
                return base + (addr - x.addr) // x.page_size, length // x.page_size
            base += x.pages
        page_size = ranges[0].page_size if ranges else PAGE_SIZE
        return 0, length // page_size

    def _report_bitmap(self, event: Any, w: int, f: dict[str, Any], r: dict[str, Any]) -> int:
        """The report as bit i = page i of the reported range (the model's bitmap)."""
        first, pages = self._report_range(w, f.get("range_addr", 0), f.get("range_len", 0))
        if _report_form(event) == "address-list":
            addresses = _field_of_kind(event, "WR_REPORT", ("page_addresses",), r) or []
            bits = 0
            for address in addresses:
                page = self.page_of(w, address) - first
                # an address before the range cannot be a bit of it: one past the range (the
                # model never reports such a page, so a replay names the answer)
                bits |= 1 << (page if page >= 0 else max(pages, 0))
            return bits
        raw = _field_of_kind(event, "WR_REPORT", ("bitmap",), r)
        return int.from_bytes(raw or b"", "little")
