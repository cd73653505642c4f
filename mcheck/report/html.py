"""The HTML report: one self-contained file a person opens after a failed run.

Following Porcupine, the report is computed first (`report_data`: plain dicts with the
diagram layouts already worked out, which the tests inspect) and rendered second
(`render_html`: string templates, no decisions). The page carries its CSS, script and SVG
inline, refuses network access through its Content-Security-Policy, and embeds the
result JSON so a tool can read a report back.

Sequence diagrams have one lane for the hypervisor, one for the owner device and one per
member. An admin command is an arrow hypervisor -> owner with its status returned; what
a member device does on its own (DMA writes, notifications) is an arrow member ->
hypervisor; anything else (guest and driver actions, FLR, resets) is a box on the lane
of the member it concerns. The last step of a counterexample, or the diverging event of
a replay, is drawn in red.
"""

from __future__ import annotations

import html
import json
import os
import re
from importlib import resources
from typing import Any

import networkx as nx

from mcheck.errors import InputError, McheckError
from mcheck.report.junit import case_name
from mcheck.report.text import format_event
from mcheck.verdict import CheckResult, ReplayResult, Result, Step, Violation, Witness

HYPERVISOR, OWNER = "hypervisor", "owner"
DEVICE_EVENTS = frozenset({"dma_write", "used_notify", "config_notify"})  # initiated by a member device
MEMBER_KEYS = ("member", "m", "vf", "member_id")

LANE_GAP, LANE_LEFT, HEAD = 160, 140, 46
ROW, LINE = 46, 15
GRAPH_COL, GRAPH_ROW, NEIGHBOURS_PER_STATE = 130, 64, 4


# ---------------------------------------------------------------- data

def _member(step: Step) -> Any:
    for source in (step.event or {}, step.params):
        for key in MEMBER_KEYS:
            if key in source:
                return source[key]
    return None


def _lane_of_member(member: Any) -> str:
    return f"member {member}"


def _arrow(step: Step) -> tuple[str, str, str, str | None]:
    """(kind, from lane, to lane, returned status) for one step."""
    event, member = step.event or {}, _member(step)
    kind = event.get("kind")
    if kind == "admin":
        return "call", HYPERVISOR, OWNER, None if event.get("status") is None else str(event["status"])
    if kind in DEVICE_EVENTS and member is not None:
        return "signal", _lane_of_member(member), HYPERVISOR, None
    lane = _lane_of_member(member) if member is not None else OWNER
    return "local", lane, lane, None


def _label(step: Step) -> str:
    event = step.event or {}
    if event.get("kind") == "admin":
        args = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("kind", "cmd", "status", "index"))
        return f"{event.get('cmd', step.action)}({args})"
    if event.get("kind") in DEVICE_EVENTS:
        return format_event({k: v for k, v in event.items() if k != "index"})
    return step.label


def sequence(witness: Witness, members: list[Any], *, bad_step: int | None) -> dict[str, Any]:
    """Lanes and laid-out rows of the sequence diagram of one witness."""
    # an admin command goes to the owner, so only side-band and local steps open member lanes
    seen = [_member(s) for s in witness.steps if _arrow(s)[0] != "call" and _member(s) is not None]
    lanes = [HYPERVISOR, OWNER] + [_lane_of_member(m) for m in dict.fromkeys([*members, *seen])]
    x = {lane: LANE_LEFT + k * LANE_GAP for k, lane in enumerate(lanes)}
    rows, y = [], HEAD + 24
    for step in witness.steps:
        kind, src, dst, reply = _arrow(step)
        changes = [f"{c.field}: {c.before} → {c.after}" for c in step.changes] or ["(no state change)"]
        height = max(ROW + (14 if reply else 0), LINE * len(changes) + 16)
        rows.append({"number": step.number, "kind": kind, "src": src, "dst": dst, "x1": x[src], "x2": x[dst],
                     "y": y, "label": _label(step), "reply": reply, "changes": changes, "clauses": list(step.clauses),
                     "event_index": (step.event or {}).get("index"), "bad": step.number == bad_step})
        y += height
    return {"lanes": [{"name": lane, "x": x[lane]} for lane in lanes], "rows": rows,
            "width": LANE_LEFT + len(lanes) * LANE_GAP + 260, "height": y + 10,
            "changes_x": LANE_LEFT + (len(lanes) - 1) * LANE_GAP + 90}


