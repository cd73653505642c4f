"""The vendor bridge kit (mcheck/bridge/kit.py): dependency-free, byte-identical records,
a frame loop that survives malformed input, and an example bridge that passes the
generated virtio-1.4 suite as a real process (and fails it with a firmware or adapter bug)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mcheck.bridge import example, kit
from mcheck.device.backend import EmulatorBackend
from mcheck.device.virtio14 import SRIOV_SUPPORTED
from mcheck.trace.codec import Codec, opcode_words
from mcheck.trace.events import (
    AdminComplete, AdminSubmit, Annotation, ConfigNotify, DmaWrite, Doorbell, FlrBegin, FlrEnd, MemberReset,
    OwnerReset, PciRead, PmBegin, PmEnd, Pme, UsedNotify,
)
from mcheck.trace.profile import load_profile
from mcheck.trace.record import KIND_CODES, RECORD, pack_event, unpack_event

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "mcheck" / "bridge" / "kit.py"
CODEC = Codec(load_profile("virtio-1.4"))
LIST_QUERY = CODEC.encode_command("LIST_QUERY", "SRIOV", 0, {})

# one event of every kind that crosses a device socket, with every field non-trivial
EVENTS = [
    AdminSubmit(index=7, timestamp=1_700_000_000_000_000_123, aq=3, tag=0x1234_5678_9ABC, readable=LIST_QUERY + b"\x01\x02"),
    AdminComplete(index=8, timestamp=1_700_000_000_000_000_456, aq=1, tag=99, writable=bytes(8) + b"\xde\xad\xbe\xef"),
    DmaWrite(index=9, timestamp=10, member=5, address=0xFFFF_0000_1234, length=1514),
    UsedNotify(index=10, timestamp=11, member=2, queue=3),
    ConfigNotify(index=11, timestamp=12, member=63),
    Doorbell(index=12, timestamp=13, member=4, queue=1),
    FlrBegin(index=13, timestamp=14, member=1),
    FlrEnd(index=14, timestamp=15, member=1),
    MemberReset(index=15, timestamp=16, member=2),
    OwnerReset(index=16, timestamp=17),
    PmBegin(index=17, timestamp=18, member=3),
    PmEnd(index=18, timestamp=19, member=3),
    Pme(index=19, timestamp=20, member=7),
    PciRead(index=20, timestamp=21, member=1, offset=0x10, length=4, value=b"\xf4\x1a\x41\x10"),
]
FIELDS = {"submit": ("tag", "aq", "readable"), "complete": ("tag", "aq", "writable"),
          "dma_write": ("member", "address", "length"), "used_notify": ("member", "queue"),
          "doorbell": ("member", "queue"), "pci_read": ("member", "offset", "length", "value"), "owner_reset": ()}


# ---------------------------------------------------------------------------- dependency-free


def test_kit_imports_only_the_standard_library():
    """A vendor copies kit.py alone: every import is a standard-library module, none is
    relative and none is mcheck's."""
    tree = ast.parse(KIT.read_text())
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"kit.py line {node.lineno}: relative import"
            modules.append(node.module or "")
    assert modules, "no imports found: the check is not looking at kit.py"
    outside = [m for m in modules if m.split(".")[0] not in sys.stdlib_module_names]
    assert not outside, f"kit.py imports outside the standard library: {outside}"


