"""A counterexample in Apalache's Informal Trace Format (ITF, ADR-015).

`{"#meta": {...}, "vars": [...], "states": [{"#meta": {"index": i}, var: value, ...}]}`:
one state per step, the initial state first, every variable in every state. A model slot
`name[i]` (or `name[i][j]`) is one map variable `name` keyed by `i` (a tuple `<<i, j>>`);
booleans and strings stay JSON values, integers outside the JavaScript-safe range are
`{"#bigint": "..."}`, tuples `{"#tup": [...]}`, maps `{"#map": [[key, value], ...]}`.
Each state's `#meta` also names the action that led to it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mcheck.witness.search import Counterexample

SAFE = 2 ** 53 - 1
_INDEXED = re.compile(r"^([^\[]+)((?:\[[^\]]*\])+)$")
_INDEX = re.compile(r"\[([^\]]*)\]")


def value(v: Any) -> Any:
    """An ITF value: bool, string, safe integer, or `#bigint`."""
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if -SAFE <= v <= SAFE else {"#bigint": str(v)}
    if isinstance(v, (tuple, list)):
        return {"#tup": [value(x) for x in v]}
    return str(v)


def _key(text: str) -> Any:
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def state_vars(decoded: dict[str, Any]) -> dict[str, Any]:
    """A decoded model state (slot name -> value) as ITF variables."""
    out: dict[str, Any] = {}
    maps: dict[str, list[list[Any]]] = {}
    for name, v in decoded.items():
        m = _INDEXED.match(name)
        if m is None:
            out[name] = value(v)
            continue
        keys = [_key(k) for k in _INDEX.findall(m.group(2))]
        key = value(keys[0]) if len(keys) == 1 else {"#tup": [value(k) for k in keys]}
        maps.setdefault(m.group(1), []).append([key, value(v)])
    for name, pairs in maps.items():
        out[name] = {"#map": pairs}
    return out


def to_itf(cx: Counterexample) -> dict[str, Any]:
    witness = cx.full_witness()
    from mcheck.explore.codegen import Layout
    layout = Layout.of(cx.model)
    states = []
    labels = ["(initial)"] + [s.label for s in witness.steps]
    for i, (x, label) in enumerate(zip(cx.states, labels, strict=True)):
        states.append({"#meta": {"index": i, "action": label}, **state_vars(cx.model.decode_state(layout.unpack(x)))})
    v = cx.violation
    return {
        "#meta": {"format": "ITF", "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
                  "source": cx.model.source, "description": f"mcheck witness: {v.property} ({v.kind}) of {cx.model.name}",
                  "model": cx.model.name, "params": {k: value(p) for k, p in cx.model.params.as_dict().items()},
                  "property": v.property, "clauses": list(v.clauses), "violation_step": len(v.witness.steps),
                  "departure_step": None if cx.departure is None else cx.departure + 1},
        "vars": sorted(states[0].keys() - {"#meta"}),
        "states": states,
    }


def write_itf(cx: Counterexample, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_itf(cx), indent=1) + "\n")
