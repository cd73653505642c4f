"""Encode and decode admin commands, results, device parts and draft context entries.

Decoding follows the admin-queue length rules: readable bytes that are missing read as
zero (D-AQ-1, e.g. Linux's 25-byte DEV_MODE_SET) and extra bytes are ignored (D-AQ-2);
both are counted in `missing` / `extra` instead of failing. Reserved fields appear in
the decoded dict only when they are not zero, so well-formed input round-trips both
ways: encode(decode(b)) == b and decode(encode(f)) == f. Byte values are `bytes`; the
encoders also accept hex strings so that JSON-decoded fields can be encoded directly.

The 8-byte result status header is `le16 status; le16 status_qualifier; u8 reserved2[4]`.
A command whose profile layout declares `output` fields (draft patch 2, "Redefine
reserved2 as command specific output") has them decoded from and encoded into reserved2;
they share the result's `fields` dict, come first in it, and appear only when non-zero (a
device that leaves reserved2 zero decodes as before; an absent output field is 0). Any
other command's non-zero reserved2 is kept as the field `reserved2` (4 raw bytes), like
every other non-zero reserved field, so it is shown and survives a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcheck.trace.profile import INT_SIZES, RESERVED2, RESERVED2_SIZE, ItemType, Layout, Profile

CMD_HEADER_SIZE = 24
STATUS_SIZE = 8
PART_HEADER_SIZE = 16
CTX_HEADER_SIZE = 8


def opcode_words(opcodes: set[int] | frozenset[int] | list[int] | tuple[int, ...]) -> list[int]:
    """An opcode set as the le64 words of LIST_QUERY / LIST_USE: bit n % 64 of word n / 64."""
    words = [0] * (max(opcodes) // 64 + 1 if opcodes else 1)
    for op in opcodes:
        words[op // 64] |= 1 << (op % 64)
    return words


def opcodes_of(words: list[int]) -> set[int]:
    """The opcode set that LIST_QUERY / LIST_USE words stand for."""
    return {w * 64 + bit for w, word in enumerate(words) for bit in range(64) if word >> bit & 1}


class CodecError(ValueError):
    """Bytes or fields that do not fit the profile's layouts (the caller adds the place)."""


@dataclass(frozen=True, kw_only=True)
class DecodedCommand:
    opcode: int
    name: str | None  # None: the opcode is not in the profile; fields then hold {"raw": data}
    group_type: int
    group_type_name: str | None
    member: int
    fields: dict[str, Any]
    missing: int  # readable bytes the layout needs that were absent (read as zero)
    extra: int  # readable bytes past the layout, ignored


@dataclass(frozen=True, kw_only=True)
class DecodedResult:
    status: int
    status_name: str | None
    qualifier: int
    qualifier_name: str | None
    fields: dict[str, Any]
    missing: int
    extra: int


