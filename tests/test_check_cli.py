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


def test_dot_and_graphml_export(tmp_path, capsys):
    dot, gml = tmp_path / "g.dot", tmp_path / "g.graphml"
    model = str(Path(__file__).parent / "models" / "counter.py")   # small enough to draw
    code, out, _ = run(capsys, "check", model, "--dot", str(dot), "--graphml", str(gml))
    assert code == 0
    assert dot.read_text().startswith('digraph "counter"') and dot.read_text().count(" -> ") > 576
    import networkx as nx
    g = nx.read_graphml(gml)
    assert g.number_of_nodes() == 576
    assert "graph: 576 nodes" in out


def test_graph_cap_switches_graph_off(capsys, tmp_path):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=1", "--graph", "--graph-cap", "10")
    assert code == 0 and "graph not built: 4,096 states and 1,498,240 transitions exceed --graph-cap 10" in out


def test_bugs_lists_the_catalogue(capsys):
    code, out, _ = run(capsys, "bugs", "virtio-1.4")
    assert code == 0
    assert out.splitlines()[0].startswith("dma-after-stop ")
    assert len(out.splitlines()) >= 10


@pytest.mark.parametrize("argv,message", [
    (["check", "no-such-model"], "unknown model 'no-such-model'"),
    (["check", "virtio-1.4", "-p", "colour=red"], "unknown parameter 'colour' for model virtio-1.4"),
    (["check", "virtio-1.4", "-p", "members=99"], "parameter members=99 for model virtio-1.4: out of range 1..64"),
    (["check", "virtio-1.4", "-p", "members=two"], "parameter members='two' for model virtio-1.4: not an integer"),
    (["check", "virtio-1.4", "-p", "bug=no-such-bug"], "parameter bug='no-such-bug' for model virtio-1.4: unknown value"),
    (["check", "virtio-1.4", "-p", "members"], "parameter 'members': expected key=value"),
    (["check", "virtio-1.4", "-p", "get_during_flr=maybe"], "unknown value"),
    (["bugs", "no-such-model"], "unknown model"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_model_file_that_does_not_import(tmp_path, capsys):
    bad = tmp_path / "broken.py"
    bad.write_text("from mcheck.model.definition import Model\n\nimport no_such_module_here\n")
    code, _, err = run(capsys, "check", str(bad))
    assert code == 2
    assert f"{bad}:3: model file does not import: ModuleNotFoundError" in err


def test_model_file_with_syntax_error(tmp_path, capsys):
    bad = tmp_path / "syntax.py"
    bad.write_text("class X(:\n")
    code, _, err = run(capsys, "check", str(bad))
    assert code == 2 and f"{bad}:1: model file does not import" in err


def test_property_that_raises_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "raising.py"
    path.write_text(
        "from mcheck.model.definition import Model, action, invariant\n"
        "from mcheck.model.expr import BOOL\n"
        "class Raising(Model):\n"
        "    name = 'raising'\n"
        "    def setup(self):\n"
        "        self.var('x', BOOL, init=False)\n"
        "    @action()\n"
        "    def flip(self, s):\n"
        "        s.x = ~s.x\n"
        "    @invariant('T-1')\n"
        "    def broken(self, s):\n"
        "        return 1 / 0\n"
    )
    code, _, err = run(capsys, "check", str(path))
    assert code == 2
    assert f"{path}:12: property broken raised ZeroDivisionError" in err


def test_console_script_runs_as_a_process():
    proc = subprocess.run([sys.executable, "-m", "mcheck.cli", "check", "virtio-1.4", "-p", "members=1", "-q"],
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "verdict: HOLDS"


def test_engine_prove_gives_proved(capsys):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=3", "--engine", "prove", "-q")
    assert code == 0 and out.strip() == "verdict: PROVED"


def test_engine_bmc_finds_a_catalogue_bug_with_the_same_step_format(capsys):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=1", "-p", "bug=notify-after-stop",
                       "--engine", "bmc", "--depth", "5")
    assert code == 1
    assert "shortest counterexample, 4 step(s)" in out and "used_notify(m=1, q=0)" in out


def test_engine_bmc_on_a_correct_model_is_bounded(capsys):
    code, out, _ = run(capsys, "check", "virtio-1.4", "-p", "members=1", "--engine", "bmc", "--depth", "3", "-q")
    assert code == 3 and out.strip() == "verdict: BOUNDED"


@pytest.mark.parametrize("model", ["draft-v1", "virtio-1.4-migration"])
def test_prove_needs_no_depth_flag_for_deep_goals(capsys, model):
    # the goals are first reached beyond depth 10 (draft-v1 at 12, the pair model's completed
    # migration at 11): prove searches them until reached, so the run is proved, exit 0
    code, out, _ = run(capsys, "check", model, "--engine", "prove", "-q")
    assert code == 0, out
