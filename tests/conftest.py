"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_MODELS = ROOT / "tests" / "models"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def require_tool(name: str) -> str:
    """The path of an external tool; under CI=true a missing tool fails the test, elsewhere it skips."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed but CI=true: .ci/run must install it")
    pytest.skip(f"{name} is not installed")


@pytest.fixture
def counter_model_path() -> str:
    return str(TEST_MODELS / "counter.py")


# Tests still pinned to the pre-oracle virtio-1.4 model (its old state counts, answers and
# emulator), listed one node id per line in tests/oracle_pending.txt. They are marked
# `oracle_pending` and left out of the default run until they are ported (issue 11); the
# list is printed at the end of every run, so the gap is never silent.
_PENDING_FILE = Path(__file__).with_name("oracle_pending.txt")
_PENDING = {line.split("#")[0].strip() for line in _PENDING_FILE.read_text().splitlines()} - {""} \
    if _PENDING_FILE.exists() else set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        nodeid = item.nodeid
        if (nodeid in _PENDING or nodeid.split("[")[0] in _PENDING or nodeid.split("::")[0] in _PENDING
                or any(p.endswith("/") and nodeid.startswith(p) for p in _PENDING)):
            item.add_marker(pytest.mark.oracle_pending)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _PENDING:
        terminalreporter.write_line(f"oracle_pending: {len(_PENDING)} test id(s) left out of the default run "
                                    f"until ported to the spec-exact model (tests/oracle_pending.txt)")
