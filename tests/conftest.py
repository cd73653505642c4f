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

