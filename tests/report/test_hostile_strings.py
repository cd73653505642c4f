"""Issue 15 item 15: strings from a model, a trace or a result file cannot break a report.
HTML: the embedded JSON never holds a raw '<' (so '<!--<script>' or '</script>' stay
data); JUnit: control characters, lone surrogates and U+FFFE/U+FFFF are escaped, and
the file parses as XML."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.report.html import render_html, report_data, script_json
from mcheck.report.junit import junit_xml, write_junit
from mcheck.verdict import Change, CheckResult, PropertyVerdict, Step, Violation, Witness

HOSTILE = [
    "<!--<script>alert(1)</script>",
    "</script><script>alert(2)</script>",
    "a]]>b &amp; <![CDATA[",
    "ctl \x00\x01\x08\x0b\x0c\x1b\x7f end",
    "nonchar \ufffe \uffff",
    "lone \ud800 surrogate",
    "sep \u2028 \u2029",
    "emoji \U0001F600 ok",
]


def _result(text: str) -> CheckResult:
    step = Step(number=1, action=f"act {text}", params={"m": text}, label=f"label {text}", event=None,
                clauses=[f"C-{text}"], changes=[Change(field=f"v {text}", before=0, after=text)])
    violation = Violation(property=f"prop {text}", kind="invariant", clauses=[f"C-{text}"], message=f"message {text}",
                          witness=Witness(initial={"x": text}, steps=[step]), event_index=None)
    return CheckResult(model=f"model {text}", params={"p": text}, engine="explicit", verdict="violated", states=1,
                       transitions=1, depth=1, seconds=0.0, bounds_hit=[],
                       properties=[PropertyVerdict(name=f"prop {text}", kind="invariant", clauses=[f"C-{text}"],
                                                   verdict="violated", description=f"desc {text}")],
                       violations=[violation], notes=[f"note {text}"])


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_html_embedded_json_has_no_raw_angle_bracket(text: str) -> None:
    result = _result(text)
    page = render_html(report_data(result))
    scripts = re.findall(r'<script type="application/json" id="mcheck-result">(.*?)</script>', page, re.DOTALL)
    assert len(scripts) == 1, "the payload ended its script element early"
    payload = scripts[0]
    assert "<" not in payload and ">" not in payload and "\u2028" not in payload
    assert json.loads(payload) == json.loads(json.dumps(report_data(result)["result"], default=str))
    if "<" in text:
        assert text not in page, "a hostile string reached the page unescaped"


def test_script_json_escapes() -> None:
    assert script_json({"a": "<!--<script>"}) == '{"a": "\\u003c!--\\u003cscript\\u003e"}'
    assert json.loads(script_json({"a": "x</script>&"})) == {"a": "x</script>&"}


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_junit_is_well_formed(tmp_path: Path, text: str) -> None:
    path = tmp_path / "j.xml"
    write_junit(_result(text), str(path))
    root = ET.parse(path).getroot()                 # well-formed, or this raises
    case = root.find("./testsuite/testcase")
    assert case is not None and case.find("failure") is not None
    if text.isprintable() or "\n" in text:
        assert f"prop {text}" in case.get("name")


def test_junit_escapes_are_visible() -> None:
    xml = junit_xml(_result("bell \x07 fffe \ufffe"))
    assert "\\u0007" in xml and "\\ufffe" in xml and "\x07" not in xml and "\ufffe" not in xml
    ET.fromstring(xml.encode())


def test_report_command_from_a_hostile_result_file(tmp_path: Path, capsys) -> None:
    """Through the CLI: a result JSON file holding the hostile strings renders both reports."""
    doc = _result("<!--<script> \x01 \ufffe").to_dict()
    (tmp_path / "r.json").write_text(json.dumps(doc))
    code = main(["report", str(tmp_path / "r.json"), "--html", str(tmp_path / "h"), "--junit", str(tmp_path / "j.xml")])
    err = capsys.readouterr().err
    assert code == 0, err
    ET.parse(tmp_path / "j.xml")
    page = (tmp_path / "h" / "index.html").read_text()
    payload = re.search(r'id="mcheck-result">(.*?)</script>', page, re.DOTALL).group(1)
    assert "<" not in payload


def test_deep_or_broken_result_file_is_one_line(tmp_path: Path, capsys) -> None:
    for name, data in [("deep", "[" * 100000 + "]" * 100000), ("sur", '{"schema": "\\ud800"}'),
                       ("list", "[1, 2]"), ("bad", '{"schema": 5}')]:
        path = tmp_path / f"{name}.json"
        path.write_text(data)
        code = main(["report", str(path), "--junit", str(tmp_path / "j.xml")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and str(path) in err or "not an mcheck result" in err, err
        assert "internal error" not in err
