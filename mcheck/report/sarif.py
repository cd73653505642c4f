"""SARIF 2.1.0: clause IDs as rules, violations as results, for code-scanning dashboards.

Each spec clause a property names becomes a rule (its description: the properties that
encode it); a property that names no clause is its own rule, keyed by its name. Each
violation becomes one result on its first clause, located in the model file (at the
property's `def` when it can be found) or the trace file, with a logical location naming
the property and, for a replay divergence, the event index. The counterexample travels
as a code flow: one thread-flow location per step, its `state` holding the changed
fields, so viewers that understand code flows can step through it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from mcheck import __version__
from mcheck.errors import InputError
from mcheck.report.text import format_event
from mcheck.verdict import Result, Step, Violation

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def rules_of(result: Result) -> list[dict[str, Any]]:
    """One rule per clause ID (properties' clauses first, then clauses only violations name)."""
    described: dict[str, list[str]] = {}
    for p in result.properties:
        text = f"{p.name}: {p.description}" if p.description else p.name
        for rule_id in p.clauses or [p.name]:
            described.setdefault(rule_id, []).append(text)
    for v in result.violations:
        for rule_id in v.clauses or [v.property]:
            described.setdefault(rule_id, []).append(v.property)
    return [{"id": rule_id, "name": re.sub(r"\W", "", rule_id.title()) or rule_id,
             "shortDescription": {"text": texts[0]},
             "fullDescription": {"text": "; ".join(dict.fromkeys(texts))},
             "defaultConfiguration": {"level": "error"},
             "properties": {"tags": ["spec-clause"] if rule_id not in {p.name for p in result.properties} else ["property"]}}
            for rule_id, texts in described.items()]


def artifact_uri(source: str) -> str:
    """A relative POSIX path when `source` lies under the working directory, else a file URI."""
    path = Path(source)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def definition_line(source: str | None, name: str) -> int | None:
    """The line of `def name(` in a Python model file, so annotations land on the property."""
    if not source or not source.endswith(".py") or not os.path.isfile(source):
        return None
    pattern = re.compile(rf"^\s*def\s+{re.escape(name)}\s*\(")
    with open(source, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if pattern.match(line):
                return number
    return None


def _step_text(step: Step) -> str:
    event = format_event(step.event)
    return f"{step.number}. {step.label}" + (f" [{event}]" if event else "")


def _thread_location(step: Step) -> dict[str, Any]:
    location: dict[str, Any] = {"location": {"message": {"text": _step_text(step)}}, "executionOrder": step.number,
                                "state": {c.field: {"text": f"{c.before} -> {c.after}"} for c in step.changes}}
    if step.event and "index" in step.event:
        location["properties"] = {"eventIndex": step.event["index"]}
    return location


def _result(result: Result, v: Violation, rule_index: dict[str, int], source: str | None) -> dict[str, Any]:
    rule_id = (v.clauses or [v.property])[0]
    event_index = getattr(v, "event_index", None)   # replay divergences (docs/reports.md)
    steps = v.witness.steps
    where = (f" at trace event {event_index}" if event_index is not None
             else f" after {len(steps)} step(s), last: {_step_text(steps[-1])}" if steps else "")
    clauses = f" [{', '.join(v.clauses)}]" if v.clauses else ""
    logical = [{"name": v.property, "fullyQualifiedName": f"{result.model}/{v.property}", "kind": "member"}]
    if event_index is not None:
        logical.append({"name": f"event {event_index}", "fullyQualifiedName": f"{result.model}/{v.property}/event {event_index}",
                        "kind": "element"})
    location: dict[str, Any] = {"logicalLocations": logical}
    if source:
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(source), "index": 0}}
        line = definition_line(source, v.property)
        if line is not None:
            physical["region"] = {"startLine": line}
        location["physicalLocation"] = physical
    out: dict[str, Any] = {
        "ruleId": rule_id, "ruleIndex": rule_index[rule_id], "level": "error", "kind": "fail",
        "message": {"text": f"{v.message}{clauses}{where}"},
        "locations": [location],
        "properties": {"property": v.property, "kind": v.kind, "clauses": list(v.clauses), "steps": len(steps)},
    }
    if event_index is not None:
        out["properties"]["eventIndex"] = event_index
    if steps:
        out["codeFlows"] = [{"threadFlows": [{"locations": [_thread_location(s) for s in steps]}]}]
    return out


def sarif_log(result: Result, source: str | None = None) -> dict[str, Any]:
    """The SARIF log for one result; `source` is the model or trace file, if there is one."""
    rules = rules_of(result)
    rule_index = {r["id"]: k for k, r in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "mcheck", "version": __version__, "rules": rules}},
        "invocations": [{"executionSuccessful": True, "exitCode": result.exit_code}],
        "results": [_result(result, v, rule_index, source) for v in result.violations],
        "properties": {"kind": result.kind.value, "model": result.model, "params": result.params,
                       "engine": result.engine, "verdict": result.verdict.value, **result.counts(),
                       "boundsHit": list(result.bounds_hit)},
    }
    if source:
        run["artifacts"] = [{"location": {"uri": artifact_uri(source)}, "roles": ["analysisTarget"]}]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def write_sarif(result: Result, path: str, source: str | None = None) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(sarif_log(result, source), fh, indent=2, default=str)
            fh.write("\n")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