def test_kit_runs_copied_alone(tmp_path):
    """kit.py copied into an empty directory imports and packs a record with no site-packages
    and no PYTHONPATH (-S -s -E): only the script's own directory and the standard library."""
    shutil.copy(KIT, tmp_path / "kit.py")
    (tmp_path / "use_kit.py").write_text("import sys, kit\nassert 'mcheck' not in sys.modules\n"
                                         "print(len(kit.pack_record(kit.Record('pme', member=1))))\n")
    out = subprocess.run([sys.executable, "-S", "-s", "-E", str(tmp_path / "use_kit.py")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "68"


def test_docstring_owns_up_to_the_duplicated_record_code():
    doc = " ".join((ast.get_docstring(ast.parse(KIT.read_text())) or "").split())
    assert "mcheck.trace.record" in doc and "on purpose" in doc


# ---------------------------------------------------------------------------- records


def test_kit_knows_the_same_record_layout_and_kinds():
    assert kit.RECORD.format == RECORD.format and kit.RECORD_SIZE == 68
    assert {k: KIND_CODES[k] for k in kit.KINDS} == kit.KINDS
    # every mcheck kind is either in the kit or one that never crosses a device socket
    assert set(KIND_CODES) - set(kit.KINDS) == {"admin", "annotation"}
    assert set(kit.INJECTED) | set(kit.DEVICE_EVENTS) | {"submit", "complete"} == set(kit.KINDS)
    assert {ev.KIND for ev in EVENTS} == set(kit.KINDS)


@pytest.mark.parametrize("event", EVENTS, ids=lambda ev: ev.KIND)
@pytest.mark.parametrize("pcode", [0, 1, 2])
def test_kit_records_are_byte_identical_to_mcheck(event, pcode):
    mine = pack_event(event, pcode)
    rec = kit.unpack_record(mine)                       # mcheck -> kit
    assert rec.kind == event.KIND and (rec.index, rec.timestamp) == (event.index, event.timestamp)
    for name in FIELDS.get(event.KIND, ("member",)):
        assert getattr(rec, name) == getattr(event, name), name
    theirs = kit.pack_record(rec, pcode)                # kit -> mcheck
    assert theirs == mine
    assert unpack_event(theirs, CODEC) == event


def test_kit_record_built_by_hand_reads_in_mcheck():
    rec = kit.Record("pci_read", member=2, offset=4, value=b"\xff\xff", index=3, timestamp=5)
    ev = unpack_event(kit.pack_record(rec, 1), CODEC)
    assert ev == PciRead(index=3, timestamp=5, member=2, offset=4, length=2, value=b"\xff\xff")


@pytest.mark.parametrize("data,message", [
    (b"MCKT", "shorter than the 68-byte record header"),
    (b"XXXX" + bytes(64), "bad record magic"),
    (struct.pack("<4sB", b"MCKT", 9) + bytes(63), "record version 9 is not supported"),
    (pack_event(Pme(index=0, timestamp=0, member=1), 1) + b"x", "do not match the packet length 69"),
    (pack_event(Annotation(index=0, timestamp=0, text="hi"), 1), "an annotation (kind 12) does not cross"),
    (RECORD.pack(b"MCKT", 1, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "unknown event kind 42"),
    (RECORD.pack(b"MCKT", 1, 16, 0, 0, 0, 0, 0, 1, 0, 5, 4, 0, 0, 0) + bytes(4), "pci_read value has 4 bytes but its length is 5"),
], ids=["short", "magic", "version", "lengths", "annotation", "kind", "pci-length"])
def test_bad_records_get_one_line_reasons(data, message):
    with pytest.raises(kit.RecordError, match=re.escape(message)):
        kit.unpack_record(data)


def test_packing_an_unknown_kind_or_a_field_out_of_range_is_refused():
    with pytest.raises(kit.RecordError, match="cannot pack a 'annotation' record"):
        kit.pack_record(kit.Record("annotation"))
    with pytest.raises(kit.RecordError, match="dma_write record field out of range"):
        kit.pack_record(kit.Record("dma_write", member=-1))


@pytest.mark.parametrize("text,expect", [
    ("unix:/tmp/x.sock", (socket.AF_UNIX, "/tmp/x.sock")),
    ("tcp:127.0.0.1:7000", (socket.AF_INET, ("127.0.0.1", 7000))),
])
def test_addresses(text, expect):
    assert kit.parse_address(text) == expect


@pytest.mark.parametrize("text", ["unix:", "tcp:127.0.0.1", "tcp::80", "tcp:host:99999", "udp:x:1", "/tmp/x.sock"])
def test_bad_addresses(text):
    with pytest.raises(kit.BridgeError, match="use unix:PATH or tcp:HOST:PORT"):
        kit.parse_address(text)


# ---------------------------------------------------------------------------- the frame loop


class Flaky(example.SimulatorDevice):
    """The example adapter, plus a workload op that crashes (a bridge bug) and one that
    refuses with a reason."""

    def workload(self, op: str, member: int, queue: int) -> bool:
        if op == "crash":
            raise ZeroDivisionError("boom")
        if op == "refuse":
            raise kit.BridgeError("member 9 does not exist")
        return super().workload(op, member, queue)


@pytest.fixture
def bridge(tmp_path):
    """An in-process bridge on a Unix socket; yields (address, device)."""
    device = Flaky(members=2)
    logged: list[str] = []
    server = kit.BridgeServer(device, f"unix:{tmp_path / 'k.sock'}", log=logged.append)
    server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.address, device, logged
    server.close()
    thread.join(5)
    assert not thread.is_alive()
    assert not (tmp_path / "k.sock").exists()


class Client:
    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(address[len("unix:"):])
        self.buf = b""

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))

    def read(self) -> tuple[bytes, bytes] | None:
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack_from("<I", self.buf)
                if len(self.buf) >= 4 + n:
                    got = self.buf[4:5], self.buf[5 : 4 + n]
                    self.buf = self.buf[4 + n :]
                    return got
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def until_terminal(self) -> list[tuple[bytes, bytes]]:
        out = []
        while True:
            got = self.read()
            assert got is not None, "connection closed"
            out.append(got)
            if got[0] in (b"C", b"Q", b"A", b"X", b"H"):
                return out


def jf(ftype: bytes, obj: Any) -> bytes:
    return kit.frame(ftype, json.dumps(obj).encode())


PING = jf(b"P", {"op": "ping"})


@pytest.mark.parametrize("bad,reason", [
    (kit.frame(b"Z", b""), "unknown frame type b'Z'"),
    (kit.frame(b"C", b""), "COMPLETE is sent by the device"),
    (kit.frame(b"S", b"garbage"), "shorter than the 68-byte record header"),
    (kit.frame(b"S", pack_event(Pme(index=0, timestamp=0, member=1), 1)), "carries a submit record, not pme"),
    (kit.frame(b"I", pack_event(AdminSubmit(index=0, timestamp=0, tag=1, readable=LIST_QUERY), 1)), "cannot inject a submit"),
    (kit.frame(b"W", b"{not json"), "WORKLOAD frame body is not JSON"),
    (jf(b"W", [1, 2]), "must be a JSON object"),
    (jf(b"W", {"op": "fetch", "member": "one"}), "a WORKLOAD frame needs"),
    (jf(b"P", {"op": "warp"}), "unknown control op 'warp'"),
    (jf(b"P", {"op": "mem_read", "member": 1}), "mem_read needs"),
    (jf(b"P", {"op": "mem_write", "member": 1, "page": 0, "data": "zz"}), "needs \"data\": a hex string"),
    (jf(b"P", {"op": "mem_read", "member": 7, "page": 0}), "member 7 does not exist"),
    (jf(b"P", {"op": "power_on", "config": {"members": 0}}), "members must be a positive integer, got 0"),
    (jf(b"H", {"version": 2}), "protocol version 2 is not supported"),
], ids=["type", "device-type", "short-record", "not-submit", "inject-submit", "bad-json", "json-list", "workload-shape",
        "control-op", "mem-read-shape", "mem-write-hex", "no-member", "power-on-members", "version"])
def test_malformed_request_gets_an_x_frame_and_the_connection_carries_on(bridge, bad, reason):
    address, _, _ = bridge
    c = Client(address)
    c.send(bad)
    [(ftype, body)] = c.until_terminal()
    assert ftype == b"X" and reason in body.decode(), body
    c.send(PING)
    assert c.until_terminal() == [(b"A", b'{"ok":true}')]


def test_pipelined_requests_are_answered_in_order(bridge):
    address, _, _ = bridge
    c = Client(address)
    c.send(jf(b"H", {"version": 1}), kit.frame(b"Z", b""), PING, jf(b"W", {"op": "init", "member": 1, "queue": 0}),
           jf(b"W", {"op": "init", "member": 1, "queue": 0}))
    answers = [c.until_terminal()[-1] for _ in range(5)]
    assert [a[0] for a in answers] == [b"H", b"X", b"A", b"A", b"A"]
    assert [json.loads(a[1]).get("done") for a in answers[3:]] == [True, False]   # init twice: refused


def test_hello_declares_the_device(bridge):
    address, _, _ = bridge
    c = Client(address)
    c.send(jf(b"H", {"version": 1}))
    [(ftype, body)] = c.until_terminal()
    hello = json.loads(body)
    assert ftype == b"H"
    assert {k: hello[k] for k in ("mcheck_trace", "profile", "members", "queues", "autonomous", "bugs")} == \
        {"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1, 2], "queues": 1, "autonomous": False, "bugs": []}
    assert hello["device"] == {"members": [1, 2], "queues": 1, "objects": 1, "pages": 8, "compat": "none"}


def test_a_crashing_device_gets_an_x_frame_and_the_bridge_keeps_serving(bridge):
    address, _, logged = bridge
    c = Client(address)
    c.send(jf(b"W", {"op": "crash", "member": 1, "queue": 0}), jf(b"W", {"op": "refuse", "member": 9, "queue": 0}), PING)
    assert c.until_terminal() == [(b"X", b"device failed in workload: ZeroDivisionError: boom")]
    assert c.until_terminal() == [(b"X", b"member 9 does not exist")]
    assert c.until_terminal()[0][0] == b"A"
    assert logged == ["bridge: Device.workload raised ZeroDivisionError: boom"]


@pytest.mark.parametrize("length", [0, kit.MAX_FRAME + 1])
def test_broken_framing_closes_that_connection_only(bridge, length):
    address, _, _ = bridge
    other = Client(address)
    c = Client(address)
    c.send(PING, struct.pack("<I", length) + b"P")
    assert c.until_terminal()[0][0] == b"A"
    ftype, body = c.read()
    assert ftype == b"X" and b"bad frame length" in body
    assert c.read() is None                      # closed
    other.send(PING)
    assert other.until_terminal()[0][0] == b"A"


def test_events_come_before_the_answer_and_a_held_command_completes_later(bridge):
    """Through mcheck's own client: DEV_MODE_SET(stop) writes the fetched buffer back
    (E dma_write) before its C; during an FLR it is held (Q) and its C comes with the
    FLR's end (D-DP-10, D-DP-17)."""
    address, _, _ = bridge
    b = EmulatorBackend(address, timeout=5)
    try:
        b.power_on({"members": 1})
        use = CODEC.encode_command("LIST_USE", "SRIOV", 0, {"opcodes": opcode_words(SRIOV_SUPPORTED)})
        assert b.submit(use)[:2] == b"\x00\x00"
        assert b.workload("init", 1) and b.workload("post", 1)
        assert b.inject("doorbell", 1, 0)
        assert b.workload("fetch", 1)
        stop = CODEC.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1})
        assert b.submit(stop) == bytes(8)
        [dma] = b.events()
        assert isinstance(dma, DmaWrite) and dma.member == 1
        assert b.inject("flr_begin", 1)
        assert b.submit(stop) is None
        assert b.inject("flr_end", 1)
        [done] = b.events()
        assert isinstance(done, AdminComplete) and done.tag == b.tag and done.writable == bytes(8)
        assert not b.pending
    finally:
        b.close()


