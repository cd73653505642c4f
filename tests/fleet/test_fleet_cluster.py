"""replay-batch against real Dask clusters: a local one it starts itself (no set-up), and
an existing one (--scheduler) with a generated fleet of 2,000 captures whose ground truth
the tally and the per-firmware grouping must match, while one worker is killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.fleet.gen import DEFAULT_FIRMWARE, Templates, default_templates, generate, parse_firmware

ROOT = Path(__file__).resolve().parents[2]


def wait_for_lines(path: Path, n: int, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


def test_local_cluster_without_setup(tmp_path, capsys):
    """No --scheduler: a local cluster of processes; a corrupt file is an error row, not lost."""
    bad = tmp_path / "in" / "broken.jsonl"
    bad.parent.mkdir()
    bad.write_text("not a trace\n")
    out = tmp_path / "out"
    code = main(["replay-batch", str(ROOT / "traces/linux/r0-pf-bringup.jsonl"), str(ROOT / "traces/linux/r0-pf-bringup.pcapng"),
                 str(bad.parent), "--workers", "2", "--out", str(out), "-q"])
    assert code == 1
    assert "3 captures: 2 conforming, 0 divergent, 1 error" in capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["conforming", "conforming", "error"]
    assert len({r["worker"] for r in rows}) >= 1 and all(r["worker"].startswith("tcp://") for r in rows[:2])
    assert (out / "index.html").exists() and (out / "junit.xml").exists() and (out / "fleet.sarif").exists()


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["replay-batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mcheck: error:") and "missing" in err[0]
    assert main(["replay-batch", str(ROOT / "traces/linux/r0-pf-bringup.jsonl"), "--scheduler", "nowhere",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--scheduler nowhere" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    templates = Templates.load(default_templates())
    firmware = [parse_firmware(s, set(templates.faulty)) for s in DEFAULT_FIRMWARE]
    truth = generate(out, 2000, firmware, corrupt=0.01, days=3, seed=17, templates=templates)
    return out, truth


def _grouped(summary: dict, key: str, name: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for g in summary[key]:
        for b in g["by_firmware"]:
            out[g[name]][f"{b['device_model']}@{b['firmware']}"] = b["captures"]
    return dict(out)


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the fixture's warm-up counts too: minutes on a busy machine
def test_fleet_of_2000_matches_ground_truth_with_a_worker_killed(cluster, fleet, tmp_path, capsys):
    address, client, pids = cluster
    fleet_dir, truth = fleet
    out = tmp_path / "out"
    codes: list[int] = []
    run = threading.Thread(target=lambda: codes.append(main(
        ["replay-batch", str(fleet_dir / "manifest.csv"), "--scheduler", address, "--out", str(out), "-q"])))
    run.start()
    wait_for_lines(out / "journal.jsonl", 300)
    victim, pid = sorted(pids.items())[0]
    os.kill(pid, signal.SIGKILL)           # a worker dies mid-run
    run.join(timeout=600)
    assert codes == [1]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2000 and len({r["path"] for r in rows}) == 2000      # nothing lost, nothing twice
    workers = {r["worker"] for r in rows}
    assert victim in workers and len(workers) == 2                           # both worked, one died
    assert not [r for r in rows if r["error_kind"] == "worker-died"]         # its task was given to the other

    summary = json.loads((out / "summary.json").read_text())
    expected = truth["expected"]
    total = {v: sum(c[v] for c in expected["by_firmware"].values()) for v in ("conforming", "divergent", "error")}
    assert summary["tally"] == total and sum(total.values()) == 2000
    got = {f"{r['device_model']}@{r['firmware']}": {v: r[v] for v in ("conforming", "divergent", "error")}
           for r in summary["by_firmware"]}
    assert got == expected["by_firmware"]
    assert _grouped(summary, "by_bug", "bug") == expected["by_bug"]        # every bug under its firmware, counted right
    assert _grouped(summary, "errors", "kind") == expected["errors"]
    assert all(g["representative"]["report"] for g in summary["by_bug"])
    assert (out / summary["by_bug"][0]["representative"]["report"]).exists()

    # --resume: everything judged already, nothing resubmitted
    capsys.readouterr()
    assert main(["replay-batch", str(fleet_dir / "manifest.csv"), "--scheduler", address, "--resume", str(out),
                 "-q", "--no-capture-reports"]) == 1
    assert "(2,000 judged before, --resume)" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["tally"] == total
