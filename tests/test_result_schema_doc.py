"""docs/result-schema.md shows each kind's JSON Schema: the blocks must be the schema file's."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.result_schema import KINDS, SCHEMA

DOC = Path(__file__).resolve().parents[1] / "docs" / "result-schema.md"


def test_every_kind_and_shared_definition_in_the_doc_is_the_schema_files() -> None:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", DOC.read_text(), re.DOTALL)]
    shown = {name: body for b in blocks for name, body in b.items()}
    assert set(KINDS) <= set(shown)
    for name, body in shown.items():
        assert body == SCHEMA["$defs"][name], f"docs/result-schema.md: {name} differs from result-schema.json"
