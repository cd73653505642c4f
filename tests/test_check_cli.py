"""`mcheck check`, `bugs`, `models`: exit codes, JSON schema, bad input as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from mcheck.cli import main

from tests.result_schema import SCHEMA, validate_result


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_holds_exits_0_and_prints_summary_table(capsys):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=1")
    assert code == 0
    assert "states 4,096" in out and "verdict: HOLDS" in out
    assert "no_dma_while_stopped" in out and "D-DP-9, D-DP-16" in out


def test_violation_exits_1_with_numbered_steps(capsys):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=1", "-p", "bug=notify-after-stop")
    assert code == 1
    assert "VIOLATION no_notification_while_stopped [D-DP-16]" in out
    assert "  2. mode_set(m=1, flags=1)  [AQ DEV_MODE_SET(group=1, member=1, flags=1, ok=true) -> OK]" in out
    assert "mode[1]: running -> stopped" in out


@pytest.mark.parametrize("flag", [["--max-states", "50"], ["--max-depth", "2"], ["--timeout", "0.000001"]])
def test_bounds_exit_3_bounded(capsys, flag):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=2", *flag)
    assert code == 3
    assert "verdict: BOUNDED" in out and "bounds hit:" in out


def test_json_output_follows_schema(tmp_path, capsys):
    path = tmp_path / "r.json"
    code, _, _ = run(capsys, "check", "virtio-1.4", "-p", "members=1", "-p", "bug=stop-not-idempotent", "--json", str(path))
    assert code == 1
    data = validate_result(json.loads(path.read_text()), "check")
    assert data["verdict"] == "violated"
    names = {p["name"]: p for p in data["properties"]}
    assert names["mode_set_is_idempotent"]["verdict"] == "violated"
    assert names["mode_set_is_idempotent"]["clauses"] == ["D-DP-20", "D-DP-21"]
    (v,) = data["violations"]
    assert v["witness"]["steps"][-1]["event"]["status"] == "EBUSY"


def test_json_to_stdout_is_pure_json(capsys):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=1", "--json", "-")
    assert code == 0
    validate_result(json.loads(out), "check")


@pytest.mark.parametrize("engine", ["bmc", "prove", "all"])
def test_json_of_every_engine_follows_the_check_schema(capsys, engine, counter_model_path):
    code, out, _ = run(capsys, "check", counter_model_path, "--engine", engine, "--depth", "3", "--json", "-")
    data = validate_result(json.loads(out), "check")
    assert data["engine"] == engine and code in (0, 3)
    if engine != "all":
        assert data["states"] is None and data["transitions"] is None   # the symbolic engines store no state
    else:
        assert data["states"] > 0


def test_schema_rejects_a_broken_result(capsys, counter_model_path):
    code, out, _ = run(capsys, "check", counter_model_path, "--json", "-")
    good = validate_result(json.loads(out), "check")
    for broken in ({**good, "verdict": "fine"},                  # verdicts are an enum
                   {**good, "events": 3},                        # another kind's field
                   {**good, "kind": "replay"},                   # a check is not a replay
                   {**good, "coverage": {"events": 3}},          # coverage is typed
                   {k: v for k, v in good.items() if k != "depth"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)
