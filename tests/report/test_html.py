"""The report's computed data (lanes, rows, graph layout), then the page in headless Chromium."""

import json
import re
from pathlib import Path

from mcheck.report.html import render_html, report_data, write_report


def test_sequence_lanes_and_arrows(violated):
    result, graph = violated
    seq = report_data(result, graph=graph)["violations"][0]["sequence"]
    assert [lane["name"] for lane in seq["lanes"]] == ["hypervisor", "owner", "member 1", "member 2"]
    admin, post, dma = seq["rows"]
    assert (admin["kind"], admin["src"], admin["dst"], admin["reply"]) == ("call", "hypervisor", "owner", "OK")
    assert admin["label"] == "DEV_MODE_SET(member=1, flags=1)"
    assert (post["kind"], post["src"]) == ("local", "member 1")
    assert (dma["kind"], dma["src"], dma["dst"]) == ("signal", "member 1", "hypervisor")
    assert [r["bad"] for r in seq["rows"]] == [False, False, True]
    assert dma["changes"] == ["inflight[1]: 1 → 0", "dma[1]: 0 → 1"]
    assert admin["y"] < post["y"] < dma["y"]


def test_state_graph_is_the_path_plus_neighbours(violated):
    result, graph = violated
    g = report_data(result, graph=graph)["violations"][0]["graph"]
    path = [n for n in g["nodes"] if n["on_path"]]
    assert len(path) == 4 and path[-1]["bad"]
    assert all(n["id"].startswith("s") for n in path)  # matched to graph nodes
    assert g["from_graph"] and len(g["nodes"]) > len(path)
    positions = {(n["x"], n["y"]) for n in g["nodes"]}
    assert len(positions) == len(g["nodes"])  # no two states drawn on top of each other
    assert all(0 < n["x"] < g["width"] and 0 < n["y"] < g["height"] for n in g["nodes"])
    assert [e["label"] for e in g["edges"] if e["on_path"]] == [s.label for s in result.violations[0].witness.steps]


def test_without_a_graph_only_the_path_is_drawn(violated):
    g = report_data(violated[0])["violations"][0]["graph"]
    assert not g["from_graph"]
    assert [n["on_path"] for n in g["nodes"]] == [True] * 4


def test_coverage_and_properties(violated):
    data = report_data(violated[0])
    assert [(c["clause"], c["fired"]) for c in data["coverage"]] == [
        ("D-DP-9", None), ("D-DP-10", True), ("D-DP-16", None)]  # numeric order; None: only a property names it
    assert next(p["verdict"] for p in data["properties"]) == "violated"


def test_divergence_data(divergence):
    (v,) = report_data(divergence)["violations"]
    assert v["divergence"]["event_index"] == 7
    assert v["divergence"]["differing"] == ["inflight[1]"]
    assert [r["event_index"] for r in v["sequence"]["rows"]] == [4, 7]


def test_page_is_self_contained(violated, tmp_path):
    page = render_html(report_data(violated[0], graph=violated[1]))
    urls = re.findall(r"""(?:src|href)\s*=\s*["']?([^"' >]+)""", page)
    assert urls == []
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page.split('id="mcheck-result"')[0])
    embedded = re.search(r'<script type="application/json" id="mcheck-result">(.*?)</script>', page, re.DOTALL).group(1)
    assert json.loads(embedded)["verdict"] == "violated"


def test_violated_check_in_chromium(violated, chromium, tmp_path, counter_path):
    index = Path(write_report(violated[0], str(tmp_path / "report"), graph=violated[1], source=counter_path))
    dom, console = chromium.load(index)
    assert console == []
    assert 'data-ready="mcheck-result/2"' in dom  # the page's script ran to its end
    assert '<svg class="sequence" id="seq-0"' in dom and '<svg class="state-graph" id="graph-0"' in dom
    assert "DEV_MODE_SET(member=1, flags=1)" in dom
    png = tmp_path / "violated.png"
    chromium.screenshot(index, png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_divergence_in_chromium(divergence, chromium, tmp_path):
    index = Path(write_report(divergence, str(tmp_path / "report")))
    dom, console = chromium.load(index)
    assert console == []
    assert '<svg class="sequence"' in dom
    assert "Divergence at trace event 7" in dom and "candidate 2" in dom
    png = tmp_path / "divergence.png"
    chromium.screenshot(index, png)
    assert png.stat().st_size > 10_000


def test_console_errors_are_caught(chromium, tmp_path):
    """The console check above can fail: a page that throws is seen."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    _, console = chromium.load(page)
    assert any("Uncaught Error: boom" in line for line in console)


def test_admin_commands_open_no_member_lane():
    from mcheck.report.html import sequence
    from mcheck.verdict import Step, Witness

    step = Step(number=1, action="list_use", params={}, label="list_use", clauses=[], changes=[],
                event={"kind": "admin", "cmd": "LIST_USE", "member": 0, "status": "OK"})
    seq = sequence(Witness(initial={}, steps=[step]), [], bad_step=1)
    assert [lane["name"] for lane in seq["lanes"]] == ["hypervisor", "owner"]
    assert seq["rows"][0]["label"] == "LIST_USE(member=0)"
