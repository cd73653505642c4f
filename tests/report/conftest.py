"""Results the report tests render: a real violated check, a clean one, a bounded one, and a
hand-built replay divergence, plus headless Chromium for the browser tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.explore.graph import build_graph
from mcheck.model.registry import load_model
from mcheck.verdict import Change, PropertyVerdict, ReplayResult, Result, Step, Violation, Witness
from tests.conftest import unavailable

COUNTER = str(Path(__file__).resolve().parents[1] / "models" / "counter.py")


@pytest.fixture(scope="session")
def counter_path() -> str:
    return COUNTER


@pytest.fixture(scope="session")
def violated() -> tuple[Result, nx.MultiDiGraph]:
    result, exp = check(load_model(COUNTER, {"bug": "dma-after-stop"}), record_edges=True)
    return result, build_graph(exp)


@pytest.fixture(scope="session")
def holds() -> Result:
    return check(load_model(COUNTER, {}))[0]


@pytest.fixture(scope="session")
def bounded() -> Result:
    return check(load_model(COUNTER, {}), Bounds(max_depth=2))[0]


def make_divergence() -> Result:
    steps = [
        Step(number=1, action="mode_set", params={"m": 1, "flags": 1}, label="mode_set(m=1, flags=1)",
             event={"kind": "admin", "cmd": "DEV_MODE_SET", "member": 1, "flags": 1, "status": "OK", "index": 4},
             clauses=["D-DP-10"], changes=[Change(field="mode[1]", before="running", after="stopped")]),
        Step(number=2, action="dma_write", params={"m": 1}, label="dma_write(m=1)",
             event={"kind": "dma_write", "member": 1, "index": 7}, clauses=[], changes=[]),
    ]
    v = Violation(property="trace_conforms", kind="divergence", clauses=["D-DP-9"],
                  message="event 7 dma_write(member=1): no candidate state allows it",
                  witness=Witness(initial={"mode[1]": "running", "inflight[1]": 0}, steps=steps))
    v.event_index = 7
    v.candidates = [{"mode[1]": "stopped", "inflight[1]": 0}, {"mode[1]": "stopped", "inflight[1]": 1}]
    v.expected = ["post(m=1)", "mode_set(m=1, flags=0)"]
    return ReplayResult(model="counter", params={"members": 1}, engine="replay", verdict="violated", events=8,
                        max_candidates=3, model_steps=2, seconds=0.01,
                        properties=[PropertyVerdict(name="trace_conforms", kind="divergence", clauses=["D-DP-9"],
                                                    verdict="violated",
                                                    description="the trace is a behaviour of the model")],
                        violations=[v])


@pytest.fixture
def divergence() -> Result:
    return make_divergence()


@dataclass
class Chromium:
    """Debian's chromium, headless, with the flags this machine needs (no network, no profile)."""

    binary: str
    profile: Path

    def _run(self, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={self.profile}", "--enable-logging=stderr", "--v=0"]
        return subprocess.run([self.binary, *flags, *extra, url], check=False, capture_output=True, text=True, timeout=120)

    def load(self, page: Path) -> tuple[str, list[str]]:
        """The DOM after scripts ran, and every console message the page produced."""
        done = self._run(page.resolve().as_uri(), "--dump-dom")
        console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]
        return done.stdout, console

    def screenshot(self, page: Path, png: Path) -> None:
        self._run(page.resolve().as_uri(), f"--screenshot={png}", "--window-size=1280,1600", "--hide-scrollbars")


@pytest.fixture
def chromium(tmp_path: Path) -> Chromium:
    binary = next((b for b in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if b), None)
    if binary is None:
        unavailable("headless Chromium is not installed (apt-get install -y chromium)")
    return Chromium(binary, tmp_path / "profile")
