"""The emulator as a process: several clients, a capture that replays clean, replay to a device."""

from __future__ import annotations

import subprocess
import sys

from mcheck.device.backend import EmulatorBackend
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.conformance.replay_backend import backend_replay
from mcheck.device.virtio14 import SELF_SUPPORTED, SRIOV_SUPPORTED
from mcheck.trace.codec import opcode_words
from mcheck.model.registry import load_model
from mcheck.replay.engine import replay_events
from mcheck.trace.io import read_trace


def _bring_up(b: EmulatorBackend) -> None:
    c = b.codec
    # each group's commands are enabled by its own LIST_USE (D-GA-9): Self the capability
    # commands, SR-IOV the dev-parts bundle
    assert b.submit(c.encode_command("LIST_USE", "SELF", 0, {"opcodes": opcode_words(SELF_SUPPORTED)}))[:2] == b"\0\0"
    assert b.submit(c.encode_command("LIST_USE", "SRIOV", 0, {"opcodes": opcode_words(SRIOV_SUPPORTED)}))[:2] == b"\0\0"
    assert b.submit(c.encode_command("DRIVER_CAP_SET", "SELF", 0,
                                     {"id": 0, "get_parts_limit": 1, "set_parts_limit": 1}))[:2] == b"\0\0"
    assert b.submit(c.encode_command("RESOURCE_OBJ_CREATE", "SRIOV", 1, {"obj_id": 0, "parts_type": 0}))[:2] == b"\0\0"


def test_two_clients_share_one_device_and_the_capture_replays_clean(tmp_path):
    cap = tmp_path / "cap.pcapng"
    proc = start_emulator(tmp_path / "d.sock", members=2, capture=str(cap))
    try:
        hv = EmulatorBackend(f"unix:{tmp_path / 'd.sock'}")
        guest = EmulatorBackend(f"unix:{tmp_path / 'd.sock'}")
        c = hv.codec
        _bring_up(hv)
        assert guest.workload("init", 1) and guest.workload("post", 1) and guest.inject("doorbell", 1, 0)
        assert guest.workload("fetch", 1)
        stop = hv.submit(c.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1}))
        assert stop[:2] == b"\0\0"
        # the fetched buffer was written back (a real DMA write into guest memory) before the stop completed
        assert [e.KIND for e in hv.events()] == ["dma_write"]
        assert not guest.workload("complete", 1) and not guest.workload("notify", 1)   # stopped: quiet
        page = hv.mem_read(1, 2)
        assert page.startswith(b"m1 q0 seq00000000")
        # a command during an FLR is held and completes when the FLR ends
        assert hv.inject("flr_begin", 1)
        assert hv.submit(c.encode_command("DEV_PARTS_GET", "SRIOV", 1, {"obj_id": 0, "type": 1})) is None
        assert hv.inject("flr_end", 1)
        assert [e.KIND for e in hv.events()] == ["complete"]
        hv.close()
        guest.close()
    finally:
        stop_emulator(proc)
    trace = read_trace(cap, join=True)
    events = list(trace.events)
    assert [e.KIND for e in events].count("admin") == 6
    outcome = replay_events(load_model("virtio-1.4", {"members": 2}), iter(events))
    assert outcome.result.verdict == "holds", outcome.result.violations[:1]


def test_replay_to_device_reports_where_the_device_differs(tmp_path, suite14):
    suite_dir, _ = suite14
    good = start_emulator(tmp_path / "good.sock", members=1, capture=str(tmp_path / "cap.jsonl"))
    try:
        from mcheck.conformance.conform import run_suite
        run_suite(str(suite_dir), f"emulator:unix:{tmp_path / 'good.sock'}", only=["walk-001"])
    finally:
        stop_emulator(good)
    cap = str(tmp_path / "cap.jsonl")
    # every answer the correct device gave is one the model permits (the model as a device,
    # `--backend model`, is one permitted device among many: its byte answers need not match)
    trace = read_trace(cap, join=True)
    outcome = replay_events(load_model("virtio-1.4", {"members": 1, "sets": "exact"}), iter(trace.events))
    assert outcome.result.verdict == "holds", outcome.result.violations[:1]
    bad = start_emulator(tmp_path / "bad.sock", members=1, bugs=["set-while-running"])
    try:
        result = backend_replay(cap, f"emulator:unix:{tmp_path / 'bad.sock'}")
    finally:
        stop_emulator(bad)
    assert result.verdict == "violated"
    assert any(v.kind == "device-differs" and "DEV_PARTS_SET" in v.message for v in result.violations)


def test_emulate_rejects_an_unknown_bug_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mcheck.device", "emulate", "--listen", f"unix:{tmp_path}/x.sock",
                        "--bug", "no-such-bug"], check=False, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.startswith("mcheck: error: unknown bug 'no-such-bug' for profile virtio-1.4")
