"""The fleet HTML report: its data, then the page in headless Chromium like the capture report."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mcheck.fleet.report import render_fleet_html, write_fleet_report
from mcheck.fleet.summary import set_report_links, summarise
from mcheck.fleet.table import new_row


def _rows() -> list[dict]:
    rows = []
    spec = [("vf100", "1.0", "conforming", [], [], 0), ("vf100", "1.0", "divergent", ["dma-after-stop"], ["D-DP-10"], 1),
            ("vf100", "1.0", "divergent", ["dma-after-stop"], ["D-DP-10"], 1),
            ("vf200", "2.0", "divergent", [], ["D-GA-1"], 2), ("vf200", "2.0", "error", [], [], 3)]
    for k, (model, fw, verdict, bugs, clauses, day) in enumerate(spec):
        row = new_row(f"/fleet/c{k}.jsonl", f"{k:064x}", {"device_model": model, "firmware": fw})
        row.update(verdict=verdict, suspected_bugs=bugs, clauses=clauses, relaxations=["T1b"] if bugs else [],
                   timestamp=1_790_000_000 * 10**9 + day * 86_400 * 10**9)
        if verdict == "error":
            row.update(error_kind="corrupt", reason="</script><b>x</b>")
        rows.append(row)
    return rows


def _summary() -> dict:
    s = summarise(_rows())
    set_report_links(s, {"/fleet/c1.jsonl": "captures/0000000000000001/index.html"})
    return s


def test_page_is_self_contained_and_escapes():
    page = render_fleet_html(_summary())
    assert re.findall(r"""src\s*=""", page) == []
    assert "<b>x</b>" not in page   # a reason is text, never markup
    embedded = re.search(r'<script type="application/json" id="mcheck-fleet">(.*?)</script>', page, re.DOTALL).group(1)
    assert json.loads(embedded)["tally"] == {"conforming": 1, "divergent": 3, "error": 1}


def test_fleet_report_in_chromium(chromium, tmp_path):
    index = Path(write_fleet_report(_summary(), str(tmp_path)))
    dom, console = chromium.load(index)
    assert console == []
    assert 'data-ready="mcheck-fleet-summary/1"' in dom         # the script checked the tally and ran to its end
    assert re.search(r'id="n-divergent">3<', dom) and re.search(r'id="inputs">5<', dom)
    assert 'data-bug="dma-after-stop" data-captures="2"' in dom
    assert 'href="captures/0000000000000001/index.html"' in dom  # the group's representative report
    assert '<svg class="trend"' in dom                           # timestamps span days
    png = tmp_path / "fleet.png"
    chromium.screenshot(index, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_broken_tally_is_caught_in_chromium(chromium, tmp_path):
    """The browser check can fail: a page whose counts do not add up throws."""
    s = _summary()
    s["inputs"] = 6
    index = Path(write_fleet_report(s, str(tmp_path)))
    dom, console = chromium.load(index)
    assert any("tally 5 != inputs 6" in line for line in console) and 'data-ready="' not in dom
