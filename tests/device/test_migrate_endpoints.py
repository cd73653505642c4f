"""`mcheck migrate-demo --source ADDR --destination ADDR` (issue 13, item 6): the pair
conformance suite run against two running device endpoints. The demo starts nothing and
records both captures itself from the socket exchange; those captures replay against the
models and are the emulator's own capture, event for event, for a correct device."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mcheck.bridge import example, kit
from mcheck.cli import main
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.conformance.migrate import PAIR_MODEL, SCENARIOS, clauses_named, run_endpoints
from mcheck.trace.io import read_trace

ROOT = Path(__file__).resolve().parents[2]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        rc = main(["migrate-demo", *args])
    except SystemExit as exc:          # argparse's own errors
        rc = exc.code
    got = capsys.readouterr()
    return rc, got.out, got.err


def _replay_pair(path: Path) -> str:
    from mcheck.model.registry import load_model
    from mcheck.replay.engine import replay_events
    pair = load_model(PAIR_MODEL, {"pairs": 1, "queues": 1, "buffers": 2})
    trace = read_trace(path, join=True)
    return replay_events(pair, trace.events, hidden_kinds=tuple(pair.model.unobserved)).result.verdict


def test_correct_endpoints_pass_the_pair_suite_and_the_recorded_captures_replay(emulator, tmp_path, capsys):
    src, dst = emulator("src"), emulator("dst")
    rc, out, err = _cli(capsys, "--source", src, "--destination", dst, "--scenario", "all",
                        "--out", str(tmp_path / "o"))
    assert rc == 0, out + err
    for scenario in SCENARIOS:
        assert f"scenario {scenario}: PASS" in out
        merged = tmp_path / "o" / scenario / "merged.jsonl"
        assert read_trace(merged).header.members == (1, 2)
        assert _replay_pair(merged) == "holds", scenario
    assert "FAIL" not in out and "note:" not in out          # the emulator offers `state` and `features`
    assert "recorded by migrate-demo from the socket exchange" in out
    assert out.rstrip().endswith("verdict: PASS")


def test_buggy_source_endpoint_fails_naming_the_clauses(emulator, tmp_path):
    src, dst = emulator("src", bugs=["get-wrong-queue-address"]), emulator("dst")
    ok, demo, replays = run_endpoints(src, dst, tmp_path)
    assert not ok
    line = next(p for p in demo.problems if "final DEV_PARTS_GET record misreports" in p)
    assert "VQ_CFG 0 queue_driver" in line and "D-DP-3" in line
    assert {"D-DP-2", "D-DP-3", "I-DP-5"} <= set(clauses_named([line]))
    assert set(replays) == {"source", "destination", "pair"}


def test_buggy_destination_endpoint_fails_its_scenario_in_the_suite(emulator, tmp_path, capsys):
    src, dst = emulator("src"), emulator("dst", bugs=["dst-stale-position"])
    rc, out, _ = _cli(capsys, "--source", src, "--destination", dst, "--scenario", "all", "--out", str(tmp_path / "o"))
    assert rc == 1
    assert "scenario normal: FAIL" in out and "scenario cancel-precopy: PASS" in out
    normal = out.split("scenario normal: FAIL", 1)[1].split("scenario cancel-precopy", 1)[0]
    assert "  FAIL: the guest's used index went back" in normal
    assert "  clauses: Q4, D-DP-10, D-DP-11" in normal
    assert "suite: 4 of 5 scenarios pass" in out and out.rstrip().endswith("verdict: FAIL")


def _signature(path: Path) -> list[tuple]:
    """Each event without its index and timestamp: the kind and every field."""
    out = []
    for e in read_trace(path).events:
        fields = {k: v for k, v in vars(e).items() if k not in ("index", "timestamp", "codec", "command", "result")}
        out.append((e.KIND, sorted(fields.items())))
    return out


@pytest.mark.parametrize("scenario", ["normal", "flr-stop-copy"])
def test_recorded_capture_is_the_emulators_own_capture(tmp_path, scenario):
    procs = [start_emulator(tmp_path / f"{n}.sock", capture=str(tmp_path / f"emu-{n}.jsonl")) for n in ("s", "d")]
    try:
        ok, demo, _ = run_endpoints(f"unix:{tmp_path / 's.sock'}", f"unix:{tmp_path / 'd.sock'}", tmp_path / "o",
                                    scenario=scenario)
    finally:
        for p in procs:
            stop_emulator(p)                 # writes the emulators' captures
    assert ok, demo.problems
    for name, n in (("source", "s"), ("destination", "d")):
        ours, theirs = tmp_path / "o" / f"{name}.jsonl", tmp_path / f"emu-{n}.jsonl"
        assert read_trace(ours).header == read_trace(theirs).header
        assert _signature(ours) == _signature(theirs), name
    kinds = {k for k, _ in _signature(tmp_path / "o" / "source.jsonl")}
    assert {"admin", "doorbell", "dma_write", "used_notify"} <= kinds
    if scenario == "flr-stop-copy":
        assert {"flr_begin", "flr_end"} <= kinds


def _start_example(sock: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"]
                                                    if os.environ.get("PYTHONPATH") else "")}
    proc = subprocess.Popen([sys.executable, "-m", "mcheck.bridge.example", "--listen", f"unix:{sock}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(sock))
            return proc
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    proc.kill()
    raise RuntimeError(f"the example bridge did not listen on {sock}")


def test_example_bridge_as_the_destination(emulator, tmp_path, capsys):
    """The bridge kit's example serves as an endpoint: it has every W op, mem_read/mem_write
    and `state`; it ignores the power_on option `features`, so feature-mismatch says that its
    refusal check was skipped."""
    src = emulator("src")
    proc = _start_example(tmp_path / "bridge.sock")
    try:
        rc, out, err = _cli(capsys, "--source", src, "--destination", f"unix:{tmp_path / 'bridge.sock'}",
                            "--scenario", "all", "--out", str(tmp_path / "o"))
    finally:
        stop_emulator(proc)
    assert rc == 0, out + err
    assert all(f"scenario {s}: PASS" in out for s in SCENARIOS)
    mismatch = out.split("scenario feature-mismatch: PASS", 1)[1]
    assert "note: check skipped: the destination's refusal of a record with features it does not offer (D-DP-7)" \
        in mismatch
    assert _replay_pair(tmp_path / "o" / "normal" / "merged.jsonl") == "holds"


class NoState(example.SimulatorDevice):
    """A device that keeps its internal state to itself (the kit's default `state`)."""

    def state(self) -> dict:
        return {}


def test_a_device_without_state_skips_those_checks_visibly(emulator, tmp_path):
    server = kit.BridgeServer(NoState(), f"unix:{tmp_path / 'nostate.sock'}")
    server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ok, demo, replays = run_endpoints(f"unix:{tmp_path / 'nostate.sock'}", emulator("dst"), tmp_path / "o")
    finally:
        server.close()
        thread.join(5)
    assert ok, demo.problems
    assert set(replays.values()) == {"holds"}
    assert any(n.startswith("check skipped: the source's final DEV_PARTS_GET record") and "no parts in its state" in n
               for n in demo.notes), demo.notes
    assert any(n.startswith("check skipped: the destination's accepted features") for n in demo.notes), demo.notes


@pytest.mark.parametrize("args,message", [
    (["--source", "unix:/nonexistent/a.sock"],
     "--source: --source and --destination go together (two running device endpoints)"),
    (["--destination", "unix:/nonexistent/b.sock"],
     "--destination: --source and --destination go together (two running device endpoints)"),
    (["--source", "unix:/x/a", "--destination", "unix:/x/b", "--bug", "get-drops-feature"],
     "--bug: migrate-demo starts no device with --source/--destination, so it cannot seed a bug"),
    (["--source", "unix:/x/a", "--destination", "unix:/x/b", "--dst-bug", "resume-no-notify"],
     "--dst-bug: migrate-demo starts no device with --source/--destination, so it cannot seed a bug"),
    (["--source", "unix:/x/a", "--destination", "unix:/x/b", "--profile", "draft-v1"],
     "--profile draft-v1: --source/--destination drive virtio-1.4 devices only"),
    (["--source", "nowhere", "--destination", "unix:/x/b"], "--source: bad device address 'nowhere'"),
    (["--source", "unix:/nonexistent/a.sock", "--destination", "unix:/nonexistent/b.sock"],
     "--source: cannot connect to the device at unix:/nonexistent/a.sock"),
    (["--source", "unix:/x/a", "--destination", "unix:/x/b", "--scenario", "some"], "argument --scenario: invalid"),
], ids=["only-source", "only-destination", "bug", "dst-bug", "draft", "bad-address", "not-listening", "scenario"])
def test_usage_errors_are_one_line_exit_2(tmp_path, capsys, args, message):
    rc, out, err = _cli(capsys, *args, "--out", str(tmp_path / "o"))
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert message in err, err
    assert not out and not (tmp_path / "o").exists()


def test_a_held_command_is_recorded_when_its_completion_arrives(tmp_path):
    """A DEV_MODE_SET sent during an FLR is held (D-DP-17); the recorder writes it with its
    answer where the emulator does: after the flr_end that releases it."""
    from mcheck.conformance.migrate import Clock, RecordingBackend
    proc = start_emulator(tmp_path / "d.sock", capture=str(tmp_path / "emu.jsonl"))
    try:
        dev = RecordingBackend(f"unix:{tmp_path / 'd.sock'}", name="source", clock=Clock(), timeout=5)
        dev.power_on({"members": 1})
        codec = dev.codec
        ops = codec.decode_result("LIST_QUERY", dev.submit(codec.encode_command("LIST_QUERY", "SRIOV", 0, {})))
        dev.submit(codec.encode_command("LIST_USE", "SRIOV", 0, {"opcodes": ops.fields["opcodes"]}))
        dev.inject("flr_begin", 1)
        assert dev.submit(codec.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1})) is None
        dev.inject("flr_end", 1)
        dev.write_capture(tmp_path / "ours.jsonl")
        dev.close()
    finally:
        stop_emulator(proc)
    ours = _signature(tmp_path / "ours.jsonl")
    assert [k for k, _ in ours] == ["admin", "admin", "flr_begin", "flr_end", "admin"]
    assert ours == _signature(tmp_path / "emu.jsonl")
