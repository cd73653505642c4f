"""Validation of `--json` results against their kind's JSON Schema (mcheck/report/result-schema.json)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema

SCHEMA: dict[str, Any] = json.loads(resources.files("mcheck.report").joinpath("result-schema.json").read_text())
KINDS = ("check", "replay", "conform", "device-replay")


def kind_schema(kind: str) -> dict[str, Any]:
    """The schema of one kind alone: `$defs/<kind>` with every definition it refers to."""
    return {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{kind}"}


def validate_result(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """Fail unless `data` is a valid result of `kind` (and so of the whole schema); return it."""
    assert data.get("kind") == kind, f"expected a {kind} result, got kind {data.get('kind')!r}"
    jsonschema.Draft202012Validator(kind_schema(kind)).validate(data)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    return data
