"""JSON Lines traces: a header line, then one event per line (schema in docs/trace-format.md).

Admin events carry their raw bytes in hex (authoritative) and their decoded fields (for
people). The reader also accepts admin events with decoded fields only and encodes them
with the profile's codec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator

from mcheck.errors import InputError
from mcheck.trace.codec import Codec, CodecError
from mcheck.trace.events import (
    EVENT_TYPES, AdminCommand, AdminComplete, AdminSubmit, Annotation, Event, PciRead, TraceHeader,
)
from mcheck.trace.record import pci_value_mismatch
from mcheck.trace.safejson import loads as _loads

#: Integer keys of each side-band kind (besides "i" and "t").
_SIDE_KEYS: dict[str, tuple[str, ...]] = {
    "dma_write": ("member", "address", "length"),
    "used_notify": ("member", "queue"),
    "config_notify": ("member",),
    "doorbell": ("member", "queue"),
    "flr_begin": ("member",),
    "flr_end": ("member",),
    "member_reset": ("member",),
    "owner_reset": (),
    "pm_begin": ("member",),
    "pm_end": ("member",),
    "pme": ("member",),
}


def write_jsonl(path: str | Path, header: TraceHeader, events: Iterable[Event], codec: Codec) -> int:
    """Write a trace; returns the number of events written."""
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(header.to_json()) + "\n")
        for event in events:
            f.write(json.dumps(event_to_json(event, codec), separators=(",", ":")) + "\n")
            count += 1
    return count


def event_to_json(event: Event, codec: Codec) -> dict[str, Any]:
    obj: dict[str, Any] = {"i": event.index, "t": event.timestamp, "kind": event.KIND}
    if isinstance(event, (AdminCommand, AdminSubmit, AdminComplete)):
        obj["aq"] = event.aq
        if event.tag is not None:
            obj["tag"] = event.tag
    if isinstance(event, AdminComplete):
        obj["writable"] = event.writable.hex()
    elif isinstance(event, (AdminCommand, AdminSubmit)):
        obj["readable"] = event.readable.hex()
        if isinstance(event, AdminCommand):
            obj["writable"] = None if event.writable is None else event.writable.hex()
        _add_decoded(obj, event, codec)
    elif isinstance(event, Annotation):
        obj["text"] = event.text
    elif isinstance(event, PciRead):
        obj.update(member=event.member, offset=event.offset, length=event.length, value=event.value.hex())
    else:
        for key in _SIDE_KEYS[event.KIND]:
            obj[key] = getattr(event, key)
    return obj


def _add_decoded(obj: dict[str, Any], event: AdminCommand | AdminSubmit, codec: Codec) -> None:
    """Add human-readable fields; a decode failure is recorded, not raised (bytes win)."""
    try:
        cmd = codec.decode_command(event.readable)
        obj["cmd"] = {
            **({"name": cmd.name} if cmd.name is not None else {"opcode": cmd.opcode}),
            "group_type": cmd.group_type_name or cmd.group_type,
            "member": cmd.member,
            "fields": to_jsonable(cmd.fields),
        }
        if isinstance(event, AdminCommand) and event.writable is not None:
            res = codec.decode_result(cmd.name, event.writable)
            obj["result"] = {
                "status": res.status_name or res.status,
                "qualifier": res.qualifier_name or res.qualifier,
                "fields": to_jsonable(res.fields),
            }
    except CodecError as exc:
        obj["decode_error"] = str(exc)


def to_jsonable(value: Any) -> Any:
    """Decoded fields with bytes as hex strings."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    return value


