"""Trace events: admin commands with their exact bytes, and side-band events.

Every event has `index` (its position in the trace as written; a joined admin command
takes its completion's index) and `timestamp` in integer nanoseconds, which pcapng and JSON carry
without rounding. Each class has a `KIND` string used by the file formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from collections.abc import Iterator

from mcheck.trace.codec import Codec, DecodedCommand, DecodedResult

FORMAT_VERSION = 1


#: Header keys that document a trace for people; readers keep them and do not interpret them.
#: `fleet` is where a capture says where it came from (host, device model, firmware,
#: migration id), which `mcheck replay-batch` reports (docs/fleet.md).
DOC_KEYS = ("title", "spec", "expect", "fleet")


@dataclass(frozen=True, kw_only=True)
class TraceHeader:
    """What a reader needs before the first event: the profile and the topology.

    `params` are model parameters for replay (a command-line value wins over them);
    `doc` holds the documentation keys (DOC_KEYS) exactly as written, so conversion keeps them.
    """

    profile: str
    members: tuple[int, ...] = ()
    queues: int = 0
    params: dict[str, str | int | bool] = field(default_factory=dict)
    doc: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"mcheck_trace": self.format_version, "profile": self.profile, "members": list(self.members), "queues": self.queues}
        if self.params:
            obj["params"] = dict(self.params)
        obj.update((key, self.doc[key]) for key in DOC_KEYS if key in self.doc)
        return obj

    @classmethod
    def from_json(cls, obj: Any) -> TraceHeader:
        """Parse a header object; raises ValueError naming the faulty key."""
        if not isinstance(obj, dict) or "mcheck_trace" not in obj:
            raise ValueError("not an mcheck trace header (no 'mcheck_trace' key)")
        unknown = set(obj) - {"mcheck_trace", "profile", "members", "queues", "params", *DOC_KEYS}
        if unknown:
            raise ValueError(f"unknown header keys {sorted(unknown)}")
        version, profile = obj["mcheck_trace"], obj.get("profile")
        members, queues, params = obj.get("members", []), obj.get("queues", 0), obj.get("params", {})
        if version != FORMAT_VERSION:
            raise ValueError(f"format version {version!r} is not supported (this mcheck reads {FORMAT_VERSION})")
        if not isinstance(profile, str):
            raise ValueError("header key 'profile' must be a string naming the profile")
        if not isinstance(members, list) or not all(_is_uint(m) for m in members):
            raise ValueError("header key 'members' must be a list of member ids")
        if not _is_uint(queues):
            raise ValueError("header key 'queues' must be a non-negative integer")
        if not isinstance(params, dict):
            raise ValueError("header key 'params' must be an object of model parameters")
        for key, value in params.items():
            if not isinstance(value, (str, int)):  # bool is an int
                raise ValueError(f"header key 'params': parameter {key!r} must be a string, integer or boolean, got {value!r}")
        for key in ("title", "spec"):
            if key in obj and not isinstance(obj[key], str):
                raise ValueError(f"header key {key!r} must be a string")
        doc = {key: obj[key] for key in DOC_KEYS if key in obj}
        return cls(profile=profile, members=tuple(members), queues=queues, params=dict(params), doc=doc, format_version=version)


@dataclass(frozen=True, kw_only=True)
class AdminCommand:
    """One admin command: device-readable bytes and device-writable bytes as on the wire.

    `writable` is None when the completion is missing from the trace. Decoded views are
    computed on first use with `codec`, which takes no part in equality.
    """

    KIND = "admin"
    index: int
    timestamp: int
    aq: int = 0
    tag: int | None = None
    readable: bytes
    writable: bytes | None
    codec: Codec | None = field(default=None, compare=False, repr=False)

    @property
    def opcode(self) -> int:
        return int.from_bytes(self.readable[0:2], "little")

    @property
    def member(self) -> int:
        return int.from_bytes(self.readable[16:24], "little")

    @cached_property
    def command(self) -> DecodedCommand:
        return _need_codec(self).decode_command(self.readable)

    @cached_property
    def result(self) -> DecodedResult | None:
        if self.writable is None:
            return None
        return _need_codec(self).decode_result(self.command.name, self.writable)


@dataclass(frozen=True, kw_only=True)
class AdminSubmit:
    """The driver queued a command; paired with an AdminComplete by `tag`."""

    KIND = "submit"
    index: int
    timestamp: int
    aq: int = 0
    tag: int
    readable: bytes
    codec: Codec | None = field(default=None, compare=False, repr=False)

    @property
    def opcode(self) -> int:
        return int.from_bytes(self.readable[0:2], "little")

    @cached_property
    def command(self) -> DecodedCommand:
        return _need_codec(self).decode_command(self.readable)


@dataclass(frozen=True, kw_only=True)
class AdminComplete:
    """The device completed the submission with the same `tag`."""

    KIND = "complete"
    index: int
    timestamp: int
    aq: int = 0
    tag: int
    writable: bytes


@dataclass(frozen=True, kw_only=True)
class DmaWrite:
    KIND = "dma_write"
    index: int
    timestamp: int
    member: int
    address: int
    length: int


@dataclass(frozen=True, kw_only=True)
class UsedNotify:
    KIND = "used_notify"
    index: int
    timestamp: int
    member: int
    queue: int


@dataclass(frozen=True, kw_only=True)
class ConfigNotify:
    KIND = "config_notify"
    index: int
    timestamp: int
    member: int


@dataclass(frozen=True, kw_only=True)
class Doorbell:
    KIND = "doorbell"
    index: int
    timestamp: int
    member: int
    queue: int


@dataclass(frozen=True, kw_only=True)
class FlrBegin:
    KIND = "flr_begin"
    index: int
    timestamp: int
    member: int


@dataclass(frozen=True, kw_only=True)
class FlrEnd:
    KIND = "flr_end"
    index: int
    timestamp: int
    member: int


@dataclass(frozen=True, kw_only=True)
class MemberReset:
    KIND = "member_reset"
    index: int
    timestamp: int
    member: int


@dataclass(frozen=True, kw_only=True)
class OwnerReset:
    KIND = "owner_reset"
    index: int
    timestamp: int


@dataclass(frozen=True, kw_only=True)
class PmBegin:
    """A member's power-management state transition starts (D-DP-19 defers mode and parts changes)."""

    KIND = "pm_begin"
    index: int
    timestamp: int
    member: int


