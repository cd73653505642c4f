"""JSON from files mcheck does not trust: deep nesting and lone surrogates are a ValueError.

`json.loads` raises RecursionError (not a ValueError) on arrays or objects nested about a
thousand deep, and accepts `"\\ud800"` escapes (and surrogates encoded in the bytes)
that no UTF-8 writer can write back: a trace holding one would replay but neither show
nor convert. Both are refused here, with a message the caller prefixes with the place
(file, line, byte offset).
"""

from __future__ import annotations

import json
import re
from typing import Any

#: A JSON text may hold a lone surrogate only through a \uD800..\uDFFF escape or raw
#: UTF-8-encoded surrogate bytes (ED A0..BF xx), which json.loads on bytes lets through.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_MAYBE_SURROGATE_STR = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """json.loads, with a ValueError for nesting Python cannot read and for lone surrogates."""
    if isinstance(data, memoryview):
        data = bytes(data)
    try:
        obj = json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deep (arrays or objects about a thousand levels deep)") from None
    found = _MAYBE_SURROGATE_STR.search(data) if isinstance(data, str) else _MAYBE_SURROGATE.search(data)
    if found:
        check_text(obj)
    return obj


def check_text(obj: Any) -> None:
    """Raise ValueError naming the first string (key or value) holding a lone surrogate."""
    stack = [(obj, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            _check_string(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, f"{where}.{key}" if where else "a key")
                stack.append((item, f"{where}.{key}" if where else f"key {key!r}"))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))


def _check_string(text: str, where: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        place = f" in {where}" if where else ""
        raise ValueError(f"lone surrogate \\u{ord(found.group()):04x}{place} at character {found.start()} "
                         f"(not valid Unicode text)")
