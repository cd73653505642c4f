"""Issue 15 item 3: file-system errors are one-line answers naming the option and the path,
and every output path is checked before the work starts (nothing computed is lost)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
TRACE = str(ROOT / "traces/spec/c13-set-running-einval.jsonl")
MODEL = str(ROOT / "tests/models/counter.py")
LONG = "a" * 300


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code: int, out: str, err: str, *says: str) -> None:
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("mcheck: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    assert "verdict" not in out.lower(), "the work ran before the path was refused"
    for s in says:
        assert s in err, err


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch) -> Path:
    """A directory nothing can be written to (as root too: the checks see EROFS)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o500)
    else:
        from mcheck import paths

        real_access, real_open = os.access, open

        def access(path, mode, *a, **k):
            return False if str(path).startswith(str(ro)) and mode & os.W_OK else real_access(path, mode, *a, **k)

        def fake_open(path, *a, **k):
            if str(path).startswith(str(ro)):
                raise OSError(30, "Read-only file system", str(path))
            return real_open(path, *a, **k)

        monkeypatch.setattr(paths.os, "access", access)
        monkeypatch.setattr(paths, "open", fake_open, raising=False)
    yield ro
    ro.chmod(0o700)


def test_inputs_that_are_not_readable_files(capsys, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)   # reading it would wait forever
    for path, says in [(tmp_path, "not a regular file"), (fifo, "not a regular file"),
                       (tmp_path / f"{LONG}.jsonl", "file name too long"), (tmp_path / "none.jsonl", "no such trace file")]:
        for argv in (["show", str(path)], ["replay", str(path)], ["convert", str(path), str(tmp_path / "o.pcapng")]):
            _refused(*_run(capsys, *argv), str(path), says)


def test_unreadable_input(capsys, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "secret.jsonl"
    path.write_text(Path(TRACE).read_text())
    if os.geteuid() != 0:
        path.chmod(0)
    else:
        from mcheck import paths
        real_open = open
        monkeypatch.setattr(paths, "open", lambda p, *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied", str(p)))
                            if str(p) == str(path) else real_open(p, *a, **k), raising=False)
    _refused(*_run(capsys, "show", str(path)), f"{path}: cannot read: Permission denied")


def test_convert_output_in_a_missing_or_read_only_directory(capsys, tmp_path: Path, read_only: Path) -> None:
    _refused(*_run(capsys, "convert", TRACE, str(tmp_path / "missing" / "o.pcapng")), "output", "does not exist")
    _refused(*_run(capsys, "convert", TRACE, str(read_only / "o.pcapng")), "output", "not writable")
    _refused(*_run(capsys, "convert", TRACE, str(tmp_path / f"{LONG}.pcapng")), "file name too long")
    assert not list(tmp_path.glob("*.pcapng")), "no temporary file left behind"


@pytest.mark.parametrize("option", ["--json", "--junit", "--sarif"])
def test_report_files_checked_before_the_replay(capsys, tmp_path: Path, read_only: Path, option: str) -> None:
    _refused(*_run(capsys, "replay", TRACE, option, str(tmp_path / "missing" / "r")), option, "does not exist")
    _refused(*_run(capsys, "replay", TRACE, option, str(read_only / "r")), option, "not writable")
    _refused(*_run(capsys, "replay", TRACE, option, str(tmp_path / LONG)), option, "file name too long")
    _refused(*_run(capsys, "replay", TRACE, option, str(tmp_path)), option, "is a directory")
    _refused(*_run(capsys, "replay", TRACE, option, ""), f"{option} ''", "empty path")


def test_dash_is_standard_output_only_for_json(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for option in ("--junit", "--sarif"):
        _refused(*_run(capsys, "replay", TRACE, option, "-"), f"{option} -", "not to standard output")
        _refused(*_run(capsys, "check", MODEL, option, "-"), f"{option} -")
    assert not (tmp_path / "-").exists()
    code, out, _ = _run(capsys, "replay", TRACE, "--json", "-")
    assert code == 0 and '"verdict": "holds"' in out and not (tmp_path / "-").exists()


def test_checkpoint_directory_refused_before_the_search(capsys, tmp_path: Path, read_only: Path) -> None:
    for directory, says in [(tmp_path / "missing" / "ck", "does not exist"), (read_only / "ck", "cannot write there"),
                            (tmp_path / LONG, "file name too long")]:
        start = time.monotonic()
        _refused(*_run(capsys, "check", MODEL, "--checkpoint", str(directory), "-q"), "--checkpoint", says)
        assert time.monotonic() - start < 5
    afile = tmp_path / "afile"
    afile.write_text("")
    _refused(*_run(capsys, "check", MODEL, "--checkpoint", str(afile), "-q"), "not a directory")


def test_check_outputs_checked_before_the_search(capsys, tmp_path: Path) -> None:
    for option in ("--json", "--junit", "--sarif", "--dot", "--graphml"):
        _refused(*_run(capsys, "check", MODEL, option, str(tmp_path / "missing" / "x"), "-q"), option, "does not exist")
    _refused(*_run(capsys, "check", MODEL, "--report", str(tmp_path / "missing" / "x"), "-q"), "--report", "does not exist")


def test_report_command_paths(capsys, tmp_path: Path) -> None:
    _refused(*_run(capsys, "report", str(tmp_path), "--junit", str(tmp_path / "j.xml")), "Is a directory")
    _refused(*_run(capsys, "report", str(tmp_path / "r.json"), "--junit", "-"), "--junit -")
    _refused(*_run(capsys, "report", str(tmp_path / "r.json"), "--html", str(tmp_path / "no" / "h")), "--html", "does not exist")


def test_export_and_clauses_empty_paths(capsys) -> None:
    _refused(*_run(capsys, "export", MODEL, "--promela", ""), "--promela ''", "empty path")
    _refused(*_run(capsys, "clauses", MODEL, "--json", ""), "--json ''", "empty path")