def test_serves_tcp_too():
    server = kit.BridgeServer(example.SimulatorDevice(members=3), "tcp:127.0.0.1:0")
    host, port = server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with EmulatorBackend(f"tcp:{host}:{port}", timeout=5) as b:
            assert b.header.members == (1, 2, 3) and b.header.profile == "virtio-1.4"
            assert b.control("ping") == {"ok": True}
    finally:
        server.close()
        thread.join(5)


def test_events_emitted_between_requests_go_out_with_the_next_answer():
    """An autonomous device's own work (emitted from another thread) is reported ahead of
    the next request's terminal frame; a power-on drops what was emitted before it."""
    device = example.SimulatorDevice(members=1)
    bridge = kit.Bridge(device)
    t = threading.Thread(target=device.emit_used_notify, args=(1, 0))
    t.start()
    t.join()
    first, last = bridge.handle(b"P", b'{"op":"ping"}')
    assert first[4:5] == b"E" and last[4:5] == b"A"
    ev = unpack_event(first[5:], CODEC)
    assert isinstance(ev, UsedNotify) and ev.index == 1 and ev.timestamp > 0
    device.emit_pme(1)
    [ack] = bridge.handle(b"P", b'{"op":"power_on","config":{}}')
    assert json.loads(ack[5:])["device"]["members"] == [1]


