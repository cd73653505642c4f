"""The triage view of a results table: counts, groups, breakdowns, a trend (`mcheck-fleet-summary/1`).

Divergent captures are grouped by suspected catalogue bug (a capture consistent with
several bugs counts under each; one consistent with none under NO_BUG) and by clause of
their first divergence (a capture counts under each of its clauses); error captures by
`error_kind`. Each group is broken down by device model and firmware version and has one
representative capture: the first of the group in input order. The HTML report, the JUnit
and the SARIF summaries are all rendered from this one structure.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from mcheck.fleet.table import DIVERGENT, ERROR, VERDICTS, tally

SCHEMA = "mcheck-fleet-summary/1"
NO_BUG = "(no catalogue bug)"
UNKNOWN = "(unknown)"
DAY_NS = 86_400 * 10**9


def _fw(row: Mapping[str, Any]) -> tuple[str, str]:
    return (row.get("device_model") or UNKNOWN, row.get("firmware") or UNKNOWN)


def _breakdown(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    counts = Counter(_fw(r) for r in rows)
    return [{"device_model": m, "firmware": f, "captures": n} for (m, f), n in sorted(counts.items())]


def _group(key_name: str, key: str, rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    first = rows[0]
    out: dict[str, Any] = {key_name: key, "captures": len(rows), "by_firmware": _breakdown(rows),
                           "representative": {"path": first["path"], "sha256": first["sha256"], "report": None}}
    relaxations = Counter(x for r in rows for x in r.get("relaxations") or [])
    if relaxations:
        out["relaxations"] = dict(relaxations.most_common())
    if key_name == "kind":
        out["representative"]["reason"] = first.get("reason")
    return out


def _sorted_groups(key_name: str, buckets: Mapping[str, list[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    return [_group(key_name, k, v) for k, v in sorted(buckets.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def trend(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """Verdict counts per UTC day of the captures' first event, when they span days."""
    stamped = [r for r in rows if isinstance(r.get("timestamp"), int)]
    if not stamped or max(r["timestamp"] for r in stamped) - min(r["timestamp"] for r in stamped) < DAY_NS:
        return None
    days: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(VERDICTS, 0))
    for r in stamped:
        day = dt.datetime.fromtimestamp(r["timestamp"] / 1e9, tz=dt.UTC).date().isoformat()
        days[day][r["verdict"]] += 1
    return [{"day": d, **c} for d, c in sorted(days.items())]


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    by_bug: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    by_clause: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    by_error: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    firmware: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(VERDICTS, 0))
    for r in rows:
        firmware[_fw(r)][r["verdict"]] += 1
        if r["verdict"] == DIVERGENT:
            for bug in r.get("suspected_bugs") or [NO_BUG]:
                by_bug[bug].append(r)
            for clause in r.get("clauses") or []:
                by_clause[clause].append(r)
        elif r["verdict"] == ERROR:
            by_error[r.get("error_kind") or "error"].append(r)
    return {
        "schema": SCHEMA,
        "inputs": len(rows),
        "tally": tally(rows),
        "by_firmware": [{"device_model": m, "firmware": f, **c, "captures": sum(c.values())}
                        for (m, f), c in sorted(firmware.items())],
        "by_bug": _sorted_groups("bug", by_bug),
        "by_clause": _sorted_groups("clause", by_clause),
        "errors": _sorted_groups("kind", by_error),
        "trend": trend(list(rows)),
    }


def representatives(summary: Mapping[str, Any]) -> list[str]:
    """The paths whose own report the fleet report links to (divergence groups only: an
    error capture has no replay to show)."""
    paths = [g["representative"]["path"] for key in ("by_bug", "by_clause") for g in summary[key]]
    return list(dict.fromkeys(paths))


def set_report_links(summary: dict[str, Any], links: Mapping[str, str]) -> None:
    for key in ("by_bug", "by_clause"):
        for g in summary[key]:
            g["representative"]["report"] = links.get(g["representative"]["path"])


__all__ = ["summarise", "representatives", "set_report_links", "NO_BUG", "UNKNOWN"]
