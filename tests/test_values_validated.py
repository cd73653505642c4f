"""Issue 15 item 4 (host side): values are validated before any work, with one line and
exit 2; a model file cannot end mcheck; a space too big for the explicit engine is named
before the search starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRACE = str(ROOT / "traces/spec/c13-set-running-einval.jsonl")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:   # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_max_candidates_must_be_positive(capsys, value: str) -> None:
    code, out, err = _run(capsys, "replay", TRACE, "--max-candidates", value, "-q")
    assert code == 2 and "--max-candidates" in err and "BOUNDED" not in out and err.count("\n") == 1


def test_hidden_kind_must_be_an_event_kind(capsys) -> None:
    code, out, err = _run(capsys, "replay", TRACE, "--hidden", "bogus", "-q")
    assert code == 2 and err.startswith("mcheck: error: --hidden bogus: not an event kind") and not out
    code, _, err = _run(capsys, "replay", TRACE, "--hidden", "none", "--hidden", "doorbell", "-q")
    assert code == 2 and "cannot be combined" in err
    code, out, _ = _run(capsys, "replay", TRACE, "--hidden", "doorbell", "-q")
    assert code == 0 and "HOLDS" in out


@pytest.mark.parametrize("where", ["import", "setup"])
def test_model_file_calling_sys_exit(capsys, tmp_path: Path, where: str) -> None:
    path = tmp_path / "exits.py"
    if where == "import":
        path.write_text("import sys\nsys.exit(5)\n")
    else:
        path.write_text("import sys\nfrom mcheck.model.definition import Model\n\n\nclass M(Model):\n"
                        "    name = 'm'\n\n    def setup(self):\n        sys.exit(5)\n")
    for argv in (["check", str(path), "-q"], ["replay", TRACE, "--model", str(path), "-q"]):
        code, out, err = _run(capsys, *argv)
        assert code == 2 and not out, (code, out, err)
        assert err.count("\n") == 1 and f"{path}:" in err and "sys.exit(5)" in err and "internal error" not in err


def test_space_too_big_is_named_before_the_search(capsys) -> None:
    code, out, err = _run(capsys, "check", "virtio-1.4", "-p", "members=64", "--max-states", "1", "-q")
    assert code == 3 and "warning" not in err     # bounded: nothing to warn about
    from argparse import Namespace

    from mcheck.engines.cli import size_warning
    from mcheck.model.registry import load_model

    args = Namespace(max_states=None, max_depth=None, timeout=None, symmetry=False, params=["members=64"])
    text = size_warning(load_model("virtio-1.4", {"members": 64}), args)
    assert text is not None and "members=64" in text and "10^149 states" in text
    assert "--symmetry" in text and "--engine prove" in text and "--max-states" in text
    small = Namespace(max_states=None, max_depth=None, timeout=None, symmetry=False, params=["members=2"])
    assert size_warning(load_model("virtio-1.4", {"members": 2}), small) is None
    assert size_warning(load_model("draft-v1", {"members": 2}), small) is None


def test_check_help_says_model_files_are_code(capsys) -> None:
    """Issue 15 item 13."""
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "A model file is Python code" in out and "with your permissions" in out
    guide = (ROOT / "docs/model-guide.md").read_text()
    assert "## Model files are code" in guide and "does not sandbox it" in guide


@pytest.mark.parametrize("argv", [
    ["check", "tests/models/counter.py", "--timeout", "nan"],
    ["check", "tests/models/counter.py", "--timeout", "inf"],
    ["check", "tests/models/counter.py", "--checkpoint-every", "-1"],
    ["check", "tests/models/counter.py", "--max-states", "0"],
    ["check", "tests/models/counter.py", "--workers", "100000000000000000000"],
    ["gen-tests", "virtio-1.4", "--run-length", "0", "--out", "OUT"],
    ["gen-tests", "virtio-1.4", "--run-length", "-1", "--out", "OUT"],
    ["migrate-demo", "--buffers", "100000000", "--out", "OUT"],
    ["migrate-demo", "--buffers", "-1", "--out", "OUT"],
], ids=lambda a: " ".join(a[2:4]))
def test_numbers_out_of_range_are_refused_before_any_work(capsys, tmp_path: Path, argv: list[str]) -> None:
    argv = [str(ROOT / a) if a.endswith(".py") else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and argv[2] in err, err
    assert out == "" and not (tmp_path / "out").exists()
