"""Shared test helpers."""

from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_MODELS = ROOT / "tests" / "models"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The test process keeps millions of long-lived objects (built models, their compiled step
# functions, the replayer's cached catalogue-bug variants), and CPython's default thresholds
# (700, 10, 10) then run a full collection every few hundred thousand allocations, each
# scanning all of them: measured, about a third of the replay tests' time went to the
# collector (tests/replay: 5:23 -> 3:20, peak memory 1.0 -> 1.2 GB). Collect less often.
gc.set_threshold(100_000, 50, 100)


def unavailable(reason: str) -> NoReturn:
    """The one place a test gives up for want of something outside the project (a tool, a
    Python package, a browser): under CI=true it fails, since .ci/run installs everything
    the tests need (scripts/install-test-deps); elsewhere it skips, saying what is missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, but CI=true: .ci/run (scripts/install-test-deps) must install it")
    pytest.skip(reason)


def require_tool(name: str, hint: str = "") -> str:
    """The path of an external tool, or `unavailable`."""
    path = shutil.which(name)
    if path:
        return path
    unavailable(f"{name} is not installed" + (f" ({hint})" if hint else ""))


@pytest.fixture
def counter_model_path() -> str:
    return str(TEST_MODELS / "counter.py")



@pytest.fixture(scope="session")
def explored():
    """`explored(spec, params, symmetry=False)`: the Result of check() on the built-in model,
    explored once per session. The virtio-1.4 members=2 space (393,216 states) is the
    reference run of several tests (pinned counts, checkpoint resume, symmetry, workers);
    each compares against the same uninterrupted one-worker run, so they share it."""
    from mcheck.explore.check import check
    from mcheck.model.registry import load_model

    done: dict[tuple, object] = {}

    def get(spec: str, params: dict, symmetry: bool = False):
        key = (spec, tuple(sorted(params.items())), symmetry)
        if key not in done:
            done[key] = check(load_model(spec, dict(params)), symmetry=symmetry)[0]
        return done[key]

    return get


@pytest.fixture(autouse=True)
def _every_junit_document_parses(monkeypatch):
    """Issue 15 item 15: every JUnit document a test makes (write_junit goes through
    junit_xml) is parsed as XML; one that is not well-formed fails the test that made it."""
    import xml.etree.ElementTree as ET

    from mcheck.report import junit

    made = junit.junit_xml

    def checked(result):
        text = made(result)
        try:
            ET.fromstring(text.encode("utf-8"))
        except (ET.ParseError, UnicodeEncodeError) as exc:
            pytest.fail(f"generated JUnit XML is not well-formed: {exc}")
        return text

    monkeypatch.setattr(junit, "junit_xml", checked)
