"""Checkpoint and resume: a really interrupted run, resumed, ends as an uninterrupted one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.explore import checkpoint as ckpt
from mcheck.explore.bfs import Checkpointing, explore
from mcheck.explore.check import check
from mcheck.model.registry import load_model

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcheck.cli", "check", "virtio-1.4", "-p", "members=2", "-q", *args]


def _summary(path: Path) -> tuple:
    data = json.loads(path.read_text())
    return (data["states"], data["transitions"], data["depth"], data["verdict"],
            [(p["name"], p["verdict"]) for p in data["properties"]])


M2 = {"members": 2}


@pytest.fixture(scope="module")
def saved_m2(tmp_path_factory) -> Path:
    """A checkpoint of the whole virtio-1.4 members=2 search (saved at every level boundary),
    written once: the refusal tests only read it, others resume from a copy."""
    store = tmp_path_factory.mktemp("ckpt-m2")
    explore(load_model("virtio-1.4", M2), checkpoint=Checkpointing(directory=str(store), every=0))
    return store


def test_sigint_saves_and_resume_finishes_like_an_uninterrupted_run(tmp_path, explored):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    store = tmp_path / "ckpt"
    run = subprocess.Popen(_cli("--checkpoint", str(store), "--checkpoint-every", "0.5",
                                "--json", str(tmp_path / "cut.json")),
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # interrupt mid-search: once the first periodic save shows the search is under way
    for _ in range(600):
        if (store / ckpt.FILE).exists() or run.poll() is not None:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert f"--resume {store}" in err and "saved" in err
    assert (store / ckpt.FILE).exists() and not (tmp_path / "cut.json").exists()

    resumed = subprocess.run(_cli("--resume", str(store), "--json", str(tmp_path / "resumed.json")),
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    # the uninterrupted run: the same check in this process (the CLI's JSON carries its Result)
    whole = explored("virtio-1.4", M2)
    assert _summary(tmp_path / "resumed.json") == (whole.states, whole.transitions, whole.depth, whole.verdict,
                                                   [(p.name, p.verdict) for p in whole.properties])
    assert (whole.states, whole.transitions) == (393216, 187437056)


# symmetry=True is a slow row: the same resume on the same code path, with canonical states
# (a checkpoint's symmetry flag is checked by test_resume_refuses_another_run)
@pytest.mark.parametrize("symmetry", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_resume_from_the_last_level_saved_matches(tmp_path, symmetry, explored):
    params = {**M2, "bug": "dma-after-stop"}
    model = load_model("virtio-1.4", params)
    whole = explored("virtio-1.4", params, symmetry=symmetry)
    # every=0: saved at every level boundary; the file holds the last level's start
    explore(model, symmetry=symmetry, checkpoint=Checkpointing(directory=str(tmp_path), every=0))
    resumed, _ = check(model, symmetry=symmetry, resume=str(tmp_path))
    assert (resumed.states, resumed.transitions, resumed.depth, resumed.verdict) == \
           (whole.states, whole.transitions, whole.depth, whole.verdict)
    assert [(v.property, [s.label for s in v.witness.steps]) for v in resumed.violations] == \
           [(v.property, [s.label for s in v.witness.steps]) for v in whole.violations]


@pytest.mark.parametrize("change,message", [
    ({"params": {"members": 3}}, "params members=2, this run has members=3"),
    ({"symmetry": True}, "symmetry False, this run has True"),
    ({"mcheck": "0.0.0"}, "mcheck 0.1.0, this run has 0.0.0"),
    ({"source_sha256": "0" * 64}, "source_sha256"),
])
def test_resume_refuses_another_run(saved_m2, change, message):
    model = load_model("virtio-1.4", M2)
    expected = {**ckpt.identity(model, False), **change}
    if "params" in change:
        expected["params"] = {**ckpt.identity(model, False)["params"], **change["params"]}
    with pytest.raises(InputError, match="--resume") as err:
        ckpt.load(str(saved_m2), expected)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_resume_without_a_checkpoint_is_one_line(tmp_path):
    with pytest.raises(InputError, match="no checkpoint there"):
        check(load_model("virtio-1.4", {"members": 1}), resume=str(tmp_path))


def test_bytes_per_state_is_reported(explored):
    result = explored("virtio-1.4", M2)
    assert 40 < result.coverage["memory"]["bytes_per_state"] < 300
    assert any("bytes/state" in n for n in result.notes)


def test_resume_continues_the_saved_search_rather_than_restarting(tmp_path, saved_m2, explored):
    model = load_model("virtio-1.4", M2)
    whole = explored("virtio-1.4", M2)
    shutil.copytree(saved_m2, tmp_path, dirs_exist_ok=True)
    snap = ckpt.load(str(tmp_path), ckpt.identity(model, False))
    assert snap.depth == whole.depth and 0 < len(snap.frontier) and len(snap.states) == whole.states
    snap.transitions += 1000   # a marker only a continued search carries into its result
    ckpt.save(str(tmp_path), snap)
    resumed, _ = check(model, resume=str(tmp_path))
    assert resumed.transitions == whole.transitions + 1000 and resumed.states == whole.states
