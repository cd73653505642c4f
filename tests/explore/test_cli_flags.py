"""`mcheck check --symmetry --workers N`: the flags reach the engine and the result says what they did."""

from __future__ import annotations

import json

from mcheck.cli import main


def test_symmetry_and_workers_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["check", "virtio-1.4", "-p", "members=2", "--symmetry", "--workers", "2", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["states"] == 197632
    assert data["coverage"]["symmetry"]["orbit_states"] == 393216
    assert data["coverage"]["memory"]["bytes_per_state"] > 0
    text = capsys.readouterr().out
    assert "reduction 2.0x" in text and "over 2 workers" in text


def test_workers_with_graph_is_a_usage_error(capsys):
    assert main(["check", "virtio-1.4", "-p", "members=1", "--workers", "2", "--graph"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_symmetry_on_a_model_that_is_not_symmetric_is_one_line(tmp_path, capsys):
    model = tmp_path / "plain.py"
    model.write_text(
        "from mcheck.model.definition import Model, action\n"
        "from mcheck.model.expr import Int\n"
        "class Plain(Model):\n"
        "    name = 'plain'\n"
        "    def setup(self):\n"
        "        self.var('x', Int(0, 1), init=0)\n"
        "    @action()\n"
        "    def flip(self, s):\n"
        "        s.x = 1 - s.x\n")
    assert main(["check", str(model), "--symmetry"]) == 2
    err = capsys.readouterr().err
    assert "declares no symmetric index set" in err and err.count("\n") == 1
