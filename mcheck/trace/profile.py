"""Protocol profiles: the wire numbering of one admin-command protocol, read from TOML.

A profile holds numbers and layouts only (opcodes, group types, status and qualifier
codes, command data/result layouts, the command-specific output some commands place in the
status header's `reserved2`, device-part and context types, the write-report form);
behaviour lives in the models. Every file is validated on load, so a typo fails with the
file and key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mcheck.errors import InputError

BUILTIN_PROFILES = ("virtio-1.4", "draft-v1")

INT_SIZES = {"u8": 1, "le16": 2, "le32": 4, "le64": 8}
#: Variable-length kinds; each consumes the rest of its buffer, so it must come last.
VARIABLE_KINDS = frozenset({"le64_words", "parts", "part_headers", "tail", "bitmap", "ctx_headers", "page_addresses"})
#: Bytes 4..7 of the 8-byte result status header (`u8 reserved2[4]`): reserved unless a
#: command declares `output` fields there (draft patch 2, "Redefine reserved2 as command
#: specific output").
RESERVED2_SIZE = 4
RESERVED2 = "reserved2"
#: WR_REPORT result forms ([write_report] form): one bit per page, or a list of le64 page addresses.
WR_REPORT_FORMS = ("bitmap", "address-list")
_FORM_KIND = {"bitmap": "bitmap", "address-list": "page_addresses"}
SELECTOR_KINDS = frozenset({"none", "index", "offset"})
_BYTES_RE = re.compile(r"bytes\((\d{1,12})\)\Z")
#: Resource limits (docs/reliability.md): a profile is a small table of numbers, and one
#: read from an untrusted place must not make mcheck allocate gigabytes. The built-in
#: profiles use at most 9 KB, bytes(7), 41 fields in a layout and 40 entries in a table.
MAX_PROFILE_BYTES = 1 << 20      # the TOML file
MAX_FIELD_BYTES = 4096           # one bytes(n) field
MAX_LAYOUT_BYTES = 1 << 16       # the fixed part of one layout (data, result or struct)
MAX_FIELDS = 256                 # fields in one layout
MAX_ENTRIES = 4096               # names in one table (opcodes, commands, structs, parts, ...)
_TOP_KEYS = frozenset(
    {"profile", "group_types", "status", "qualifier", "opcodes", "modes", "commands", "parts", "context", "structs",
     "write_report"}
)
_REQUIRED_TOP = ("profile", "group_types", "status", "qualifier", "opcodes", "commands")


@dataclass(frozen=True, kw_only=True)
class Field:
    """One field of a layout; `size` is None for a variable-length kind."""

    name: str
    offset: int
    type: str
    size: int | None


@dataclass(frozen=True, kw_only=True)
class Layout:
    """An ordered, gap-free field list; `fixed_size` is where the variable tail starts."""

    fields: tuple[Field, ...]
    fixed_size: int

    def member_at(self, offset: int) -> Field | None:
        """The fixed field that starts at `offset` (used by PCI_COMMON_CFG selectors)."""
        for field in self.fields:
            if field.offset == offset and field.size is not None:
                return field
        return None


@dataclass(frozen=True, kw_only=True)
class CommandLayout:
    """A command's data and result layouts; `output`: fields in the status header's
    reserved2 (4 bytes, fixed-size fields only), None when reserved2 stays reserved."""

    data: Layout
    result: Layout
    output: Layout | None = None


@dataclass(frozen=True, kw_only=True)
class ItemType:
    """A device-part type or a context-entry type: its number and how its value reads."""

    name: str
    number: int
    selector: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    version: str
    source: str
    opcodes: dict[str, int]
    opcode_names: dict[int, str]
    group_types: dict[str, int]
    group_type_names: dict[int, str]
    status: dict[str, int]
    status_names: dict[int, str]
    qualifiers: dict[str, int]
    qualifier_names: dict[int, str]
    modes: dict[str, int]
    commands: dict[str, CommandLayout]
    parts: dict[int, ItemType]
    part_numbers: dict[str, int]
    context: dict[int, ItemType]
    context_numbers: dict[str, int]
    structs: dict[str, Layout]
    wr_report_form: str = "bitmap"   # [write_report] form: "bitmap" or "address-list"


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by name ("virtio-1.4", "draft-v1") or a TOML file by path."""
    text_name = str(name_or_path)
    if text_name in BUILTIN_PROFILES:
        ref = resources.files("mcheck.models") / "profiles" / f"{text_name}.toml"
        return _parse(ref.read_bytes(), f"models/profiles/{text_name}.toml")
    path = Path(name_or_path)
    if not path.is_file():
        raise InputError(f"profile {text_name!r}: not a built-in profile ({', '.join(BUILTIN_PROFILES)}) nor a readable file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"profile {text_name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_PROFILE_BYTES:
        raise InputError(f"{path}: profile larger than {MAX_PROFILE_BYTES:,} bytes (a profile is a small table of numbers)")
    return _parse(raw, str(path))


def _parse(raw: bytes, source: str) -> Profile:
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(f"{source}: not valid TOML: arrays or tables nested too deep") from None
    return _Validator(source).profile(doc)


class _Validator:
    """Turns a TOML document into a Profile, naming the file and key of the first fault."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> InputError:
        return InputError(f"{self.source}: key {key!r}: {message}")

    def profile(self, doc: dict[str, Any]) -> Profile:
        for key in doc:
            if key not in _TOP_KEYS:
                raise self.fail(key, f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
        for key in _REQUIRED_TOP:
            if key not in doc:
                raise self.fail(key, "missing")
        head = self.table(doc, "profile")
        self.keys(head, "profile", {"name", "version"}, required={"name", "version"})
        name, version = head["name"], head["version"]
        if not isinstance(name, str) or not isinstance(version, str):
            raise self.fail("profile", "name and version must be strings")
        structs = {k: self.layout(v, f"structs.{k}") for k, v in self.table(doc, "structs").items()}
        opcodes = self.numbering(doc, "opcodes", 0xFFFF)
        commands_doc = self.table(doc, "commands")
        for cmd in opcodes:
            if cmd not in commands_doc:
                raise self.fail(f"commands.{cmd}", "missing: every opcode needs a command layout")
        commands = {}
        for cmd, body in commands_doc.items():
            key = f"commands.{cmd}"
            if cmd not in opcodes:
                raise self.fail(key, "layout for a command that has no opcode")
            if not isinstance(body, dict):
                raise self.fail(key, "must be a table")
            self.keys(body, key, {"data", "result", "output"}, required={"data", "result"})
            result = self.layout(body["result"], f"{key}.result")
            output = self.output(body["output"], f"{key}.output", result) if "output" in body else None
            if output is None and any(f.name == RESERVED2 for f in result.fields):
                raise self.fail(f"{key}.result", f"field name {RESERVED2!r} is taken by the status header's reserved bytes")
            commands[cmd] = CommandLayout(data=self.layout(body["data"], f"{key}.data"), result=result, output=output)
        wr_report_form = self.write_report(doc, commands)
        parts = self.items(doc, "parts", structs, with_selector=True)
        context = self.items(doc, "context", structs, with_selector=False)
        group_types = self.numbering(doc, "group_types", 0xFFFF)
        status = self.numbering(doc, "status", 0xFFFF)
        qualifiers = self.numbering(doc, "qualifier", 0xFFFF)
        modes = self.numbering(doc, "modes", 0xFF)
        return Profile(
            name=name,
            version=version,
            source=self.source,
            opcodes=opcodes,
            opcode_names=_invert(opcodes),
            group_types=group_types,
            group_type_names=_invert(group_types),
            status=status,
            status_names=_invert(status),
            qualifiers=qualifiers,
            qualifier_names=_invert(qualifiers),
            modes=modes,
            commands=commands,
            parts={p.number: p for p in parts},
            part_numbers={p.name: p.number for p in parts},
            context={c.number: c for c in context},
            context_numbers={c.name: c.number for c in context},
            structs=structs,
            wr_report_form=wr_report_form,
        )

    def table(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        if len(value) > MAX_ENTRIES:
            raise self.fail(key, f"has {len(value):,} entries, at most {MAX_ENTRIES:,}")
        return value

    def keys(self, table: dict[str, Any], key: str, allowed: set[str], required: set[str]) -> None:
        for k in table:
            if k not in allowed:
                raise self.fail(f"{key}.{k}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for k in required:
            if k not in table:
                raise self.fail(f"{key}.{k}", "missing")

    def numbering(self, doc: dict[str, Any], key: str, limit: int) -> dict[str, int]:
        table = self.table(doc, key)
        seen: dict[int, str] = {}
        for name, number in table.items():
            if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= limit:
                raise self.fail(f"{key}.{name}", f"must be an integer in 0..{limit:#x}, got {number!r}")
            if number in seen:
                raise self.fail(f"{key}.{name}", f"duplicate number {number:#x} (also {seen[number]})")
            seen[number] = name
        return dict(table)

    def layout(self, fields: Any, key: str) -> Layout:
        if not isinstance(fields, list):
            raise self.fail(key, "must be a list of {name, offset, type} tables")
        if len(fields) > MAX_FIELDS:
            raise self.fail(key, f"has {len(fields):,} fields, at most {MAX_FIELDS}")
        out: list[Field] = []
        end = 0
        for i, item in enumerate(fields):
            fkey = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise self.fail(fkey, "must be a table {name, offset, type}")
            self.keys(item, fkey, {"name", "offset", "type"}, required={"name", "offset", "type"})
            name, offset, ftype = item["name"], item["offset"], item["type"]
            if not isinstance(name, str) or not name.isidentifier():
                raise self.fail(f"{fkey}.name", f"must be an identifier, got {name!r}")
            if any(f.name == name for f in out):
                raise self.fail(f"{fkey}.name", f"duplicate field name {name!r}")
            if out and out[-1].size is None:
                raise self.fail(fkey, f"follows the variable-length field {out[-1].name!r}, which must be last")
            if offset != end:
                raise self.fail(f"{fkey}.offset", f"is {offset!r}, expected {end} (layouts are gap-free: name reserved bytes)")
            size = field_size(ftype)
            if size == -1:
                raise self.fail(f"{fkey}.type", f"unknown type {ftype!r} (u8, le16, le32, le64, bytes(n), {', '.join(sorted(VARIABLE_KINDS))})")
            if size is not None and size > MAX_FIELD_BYTES:
                raise self.fail(f"{fkey}.type", f"{ftype} is larger than {MAX_FIELD_BYTES} bytes (the most a fixed field may hold)")
            out.append(Field(name=name, offset=offset, type=ftype, size=size))
            end = offset + (size or 0)
            if end > MAX_LAYOUT_BYTES:
                raise self.fail(fkey, f"the layout's fixed part reaches {end:,} bytes, at most {MAX_LAYOUT_BYTES:,}")
        return Layout(fields=tuple(out), fixed_size=end)

    def output(self, fields: Any, key: str, result: Layout) -> Layout:
        """Fields in the result status header's reserved2: fixed-size, gap-free, exactly 4 bytes
        (name the bytes left reserved), no name shared with the result body."""
        layout = self.layout(fields, key)
        for i, f in enumerate(layout.fields):
            if f.size is None:
                raise self.fail(f"{key}[{i}].type", f"{f.type!r} is variable-length; reserved2 holds fixed-size fields only")
            if any(r.name == f.name for r in result.fields):
                raise self.fail(f"{key}[{i}].name", f"{f.name!r} is also a result field (output and result share one fields dict)")
        if layout.fixed_size != RESERVED2_SIZE:
            raise self.fail(key, f"covers {layout.fixed_size} bytes, reserved2 has {RESERVED2_SIZE} (name the bytes left reserved)")
        return layout

    def write_report(self, doc: dict[str, Any], commands: dict[str, CommandLayout]) -> str:
        """[write_report] form, checked against the WR_REPORT result layout."""
        table = self.table(doc, "write_report")
        self.keys(table, "write_report", {"form"}, required=set())
        form = table.get("form", "bitmap")
        if form not in WR_REPORT_FORMS:
            raise self.fail("write_report.form", f"must be one of {', '.join(WR_REPORT_FORMS)}, got {form!r}")
        layout = commands.get("WR_REPORT")
        if layout is None:
            if table:
                raise self.fail("write_report", "the profile has no WR_REPORT command")
            return form
        kinds = {f.type for f in layout.result.fields}
        if _FORM_KIND[form] not in kinds:
            other = next((f for f, k in _FORM_KIND.items() if k in kinds), None)
            hint = f" (its result has a {_FORM_KIND[other]} field: set [write_report] form = {other!r})" if other else ""
            raise self.fail("commands.WR_REPORT.result", f"form {form!r} needs a field of type {_FORM_KIND[form]!r}{hint}")
        return form

    def items(self, doc: dict[str, Any], key: str, structs: dict[str, Layout], *, with_selector: bool) -> list[ItemType]:
        out: list[ItemType] = []
        seen: dict[int, str] = {}
        for name, body in self.table(doc, key).items():
            ikey = f"{key}.{name}"
            if not isinstance(body, dict):
                raise self.fail(ikey, "must be a table")
            allowed = {"type", "selector", "value"} if with_selector else {"type", "value"}
            self.keys(body, ikey, allowed, required=allowed)
            number, value = body["type"], body["value"]
            selector = body.get("selector", "none")
            if not isinstance(number, int) or not 0 <= number <= 0xFFFF:
                raise self.fail(f"{ikey}.type", f"must be an integer in 0..0xffff, got {number!r}")
            if number in seen:
                raise self.fail(f"{ikey}.type", f"duplicate number {number:#x} (also {seen[number]})")
            seen[number] = name
            if selector not in SELECTOR_KINDS:
                raise self.fail(f"{ikey}.selector", f"must be one of {', '.join(sorted(SELECTOR_KINDS))}")
            if not self.value_kind_ok(value, structs, selector):
                raise self.fail(f"{ikey}.value", f"unknown value kind {value!r}")
            out.append(ItemType(name=name, number=number, selector=selector, value=value))
        return out

    @staticmethod
    def value_kind_ok(value: Any, structs: dict[str, Layout], selector: str) -> bool:
        if not isinstance(value, str):
            return False
        if value.startswith("struct:"):
            return value[7:] in structs
        if value.startswith("member:"):
            return selector == "offset" and value[7:] in structs
        return value in INT_SIZES or value in ("le64_words", "tail")


def field_size(ftype: Any) -> int | None:
    """Byte size of a field type, None for variable-length kinds, -1 for an unknown type."""
    if not isinstance(ftype, str):
        return -1
    if ftype in INT_SIZES:
        return INT_SIZES[ftype]
    if ftype in VARIABLE_KINDS:
        return None
    match = _BYTES_RE.match(ftype)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else -1


def _invert(table: dict[str, int]) -> dict[int, str]:
    return {number: name for name, number in table.items()}