class Autonomous(example.SimulatorDevice):
    """Declares that it works on its own; `busy_until` is when its scheduled work is done."""

    busy_until = 0.0

    def describe(self) -> kit.Description:
        return kit.Description(**{**vars(super().describe()), "autonomous": True})

    def busy(self) -> bool:
        return time.monotonic() < self.busy_until


def frames_of(out: list[bytes]) -> list[tuple[bytes, Any]]:
    """(type, decoded body) per frame: JSON for A frames, the record kind for E/C frames."""
    got = []
    for f in out:
        ftype, body = f[4:5], f[5:]
        got.append((ftype, json.loads(body) if ftype in (b"A", b"H", b"Q") else
                    unpack_event(body, CODEC).KIND if ftype in (b"E", b"C") else body.decode()))
    return got


def test_an_autonomous_device_says_so_and_counts_what_came_before():
    device = Autonomous(members=1)
    bridge = kit.Bridge(device)
    [(_, hello)] = frames_of(bridge.handle(b"H", b'{"version":1}'))
    assert hello["autonomous"] is True
    with device.acting():                        # its own work, between requests
        device.emit_dma_write(1, 0x2000, 64)
    got = frames_of(bridge.handle(b"W", json.dumps({"op": "pci_read", "member": 1, "queue": 0}).encode()))
    assert got == [(b"E", "dma_write"), (b"E", "pci_read"), (b"A", {"done": True, "before": 1})]
    # a request that fails gets its X frame only; what came before goes with the next answer
    device.emit_pme(1)
    assert frames_of(bridge.handle(b"W", b"{}")) == [(b"X", 'a WORKLOAD frame needs {"op": str, "member": int, "queue": int}')]
    assert frames_of(bridge.handle(b"P", b'{"op":"ping"}')) == [(b"E", "pme"), (b"A", {"ok": True, "before": 1})]


