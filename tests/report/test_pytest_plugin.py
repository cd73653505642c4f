"""The pytest plugin, run in a child pytest on generated test files."""

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_pytest(tmp_path: Path, files: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    # until the entry point is installed, load the plugin by hand (loading it twice is an error)
    installed = any(ep.value == "mcheck.pytest_plugin" for ep in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "mcheck.pytest_plugin"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin, "-rA", *args, str(tmp_path)],
                          check=False, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_check_fixture(tmp_path, counter_path):
    done = run_pytest(tmp_path, {"test_m.py": f"""
        def test_holds(mcheck):
            mcheck.check({counter_path!r}, members=2).assert_holds()

        def test_violated(mcheck):
            mcheck.check({counter_path!r}, members=2, bug="dma-after-stop").assert_holds()

        def test_bug_is_found(mcheck):
            mcheck.check({counter_path!r}, bug="dma-after-stop").assert_violated("no_dma_while_stopped")

        def test_bounded_strict(mcheck):
            mcheck.check({counter_path!r}, max_depth=2).assert_holds()

        def test_bounded_lenient(mcheck):
            mcheck.check({counter_path!r}, max_depth=2).assert_holds(allow_bounded=True)
        """})
    out = done.stdout
    assert "2 failed, 3 passed" in out
    for name in ("test_holds", "test_bug_is_found", "test_bounded_lenient"):
        assert f"PASSED test_m.py::{name}" in out
    # the failure reads as the counterexample, with no traceback into the plugin
    assert "counter is violated, expected it to hold" in out
    assert "VIOLATION no_dma_while_stopped [D-DP-9, D-DP-16]" in out
    assert "1. mode_set(m=1, flags=1)" in out and "mode[1]: running -> stopped" in out
    assert "pytest_plugin.py" not in out
    # a bounded run is not a pass
    assert "FAILED test_m.py::test_bounded_strict" in out and "counter is bounded" in out


def test_one_test_per_property(tmp_path):
    done = run_pytest(tmp_path, {"counter.py": Path(REPO, "tests/models/counter.py").read_text(),
                                 "test_props.py": """
        import pytest

        @pytest.mark.mcheck_model("counter.py", bug="dma-after-stop")
        def test_property(mcheck_property):
            mcheck_property.assert_holds()
        """})
    out = done.stdout
    assert "1 failed, 2 passed" in out
    assert "FAILED test_props.py::test_property[no_dma_while_stopped [D-DP-9, D-DP-16]]" in out
    assert "PASSED test_props.py::test_property[deadlock_free]" in out
    assert "dma_write(m=1)" in out


FAKE_REPLAY = """
    import sys, types
    from mcheck.verdict import PropertyVerdict, ReplayResult, Violation, Witness

    def replay_file(path):
        bad = "faulty" in path
        v = Violation(property="trace_conforms", kind="divergence", clauses=["D-DP-9"],
                      message="event 3 dma_write(member=1): no candidate state allows it",
                      witness=Witness(initial={}, steps=[]))
        return ReplayResult(model="virtio-1.4", params={}, engine="replay",
                            verdict="violated" if bad else "holds", events=4, max_candidates=1, model_steps=0,
                            seconds=0.0,
                            properties=[PropertyVerdict(name="trace_conforms", kind="divergence", clauses=["D-DP-9"],
                                                        verdict="violated" if bad else "holds")],
                            violations=[v] if bad else [])

    module = types.ModuleType("mcheck.replay")
    module.replay_file = replay_file
    sys.modules["mcheck.replay"] = module
    """


def test_trace_files_are_replayed_only_when_asked(tmp_path):
    files = {"conftest.py": FAKE_REPLAY, "good.jsonl": "{}\n", "faulty.jsonl": "{}\n", "test_x.py": "def test_x(): pass\n"}
    plain = run_pytest(tmp_path, files)
    assert "1 passed" in plain.stdout and "jsonl" not in plain.stdout
    asked = run_pytest(tmp_path, files, "--mcheck-replay")
    assert "1 failed, 2 passed" in asked.stdout
    assert "FAILED faulty.jsonl::faulty.jsonl" in asked.stdout
    assert "trace faulty.jsonl diverges" in asked.stdout and "event 3 dma_write(member=1)" in asked.stdout


def test_without_a_replayer_trace_items_fail_clearly(tmp_path):
    files = {"conftest.py": "import sys\nsys.modules['mcheck.replay'] = None\n", "t.pcapng": ""}
    done = run_pytest(tmp_path, files, "-o", "mcheck_replay=true")
    assert done.returncode == 1
    assert "trace replay is unavailable" in done.stdout


def test_real_traces_replay_as_tests(tmp_path):
    """With the real replayer: a Linux-flow capture passes, a faulty one fails with its divergence.
    The faulty one is a short hand-written capture of traces/spec (one queue): explaining a
    divergence rebuilds the model once per catalogue bug, twice as fast as for the two-queue
    captures of traces/faulty."""
    import shutil
    shutil.copy(REPO / "traces" / "linux" / "r1-precopy-source.pcapng", tmp_path / "good.pcapng")
    shutil.copy(REPO / "traces" / "spec" / "d15-mode-set-answered-during-flr.jsonl", tmp_path / "faulty.jsonl")
    done = run_pytest(tmp_path, {}, "--mcheck-replay")
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-2000:]
    assert "FAILED faulty.jsonl::faulty.jsonl" in done.stdout
    assert "DIVERGENCE at event 4 [" in done.stdout and "D-DP-17" in done.stdout