class JsonlReader:
    """Reads the header line on construction; `items(codec)` streams (event, line number)."""

    unit = "line"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with open(self.path, "rb") as f:
            first = f.readline()
        try:
            self.header = TraceHeader.from_json(_loads(first))
        except ValueError as exc:
            raise InputError(f"{self.path}: line 1: bad trace header: {exc}") from None

    def items(self, codec: Codec) -> Iterator[tuple[Event, int]]:
        position = 0
        with open(self.path, "rb") as f:
            f.readline()
            for lineno, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    obj = _loads(line)
                    event = self._event(obj, position, codec)
                except (ValueError, CodecError) as exc:
                    problem = f"not valid JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                    if not line.endswith(b"\n"):
                        problem = f"half-written last line (no newline at the end of the file); {problem}"
                    raise InputError(f"{self.path}: event {position} (line {lineno}): {problem}") from None
                position += 1
                yield event, lineno

    def _event(self, obj: Any, position: int, codec: Codec) -> Event:
        if not isinstance(obj, dict):
            raise ValueError("an event line must be a JSON object")
        kind = obj.get("kind")
        if not isinstance(kind, str) or kind not in EVENT_TYPES:
            raise ValueError(f"unknown event kind {kind!r} (known: {', '.join(EVENT_TYPES)})")
        index = obj.get("i", position)
        common = {"index": _uint(index, "i"), "timestamp": _uint(obj.get("t"), "t")}
        if "cite" in obj and not isinstance(obj["cite"], str):
            raise ValueError("key 'cite' must be a string naming the clause the event exercises")
        if kind in _SIDE_KEYS:
            return EVENT_TYPES[kind](**common, **{k: _uint(obj.get(k), k) for k in _SIDE_KEYS[kind]})
        if kind == "pci_read":
            value = _hex(obj.get("value"), "value")
            length = _uint(obj.get("length"), "length")
            if len(value) != length:
                raise ValueError(pci_value_mismatch(len(value), length))
            return PciRead(**common, member=_uint(obj.get("member"), "member"), offset=_uint(obj.get("offset"), "offset"), length=length, value=value)
        if kind == "annotation":
            text = obj.get("text")
            if not isinstance(text, str):
                raise ValueError("annotation needs a string 'text'")
            return Annotation(**common, text=text)
        common["aq"] = _uint(obj.get("aq", 0), "aq", 16)
        tag = obj.get("tag")
        if tag is not None or kind != "admin":
            common["tag"] = _uint(tag, "tag")
        if kind == "complete":
            return AdminComplete(**common, writable=_hex(obj.get("writable"), "writable"))
        readable, cmd_name = self._readable(obj, codec)
        if kind == "submit":
            return AdminSubmit(**common, readable=readable, codec=codec)
        return AdminCommand(**common, readable=readable, writable=self._writable(obj, cmd_name, codec), codec=codec)

    @staticmethod
    def _readable(obj: dict[str, Any], codec: Codec) -> tuple[bytes, str | None]:
        """The readable bytes and the command's name (None for an opcode outside the profile)."""
        if "readable" in obj:
            readable = _hex(obj["readable"], "readable")
            return readable, codec.profile.opcode_names.get(int.from_bytes(readable[0:2], "little"))
        cmd = obj.get("cmd")
        if not isinstance(cmd, dict) or "group_type" not in cmd or ("name" not in cmd and "opcode" not in cmd):
            raise ValueError("admin event needs 'readable' (hex) or 'cmd' with name or opcode, group_type, member, fields")
        name = cmd.get("name")
        if name is None:
            opcode = _uint(cmd.get("opcode"), "cmd.opcode", 16)
        elif not isinstance(name, str) or name not in codec.profile.opcodes:
            raise ValueError(f"unknown command {name!r} for profile {codec.profile.name} (give an opcode outside the profile as 'cmd.opcode')")
        else:
            opcode = codec.profile.opcodes[name]
            if cmd.get("opcode", opcode) != opcode:
                raise ValueError(f"'cmd.opcode' {cmd['opcode']!r} is not the opcode of {name} ({opcode:#x})")
        fields = cmd.get("fields", {})
        if not isinstance(fields, dict):
            raise ValueError("'cmd.fields' must be an object")
        return codec.encode_command(opcode, cmd["group_type"], _uint(cmd.get("member", 0), "cmd.member"), fields), codec.profile.opcode_names.get(opcode)

    @staticmethod
    def _writable(obj: dict[str, Any], cmd_name: str | None, codec: Codec) -> bytes | None:
        if "writable" in obj:
            return None if obj["writable"] is None else _hex(obj["writable"], "writable")
        res = obj.get("result")
        if res is None:
            return None
        if not isinstance(res, dict):
            raise ValueError("'result' must be an object with status, qualifier, fields")
        fields = res.get("fields", {})
        if not isinstance(fields, dict):
            raise ValueError("'result.fields' must be an object")
        return codec.encode_result(cmd_name, res.get("status", 0), res.get("qualifier", 0), fields)


def _uint(value: Any, key: str, bits: int = 64) -> int:
    """A non-negative integer that fits the pcapng record field it will travel in."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise ValueError(f"key {key!r} must be an integer in 0..2**{bits}-1, got {value!r}")
    return value


def _hex(value: Any, key: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"key {key!r} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"key {key!r} is not valid hex") from None