def test_quiesce_waits_until_the_device_is_idle():
    device = Autonomous(members=1)
    bridge = kit.Bridge(device)
    device.busy_until = time.monotonic() + 0.05
    device.emit_used_notify(1, 0)
    start = time.monotonic()
    got = frames_of(bridge.handle(b"P", b'{"op":"quiesce","idle_ms":5,"max_ms":2000}'))
    assert time.monotonic() - start >= 0.05
    assert got[0] == (b"E", "used_notify")
    assert got[1][1]["quiet"] is True and got[1][1]["before"] == 1 and 50 <= got[1][1]["waited_ms"] < 2000
    device.busy_until = time.monotonic() + 60       # never idle: quiesce gives up after max_ms
    [(_, ack)] = frames_of(bridge.handle(b"P", b'{"op":"quiesce","idle_ms":0,"max_ms":20}'))
    assert ack["quiet"] is False and ack["waited_ms"] >= 20
    assert frames_of(bridge.handle(b"P", b'{"op":"quiesce","max_ms":-1}')) == \
        [(b"X", "quiesce: max_ms must be a number of milliseconds in 0..60000, got -1")]


def test_a_device_that_does_not_work_on_its_own_is_quiet_at_once():
    bridge = kit.Bridge(example.SimulatorDevice(members=1))
    [(ftype, ack)] = frames_of(bridge.handle(b"P", b'{"op":"quiesce","idle_ms":1000,"max_ms":5000}'))
    assert ftype == b"A" and ack["quiet"] is True and ack["waited_ms"] < 100 and "before" not in ack


