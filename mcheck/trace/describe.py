"""One-line, human-readable descriptions of trace events (for `mcheck show`)."""

from __future__ import annotations

from typing import Any

from mcheck.trace.events import AdminCommand, AdminComplete, AdminSubmit, Annotation, Event

_MAX_LIST = 4
_HEX_KEYS = frozenset({"flags", "queue_desc", "queue_driver", "queue_device", "page_size_mask"})


def describe_event(event: Event) -> str:
    """`index  seconds  kind  details`; admin commands are decoded with their codec.

    Raises CodecError when an admin command's bytes do not fit its profile's layout.
    """
    seconds, ns = divmod(event.timestamp, 1_000_000_000)
    head = f"{event.index:>6}  {seconds}.{ns:09d}  {event.KIND:<13}"
    if isinstance(event, (AdminCommand, AdminSubmit)):
        cmd = event.command
        name = cmd.name or f"unknown opcode {cmd.opcode:#x}"
        text = f"{head} {name} group={cmd.group_type_name or cmd.group_type} member={cmd.member}"
        text += _fields(cmd.fields)
        if cmd.missing:
            text += f" [{cmd.missing} readable bytes missing, read as zero]"
        if cmd.extra:
            text += f" [{cmd.extra} extra readable bytes ignored]"
        if event.tag is not None:
            text += f" tag={event.tag}"
        if isinstance(event, AdminCommand):
            res = event.result
            if res is None:
                text += " -> (no completion)"
            else:
                text += f" -> {res.status_name or res.status}"
                if res.qualifier:
                    text += f"/{res.qualifier_name or res.qualifier}"
                text += _fields(res.fields)
        return text
    if isinstance(event, AdminComplete):
        status = int.from_bytes(event.writable[0:2].ljust(2, b"\0"), "little")
        return f"{head} tag={event.tag} status={status} ({len(event.writable)} bytes)"
    if isinstance(event, Annotation):
        return f"{head} {event.text}"
    details = " ".join(f"{k}={_value(v, k)}" for k, v in vars(event).items() if k not in ("index", "timestamp"))
    return f"{head} {details}".rstrip()


def _fields(fields: dict[str, Any]) -> str:
    return "".join(f" {k}={_value(v, k)}" for k, v in fields.items())


def _value(value: Any, key: str = "") -> str:
    if isinstance(value, (bytes, bytearray)):
        return value.hex() if len(value) <= 16 else f"<{len(value)} bytes>"
    if isinstance(value, list):
        if all(isinstance(v, int) for v in value):
            shown = ",".join(hex(v) for v in value[:_MAX_LIST])
        else:
            shown = ",".join(_item(v) for v in value[:_MAX_LIST])
        return f"[{shown}{',...' if len(value) > _MAX_LIST else ''}]" + (f"({len(value)})" if len(value) > _MAX_LIST else "")
    if isinstance(value, int) and ("addr" in key or key in _HEX_KEYS):
        return hex(value)
    return str(value)


def _item(value: Any) -> str:
    if isinstance(value, dict):
        where = "".join(f"#{value[k]}" for k in ("index", "offset") if k in value)
        return f"{value.get('type')}{where}"
    return _value(value)
