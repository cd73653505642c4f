"""The documented JSON result (docs/result-schema.md)."""

from __future__ import annotations

import json
import sys
from typing import Any

from mcheck.errors import InputError
from mcheck.verdict import Result


def result_json(result: Result) -> str:
    return json.dumps(result.to_dict(), indent=2, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def write_result(result: Result, path: str) -> None:
    """Write to `path`, or to standard output when `path` is "-"."""
    text = result_json(result) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