def test_the_example_firmware_works_on_its_own_when_autonomous():
    """A doorbell is enough: the scheduler thread writes the buffer back and notifies, and a
    quiesce hands both over once it is idle."""
    device = example.AutonomousSimulatorDevice(members=1, max_delay_ms=1)
    try:
        bridge = kit.Bridge(device)
        [(_, hello)] = frames_of(bridge.handle(b"H", b'{"version":1}'))
        assert hello["autonomous"] is True and hello["max_delay_ms"] == 1
        use = CODEC.encode_command("LIST_USE", "SRIOV", 0, {"opcodes": opcode_words(SRIOV_SUPPORTED)})
        sub = kit.pack_record(kit.Record("submit", tag=1, readable=use))
        assert frames_of(bridge.handle(b"S", sub))[-1][0] == b"C"
        for op in ("init", "post"):
            assert frames_of(bridge.handle(b"W", json.dumps({"op": op, "member": 1, "queue": 0}).encode()))[-1][1]["done"]
        bell = kit.pack_record(kit.Record("doorbell", member=1, queue=0))
        got = frames_of(bridge.handle(b"I", bell))
        got += frames_of(bridge.handle(b"P", b'{"op":"quiesce","idle_ms":5,"max_ms":5000}'))
        assert [k for t, k in got if t == b"E"] == ["dma_write", "used_notify"]
        assert got[-1][1]["quiet"] is True
    finally:
        device.close()


def test_max_delay_is_declared_by_autonomous_devices_only():
    with pytest.raises(kit.BridgeError, match="max_delay_ms is declared by autonomous devices only"):
        kit.Description(profile="virtio-1.4", members=[1], max_delay_ms=5).check()
    with pytest.raises(kit.BridgeError, match="max_delay_ms must be a non-negative number"):
        kit.Description(profile="virtio-1.4", members=[1], autonomous=True, max_delay_ms=-1).check()


def test_a_device_with_a_bad_description_is_refused_before_listening():
    class NoMembers(example.SimulatorDevice):
        def describe(self) -> kit.Description:
            return kit.Description(profile="virtio-1.4", members=[])
    with pytest.raises(kit.BridgeError, match="Description.members must be a non-empty list of member ids"):
        kit.Bridge(NoMembers())


def test_the_guide_names_every_operation():
    """docs/device-protocol.md's bridge guide covers every Device operation and emit call."""
    text = (ROOT / "docs" / "device-protocol.md").read_text()
    guide = text[text.index("## Writing a bridge"):]
    ops = [n for n in vars(kit.Device) if not n.startswith("_") and n != "take_events"]
    missing = [n for n in ops if f"`{n}" not in guide]
    assert not missing, f"the bridge guide does not mention {missing}"


# ---------------------------------------------------------------------------- the example bridge as a process


