"""A conformance suite is data: it never makes mcheck run Python, and its test files stay inside
it (issue 15, item 12)."""

from __future__ import annotations

import json
import shutil

import pytest

from mcheck.cli import main
from mcheck.conformance.conform import load_suite
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


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(profile={"a": 1}), "field profile must be a profile name"),
    (lambda d: d.update(params=[["members", 1]]), "field params must be an object"),
    (lambda d: d["device"].update(members=[1]), "field device.members must be a string, a boolean or an integer"),
    (lambda d: d["coverage"].update(clauses_not_covered=-1), "field coverage.clauses_not_covered must be a list"),
    (lambda d: d["coverage"].update(clauses_covered="all"), "field coverage.clauses_covered must be a count"),
    (lambda d: d["tests"][0].update(name=None), r"field tests\[0\].name must be a non-empty string"),
    (lambda d: d["tests"][1].update(name=d["tests"][0]["name"]), r"field tests\[1\].name must be unique"),
    (lambda d: d["tests"][0].update(clauses=[1]), r"field tests\[0\].clauses must be a list of clause ids"),
])
def test_a_damaged_suite_json_names_the_field(suite_copy, change, message):
    edit(suite_copy, change)
    with pytest.raises(InputError, match=message):
        load_suite(str(suite_copy))


@pytest.mark.parametrize("damage, message", [
    (lambda note: note[:-1], "step annotation is not JSON"),
    (lambda note: note.replace('"member":1', '"member":"1"'), "field member must be an integer 0..255"),
    (lambda note: note.replace('"expect":true', '"expect":1').replace('"expect":false', '"expect":0'),
     "field expect must be true or false"),
])
def test_a_damaged_test_annotation_names_the_file_and_event(suite_copy, capsys, damage, message):
    suite = json.loads((suite_copy / "suite.json").read_text())
    test = next(t for t in suite["tests"] if t["kind"] == "pm")
    path = suite_copy / test["file"]
    lines = path.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if '"step {' in line)
    line = json.loads(lines[i])
    line["text"] = "step " + damage(line["text"][5:])
    lines[i] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n")
    code = main(["conform", str(suite_copy), "--backend", "model", "--only", test["name"], "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{test['file']}: event " in err and message in err, err
