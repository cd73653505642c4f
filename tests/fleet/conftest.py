"""Fixtures of the fleet tests: headless Chromium (the report tests' own), and a Dask
cluster of a scheduler plus two worker processes started without a nanny, so a test can
kill one with os.kill and see the batch finish on the other."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcheck.fleet.judge import warm

_spec = importlib.util.spec_from_file_location("report_conftest", Path(__file__).parents[1] / "report" / "conftest.py")
_report = importlib.util.module_from_spec(_spec)
sys.modules["report_conftest"] = _report   # dataclasses look their module up
_spec.loader.exec_module(_report)
chromium = _report.chromium

ROOT = Path(__file__).resolve().parents[2]


WARM = [str(ROOT / "traces" / name) for name in ("faulty/dma-after-stop.jsonl", "linux/r0-pf-bringup.jsonl")]


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster
    local = LocalCluster(n_workers=0, processes=True, dashboard_address=None)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", local.scheduler_address,
                               "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{k}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in range(2)]
    client = Client(local.scheduler_address)
    try:
        client.wait_for_workers(2, timeout=60)
        pids = client.run(warm, WARM)   # the first divergence builds every catalogue bug's variant
        yield local.scheduler_address, client, {addr: pid for addr, pid in pids.items()}
    finally:
        client.close()
        for p in procs:   # our own worker processes; their state is of no further use
            if p.poll() is None:
                p.kill()
            p.wait(timeout=20)
        local.close()
