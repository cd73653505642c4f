import argparse
import json
import xml.etree.ElementTree as ET

import pytest

import mcheck.cli
from mcheck.errors import InputError
from mcheck.report import cli as report_cli
from mcheck.report.json_out import result_json
from mcheck.report.junit import junit_xml
from mcheck.report.outputs import Outputs, add_output_arguments, emit_outputs, source_file


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_output_arguments(p)
    return p


def test_no_options_write_nothing(violated):
    assert emit_outputs(Outputs.from_args(parser().parse_args([])), violated[0], "x.py") == []


def test_all_three_outputs(violated, counter_path, tmp_path):
    args = parser().parse_args(["--junit", str(tmp_path / "j.xml"), "--sarif", str(tmp_path / "s.sarif"),
                                "--report", str(tmp_path / "html")])
    written = emit_outputs(Outputs.from_args(args), violated[0], counter_path, graph=violated[1])
    assert written == [str(tmp_path / "j.xml"), str(tmp_path / "s.sarif"), str(tmp_path / "html" / "index.html")]
    assert len(ET.parse(tmp_path / "j.xml").getroot().findall(".//testcase")) == 3
    assert json.loads((tmp_path / "s.sarif").read_text())["version"] == "2.1.0"
    assert "sequence" in (tmp_path / "html" / "index.html").read_text()


def test_unwritable_path_is_an_input_error(violated, tmp_path):
    with pytest.raises(InputError, match="cannot write"):   # a path that went away after the check
        emit_outputs(Outputs(junit=str(tmp_path / "missing" / "j.xml")), violated[0], None)


def test_source_file_of_a_path_and_of_an_unknown_name(counter_path):
    assert source_file(counter_path) == counter_path
    assert source_file("no-such-model") is None
    assert source_file(None) is None


def run_cli(argv: list[str], monkeypatch) -> int:
    monkeypatch.setattr(mcheck.cli, "COMMAND_MODULES", ("mcheck.report.cli",))
    return mcheck.cli.main(argv)


def test_report_command_round_trips_a_saved_result(violated, tmp_path, monkeypatch, capsys):
    saved = tmp_path / "result.json"
    saved.write_text(result_json(violated[0]))
    junit = tmp_path / "j.xml"
    assert run_cli(["report", str(saved), "--html", str(tmp_path / "html"), "--junit", str(junit)], monkeypatch) == 0
    assert (tmp_path / "html" / "index.html").exists()
    assert junit.read_text() == junit_xml(violated[0])  # the loaded result renders exactly like the original


def test_report_keeps_fields_a_newer_writer_added(divergence):
    data = divergence.to_dict()
    data["violations"][0].update(event_index=7, candidates=[{"a": 1}], expected=["x"])
    loaded = report_cli.result_from_dict(data)
    assert loaded.violations[0].event_index == 7 and loaded.violations[0].candidates == [{"a": 1}]


@pytest.mark.parametrize("content, message", [
    ("not json", "not JSON"),
    ("[1]", "expected a JSON object"),
    ('{"schema": "other"}', "not an mcheck result"),
    ('{"schema": "mcheck-result/1", "violations": [{}]}', "malformed mcheck result"),
    ('{"schema": "mcheck-result/2", "kind": "check", "violations": [{}]}', "malformed mcheck result"),
    ('{"schema": "mcheck-result/2", "kind": "other"}', "kind 'other' is not one of"),
])
def test_report_rejects_bad_input_in_one_line(content, message, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert run_cli(["report", str(bad), "--html", str(tmp_path / "h")], monkeypatch) == 2
    assert message in capsys.readouterr().err


def test_report_needs_an_output(tmp_path, monkeypatch, capsys):
    assert run_cli(["report", str(tmp_path / "r.json")], monkeypatch) == 2
    assert "nothing to write" in capsys.readouterr().err


def _other_kinds():
    from mcheck.verdict import ConformResult, DeviceReplayResult, PropertyVerdict
    conform = ConformResult(model="virtio-1.4", params={}, engine="conform", verdict="holds", seconds=1.0, tests=1,
                            passed=1, failed=0, steps=3, commands=2,
                            properties=[PropertyVerdict(name="t1", kind="test", clauses=[], verdict="holds")],
                            coverage={"suite": {"tests": 1}, "clauses": {"D-GA-1": {"tests": 1, "passed": 1, "failed": 0}},
                                      "clause_results": [{"clause": "D-GA-1", "tests": ["t1"], "passed": 1, "failed": 0,
                                                          "blamed": 0}]})
    device = DeviceReplayResult(model="virtio-1.4", params={}, engine="replay-device", verdict="error", seconds=0.5,
                                backend="model", requests=4, observed_events=3)
    return [conform, device]


def test_report_reads_every_kind(violated, divergence, tmp_path):
    from tests.result_schema import validate_result
    for result in [violated[0], divergence, *_other_kinds()]:
        data = json.loads(result_json(result))
        validate_result(data, result.kind.value)
        loaded = report_cli.result_from_dict(data)
        assert type(loaded) is type(result) and loaded.to_dict() == result.to_dict()
        assert junit_xml(loaded)   # every reporter reads every kind
        report_cli.write_sarif(loaded, str(tmp_path / "s.sarif"))
        report_cli.write_report(loaded, str(tmp_path / result.kind.value))


def test_report_reads_the_earlier_format(divergence):
    """A mcheck-result/1 replay kept its counters in states/transitions/depth."""
    old = {k: v for k, v in divergence.to_dict().items() if k not in ("kind", "events", "max_candidates",
                                                                      "model_steps", "hidden_kinds")}
    old.update(schema="mcheck-result/1", states=3, transitions=2, depth=8)
    loaded = report_cli.result_from_dict(old)
    assert loaded.kind == "replay" and (loaded.events, loaded.max_candidates, loaded.model_steps) == (8, 3, 2)


def test_report_refuses_a_count_that_is_not_one(violated, tmp_path, monkeypatch, capsys):
    data = json.loads(result_json(violated[0]))
    data["states"] = "many"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert run_cli(["report", str(bad), "--html", str(tmp_path / "h")], monkeypatch) == 2
    assert "states must be a count" in capsys.readouterr().err
