"""Entry points: read and write a trace file, choosing the format by extension."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from collections.abc import Iterable, Iterator

from mcheck.errors import InputError
from mcheck.paths import check_input
from mcheck.trace.codec import Codec
from mcheck.trace.events import Event, Trace, TraceHeader
from mcheck.trace.jsonl import JsonlReader, write_jsonl
from mcheck.trace.pcapng import PcapngReader, write_pcapng
from mcheck.trace.profile import load_profile
from mcheck.trace.stream import check_stream, join_admin

FORMATS = (".jsonl", ".pcapng")


class TraceReader(Protocol):
    """What a format reader offers: the header at once, then one pass of located events."""

    path: str
    unit: str  # what the location numbers count: "line", "byte offset", "frame"
    header: TraceHeader

    def items(self, codec: Codec) -> Iterator[tuple[Event, int]]: ...


def trace_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: unknown trace format {suffix or '(no extension)'!r}; use .jsonl or .pcapng")
    return suffix


def read_trace(path: str | Path, *, profile: str | Path | None = None, join: bool = False) -> Trace:
    """Open a trace for one streaming pass.

    `profile` overrides the header's profile (a built-in name or a TOML path); `join`
    pairs AdminSubmit/AdminComplete records into AdminCommand events. Bad input raises
    InputError, after every good event before the damage has been yielded.
    """
    check_input(path, missing="no such trace file")
    reader = JsonlReader(path) if trace_format(path) == ".jsonl" else PcapngReader(path)
    return trace_from_reader(reader, profile, join)


def trace_from_reader(reader: TraceReader, profile: str | Path | None, join: bool) -> Trace:
    """Wrap a format reader: load the profile, check the stream, optionally join."""
    prof = load_profile(profile if profile is not None else reader.header.profile)
    codec = Codec(prof)
    events = check_stream(reader.items(codec), reader.path, reader.unit, reader.header)
    return Trace(header=reader.header, codec=codec, events=join_admin(events) if join else events)


def write_trace(path: str | Path, header: TraceHeader, events: Iterable[Event], *, codec: Codec | None = None) -> int:
    """Write a trace in the format named by the extension; returns the event count.

    JSONL decodes admin commands for the human-readable fields, with `codec` or else the
    header's built-in profile.
    """
    if trace_format(path) == ".pcapng":
        return write_pcapng(path, header, events)
    return write_jsonl(path, header, events, codec or Codec(load_profile(header.profile)))
