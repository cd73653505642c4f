"""Shared fixtures for the replay tests: the reference traces and their manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "traces"
MANIFEST = json.loads((TRACES / "manifest.json").read_text())
REFERENCE = sorted(MANIFEST["reference"])
FAULTY = sorted(MANIFEST["faulty"])

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def need_pyshark() -> None:
    """tshark and pyshark are needed; under CI=true their absence fails the test."""
    from tests.conftest import require_tool, unavailable

    require_tool("tshark")
    try:
        import pyshark  # noqa: F401
    except ImportError:
        unavailable("pyshark is not installed")


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


class Hand:
    """A small capture written by hand: each admin command with the answer the test says
    (not an emulator's), for replayer behaviour the spec corpus does not exercise."""

    SR, SELF, V = "SRIOV", "SELF", 1

    def __init__(self) -> None:
        from mcheck.trace.codec import Codec
        from mcheck.trace.events import TraceHeader
        from mcheck.trace.profile import load_profile

        self.codec = Codec(load_profile("virtio-1.4"))
        self.header = TraceHeader(profile="virtio-1.4", members=(1,), queues=1)
        self.events: list = []

    def _common(self) -> dict:
        n = len(self.events)
        return {"index": n, "timestamp": 1_000 * n}

    def admin(self, name: str, fields: dict, *, group: str = "SRIOV", member: int = 1, status: str = "OK",
              qualifier: str = "OK", complete: bool = True) -> int:
        from mcheck.trace.events import AdminCommand

        readable = self.codec.encode_command(name, group, member, fields)
        writable = self.codec.encode_result(name, status, qualifier, {}) if complete else None
        self.events.append(AdminCommand(**self._common(), readable=readable, writable=writable, codec=self.codec))
        return self.events[-1].index

    def submit(self, tag: int, name: str, fields: dict, member: int = 1) -> int:
        from mcheck.trace.events import AdminSubmit

        readable = self.codec.encode_command(name, "SRIOV", member, fields)
        self.events.append(AdminSubmit(**self._common(), aq=0, tag=tag, readable=readable, codec=self.codec))
        return self.events[-1].index

    def complete(self, tag: int, name: str, status: str = "OK", qualifier: str = "OK") -> int:
        from mcheck.trace.events import AdminComplete

        writable = self.codec.encode_result(name, status, qualifier, {})
        self.events.append(AdminComplete(**self._common(), aq=0, tag=tag, writable=writable))
        return self.events[-1].index

    def side(self, cls, **kw) -> int:
        self.events.append(cls(**self._common(), **kw))
        return self.events[-1].index

    def bring_up(self) -> Hand:
        """Owner reset; the SR-IOV bundle and Self's capabilities enabled; limits 1/1; a GET
        object 0 for member 1 (every answer as the spec requires)."""
        from mcheck.trace.codec import opcode_words
        from mcheck.trace.events import OwnerReset

        self.side(OwnerReset)
        self.admin("LIST_USE", {"opcodes": opcode_words({0, 1, *range(0xA, 0x12)})}, member=0)
        self.admin("LIST_USE", {"opcodes": opcode_words({0, 1, 7, 8, 9})}, group="SELF", member=0)
        self.admin("DRIVER_CAP_SET", {"id": 0, "get_parts_limit": 1, "set_parts_limit": 1}, group="SELF", member=0)
        self.admin("RESOURCE_OBJ_CREATE", {"obj_id": 0, "parts_type": 0})
        return self

    def write(self, path: Path) -> Path:
        from mcheck.trace.io import write_trace

        write_trace(path, self.header, self.events)
        return path
