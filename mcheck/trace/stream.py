"""Checks every reader applies to its event stream, and the submit/complete join.

Readers yield (event, location) pairs; `check_stream` raises one InputError naming the
file, the event index and the location (line or byte offset) at the first bad event,
after yielding every good event before it. Memory is bounded by outstanding submissions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mcheck.errors import InputError
from mcheck.trace.events import AdminCommand, AdminComplete, AdminSubmit, Event, TraceHeader


def check_stream(items: Iterable[tuple[Event, int]], source: str, unit: str, header: TraceHeader) -> Iterator[Event]:
    """Yield events, failing at the first one that breaks a trace-level rule.

    Each item carries its location as a number in `unit` ("line", "byte offset", ...),
    formatted only when an error is raised. Opcodes, group types and statuses outside the
    profile are not errors: they decode as numbers (future and vendor commands).
    """
    members = frozenset(header.members)
    outstanding: set[int] = set()
    last_index = -1
    last_time = 0
    for event, loc in items:
        index = event.index
        if index <= last_index:
            raise _located(source, index, unit, loc, f"index {index} does not follow index {last_index} (indices must increase)")
        if event.timestamp < last_time:
            raise _located(source, index, unit, loc, f"timestamp {event.timestamp} ns goes backwards (previous event: {last_time} ns)")
        if isinstance(event, AdminCommand):
            pass  # its `member` is the command header's group member id, any le64 (not checked)
        elif isinstance(event, AdminSubmit):
            if event.tag in outstanding:
                raise _located(source, index, unit, loc, f"tag {event.tag} is already outstanding")
            outstanding.add(event.tag)
        elif isinstance(event, AdminComplete):
            if event.tag not in outstanding:
                raise _located(source, index, unit, loc, f"completion of tag {event.tag} without a submission")
            outstanding.discard(event.tag)
        elif members and (member := getattr(event, "member", None)) is not None and member not in members:
            raise _located(source, index, unit, loc, f"member {member} is not in the header's members {sorted(members)}")
        last_index, last_time = index, event.timestamp
        yield event


def join_admin(events: Iterable[Event]) -> Iterator[Event]:
    """Pair AdminSubmit/AdminComplete by tag into AdminCommand.

    The joined command takes the completion's index, place and timestamp, so the joined
    stream stays in order; submissions never completed come last, with their own index
    and timestamp and writable None.
    Assumes a stream that passed `check_stream`.
    """
    pending: dict[int, AdminSubmit] = {}
    for event in events:
        if isinstance(event, AdminSubmit):
            pending[event.tag] = event
        elif isinstance(event, AdminComplete):
            sub = pending.pop(event.tag)
            yield AdminCommand(index=event.index, timestamp=event.timestamp, aq=sub.aq, tag=sub.tag, readable=sub.readable, writable=event.writable, codec=sub.codec)
        else:
            yield event
    for sub in pending.values():
        yield AdminCommand(index=sub.index, timestamp=sub.timestamp, aq=sub.aq, tag=sub.tag, readable=sub.readable, writable=None, codec=sub.codec)


def _located(source: str, index: int, unit: str, loc: int, problem: str) -> InputError:
    return InputError(f"{source}: event {index} ({unit} {loc}): {problem}")
