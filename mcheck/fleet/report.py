"""The fleet report: one self-contained HTML page rendered from the fleet summary.

Like the single-capture report (mcheck.report.html) it loads nothing, embeds its data as
JSON (`<script id="mcheck-fleet">`) and its script marks `data-ready` when it ran to the
end, which the browser test checks. Every group links to its representative capture's own
report (DIR/captures/<sha256 prefix>/index.html).
"""

from __future__ import annotations

import html
import os
from typing import Any
from collections.abc import Mapping

from mcheck.errors import InputError
from mcheck.report.html import script_json

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.conforming{color:#1a7f37}.divergent{color:#b3261e}.error{color:#9a6700}
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
.tally span{display:inline-block;margin-right:1.5em;font-size:1.2em}
svg text{font:11px system-ui,sans-serif}
"""

SCRIPT = """
(function(){
  var data = JSON.parse(document.getElementById('mcheck-fleet').textContent);
  var t = data.tally, sum = t.conforming + t.divergent + t.error;
  if (sum !== data.inputs) { throw new Error('tally ' + sum + ' != inputs ' + data.inputs); }
  document.querySelectorAll('details.group').forEach(function(d){
    d.querySelector('summary').title = 'click to show the breakdown by device model and firmware';
  });
  document.body.setAttribute('data-ready', data.schema);
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _td(value: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(value)}</td>' if cls else f"<td>{_e(value)}</td>"


def _num(n: int, cls: str = "") -> str:
    return f'<td class="n {cls}">{n:,}</td>'


def _firmware_table(summary: Mapping[str, Any]) -> str:
    rows = [[_td(r["device_model"]), _td(r["firmware"]), _num(r["conforming"], "conforming"),
             _num(r["divergent"], "divergent"), _num(r["error"], "error"), _num(r["captures"])]
            for r in summary["by_firmware"]]
    return _table(["device model", "firmware", "conforming", "divergent", "error", "captures"], rows)


def _representative(group: Mapping[str, Any]) -> str:
    rep = group["representative"]
    name = _e(os.path.basename(rep["path"]))
    if rep.get("report"):
        return f'representative: <a class="rep" href="{_e(rep["report"])}">{name}</a>'
    text = f"representative: <code>{_e(rep['path'])}</code>"
    if rep.get("reason"):
        text += f" <span class='reason'>{_e(rep['reason'])}</span>"
    return text


def _groups(groups: list[Mapping[str, Any]], key: str, what: str, cls: str) -> str:
    if not groups:
        return "<p>None.</p>"
    out = []
    for g in groups:
        breakdown = _table(["device model", "firmware", "captures"],
                           [[_td(b["device_model"]), _td(b["firmware"]), _num(b["captures"])] for b in g["by_firmware"]])
        relax = ""
        if g.get("relaxations"):
            relax = "<p>conforms under: " + ", ".join(f"{_e(k)} ({n:,})" for k, n in g["relaxations"].items()) + "</p>"
        out.append(f'<details class="group {cls}" data-{what}="{_e(g[key])}" data-captures="{g["captures"]}" open>'
                   f'<summary>{_e(g[key])}: {g["captures"]:,} capture(s)</summary>'
                   f"<p>{_representative(g)}</p>{relax}{breakdown}</details>")
    return "".join(out)


def _trend_svg(trend: list[Mapping[str, Any]]) -> str:
    width, height, pad = 640, 180, 30
    top = max(d["conforming"] + d["divergent"] + d["error"] for d in trend) or 1
    bar = (width - 2 * pad) / len(trend)
    parts = [f'<svg class="trend" width="{width}" height="{height + 20}" viewBox="0 0 {width} {height + 20}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="verdicts per day">']
    colours = (("conforming", "#9ad0a7"), ("divergent", "#e8988f"), ("error", "#e3c26f"))
    for k, d in enumerate(trend):
        x, y = pad + k * bar, height
        for verdict, colour in colours:
            h = (height - pad) * d[verdict] / top
            y -= h
            parts.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{max(bar - 4, 1):.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{_e(d["day"])}: {d[verdict]:,} {verdict}</title></rect>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height + 14}" text-anchor="middle">{_e(d["day"][5:])}</text>')
    parts.append("</svg>")
    rows = [[_td(d["day"]), _num(d["conforming"], "conforming"), _num(d["divergent"], "divergent"),
             _num(d["error"], "error")] for d in trend]
    return "".join(parts) + _table(["day (UTC)", "conforming", "divergent", "error"], rows)


def render_fleet_html(summary: Mapping[str, Any], *, title: str = "mcheck fleet report") -> str:
    t = summary["tally"]
    tally = (f'<p class="tally"><span>inputs <b id="inputs">{summary["inputs"]:,}</b></span>'
             + "".join(f'<span class="{v}">{v} <b id="n-{v}">{t[v]:,}</b></span>' for v in ("conforming", "divergent", "error"))
             + "</p>")
    trend = summary.get("trend")
    trend_html = (f'<section id="trend"><h2>Trend</h2>{_trend_svg(trend)}</section>' if trend else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<section id="summary"><h2>Verdicts</h2>{tally}<p>One row per capture: <a href="results.jsonl">results.jsonl</a>.</p></section>
<section id="firmware"><h2>By device model and firmware</h2>{_firmware_table(summary)}</section>
<section id="bugs"><h2>Divergences by suspected catalogue bug</h2>
<p>A capture consistent with several catalogue bugs counts under each.</p>
{_groups(summary["by_bug"], "bug", "bug", "divergent")}</section>
<section id="clauses"><h2>Divergences by clause</h2>
<p>The clauses of each capture's first divergence; a capture counts under each.</p>
{_groups(summary["by_clause"], "clause", "clause", "divergent")}</section>
<section id="errors"><h2>Errors by reason</h2>{_groups(summary["errors"], "kind", "kind", "error")}</section>
{trend_html}
<script type="application/json" id="mcheck-fleet">{script_json(summary)}</script>
<script>{SCRIPT}</script>
</body></html>
"""


def write_fleet_report(summary: Mapping[str, Any], directory: str) -> str:
    path = os.path.join(directory, "index.html")
    try:
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(render_fleet_html(summary))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    return path