def path_states(witness: Witness) -> list[dict[str, Any]]:
    """The state before the first step and after every step, rebuilt from the changes."""
    states = [dict(witness.initial)]
    for step in witness.steps:
        nxt = dict(states[-1])
        nxt.update({c.field: c.after for c in step.changes})
        states.append(nxt)
    return states


def _key(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, default=str)


def neighbourhood(witness: Witness, graph: nx.MultiDiGraph | None) -> dict[str, Any]:
    """The witness path as a row of states, plus (from the graph) the other successors of each.

    Path states are matched to graph nodes by their decoded fields, so the layout works
    for any engine whose witness states the graph holds; states the graph lacks (or all
    of them, with no graph) are drawn from the witness alone.
    """
    states = path_states(witness)
    by_state = {_key(d["state"]): n for n, d in graph.nodes(data=True)} if graph is not None else {}
    centre = GRAPH_ROW * (NEIGHBOURS_PER_STATE // 2) + 30
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    placed: dict[Any, int] = {}
    for i, state in enumerate(states):
        gid = by_state.get(_key(state))
        placed[gid if gid is not None else ("path", i)] = len(nodes)
        nodes.append({"id": f"s{gid}" if gid is not None else f"p{i}", "label": "init" if i == 0 else str(i),
                      "x": 50 + i * GRAPH_COL, "y": centre, "on_path": True, "bad": i == len(states) - 1 and i > 0,
                      "state": state})
    for i, step in enumerate(witness.steps):
        edges.append({"src": i, "dst": i + 1, "label": step.label, "on_path": True, "step": step.number})
    if graph is not None:
        for i, state in enumerate(states):
            gid = by_state.get(_key(state))
            if gid is None:
                continue
            others = [n for n in dict.fromkeys(graph.successors(gid))][: NEIGHBOURS_PER_STATE + 2]
            shown = 0
            for n in others:
                if n in placed:
                    if placed[n] != placed[gid] + 1 or not nodes[placed[n]]["on_path"]:
                        edges.append({"src": placed[gid], "dst": placed[n], "label": _edge_label(graph, gid, n),
                                      "on_path": False, "step": None})
                    continue
                if shown == NEIGHBOURS_PER_STATE:
                    break
                offset = (shown // 2 + 1) * GRAPH_ROW * (-1 if shown % 2 == 0 else 1)
                placed[n] = len(nodes)
                nodes.append({"id": f"s{n}", "label": f"s{n}", "x": 50 + i * GRAPH_COL + GRAPH_COL // 2,
                              "y": centre + offset, "on_path": False, "bad": False, "state": graph.nodes[n]["state"]})
                edges.append({"src": placed[gid], "dst": placed[n], "label": _edge_label(graph, gid, n),
                              "on_path": False, "step": None})
                shown += 1
    return {"nodes": nodes, "edges": edges, "from_graph": graph is not None,
            "width": 100 + max(1, len(states)) * GRAPH_COL, "height": 2 * centre}


def _edge_label(graph: nx.MultiDiGraph, src: Any, dst: Any) -> str:
    return " | ".join(sorted({d["label"] for d in graph.get_edge_data(src, dst).values()}))


def divergence(v: Violation) -> dict[str, Any] | None:
    """The replay fields of a divergence (docs/reports.md), or None for a check violation."""
    if v.kind != "divergence":
        return None
    candidates = list(getattr(v, "candidates", []) or [])
    fields = list(dict.fromkeys(k for c in candidates for k in c))
    differing = [f for f in fields if len({json.dumps(c.get(f), default=str) for c in candidates}) > 1]
    return {"event_index": getattr(v, "event_index", None), "expected": list(getattr(v, "expected", []) or []),
            "candidates": candidates, "fields": fields, "differing": differing}


def _members(result: Result) -> list[Any]:
    count = result.params.get("members")
    return list(range(1, count + 1)) if isinstance(count, int) and 0 < count <= 8 else []


def violation_data(result: Result, v: Violation, graph: nx.MultiDiGraph | None) -> dict[str, Any]:
    div = divergence(v)
    last = v.witness.steps[-1].number if v.witness.steps else None
    return {"property": v.property, "title": case_name(v.property, v.clauses), "kind": v.kind, "message": v.message,
            "initial": v.witness.initial, "sequence": sequence(v.witness, _members(result), bad_step=last),
            "graph": neighbourhood(v.witness, None if div else graph), "divergence": div}


def _natural(clause: str) -> list[Any]:
    """D-DP-2 before D-DP-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", clause)]


def clause_table(result: Result, source: str | None) -> dict[str, Any] | None:
    """The model's clause catalogue against this run: encoded (some action or property
    names the clause) and killed (a violation here cites it). No bug runs and no file
    lines: `mcheck clauses` has those. None when the model has no catalogue."""
    from mcheck.model.catalogue import model_catalogue
    from mcheck.model.registry import BUILTIN, find_model_class

    spec = result.model if result.model in BUILTIN else source
    if not spec or not (spec in BUILTIN or spec.endswith(".py")):
        return None
    try:
        catalogue = model_catalogue(find_model_class(spec))
    except McheckError:
        return None
    if catalogue is None:
        return None
    encoded = set(result.coverage.get("all_clauses", ()))
    killed = {c for v in result.violations for c in v.clauses}
    rows = []
    for cid, info in catalogue.clauses.items():
        if cid in encoded:
            status = "encoded+killed" if cid in killed else "encoded-not-killed"
        else:
            status = "out-of-scope" if info.scope == "out" else "not-encoded"
        rows.append({"clause": cid, "strength": info.strength, "side": info.side, "summary": info.summary,
                     "status": status, "reason": info.reason or None})
    unknown = sorted(c for c in encoded if catalogue.lookup(c) is None)
    return {"catalogue": catalogue.name, "rows": rows, "unknown": unknown}


def report_data(result: Result, *, graph: nx.MultiDiGraph | None = None, source: str | None = None) -> dict[str, Any]:
    """Everything the page shows, laid out; the renderer below only turns it into markup."""
    # clause coverage by actions fired: what a check or a replay records (ActionCoverage); a
    # conformance run's per-clause test results are in its coverage.clause_results
    fired = result.coverage.get("clauses", {}) if isinstance(result, (CheckResult, ReplayResult)) else {}
    all_clauses = result.coverage.get("all_clauses", sorted(fired)) if fired or "all_clauses" in result.coverage else []
    rate = result.rate()
    return {
        "summary": {"kind": result.kind.value, "model": result.model, "source": source, "params": result.params,
                    "engine": result.engine, "verdict": result.verdict.value, "counts": result.counts(),
                    "rate": f"{rate[1]:,.0f} {rate[0]}/s" if rate else None, "seconds": result.seconds,
                    "bounds_hit": result.bounds_hit, "notes": result.notes},
        "properties": [{"name": p.name, "kind": p.kind, "clauses": p.clauses, "verdict": p.verdict,
                        "description": p.description} for p in result.properties],
        "coverage": [{"clause": c, "fired": fired.get(c)} for c in sorted(all_clauses, key=_natural)],
        "violations": [violation_data(result, v, graph) for v in result.violations],
        "clause_table": clause_table(result, source),
        "result": result.to_dict(),
    }


# ---------------------------------------------------------------- rendering

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _asset(name: str) -> str:
    return resources.files("mcheck.report").joinpath("assets", name).read_text(encoding="utf-8")


def _svg_text(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" class="{cls}" text-anchor="{anchor}">{_e(text)}</text>'


def sequence_svg(seq: dict[str, Any], vid: int) -> str:
    out = [(f'<svg class="sequence" id="seq-{vid}" xmlns="http://www.w3.org/2000/svg" width="{seq["width"]}" '
           f'height="{seq["height"]}" viewBox="0 0 {seq["width"]} {seq["height"]}" role="img" '
           f'aria-label="sequence diagram">'),
           (f'<defs><marker id="arrow-{vid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>')]
    for lane in seq["lanes"]:
        out.append(f'<line class="lane" x1="{lane["x"]}" y1="{HEAD}" x2="{lane["x"]}" y2="{seq["height"] - 4}"/>')
        out.append(f'<rect class="lane-head" x="{lane["x"] - 62}" y="8" width="124" height="28" rx="4"/>')
        out.append(_svg_text(lane["x"], 27, lane["name"], "lane-name"))
    out.append(_svg_text(seq["changes_x"], 27, "state changes", "lane-name", "start"))
    marker = f'marker-end="url(#arrow-{vid})"'
    for row in seq["rows"]:
        y, cls = row["y"], "step bad" if row["bad"] else "step"
        out.append(f'<g class="{cls}" data-step="{row["number"]}">')
        number = f'{row["number"]}' + (f' (event {row["event_index"]})' if row["event_index"] is not None else "")
        out.append(_svg_text(8, y + 4, number, "num", "start"))
        if row["kind"] == "local":
            out.append(f'<rect class="local" x="{row["x1"] - 76}" y="{y - 12}" width="152" height="22" rx="3"/>')
            out.append(_svg_text(row["x1"], y + 3, _clip(row["label"], 20), "label"))
        else:
            out.append(f'<line class="msg {row["kind"]}" x1="{row["x1"]}" y1="{y}" x2="{row["x2"]}" y2="{y}" {marker}/>')
            out.append(_svg_text((row["x1"] + row["x2"]) / 2, y - 6, _clip(row["label"], 40), "label"))
            if row["reply"] is not None:
                out.append(f'<line class="msg reply" x1="{row["x2"]}" y1="{y + 14}" x2="{row["x1"]}" y2="{y + 14}" {marker}/>')
                out.append(_svg_text((row["x1"] + row["x2"]) / 2, y + 26, row["reply"], "label reply-text"))
        out.append(f'<title>{_e(row["label"])}{" (" + _e(", ".join(row["clauses"])) + ")" if row["clauses"] else ""}</title>')
        for k, change in enumerate(row["changes"]):
            out.append(_svg_text(seq["changes_x"], y + 4 + k * LINE, change, "change", "start"))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def graph_svg(g: dict[str, Any], vid: int) -> str:
    out = [(f'<svg class="state-graph" id="graph-{vid}" xmlns="http://www.w3.org/2000/svg" width="{g["width"]}" '
           f'height="{g["height"]}" viewBox="0 0 {g["width"]} {g["height"]}" role="img" aria-label="state graph">'),
           (f'<defs><marker id="garrow-{vid}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>')]
    nodes = g["nodes"]
    for edge in g["edges"]:
        a, b = nodes[edge["src"]], nodes[edge["dst"]]
        dx, dy = b["x"] - a["x"], b["y"] - a["y"]
        length = max((dx * dx + dy * dy) ** 0.5, 1.0)
        r = 18
        x1, y1 = a["x"] + dx * r / length, a["y"] + dy * r / length
        x2, y2 = b["x"] - dx * r / length, b["y"] - dy * r / length
        cls = "edge path" if edge["on_path"] else "edge"
        step = f' data-step="{edge["step"]}"' if edge["step"] is not None else ""
        # an edge going back (leftwards) bows below the row so it does not hide the path
        bow = 0.0 if b["x"] > a["x"] else 40.0 + 0.15 * abs(dx)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + bow
        out.append(f'<g class="{cls}"{step}><path d="M{x1:.0f},{y1:.0f} Q{cx:.0f},{cy:.0f} {x2:.0f},{y2:.0f}" '
                   f'marker-end="url(#garrow-{vid})"/><title>{_e(edge["label"])}</title>')
        if edge["on_path"]:
            out.append(_svg_text((a["x"] + b["x"]) / 2, a["y"] - 8, _clip(edge["label"], 17), "edge-label"))
        out.append("</g>")
    for node in nodes:
        cls = "node" + (" path" if node["on_path"] else "") + (" bad" if node["bad"] else "")
        state = "\n".join(f"{k} = {v}" for k, v in node["state"].items())
        out.append(f'<g class="{cls}"><circle cx="{node["x"]}" cy="{node["y"]}" r="16"/>'
                   f'<title>{_e(node["id"])}\n{_e(state)}</title>'
                   + _svg_text(node["x"], node["y"] + 4, node["label"], "node-label") + "</g>")
    out.append("</svg>")
    return "\n".join(out)


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are already-escaped HTML."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _verdict(v: str) -> str:
    return f'<span class="verdict {_e(v)}">{_e(v)}</span>'


def _divergence_html(div: dict[str, Any]) -> str:
    where = f"trace event {div['event_index']}" if div["event_index"] is not None else "the last event"
    expected = ", ".join(div["expected"]) or "none"
    head = ["field"] + [f"candidate {k + 1}" for k in range(len(div["candidates"]))]
    rows = [[(f"<b>{_e(f)}</b>" if f in div["differing"] else _e(f))] + [_e(c.get(f, "")) for c in div["candidates"]]
            for f in div["fields"]]
    table = _table(head, rows, "candidates") if div["candidates"] else "<p>No model state accepts the trace up to here.</p>"
    return (f'<div class="divergence"><h4>Divergence at {_e(where)}</h4>'
            f"<p>Actions the model allows there: {_e(expected)}</p>"
            f"<p>{len(div['candidates'])} candidate state(s) before the event (fields that differ in bold):</p>{table}</div>")


def _violation_html(k: int, v: dict[str, Any]) -> str:
    parts = [f'<section class="violation" id="violation-{k}"><h3>{_e(v["title"])}</h3><p class="message">{_e(v["message"])}</p>']
    if v["divergence"] is not None:
        parts.append(_divergence_html(v["divergence"]))
    if v["sequence"]["rows"]:
        parts.append(f'<h4>Sequence ({len(v["sequence"]["rows"])} step(s))</h4><div class="scroll">'
                     f'{sequence_svg(v["sequence"], k)}</div>')
        note = "" if v["graph"]["from_graph"] else " (the reachable graph was not recorded: path only)"
        parts.append(f'<h4>State graph around the violation{note}</h4><div class="scroll">{graph_svg(v["graph"], k)}</div>')
    else:
        parts.append("<p>No steps: the violation is a property of the whole reachable space.</p>")
    initial = ", ".join(f"{key}={val}" for key, val in v["initial"].items())
    parts.append(f'<details><summary>Initial state</summary><p class="mono">{_e(initial)}</p></details></section>')
    return "\n".join(parts)


def _clause_table_html(table: dict[str, Any] | None) -> str:
    if table is None:
        return "<p>The model has no clause catalogue.</p>"
    rows = [[_e(r["clause"]), _e(r["strength"]), _e(r["side"]),
             f'<span class="clause-status {_e(r["status"])}">{_e(r["status"])}</span>'
             + (f" ({_e(r['reason'])})" if r["status"] == "out-of-scope" else ""), _e(r["summary"])]
            for r in table["rows"]]
    unknown = (f"<p class='note'>Cited but not in the catalogue: {_e(', '.join(table['unknown']))}</p>"
               if table["unknown"] else "")
    return (f"<p class='note'>Catalogue {_e(table['catalogue'])}; killed = a violation of this run cites the clause. "
            f"<code>mcheck clauses</code> adds file:line and the bug and capture kills.</p>{unknown}"
            + _table(["clause", "strength", "side", "status", "summary"], rows, "clause-table"))


def render_html(data: dict[str, Any]) -> str:
    s = data["summary"]
    params = " ".join(f"{k}={v}" for k, v in s["params"].items()) or "-"
    counts = [(name.replace("_", " "), "-" if n is None else f"{n:,}") for name, n in s["counts"].items()]
    summary = [("kind", _e(s["kind"])), ("model", _e(s["model"])), ("source", _e(s["source"] or "-")),
               ("parameters", _e(params)), ("engine", _e(s["engine"])), ("verdict", _verdict(s["verdict"])),
               *counts, ("rate", _e(s["rate"] or "-")), ("time", f"{s['seconds']:.3f} s"),
               ("bounds hit", _e(", ".join(s["bounds_hit"]) or "none"))]
    props = [[_e(p["name"]), _e(p["kind"]), _e(", ".join(p["clauses"]) or "-"), _verdict(p["verdict"]),
              _e(p["description"])] for p in data["properties"]]
    fired = sum(1 for c in data["coverage"] if c["fired"])
    states = {True: ("fired", "fired by an action"), False: ("unfired", "an action names it, none fired"),
              None: ("property-only", "named by a property only")}
    coverage = "".join(f'<li class="{states[c["fired"]][0]}" title="{states[c["fired"]][1]}">{_e(c["clause"])}</li>'
                       for c in data["coverage"])
    legend = "".join(f'<li class="{cls}">{text}</li>' for cls, text in states.values())
    payload = script_json(data["result"])
    title = f"mcheck: {s['model']} {s['verdict']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_asset("report.css")}</style></head>
<body>
<h1>{_e(title)}</h1>
<section id="summary"><h2>Summary</h2><dl>{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in summary)}</dl>
{"".join(f"<p class='note'>{_e(n)}</p>" for n in s["notes"])}</section>
<section id="properties"><h2>Properties</h2>{_table(["property", "kind", "clauses", "verdict", "description"], props)}</section>
<section id="coverage"><h2>Clause coverage ({fired} of {len(data["coverage"])} fired by an action)</h2>
{f'<ul class="legend">{legend}</ul><ul class="clauses">{coverage}</ul>' if coverage else "<p>No coverage recorded.</p>"}</section>
<section id="clause-table"><h2>Clause catalogue</h2>{_clause_table_html(data.get("clause_table"))}</section>
<section id="violations"><h2>Counterexamples and divergences ({len(data["violations"])})</h2>
{"".join(_violation_html(k, v) for k, v in enumerate(data["violations"])) or "<p>None.</p>"}</section>
<script type="application/json" id="mcheck-result">{payload}</script>
<script>{_asset("report.js")}</script>
</body></html>
"""


#: What may not appear raw in JSON embedded in a <script> element: '<' starts '</script>'
#: and '<!--' (which switches the parser into a state where the real end tag is missed),
#: '>' and '&' are escaped too, and U+2028/U+2029 for older JavaScript parsers.
_SCRIPT_UNSAFE: dict[str, str | int | None] = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> str:
    """JSON safe inside <script type="application/json">: the same value for JSON.parse,
    never markup for the HTML parser (issue 15 item 15)."""
    text = json.dumps(value, default=str)
    return text.translate(str.maketrans(_SCRIPT_UNSAFE))


def write_report(result: Result, directory: str, *, graph: nx.MultiDiGraph | None = None,
                 source: str | None = None) -> str:
    """Write DIR/index.html and return its path."""
    path = os.path.join(directory, "index.html")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as fh:   # a lone surrogate stays visible
            fh.write(render_html(report_data(result, graph=graph, source=source)))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    return path