class Codec:
    """Byte-exact codec for one profile."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    # -- commands ---------------------------------------------------------------------

    def decode_command(self, readable: bytes) -> DecodedCommand:
        head = readable[:CMD_HEADER_SIZE].ljust(CMD_HEADER_SIZE, b"\0")
        opcode = int.from_bytes(head[0:2], "little")
        group_type = int.from_bytes(head[2:4], "little")
        member = int.from_bytes(head[16:24], "little")
        name = self.profile.opcode_names.get(opcode)
        data = readable[CMD_HEADER_SIZE:]
        missing = max(0, CMD_HEADER_SIZE - len(readable))
        if name is None:
            fields: dict[str, Any] = {"raw": bytes(data)}
            extra = 0
        else:
            fields, miss, extra = self._decode_layout(self.profile.commands[name].data, data)
            missing += miss
        return DecodedCommand(
            opcode=opcode,
            name=name,
            group_type=group_type,
            group_type_name=self.profile.group_type_names.get(group_type),
            member=member,
            fields=fields,
            missing=missing,
            extra=extra,
        )

    def encode_command(self, command: str | int, group_type: int | str, member: int, fields: dict[str, Any]) -> bytes:
        """`command` is a name or an opcode number; an opcode outside the profile takes its
        data as fields {"raw": bytes}, the inverse of what decode_command gives."""
        opcode = self._number(self.profile.opcodes, command, "opcode")
        name = command if isinstance(command, str) else self.profile.opcode_names.get(opcode)
        group = self._number(self.profile.group_types, group_type, "group type")
        if not isinstance(member, int) or isinstance(member, bool) or not 0 <= member < 1 << 64:
            raise CodecError(f"member {member!r} does not fit le64")
        header = opcode.to_bytes(2, "little") + group.to_bytes(2, "little") + bytes(12) + member.to_bytes(8, "little")
        if name is None:
            return header + _raw_fields(fields, f"opcode {opcode:#x} data")
        return header + self._encode_layout(self.profile.commands[name].data, fields, f"{name} data")

    # -- results ----------------------------------------------------------------------

    def decode_result(self, cmd_name: str | None, writable: bytes) -> DecodedResult:
        """Decode a device-writable part; an empty result area after a failure has no fields."""
        head = writable[:STATUS_SIZE].ljust(STATUS_SIZE, b"\0")
        status = int.from_bytes(head[0:2], "little")
        qualifier = int.from_bytes(head[2:4], "little")
        body = writable[STATUS_SIZE:]
        missing = max(0, STATUS_SIZE - len(writable))
        fields = self._decode_output(cmd_name, head[4:STATUS_SIZE])
        extra = 0
        if cmd_name is None:
            if body:
                fields["raw"] = bytes(body)
        elif body or status == 0:
            decoded, miss, extra = self._decode_layout(self.profile.commands[cmd_name].result, body)
            fields.update(decoded)
            missing += miss
        return DecodedResult(
            status=status,
            status_name=self.profile.status_names.get(status),
            qualifier=qualifier,
            qualifier_name=self.profile.qualifier_names.get(qualifier),
            fields=fields,
            missing=missing,
            extra=extra,
        )

    def encode_result(self, cmd_name: str | None, status: int | str, qualifier: int | str, fields: dict[str, Any]) -> bytes:
        """`cmd_name` None: a command outside the profile, whose result is fields {"raw": bytes}."""
        if cmd_name is not None and cmd_name not in self.profile.commands:
            raise CodecError(f"unknown command {cmd_name!r} in profile {self.profile.name}")
        code = self._number(self.profile.status, status, "status")
        qual = self._number(self.profile.qualifiers, qualifier, "qualifier")
        reserved2, fields = self._encode_output(cmd_name, fields)
        head = code.to_bytes(2, "little") + qual.to_bytes(2, "little") + reserved2
        if not fields and code != 0:
            return head
        if cmd_name is None:
            return head + _raw_fields(fields, "result")
        return head + self._encode_layout(self.profile.commands[cmd_name].result, fields, f"{cmd_name} result")

    def _decode_output(self, cmd_name: str | None, reserved2: bytes) -> dict[str, Any]:
        """The fields a result keeps in the status header's reserved2 (non-zero ones only)."""
        layout = self.profile.commands[cmd_name].output if cmd_name is not None else None
        if layout is None:
            return {RESERVED2: bytes(reserved2)} if any(reserved2) else {}
        decoded = self._decode_layout(layout, reserved2)[0]
        return {k: v for k, v in decoded.items() if (any(v) if isinstance(v, bytes) else v)}

    def _encode_output(self, cmd_name: str | None, fields: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """(reserved2 bytes, the fields left for the result body)."""
        layout = self.profile.commands[cmd_name].output if cmd_name is not None else None
        names = {f.name for f in layout.fields} if layout is not None else {RESERVED2}
        own = {k: v for k, v in fields.items() if k in names}
        rest = {k: v for k, v in fields.items() if k not in names}
        where = f"{cmd_name or 'result'} status header"
        if layout is None:
            value = own.get(RESERVED2)
            return (bytes(RESERVED2_SIZE) if value is None else _raw(value, f"{where} field {RESERVED2!r}", RESERVED2_SIZE)), rest
        return self._encode_layout(layout, own, f"{where} output"), rest

    # -- device parts and context entries ---------------------------------------------

    def decode_parts(self, buf: bytes) -> list[dict[str, Any]]:
        """Decode back-to-back device parts (16-byte header + value)."""
        parts = []
        pos = 0
        while pos < len(buf):
            if len(buf) - pos < PART_HEADER_SIZE:
                raise CodecError(f"device part at data offset {pos}: {len(buf) - pos} bytes left, a part header needs 16")
            part = self._decode_part_header(buf[pos : pos + PART_HEADER_SIZE], with_length=False)
            length = int.from_bytes(buf[pos + 12 : pos + 16], "little")
            start = pos + PART_HEADER_SIZE
            if start + length > len(buf):
                raise CodecError(f"device part at data offset {pos}: length {length} runs past the end ({len(buf) - start} bytes left)")
            item = self.profile.parts.get(int.from_bytes(buf[pos : pos + 2], "little"))
            part["value"] = self._decode_value(item, buf[start : start + length], part)
            parts.append(part)
            pos = start + length
        return parts

    def encode_parts(self, parts: list[dict[str, Any]]) -> bytes:
        out = bytearray()
        for i, part in enumerate(parts):
            if not isinstance(part, dict) or "type" not in part or "value" not in part:
                raise CodecError(f"device part {i}: must be a table with type and value")
            _, item = self._item(self.profile.parts, self.profile.part_numbers, part["type"], "part type")
            value = self._encode_value(item, part["value"], part, f"device part {i}")
            out += self._encode_part_header(part, len(value), f"device part {i}", {"value"})
            out += value
        return bytes(out)

    def decode_context(self, buf: bytes) -> list[dict[str, Any]]:
        """Decode draft context entries {le16 type; u8 reserved[2]; le32 length} + value."""
        entries = []
        pos = 0
        while pos < len(buf):
            if len(buf) - pos < CTX_HEADER_SIZE:
                raise CodecError(f"context entry at offset {pos}: {len(buf) - pos} bytes left, an entry header needs 8")
            number = int.from_bytes(buf[pos : pos + 2], "little")
            length = int.from_bytes(buf[pos + 4 : pos + 8], "little")
            start = pos + CTX_HEADER_SIZE
            if start + length > len(buf):
                raise CodecError(f"context entry at offset {pos}: length {length} runs past the end")
            item = self.profile.context.get(number)
            entry: dict[str, Any] = {"type": item.name if item else number}
            reserved = int.from_bytes(buf[pos + 2 : pos + 4], "little")
            if reserved:
                entry["reserved"] = reserved
            entry["value"] = self._decode_value(item, buf[start : start + length], entry)
            entries.append(entry)
            pos = start + length
        return entries

    def encode_context(self, entries: list[dict[str, Any]]) -> bytes:
        out = bytearray()
        for i, entry in enumerate(entries):
            where = f"context entry {i}"
            if not isinstance(entry, dict) or "type" not in entry or "value" not in entry:
                raise CodecError(f"{where}: must be a table with type and value")
            unknown = set(entry) - {"type", "reserved", "value"}
            if unknown:
                raise CodecError(f"{where}: unknown keys {sorted(unknown)}")
            number, item = self._item(self.profile.context, self.profile.context_numbers, entry["type"], "context type")
            value = self._encode_value(item, entry["value"], entry, where)
            out += number.to_bytes(2, "little") + _uint(entry.get("reserved", 0), 2, where)
            out += len(value).to_bytes(4, "little") + value
        return bytes(out)

    # -- layouts ----------------------------------------------------------------------

    def _decode_layout(self, layout: Layout, buf: bytes) -> tuple[dict[str, Any], int, int]:
        missing = max(0, layout.fixed_size - len(buf))
        if missing:
            buf = bytes(buf) + bytes(missing)
        fields: dict[str, Any] = {}
        extra = max(0, len(buf) - layout.fixed_size)
        for field in layout.fields:
            if field.size is None:
                fields[field.name], extra = self._decode_variable(field.type, buf[field.offset :])
                continue
            chunk = buf[field.offset : field.offset + field.size]
            value: Any = int.from_bytes(chunk, "little") if field.type in INT_SIZES else bytes(chunk)
            if field.name.startswith("reserved") and not any(chunk):
                continue
            fields[field.name] = value
        return fields, missing, extra

    def _encode_layout(self, layout: Layout, fields: dict[str, Any], where: str) -> bytes:
        known = {f.name for f in layout.fields}
        unknown = set(fields) - known
        if unknown:
            raise CodecError(f"{where}: unknown fields {sorted(unknown)} (known: {sorted(known)})")
        out = bytearray()
        for field in layout.fields:
            value = fields.get(field.name)
            fwhere = f"{where} field {field.name!r}"
            if field.size is None:
                out += self._encode_variable(field.type, value, fwhere)
            elif field.type in INT_SIZES:
                out += _uint(0 if value is None else value, field.size, fwhere)
            else:
                out += bytes(field.size) if value is None else _raw(value, fwhere, field.size)
        return bytes(out)

    def _decode_variable(self, kind: str, buf: bytes) -> tuple[Any, int]:
        """Decode a variable-length kind; returns (value, bytes left over and ignored)."""
        if kind in ("tail", "bitmap"):
            return bytes(buf), 0
        if kind in ("le64_words", "page_addresses"):
            n = len(buf) // 8
            return [int.from_bytes(buf[i * 8 : i * 8 + 8], "little") for i in range(n)], len(buf) - n * 8
        if kind == "parts":
            # D-AQ-5: a device pads its writable part to a multiple of 8 bytes; zero bytes after
            # the last part, fewer than a part header, are that padding (left over, ignored)
            pos = 0
            while len(buf) - pos >= PART_HEADER_SIZE:
                pos += PART_HEADER_SIZE + int.from_bytes(buf[pos + 12 : pos + 16], "little")
            if pos < len(buf) and not any(buf[pos:]):
                return self.decode_parts(buf[:pos]), len(buf) - pos
            return self.decode_parts(buf), 0
        if kind == "part_headers":
            n = len(buf) // PART_HEADER_SIZE
            return [self._decode_part_header(buf[i * 16 : i * 16 + 16], with_length=True) for i in range(n)], len(buf) - n * 16
        if kind == "ctx_headers":
            n = len(buf) // CTX_HEADER_SIZE
            return [self._decode_ctx_header(buf[i * 8 : i * 8 + 8]) for i in range(n)], len(buf) - n * 8
        raise CodecError(f"unknown variable kind {kind!r}")

    def _encode_variable(self, kind: str, value: Any, where: str) -> bytes:
        if kind in ("tail", "bitmap"):
            return b"" if value is None else _raw(value, where)
        if value is None:
            return b""
        if not isinstance(value, list):
            raise CodecError(f"{where}: must be a list")
        if kind in ("le64_words", "page_addresses"):
            return b"".join(_uint(w, 8, f"{where}[{i}]") for i, w in enumerate(value))
        if kind == "parts":
            return self.encode_parts(value)
        if kind == "part_headers":
            out = bytearray()
            for i, hdr in enumerate(value):
                if not isinstance(hdr, dict) or "type" not in hdr:
                    raise CodecError(f"{where}[{i}]: must be a table with type")
                out += self._encode_part_header(hdr, hdr.get("length", 0), f"{where}[{i}]", {"length"})
            return bytes(out)
        if kind == "ctx_headers":
            out = bytearray()
            for i, hdr in enumerate(value):
                hwhere = f"{where}[{i}]"
                if not isinstance(hdr, dict) or "type" not in hdr or set(hdr) - {"type", "reserved", "length"}:
                    raise CodecError(f"{hwhere}: must be a table with type, length (and reserved)")
                number, _ = self._item(self.profile.context, self.profile.context_numbers, hdr["type"], "context type")
                out += number.to_bytes(2, "little") + _uint(hdr.get("reserved", 0), 2, hwhere) + _uint(hdr.get("length", 0), 4, hwhere)
            return bytes(out)
        raise CodecError(f"{where}: unknown variable kind {kind!r}")

    # -- part headers and values ------------------------------------------------------

    def _decode_part_header(self, hdr: bytes, *, with_length: bool) -> dict[str, Any]:
        number = int.from_bytes(hdr[0:2], "little")
        item = self.profile.parts.get(number)
        part: dict[str, Any] = {"type": item.name if item else number, "flags": hdr[2]}
        if hdr[3]:
            part["reserved"] = hdr[3]
        selector = hdr[4:12]
        kind = item.selector if item else "none"
        if kind == "index" and not any(selector[2:]):
            part["index"] = int.from_bytes(selector[0:2], "little")
        elif kind == "offset" and not any(selector[4:]):
            part["offset"] = int.from_bytes(selector[0:4], "little")
        elif any(selector):
            part["selector"] = bytes(selector)
        if with_length:
            part["length"] = int.from_bytes(hdr[12:16], "little")
        return part

    def _encode_part_header(self, part: dict[str, Any], length: int, where: str, own: set[str]) -> bytes:
        unknown = set(part) - {"type", "flags", "reserved", "index", "offset", "selector"} - own
        if unknown:
            raise CodecError(f"{where}: unknown keys {sorted(unknown)}")
        number, _ = self._item(self.profile.parts, self.profile.part_numbers, part["type"], "part type")
        if "selector" in part:
            selector = _raw(part["selector"], f"{where} selector", 8)
        elif "index" in part:
            selector = _uint(part["index"], 2, f"{where} index") + bytes(6)
        elif "offset" in part:
            selector = _uint(part["offset"], 4, f"{where} offset") + bytes(4)
        else:
            selector = bytes(8)
        return (
            number.to_bytes(2, "little")
            + _uint(part.get("flags", 0), 1, f"{where} flags")
            + _uint(part.get("reserved", 0), 1, f"{where} reserved")
            + selector
            + _uint(length, 4, f"{where} length")
        )

    def _decode_ctx_header(self, hdr: bytes) -> dict[str, Any]:
        number = int.from_bytes(hdr[0:2], "little")
        item = self.profile.context.get(number)
        out: dict[str, Any] = {"type": item.name if item else number}
        reserved = int.from_bytes(hdr[2:4], "little")
        if reserved:
            out["reserved"] = reserved
        out["length"] = int.from_bytes(hdr[4:8], "little")
        return out

    def _value_layout(self, item: ItemType | None, holder: dict[str, Any]) -> tuple[str, Layout | None, int | None]:
        """(kind, struct layout, expected size) of an item's value; kind "raw" if unknown."""
        if item is None:
            return "raw", None, None
        kind = item.value
        if kind.startswith("struct:"):
            layout = self.profile.structs[kind[7:]]
            return "struct", layout, layout.fixed_size
        if kind.startswith("member:"):
            member = self.profile.structs[kind[7:]].member_at(holder.get("offset", -1))
            return ("int", None, member.size) if member and member.type in INT_SIZES else ("raw", None, None)
        if kind in INT_SIZES:
            return "int", None, INT_SIZES[kind]
        return kind, None, None

    def _decode_value(self, item: ItemType | None, value: bytes, holder: dict[str, Any]) -> Any:
        kind, layout, size = self._value_layout(item, holder)
        if kind == "struct" and len(value) == size and layout is not None:
            return self._decode_layout(layout, value)[0]
        if kind == "int" and len(value) == size:
            return int.from_bytes(value, "little")
        if kind == "le64_words" and len(value) % 8 == 0:
            return self._decode_variable(kind, value)[0]
        return bytes(value)

    def _encode_value(self, item: ItemType | None, value: Any, holder: dict[str, Any], where: str) -> bytes:
        if isinstance(value, (bytes, str)):
            return _raw(value, f"{where} value")
        if item is None:
            raise CodecError(f"{where}: a type outside the profile needs its value as bytes")
        kind, layout, size = self._value_layout(item, holder)
        if kind == "struct" and isinstance(value, dict) and layout is not None:
            return self._encode_layout(layout, value, f"{where} value")
        if kind == "int" and isinstance(value, int) and size is not None:
            return _uint(value, size, f"{where} value")
        if kind == "le64_words" and isinstance(value, list):
            return self._encode_variable(kind, value, f"{where} value")
        raise CodecError(f"{where}: value {value!r} does not fit {item.name} ({item.value})")

    @staticmethod
    def _number(table: dict[str, int], key: int | str, what: str) -> int:
        if isinstance(key, str):
            if key not in table:
                raise CodecError(f"unknown {what} {key!r} (known: {', '.join(table)})")
            return table[key]
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key <= 0xFFFF:
            raise CodecError(f"{what} {key!r} is neither a known name nor a number in 0..0xffff")
        return key

    @staticmethod
    def _item(by_number: dict[int, ItemType], numbers: dict[str, int], key: Any, what: str) -> tuple[int, ItemType | None]:
        """(number, type) of a name or number; a number outside the profile has no type."""
        if isinstance(key, str):
            if key not in numbers:
                raise CodecError(f"unknown {what} {key!r} (known: {', '.join(numbers)})")
            return numbers[key], by_number[numbers[key]]
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key <= 0xFFFF:
            raise CodecError(f"{what} {key!r} is neither a known name nor a number in 0..0xffff")
        return key, by_number.get(key)


def _uint(value: Any, size: int, where: str) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << (8 * size):
        raise CodecError(f"{where}: {value!r} is not an unsigned integer of {size} byte(s)")
    return value.to_bytes(size, "little")


def _raw_fields(fields: dict[str, Any], where: str) -> bytes:
    """The data of a command or result outside the profile: {"raw": bytes} or nothing."""
    unknown = set(fields) - {"raw"}
    if unknown:
        raise CodecError(f"{where}: outside the profile the only field is 'raw' (hex), got {sorted(unknown)}")
    return _raw(fields.get("raw", b""), f"{where} field 'raw'")


def _raw(value: Any, where: str, size: int | None = None) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise CodecError(f"{where}: {value!r} is not a hex string") from None
    if not isinstance(value, (bytes, bytearray)):
        raise CodecError(f"{where}: expected bytes or a hex string, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise CodecError(f"{where}: expected {size} bytes, got {len(value)}")
    return bytes(value)