@dataclass(frozen=True, kw_only=True)
class PmEnd:
    """The member's power-management state transition has completed."""

    KIND = "pm_end"
    index: int
    timestamp: int
    member: int


@dataclass(frozen=True, kw_only=True)
class Pme:
    """The member signalled a PCI power-management event (D-DP-15 forbids it while stopped)."""

    KIND = "pme"
    index: int
    timestamp: int
    member: int


@dataclass(frozen=True, kw_only=True)
class PciRead:
    """A read of the member's PCI configuration space or BARs and the bytes it returned.

    `value` always has `length` bytes (the readers check); D-DP-13 wants valid data while
    the member is stopped.
    """

    KIND = "pci_read"
    index: int
    timestamp: int
    member: int
    offset: int
    length: int
    value: bytes


@dataclass(frozen=True, kw_only=True)
class Annotation:
    KIND = "annotation"
    index: int
    timestamp: int
    text: str


Event = (
    AdminCommand | AdminSubmit | AdminComplete | DmaWrite | UsedNotify | ConfigNotify | Doorbell
    | FlrBegin | FlrEnd | MemberReset | OwnerReset | PmBegin | PmEnd | Pme | PciRead | Annotation
)

EVENT_TYPES: dict[str, type] = {
    cls.KIND: cls
    for cls in (
        AdminCommand, AdminSubmit, AdminComplete, DmaWrite, UsedNotify, ConfigNotify, Doorbell,
        FlrBegin, FlrEnd, MemberReset, OwnerReset, PmBegin, PmEnd, Pme, PciRead, Annotation,
    )
}


@dataclass(frozen=True, kw_only=True)
class Trace:
    """A header, the codec of its profile, and a one-pass iterator of events."""

    header: TraceHeader
    codec: Codec
    events: Iterator[Event]

    def __iter__(self) -> Iterator[Event]:
        return self.events


def _need_codec(event: AdminCommand | AdminSubmit) -> Codec:
    if event.codec is None:
        raise ValueError(f"event {event.index}: built without a codec, cannot decode")
    return event.codec


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
