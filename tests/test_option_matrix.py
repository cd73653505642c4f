"""Every option of check, replay and conform, in every run mode: it takes effect (something
observable changes), or the command exits 2 with one line naming the option and why.

The option lists come from the argparse parsers, and the decisions from mcheck/options.py:
a new option without a line in `OPTIONS` fails `test_every_option_has_a_rule`, and one
without an observation here fails `test_every_applicable_option_has_an_observation`.
"""

from __future__ import annotations

import argparse
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import mcheck.cli
from mcheck.options import MODES, OPTIONS, option_name
from tests.result_schema import validate_result

ROOT = Path(__file__).resolve().parents[1]
COUNTER = str(ROOT / "tests" / "models" / "counter.py")
DRAFT_TRACE = str(ROOT / "traces" / "draft" / "d01-chunked-migration.jsonl")   # conforms, draft-v1
DEVICE_TRACE = str(ROOT / "traces" / "spec" / "c01-self-group-enable.jsonl")   # virtio-1.4 (--backend)
SELECTS_MODE = {"check": "--engine", "replay": "--backend", "conform": "--backend"}


def parser_options(command: str) -> list[str]:
    parser = mcheck.cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return [option_name(a) for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


@dataclass
class Run:
    code: int
    out: str
    err: str
    tmp: Path
    data: dict[str, Any] = field(default_factory=dict)
    differs: bool = False   # from the run without the option: exit code, error or result

    def outcome(self) -> tuple[int, str, str]:
        facts = {k: v for k, v in self.data.items() if k not in ("seconds", "states_per_second")}
        return self.code, self.err, json.dumps(facts, sort_keys=True, default=str)

    def notes(self) -> str:
        return "\n".join(self.data.get("notes", []))


@dataclass
class Effect:
    """The arguments that give the option (`{tmp}` is the case's directory) and what must be seen."""

    argv: list[str]
    seen: Callable[[Run], bool]
    setup: Callable[[Path, list[str]], None] | None = None
    compare: bool = False   # seen by comparing with the run without the option


def differs(argv: list[str]) -> Effect:
    """The option changes the outcome: exit code, error line or result (times aside)."""
    return Effect(argv, lambda r: r.differs, compare=True)


def _file(name: str, test: Callable[[str], bool]) -> Callable[[Run], bool]:
    return lambda r: (r.tmp / name).is_file() and test((r.tmp / name).read_text())


def _xml(text: str) -> bool:
    return ET.fromstring(text).tag == "testsuites"


def _checkpoint_files(r: Run) -> bool:
    return any(p.is_file() for p in (r.tmp / "ck").iterdir())


def _saved_search(tmp: Path, base: list[str]) -> None:
    """A checkpoint of the same search to resume from."""
    assert mcheck.cli.main(["check", COUNTER, "--checkpoint", str(tmp / "saved"), "--checkpoint-every", "1e-9",
                            "-q"]) == 0
    assert any((tmp / "saved").iterdir())


OUTPUTS: dict[str, Effect] = {
    "--json": Effect([], lambda r: bool(r.data)),   # the base run writes {tmp}/r.json; validated in run_case
    "--quiet": Effect(["-q"], lambda r: len(r.out.strip().splitlines()) == 1 and r.out.startswith("verdict: ")
                      or r.out.startswith("conform: ") and "clause        tests" not in r.out),
    "--junit": Effect(["--junit", "{tmp}/j.xml"], _file("j.xml", _xml)),
    "--sarif": Effect(["--sarif", "{tmp}/s.sarif"], _file("s.sarif", lambda t: json.loads(t)["version"] == "2.1.0")),
    "--report": Effect(["--report", "{tmp}/html"], _file("html/index.html", lambda t: "mcheck-result" in t)),
}

CHECK: dict[str, Effect] = {
    "--param": Effect(["-p", "bug=dma-after-stop"], lambda r: r.data["params"]["bug"] == "dma-after-stop"),
    "--engine": Effect([], lambda r: r.data["engine"] in MODES["check"]),
    "--depth": Effect(["--depth", "5"], lambda r: any("depth 5" in b for b in r.data["bounds_hit"])
                      or r.data["depth"] == 5),
    "--k": Effect(["--k", "1"], lambda r: "tried up to 1)" in r.notes()),
    "--max-states": Effect(["--max-states", "5"], lambda r: any("max-states" in b for b in r.data["bounds_hit"])),
    "--max-depth": Effect(["--max-depth", "2"], lambda r: any("max-depth" in b for b in r.data["bounds_hit"])),
    "--timeout": Effect(["--timeout", "0.000001"], lambda r: any("timeout" in b for b in r.data["bounds_hit"])),
    "--dot": Effect(["--dot", "{tmp}/g.dot"], _file("g.dot", lambda t: t.startswith("digraph"))),
    "--graphml": Effect(["--graphml", "{tmp}/g.graphml"], _file("g.graphml", lambda t: "graphml" in t)),
    "--graph": Effect(["--graph"], lambda r: r.data["coverage"]["graph"]["nodes"] > 0),
    "--graph-cap": Effect(["--graph", "--graph-cap", "1"], lambda r: "exceed --graph-cap 1" in r.notes()),
    "--symmetry": Effect(["--symmetry"], lambda r: "symmetry" in r.data["coverage"]),
    "--workers": Effect(["--workers", "2"], lambda r: "over 2 workers" in r.notes()),
    "--checkpoint": Effect(["--checkpoint", "{tmp}/ck", "--checkpoint-every", "1e-9"], _checkpoint_files),
    "--checkpoint-every": Effect(["--checkpoint", "{tmp}/ck", "--checkpoint-every", "1e-9"], _checkpoint_files),
    "--resume": Effect(["--resume", "{tmp}/saved"], lambda r: "resumed the search saved in" in r.notes(),
                       setup=_saved_search),
    "--dump-code": Effect(["--dump-code", "{tmp}/code"], lambda r: any((r.tmp / "code").glob("explore-*.py"))),
    **OUTPUTS,
}

REPLAY: dict[str, Effect] = {
    "--model": Effect(["--model", "virtio-1.4"], lambda r: r.code == 2 and "for model virtio-1.4" in r.err),
    "--param": Effect(["-p", "flow=free"], lambda r: r.data["params"]["flow"] == "free"),
    "--profile": differs(["--profile", "virtio-1.4"]),
    "--reader": Effect(["--reader", "pyshark"], lambda r: "read with the pyshark reader" in r.notes()),
    "--keep-going": Effect(["--keep-going"], lambda r: len(r.data["violations"]) == 2),
    "--hidden": Effect(["--hidden", "none"], lambda r: r.data["hidden_kinds"] == []),
    "--max-candidates": Effect(["--max-candidates", "1"], lambda r: "max-candidates" in r.data["bounds_hit"]),
    "--backend": Effect([], lambda r: bool(r.data)),   # the mode it selects: the result's kind is checked
    "--device-timeout": differs(["--device-timeout", "0.000001"]),
    "--dump-code": Effect(["--dump-code", "{tmp}/code"], lambda r: any((r.tmp / "code").glob("replay-*.py"))),
    **OUTPUTS,
}

# with --backend the trace is a virtio-1.4 one (the model backend answers virtio-1.4 only)
DEVICE_REPLAY: dict[str, Effect] = {
    **REPLAY,
    "--model": differs(["--model", "draft-v1"]),
    "--param": Effect(["-p", "bug=stop-not-idempotent"], lambda r: r.data["params"]["bug"] == "stop-not-idempotent"),
    "--profile": differs(["--profile", "draft-v1"]),
}

CONFORM: dict[str, Effect] = {
    "--backend": Effect([], lambda r: bool(r.data)),
    "--timeout": differs(["--timeout", "0.000001"]),
    "--only": Effect([], lambda r: [p["name"] for p in r.data["properties"]] == ["sets-g0-caps", "sets-g0-none"]),
    "--fail-fast": Effect(["--fail-fast"], lambda r: r.data["tests"] == 1),
    "--model": Effect(["--model", str(ROOT / "models" / "virtio_1_4.py")],
                      lambda r: r.data["model"].endswith("virtio_1_4.py")),
    "--readings": Effect(["--readings"], lambda r: "readings" in r.data["coverage"]),
    **OUTPUTS,
}

EFFECTS = {"check": CHECK, "replay": REPLAY, "conform": CONFORM}


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    """The inputs: a faulty draft-v1 trace with two divergences (as pcapng, so both readers
    read it), a conformance suite of targeted tests, an emulator."""
    from mcheck.conformance.gen import generate, write_suite
    from mcheck.device.spawn import start_emulator, stop_emulator
    from mcheck.trace.io import read_trace, write_trace
    base = tmp_path_factory.mktemp("matrix")
    for name, path in (("draft", DRAFT_TRACE), ("device", DEVICE_TRACE)):
        trace = read_trace(path)
        write_trace(base / f"{name}.pcapng", trace.header, list(trace.events))
    lines = (ROOT / "traces" / "draft" / "d04-unknown-mode-accepted.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header.pop("expect", None)
    bad, get = json.loads(lines[1]), json.loads(lines[2])
    two = [header, {**bad, "i": 0, "t": 0}, {**get, "i": 1, "t": 1000}, {**bad, "i": 2, "t": 2000}]
    (base / "two.jsonl").write_text("".join(json.dumps(x) + "\n" for x in two))
    write_suite(generate("virtio-1.4", {"members": 1}, classes_only=True), base / "suite")
    emulator = start_emulator(base / "dev.sock")
    yield {"trace": str(base / "draft.pcapng"), "device": str(base / "device.pcapng"), "two": str(base / "two.jsonl"),
           "suite": str(base / "suite"),
           "emulator": f"emulator:unix:{base / 'dev.sock'}"}
    stop_emulator(emulator)


def base_argv(command: str, mode: str, option: str, places: dict[str, str]) -> list[str]:
    if command == "check":
        return ["check", COUNTER, "--engine", mode]
    backend = {"backend-model": ["--backend", "model"], "backend-emulator": ["--backend", places["emulator"]]}
    if command == "replay":
        trace = places["two"] if option == "--keep-going" else places["trace"]
        return ["replay", places["device"] if mode != "model" else trace, *backend.get(mode, [])]
    return ["conform", places["suite"], *backend[mode], "--only", "sets-g0-caps", "--only", "sets-g0-none"]


def run_case(capsys, monkeypatch, tmp: Path, argv: list[str]) -> Run:
    monkeypatch.chdir(tmp)
    code = mcheck.cli.main(argv)
    out, err = capsys.readouterr()
    run = Run(code, out, err, tmp)
    if (tmp / "r.json").is_file():
        run.data = json.loads((tmp / "r.json").read_text())
    return run


CASES = [(c, m, o) for c in EFFECTS for m in MODES[c] for o in parser_options(c)]


@pytest.mark.parametrize("command", list(EFFECTS))
def test_every_option_has_a_rule(command: str) -> None:
    assert sorted(parser_options(command)) == sorted(OPTIONS[command]), \
        f"every option of mcheck {command} needs one line in mcheck.options.OPTIONS"


@pytest.mark.parametrize("command", list(EFFECTS))
def test_every_applicable_option_has_an_observation(command: str) -> None:
    assert sorted(parser_options(command)) == sorted(EFFECTS[command])


def _failing_device(monkeypatch) -> None:
    """Every conformance test fails, as on a broken device: what --fail-fast stops at."""
    from mcheck.conformance import conform
    from mcheck.conformance.judging import Failure, Outcome

    def run_test(backend, judge, events, name, device):
        o = Outcome(name=name, passed=False, steps=1)
        o.failures.append(Failure(0, "the device answered wrongly", []))
        return o
    monkeypatch.setattr(conform, "run_test", run_test)


@pytest.mark.parametrize("command, mode, option", CASES, ids=[f"{c}-{m}-{o}" for c, m, o in CASES])
def test_option_takes_effect_or_is_refused(command, mode, option, places, tmp_path, capsys, monkeypatch) -> None:
    rule = OPTIONS[command][option]
    effect = (DEVICE_REPLAY if command == "replay" and mode != "model" else EFFECTS[command])[option]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in effect.argv]
    base = base_argv(command, mode, option, places) + ["--json", str(tmp_path / "r.json")]
    if option == "--reader":
        from tests.conftest import require_tool
        require_tool("tshark")
    if (command, option) == ("conform", "--fail-fast"):
        _failing_device(monkeypatch)
    alone, skip = [], False
    for a in argv:   # the option without the options it needs (and their values)
        if skip and not a.startswith("-"):
            skip = False
            continue
        skip = a in rule.needs
        if not skip:
            alone.append(a)
    if not (rule.modes is None or mode in rule.modes):
        r = run_case(capsys, monkeypatch, tmp_path, base + alone)
        assert r.code == 2 and r.out == "", (r.out, r.err)
        assert r.err.count("\n") == 1 and r.err.startswith(f"mcheck: error: {option} does not apply to "), r.err
        assert not (tmp_path / "r.json").exists()
        return
    if rule.needs:   # without what it needs, refused; with it, it takes effect
        sub = tmp_path / "alone"
        sub.mkdir()
        r = run_case(capsys, monkeypatch, sub, base + [a.replace(str(tmp_path), str(sub)) for a in alone])
        assert r.code == 2 and r.err.startswith(f"mcheck: error: {option} takes effect only with"), r.err
    if effect.setup is not None:
        effect.setup(tmp_path, base)
        capsys.readouterr()
    r = run_case(capsys, monkeypatch, tmp_path, base + argv)
    if effect.compare:
        plain = tmp_path / "plain"
        plain.mkdir()
        r.differs = run_case(capsys, monkeypatch, plain, base_argv(command, mode, option, places)
                             + ["--json", str(plain / "r.json")]).outcome() != r.outcome()
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    if r.data:
        validate_result(r.data, {"check": "check", "replay": "replay" if mode == "model" else "device-replay",
                                 "conform": "conform"}[command])
    if option == SELECTS_MODE[command] and command == "check":
        assert r.data["engine"] == mode
    assert effect.seen(r), f"{' '.join(base + argv)}: no effect seen (exit {r.code})\n{r.out[-2000:]}\n{r.err}"


def test_refusal_happens_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    """An option refused for its mode costs nothing: no model is loaded, no file written."""
    monkeypatch.chdir(tmp_path)
    code = mcheck.cli.main(["check", "no-such-model.py", "--engine", "bmc", "--dot", "g.dot", "--json", "r.json"])
    err = capsys.readouterr().err
    assert code == 2 and "--dot does not apply to check --engine bmc" in err
    assert os.listdir(tmp_path) == []
