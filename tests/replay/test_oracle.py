"""The oracle machinery on tests/models/relaxed.py: presets and relaxations (`compat`),
which relaxation explains a divergence, SHOULD warnings, and how they are reported."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.errors import InputError, ModelDefinitionError
from mcheck.model.build import build_model
from mcheck.model.registry import find_model_class
from mcheck.model.params import Relaxation
from mcheck.replay import replay_file
from mcheck.replay.engine import _agrees

from ._support import ROOT

MODEL = str(ROOT / "tests" / "models" / "relaxed.py")
Relaxed = find_model_class(MODEL)
R1 = "a stop while work is in flight answered OK"
R2 = "a resume answered EBUSY"


def mode_set(flags: int, status: str | None = "OK") -> dict:
    event = {"kind": "admin", "cmd": {"name": "DEV_MODE_SET", "group_type": "SRIOV", "member": 1,
                                      "fields": {"flags": flags}}}
    if status is not None:
        event["result"] = {"status": status, "qualifier": "OK", "fields": {}}
    return event


def group_cmd(name: str) -> dict:
    return {"kind": "admin", "cmd": {"name": name, "group_type": "SRIOV", "member": 0, "fields": {}},
            "result": {"status": "OK", "qualifier": "OK", "fields": {}}}


DOORBELL = {"kind": "doorbell", "member": 1, "queue": 0}
STOP, RESUME, PING, QUIRK = mode_set(1), mode_set(0), group_cmd("LIST_QUERY"), group_cmd("LIST_USE")


def capture(tmp_path: Path, *events: dict, name: str = "t.jsonl") -> Path:
    lines = [{"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1], "queues": 1}]
    lines += [{"i": i, "t": 1000 * i, **ev} for i, ev in enumerate(events)]
    path = tmp_path / name
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


# -- presets
def test_preset_applies_its_relaxations_and_is_named_in_the_params() -> None:
    p = build_model(Relaxed, {"compat": "linux"}).params.as_dict()
    assert p == {"members": 1, "stop_busy": "accept", "resume_busy": "may", "compat": "linux"}
    assert build_model(Relaxed, {}).params.as_dict()["stop_busy"] == "refuse"


def test_an_explicit_parameter_wins_over_the_preset() -> None:
    p = build_model(Relaxed, {"compat": "linux", "stop_busy": "refuse"}).params.as_dict()
    assert (p["stop_busy"], p["resume_busy"], p["compat"]) == ("refuse", "may", "linux")


def test_preset_file(tmp_path: Path) -> None:
    f = tmp_path / "mydriver.toml"
    f.write_text('[preset]\nname = "mydriver"\nrelaxations = ["R2"]\n\n[params]\nmembers = 2\n')
    p = build_model(Relaxed, {"compat": str(f)}).params.as_dict()
    assert p == {"members": 2, "stop_busy": "refuse", "resume_busy": "may", "compat": "mydriver"}
    # the command line still wins over the file's [params]
    assert build_model(Relaxed, {"compat": str(f), "members": "1"}).params.as_dict()["members"] == 1


@pytest.mark.parametrize("text, where", [
    ("[preset\n", "not valid TOML"),
    ('[params]\nmembers = 2\n', "missing [preset] table"),
    ('[preset]\nrelaxations = []\n', "preset.name"),
    ('[preset]\nname = "x"\nrelaxations = ["R9"]\n', "preset.relaxations: unknown relaxation 'R9'"),
    ('[preset]\nname = "x"\nrelaxations = "R1"\n', "preset.relaxations: must be a list"),
    ('[preset]\nname = "x"\nbase = "linux"\n', "preset.base: unknown key"),
    ('[preset]\nname = "x"\n[params]\nqueues = 2\n', "params.queues: unknown parameter"),
    ('[preset]\nname = "x"\n[params]\nmembers = 9\n', "params.members: parameter members=9"),
    ('[preset]\nname = "x"\n[extra]\n', "unknown key 'extra'"),
])
def test_bad_preset_file(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(InputError) as err:
        build_model(Relaxed, {"compat": str(f)})
    assert str(err.value).startswith(f"preset file {f}: ") and where in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_preset_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    trace = capture(tmp_path, PING)
    for value, text in ((str(tmp_path / "none.toml"), "none.toml: no such file"), ("bsd", "unknown preset")):
        assert main(["replay", str(trace), "--model", MODEL, "-p", f"compat={value}"]) == 2
        err = capsys.readouterr().err
        assert text in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_model_declaration_errors() -> None:
    class Unknown(Relaxed):
        presets = {"linux": ("R1", "R7")}

    class Unsettable(Relaxed):
        relaxations = {"R1": Relaxation("x", {"nope": 1})}
        presets = {}

    class NoChoice(Relaxed):
        presets = {"linux": ("R1",), "bsd": ("R2",)}

    for cls, text in ((Unknown, "unknown relaxation(s) R7"), (Unsettable, "unknown parameter 'nope'"),
                      (NoChoice, "must offer exactly none and the presets")):
        with pytest.raises(ModelDefinitionError, match=text.replace("(", r"\(").replace(")", r"\)")):
            build_model(cls, {})


# -- which relaxation explains a divergence
def test_a_relaxation_explains_the_divergence(tmp_path: Path) -> None:
    trace = capture(tmp_path, DOORBELL, STOP)     # stopped while work is in flight
    result = replay_file(trace, model=MODEL)
    assert result.verdict == "violated" and result.exit_code == 1
    v = result.violations[0]
    assert (v.event_index, v.clauses) == (1, ["D-X-1"])     # the stop, refused while work is in flight
    assert v.message.endswith(f"; conforms under compat=linux (R1: {R1})")
    assert v.explained_by == [{"id": "R1", "doc": R1, "preset": "linux", "params": {"stop_busy": "accept"}}]
    assert result.to_dict()["violations"][0]["explained_by"][0]["id"] == "R1"
    assert replay_file(trace, model=MODEL, params={"compat": "linux"}).verdict == "holds"


def test_a_relaxation_in_force_is_not_offered(tmp_path: Path) -> None:
    trace = capture(tmp_path, STOP, mode_set(0, "EBUSY"))
    result = replay_file(trace, model=MODEL, params={"stop_busy": "accept"})
    assert result.violations[0].event_index == 1
    assert [e["id"] for e in result.violations[0].explained_by] == ["R2"]
    assert replay_file(trace, model=MODEL, params={"compat": "linux"}).verdict == "holds"


def test_a_preset_explains_what_no_single_relaxation_does(tmp_path: Path) -> None:
    result = replay_file(capture(tmp_path, QUIRK), model=MODEL)
    v = result.violations[0]
    assert v.event_index == 0
    assert [e["id"] for e in v.explained_by] == ["linux"]
    assert v.message.endswith(f"; conforms under compat=linux (R1: {R1}; R2: {R2})")


def test_nothing_explains_a_real_fault(tmp_path: Path) -> None:
    result = replay_file(capture(tmp_path, RESUME, mode_set(0, "ENOMEM")), model=MODEL)
    assert result.verdict == "violated" and result.violations[0].explained_by == []
    assert result.violations[0].event_index == 1      # the resume answered ENOMEM
    assert "conforms under" not in result.violations[0].message


# -- SHOULD warnings
def test_should_is_never_matched() -> None:
    assert _agrees({"kind": "admin", "should": "D-X-2"}, {"kind": "admin", "should": "D-X-9"})


def test_warning_when_every_explanation_departs_from_a_should(tmp_path: Path) -> None:
    trace = capture(tmp_path, STOP, mode_set(1, "EBUSY"), STOP, PING, RESUME, PING)
    result = replay_file(trace, model=MODEL)
    assert result.verdict == "holds" and result.exit_code == 0
    # event 1: only the EBUSY rule explains it; event 2: the OK one does; event 3: PING while
    # stopped, only the SHOULD-departing rule; event 5: PING while running, both rules
    assert [(w["index"], w["clauses"]) for w in result.warnings] == [(1, ["D-X-2"]), (3, ["D-X-3"])]
    assert result.warnings[0]["message"] == ("event 1: AQ STOP(member=1) -> EBUSY departs from SHOULD D-X-2 "
                                             "(permitted, not a divergence)")
    assert result.coverage["warnings"] == {"D-X-2": 1, "D-X-3": 1}
    data = result.to_dict()
    assert data["warnings"] == result.warnings and isinstance(data["driver_findings"], list)


def test_warnings_and_driver_findings_follow_the_verdict_in_text_and_json(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    from tests.result_schema import validate_result
    trace = capture(tmp_path, STOP, mode_set(1, "EBUSY"))   # DEV_MODE_SET is 25 bytes: R-AQ-2
    out = tmp_path / "r.json"
    assert main(["replay", str(trace), "--model", MODEL, "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    tail = lines[lines.index("verdict: HOLDS") + 1:]
    assert tail[0] == "warning [D-X-2] event 1: AQ STOP(member=1) -> EBUSY departs from SHOULD D-X-2 " \
                      "(permitted, not a divergence)"
    assert tail[1].startswith("driver violation [R-AQ-2] event 0: opcode 0x11: readable part 25 bytes")
    assert tail[2].startswith("driver violation [R-GA-2, R-GA-6] event 0: DEV_MODE_SET on group type SRIOV")
    data = validate_result(json.loads(out.read_text()), "replay")
    assert [f["clauses"] for f in data["driver_findings"]] == [["R-AQ-2"], ["R-GA-2", "R-GA-6"], ["R-AQ-2"]]


def test_models_lists_presets_and_relaxations(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from mcheck.engines import cli
    monkeypatch.setattr(cli, "BUILTIN", {"relaxed": MODEL})
    monkeypatch.setattr(cli, "find_model_class", lambda name: Relaxed)

    @dataclass
    class Args:
        pass

    assert cli.run_models(Args()) == 0
    out = capsys.readouterr().out
    assert "    preset -p compat=linux: R1, R2" in out
    assert f"    relaxation R1 (stop_busy=accept): {R1}" in out