def start_bridge(sock: Path, *args: str, script: Path | None = None, wait: float = 15.0) -> subprocess.Popen:
    cmd = [sys.executable, str(script)] if script else [sys.executable, "-m", "mcheck.bridge.example"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(cmd + ["--listen", f"unix:{sock}", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bridge exited with {proc.returncode}: {proc.stderr.read()}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(sock))
            return proc
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    proc.kill()
    raise RuntimeError(f"bridge did not listen on {sock} within {wait} s")


def stop_bridge(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
    return out


def conform(suite_dir: Path, sock: Path, *extra: str) -> subprocess.CompletedProcess:
    """`mcheck conform SUITE --backend emulator:unix:SOCK` as a command."""
    code = "import sys; from mcheck.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "conform", str(suite_dir), "--backend", f"emulator:unix:{sock}",
                           "-q", *extra], capture_output=True, text=True, timeout=240)


def test_example_bridge_passes_the_virtio14_suite(suite14, tmp_path):
    suite_dir, suite = suite14
    proc = start_bridge(tmp_path / "ok.sock", "--members", "1")
    try:
        run = conform(suite_dir, tmp_path / "ok.sock")
    finally:
        banner = stop_bridge(proc)
    assert "example bridge: virtio-1.4, 1 member(s), listening on" in banner
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    n = len(suite.tests)
    assert f"passed {n}/{n}, failed 0" in run.stdout and "verdict: PASS" in run.stdout


def test_example_bridge_with_a_firmware_bug_fails_the_suite(suite14, tmp_path):
    """The simulated firmware puts DEVICE_STATUS before DRV_FEATURES in DEV_PARTS_GET."""
    suite_dir, _ = suite14
    proc = start_bridge(tmp_path / "bug.sock", "--bug", "parts-out-of-order")
    try:
        run = conform(suite_dir, tmp_path / "bug.sock", "--fail-fast")
    finally:
        stop_bridge(proc)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert "verdict: FAIL" in run.stdout and "D-DP-3" in run.stdout


BROKEN_ADAPTER = """
import sys
from mcheck.bridge import example

class ForgetsHeldCompletions(example.SimulatorDevice):
    '''A bridge bug: the adapter drops the simulator's completions of held commands.'''
    def _forward(self, did):
        super()._forward([ev for ev in did if ev[0] != "complete"])

sys.exit(example.main(sys.argv[1:], ForgetsHeldCompletions))
"""


def test_example_bridge_with_an_adapter_bug_fails_the_suite(suite14, tmp_path):
    """The firmware is right but the adapter never forwards the answer of a command held
    during a fault: the suite fails on the command left unanswered (D-DP-17..19)."""
    suite_dir, _ = suite14
    script = tmp_path / "broken_bridge.py"
    script.write_text(BROKEN_ADAPTER)
    proc = start_bridge(tmp_path / "broken.sock", script=script)
    try:
        run = conform(suite_dir, tmp_path / "broken.sock", "--fail-fast")
    finally:
        stop_bridge(proc)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert "the device did not answer the held command when the fault ended" in run.stdout, run.stdout[-3000:]
    assert "D-DP-17" in run.stdout


# the whole suite is a slow row: the autonomous runner passing a correct device on the whole
# suite is test_autonomous.py's default test (the emulator); here the example firmware's
# autonomous mode is run end to end on every kind of test (a tenth of the time)
@pytest.mark.parametrize("whole", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["two-of-each-kind", "whole-suite"])
def test_autonomous_example_bridge_passes_the_virtio14_suite(suite14, suite14_sample, tmp_path, whole):
    """The firmware works on its own (`--autonomous`): HELLO says so and mcheck judges it with
    its runner for autonomous devices, which sends no device-internal step, waits with
    quiesce and places what the device did between requests by the ACKs' `before`."""
    suite_dir, suite = suite14
    only = [] if whole else suite14_sample
    proc = start_bridge(tmp_path / "auto.sock", "--autonomous", "--max-delay-ms", "2")
    try:
        with EmulatorBackend(f"unix:{tmp_path / 'auto.sock'}", timeout=5) as b:
            assert b.device_info["autonomous"] is True and b.device_info["max_delay_ms"] == 2
        run = conform(suite_dir, tmp_path / "auto.sock", *[a for name in only for a in ("--only", name)])
    finally:
        banner = stop_bridge(proc)
    assert "autonomous, listening on" in banner
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    n = len(only) or len(suite.tests)
    assert f"passed {n}/{n}, failed 0" in run.stdout


# slow: the autonomous runner catching a DMA write the device did on its own after a stop
# is test_autonomous.py's default row (the emulator, same runner and judging), and the kit's
# forwarding of events done between requests is run by the default test above
@pytest.mark.slow
def test_autonomous_example_bridge_with_dma_after_stop_fails_the_suite(suite14, tmp_path):
    """Firmware that writes a buffer back on its own after DEV_MODE_SET(stop): the DMA write
    reaches mcheck between requests and is judged there (D-DP-9)."""
    suite_dir, _ = suite14
    proc = start_bridge(tmp_path / "autobug.sock", "--autonomous", "--max-delay-ms", "2", "--bug", "dma-after-stop")
    try:
        run = conform(suite_dir, tmp_path / "autobug.sock", "--fail-fast")
    finally:
        stop_bridge(proc)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert "dma_write done on its own" in run.stdout and "D-DP-9" in run.stdout, run.stdout[-3000:]
