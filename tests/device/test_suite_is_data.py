"""A conformance suite is data: it never makes mcheck run Python, and its test files stay inside
it (issue 15, item 12)."""

from __future__ import annotations

import json
import shutil

import pytest

from mcheck.cli import main
from mcheck.device.conform import load_suite
from mcheck.errors import InputError


@pytest.fixture
def suite_copy(suite14, tmp_path):
    src, _ = suite14
    dst = tmp_path / "suite"
    shutil.copytree(src, dst)
    return dst


def edit(suite, change) -> None:
    path = suite / "suite.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_suite_naming_a_model_file_runs_no_code(suite_copy, tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    edit(suite_copy, lambda d: d.update(model=str(evil)))
    code = main(["conform", str(suite_copy), "--backend", "model"])
    err = capsys.readouterr().err
    assert code == 2 and "not a built-in model" in err and "--model FILE" in err
    assert not marker.exists()


@pytest.mark.parametrize("where", ["../outside.jsonl", "/etc/passwd", "sub/../../x.jsonl"])
def test_test_files_must_stay_inside_the_suite(suite_copy, where):
    edit(suite_copy, lambda d: d["tests"][0].update(file=where))
    with pytest.raises(InputError, match=r"tests\[0\]\.file .* inside the suite directory"):
        load_suite(str(suite_copy))


def test_the_user_may_name_the_model_file(suite_copy):
    edit(suite_copy, lambda d: d.update(model="somewhere/else.py"))
    data, _ = load_suite(str(suite_copy), model_file="virtio-1.4")
    assert data["model"] == "virtio-1.4"
