"""Shared fixtures for the replay tests: the reference traces and their manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "traces"
MANIFEST = json.loads((TRACES / "manifest.json").read_text())
REFERENCE = sorted(MANIFEST["reference"])
FAULTY = sorted(MANIFEST["faulty"])

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def need_pyshark() -> None:
    """tshark and pyshark are needed; under CI=true their absence fails the test."""
    from tests.conftest import require_tool

    require_tool("tshark")
    try:
        import pyshark  # noqa: F401
    except ImportError:
        import os

        if os.environ.get("CI") == "true":
            pytest.fail("pyshark is not installed but CI=true")
        pytest.skip("pyshark is not installed")


def flows():
    """traces/make_flows.py as a module (its Flow builder makes small traces for tests)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_flows", TRACES / "make_flows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(flow, path: Path) -> Path:
    from mcheck.trace.io import write_trace

    write_trace(path, flows().HEADER, flow.events)
    return path
