"""The draft-v1 emulator (mcheck/device/draftv1.py) through its socket protocol, rule by rule
(/tmp/draft14-design.md, docs/draft-v1.md DRAFT-CTX-5..7): the memory layout and EVENT_IDX,
the P-FLR readings, chunked context read and write, peer and guest accesses, write
recording, and each catalogue bug failing the check that targets it."""

from __future__ import annotations

import pytest

from mcheck.device.backend import EmulatorBackend
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.device.draftv1 import DEFAULT_CHUNK, head_size
from mcheck.device.virtq import PAGE, QSIZE

PAGES = 2                     # data pages 0, 1; used rings in page 2; tables and avail rings in page 3
RING = PAGES
SRC, DST = 1, 2               # wire members of pair 1
CTX_1Q = 101                  # bytes of a one-queue context


class Dev:
    """A client of one emulator: power-on with a config, admin commands by name."""

    def __init__(self, address: str, **config):
        self.b = EmulatorBackend(address)
        self.c = self.b.codec
        self.b.power_on({"members": 2, "queues": 1, "pages": PAGES, "paired": True, "initialised": "odd", **config})

    def cmd(self, name: str, member: int = SRC, **fields):
        w = self.b.submit(self.c.encode_command(name, "SRIOV", member, fields))
        assert w is not None, f"{name} held"
        res = self.c.decode_result(name, w)
        return res.status_name, res.fields

    def ok(self, name: str, member: int = SRC, **fields):
        status, out = self.cmd(name, member, **fields)
        assert status == "OK", (name, status)
        return out

    def mode(self, member: int) -> str:
        return {0: "ACTIVE", 1: "STOP", 2: "FREEZE"}[self.ok("DEV_MODE_GET", member)["mode"]]

    def set_mode(self, member: int, *modes: str) -> None:
        for m in modes:
            self.ok("DEV_MODE_SET", member, mode={"ACTIVE": 0, "STOP": 1, "FREEZE": 2}[m])

    def read_all(self, member: int = SRC) -> list[tuple[int, int, bytes]]:
        chunks = []
        while True:
            r = self.ok("DEV_CTX_READ", member)
            chunks.append((r["size"], r["remaining_ctx_size"], bytes(r["context"])))
            if r["remaining_ctx_size"] == 0:
                return chunks

    def context(self, member: int = SRC) -> bytes:
        """The whole context, read in chunks (the member is stopped or frozen)."""
        self.ok("DEV_CTX_DISCARD", member)
        return b"".join(c for _, _, c in self.read_all(member))

    def start(self, addr: int = 0, pages: int = PAGES + 1, page_size: int = PAGE, member: int = SRC):
        return self.cmd("WR_START", member, page_size=page_size, mode=0, range_addr=addr, range_len=pages * page_size)

    def report(self, addr: int = 0, pages: int = PAGES + 1, page_size: int = PAGE, member: int = SRC) -> int:
        out = self.ok("WR_REPORT", member, range_addr=addr, range_len=pages * page_size)
        return int.from_bytes(out["bitmap"], "little")

    def buffer(self, member: int = SRC, page: int = 0) -> None:
        """The guest posts a buffer; the device fetches it, writes page `page` and completes it."""
        assert self.b.workload("post", member, 0) and self.b.inject("doorbell", member, 0)
        assert self.b.workload("fetch", member, 0)
        assert self.b.workload("dma", member, page)
        assert self.b.workload("complete", member, 0)

    def close(self) -> None:
        self.b.close()


@pytest.fixture(scope="module")
def device_address(tmp_path_factory):
    """One correct draft-v1 emulator process for the module (each test powers it on afresh)."""
    sock = tmp_path_factory.mktemp("draftdev") / "ok.sock"
    proc = start_emulator(sock, profile="draft-v1", members=2)
    yield f"unix:{sock}"
    stop_emulator(proc)


@pytest.fixture
def dev(device_address):
    d = Dev(device_address)
    yield d
    d.close()


@pytest.fixture
def device(device_address, emulator):
    """device(bug=None, **config): a client of the correct emulator, or of one with a catalogue bug."""
    opened = []

    def make(bug: str | None = None, **config) -> Dev:
        addr = emulator(bug, profile="draft-v1", members=2, bugs=[bug]) if bug else device_address
        opened.append(Dev(addr, **config))
        return opened[-1]
    yield make
    for d in opened:
        d.close()


# ---------------------------------------------------------------- layout and EVENT_IDX


def test_layout_used_ring_in_page_p_tables_in_page_p_plus_1(dev):
    dev.buffer(page=1)
    used = dev.b.mem_read(SRC, RING)
    assert int.from_bytes(used[2:4], "little") == 1                      # used idx of queue 0
    assert int.from_bytes(used[4:8], "little") == 0                      # used element: descriptor 0
    tables = dev.b.mem_read(SRC, RING + 1)
    assert int.from_bytes(tables[256 + 2 : 256 + 4], "little") == 1      # avail idx of queue 0
    assert int.from_bytes(tables[0:8], "little") == 0                    # descriptor 0 -> data page 0
    assert dev.b.mem_read(SRC, 1).startswith(b"m1 q0 seq00000000")


@pytest.mark.parametrize("bug", [None, "unreported-ring-write"])
def test_used_ring_writes_are_recorded(device, bug):
    d = device(bug)
    assert d.start() == ("OK", {})
    d.buffer(page=0)
    bitmap = d.report()
    assert bitmap & 1                                   # the data page
    assert bool(bitmap >> RING & 1) == (bug is None), bin(bitmap)    # the used-ring page


@pytest.mark.parametrize("event_idx", ["off", "on"])
def test_event_idx_fetch_writes_avail_event_into_the_used_ring(device, event_idx):
    d = device(event_idx=event_idx)
    d.start()
    assert d.b.workload("post", SRC, 0) and d.b.workload("fetch", SRC, 0)
    avail_event = int.from_bytes(d.b.mem_read(SRC, RING)[4 + 8 * QSIZE : 6 + 8 * QSIZE], "little")
    assert avail_event == (1 if event_idx == "on" else 0)
    assert d.report() == (1 << RING if event_idx == "on" else 0)          # recorded like any device write


def test_event_idx_write_unrecorded_with_the_ring_bug(device):
    d = device("unreported-ring-write", event_idx="on")
    d.start()
    assert d.b.workload("post", SRC, 0) and d.b.workload("fetch", SRC, 0)
    assert d.report() == 0


# ---------------------------------------------------------------- P-FLR


@pytest.mark.parametrize("member", [SRC, DST])
@pytest.mark.parametrize("flr_mode,bug,after", [
    ("keep", None, "STOP"), ("active", None, "ACTIVE"),
    ("keep", "flr-wrong-mode", "ACTIVE"), ("active", "flr-wrong-mode", "STOP"),
])
def test_flr_mode(device, member, flr_mode, bug, after):
    d = device(bug, flr_mode=flr_mode)
    d.set_mode(member, "STOP")
    assert d.b.inject("flr_begin", member) and d.b.inject("flr_end", member)
    assert d.mode(member) == after
    d.set_mode(member, "FREEZE")
    assert d.b.inject("member_reset", member)
    assert d.mode(member) == ("FREEZE" if after == "STOP" else "ACTIVE")


@pytest.mark.parametrize("flr_tracking,bug,kept", [
    ("keep-recording", None, True), ("stop-and-clear", None, False), ("keep-recording", "flr-clears-record", False),
])
@pytest.mark.parametrize("fault", ["flr", "reset"])
def test_flr_tracking(device, flr_tracking, bug, kept, fault):
    d = device(bug, flr_tracking=flr_tracking)
    d.start()
    d.buffer(page=1)
    if fault == "flr":
        assert d.b.inject("flr_begin", SRC) and d.b.inject("flr_end", SRC)
    else:
        assert d.b.inject("member_reset", SRC)
    assert d.ok("WR_PENDING")["pending_bytes"] == (1 if kept else 0)
    assert d.report() == (0b110 if kept else 0)          # data page 1, used-ring page 2
    # recording goes on (or not) after the fault: the guest re-initialises and the device writes again
    assert d.b.workload("init", SRC)
    d.buffer(page=0)
    assert d.report() == (0b101 if kept else 0)


def test_flr_resets_context_and_cursors(dev):
    dev.buffer()
    dev.set_mode(SRC, "STOP", "FREEZE")
    first = dev.ok("DEV_CTX_READ")
    assert first["remaining_ctx_size"] > 0
    assert dev.b.inject("flr_begin", SRC) and dev.b.inject("flr_end", SRC)
    again = dev.ok("DEV_CTX_READ")                        # the read starts over, on the default context
    assert again["size"] + again["remaining_ctx_size"] == CTX_1Q
    entries = dev.c.decode_context(dev.context())
    assert entries[2] == {"type": "DEVICE_STATUS", "value": 0}
    assert entries[4]["value"]["used_idx"] == 0 and entries[4]["value"]["enabled"] == 0


# ---------------------------------------------------------------- chunked context read


def test_chunked_read_cursor_size_get_and_read_after_end(dev):
    dev.buffer()
    dev.set_mode(SRC, "STOP", "FREEZE")
    assert DEFAULT_CHUNK < CTX_1Q
    c1 = dev.ok("DEV_CTX_READ")
    assert (c1["size"], c1["remaining_ctx_size"]) == (DEFAULT_CHUNK, CTX_1Q - DEFAULT_CHUNK)
    assert dev.ok("DEV_CTX_SIZE_GET", freeze_mode=1)["size"] == CTX_1Q     # the whole size; cursor unmoved
    c2 = dev.ok("DEV_CTX_READ")
    assert (c2["size"], c2["remaining_ctx_size"]) == (CTX_1Q - DEFAULT_CHUNK, 0)
    end = dev.ok("DEV_CTX_READ")
    assert (end["size"], end["remaining_ctx_size"], bytes(end.get("context", b""))) == (0, 0, b"")
    entries = dev.c.decode_context(bytes(c1["context"]) + bytes(c2["context"]))
    assert [e["type"] for e in entries] == ["FEATURES", "DRIVER_FEATURES", "DEVICE_STATUS", "DEVICE_CONFIG", "VQ_SPLIT"]
    assert entries[4]["value"]["last_avail_idx"] == entries[4]["value"]["used_idx"] == 1


@pytest.mark.parametrize("between,restarts", [
    ("discard", True), ("mode-change", True), ("self-loop", False), ("size-get", False), ("flr", True),
])
def test_read_cursor_restarts(dev, between, restarts):
    dev.set_mode(SRC, "STOP")
    dev.ok("DEV_CTX_READ")
    if between == "discard":
        dev.ok("DEV_CTX_DISCARD")
    elif between == "mode-change":
        dev.set_mode(SRC, "FREEZE")
    elif between == "self-loop":
        dev.set_mode(SRC, "STOP")
    elif between == "size-get":
        dev.ok("DEV_CTX_SIZE_GET", freeze_mode=0)
    else:
        assert dev.b.inject("flr_begin", SRC) and dev.b.inject("flr_end", SRC)
    r = dev.ok("DEV_CTX_READ")
    assert r["remaining_ctx_size"] == (CTX_1Q - DEFAULT_CHUNK if restarts else 0)


def test_read_refused_while_active_and_chunk_size_is_configurable(device):
    d = device(chunk=40)
    assert d.cmd("DEV_CTX_READ")[0] == "EBUSY"
    d.set_mode(SRC, "STOP")
    assert [(s, r) for s, r, _ in d.read_all()] == [(40, 61), (40, 21), (21, 0)]
    d2 = device(chunk=4096)
    d2.set_mode(SRC, "STOP")
    assert [(s, r) for s, r, _ in d2.read_all()] == [(CTX_1Q, 0)]


# ---------------------------------------------------------------- chunked context write


def _source_context(d: Dev) -> bytes:
    d.buffer()
    d.set_mode(SRC, "STOP", "FREEZE")
    return d.context(SRC)


@pytest.mark.parametrize("split", [[CTX_1Q], [53, 48], [60, 41], [8, 45, 0, 40, 8], [2, 1, 98]])
def test_chunked_write_completes_when_every_field_arrived(dev, split):
    ctx = _source_context(dev)
    dev.set_mode(DST, "FREEZE")
    pos = 0
    for i, n in enumerate(split):
        assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx[pos : pos + n])[0] == "OK", (i, n)
        pos += n
        if pos < len(ctx):            # incomplete: the member may not leave FREEZE
            assert dev.cmd("DEV_MODE_SET", DST, mode=0)[0] == "EINVAL"
            assert dev.mode(DST) == "FREEZE"
    assert dev.context(DST) == ctx
    dev.set_mode(DST, "ACTIVE")
    assert dev.b.workload("post", DST, 0) and dev.b.workload("fetch", DST, 0)   # resumes where the source stopped


@pytest.mark.parametrize("case", ["no-stream", "after-discard", "after-flr", "after-complete", "not-a-context"])
def test_orphan_chunk_is_einval_and_changes_nothing(dev, case):
    ctx = _source_context(dev)
    dev.set_mode(DST, "FREEZE")
    tail = ctx[60:]                               # begins inside the VQ_SPLIT entry
    if case == "after-discard":
        assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx[:60])[0] == "OK"
        dev.ok("DEV_CTX_DISCARD", DST)            # drops the partial write: back to the defaults
    elif case == "after-flr":
        assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx[:60])[0] == "OK"
        assert dev.b.inject("flr_begin", DST) and dev.b.inject("flr_end", DST)
    elif case == "after-complete":
        assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx)[0] == "OK"
    elif case == "not-a-context":
        tail = b"\x99" * 20
    before = dev.context(DST)
    assert dev.mode(DST) == "FREEZE"
    assert dev.cmd("DEV_CTX_WRITE", DST, context=tail)[0] == "EINVAL"
    assert dev.context(DST) == before
    if case != "after-complete":
        assert before[8:16] == bytes(8)           # default context: no features
    dev.set_mode(DST, "ACTIVE")                   # no half-written context was left behind


def test_orphan_chunk_accepted_bug(device):
    d = device("orphan-chunk-accepted")
    ctx = _source_context(d)
    d.set_mode(DST, "FREEZE")
    assert d.cmd("DEV_CTX_WRITE", DST, context=ctx[:60])[0] == "OK"
    assert d.b.inject("flr_begin", DST) and d.b.inject("flr_end", DST)
    assert d.cmd("DEV_CTX_WRITE", DST, context=ctx[60:])[0] == "OK"     # must be EINVAL


def test_discard_drops_a_partial_write_but_keeps_a_complete_one(dev):
    ctx = _source_context(dev)
    dev.set_mode(DST, "FREEZE")
    assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx[:head_size()])[0] == "OK"
    dev.ok("DEV_CTX_DISCARD", DST)
    assert dev.c.decode_context(dev.context(DST))[0]["value"] == [0]     # defaults again
    assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx)[0] == "OK"
    dev.ok("DEV_CTX_DISCARD", DST)
    assert dev.context(DST) == ctx


@pytest.mark.parametrize("bug", [None, "resume-partial-context"])
def test_resume_with_partial_context(device, bug):
    d = device(bug)
    ctx = _source_context(d)
    d.set_mode(DST, "FREEZE")
    assert d.cmd("DEV_CTX_WRITE", DST, context=ctx[:60])[0] == "OK"
    for target in (0, 1):
        status, _ = d.cmd("DEV_MODE_SET", DST, mode=target)
        assert status == ("OK" if bug else "EINVAL")
        if bug:
            break
        assert d.mode(DST) == "FREEZE"


def test_write_refused_unless_frozen(device):
    d = device()
    ctx = _source_context(d)
    for mode in ("ACTIVE", "STOP"):
        d.set_mode(DST, mode)
        assert d.cmd("DEV_CTX_WRITE", DST, context=ctx)[0] == "EBUSY"
    bad = device("ctx-write-while-active")
    ctx = _source_context(bad)
    assert bad.cmd("DEV_CTX_WRITE", DST, context=ctx)[0] == "OK"


# ---------------------------------------------------------------- modes


@pytest.mark.parametrize("bug", [None, "unknown-mode-accepted"])
@pytest.mark.parametrize("value", [3, 0x7F, 0xFF])
def test_undefined_mode_value(device, bug, value):
    d = device(bug)
    d.set_mode(SRC, "STOP")
    d.ok("DEV_CTX_READ")
    status, _ = d.cmd("DEV_MODE_SET", SRC, mode=value)
    assert status == ("OK" if bug else "EINVAL")
    assert d.mode(SRC) == "STOP"                                  # no side effect either way
    assert d.ok("DEV_CTX_READ")["remaining_ctx_size"] == 0      # the read cursor did not move back


def test_via_stop_transitions(device):
    d = device(transitions="via-stop")
    assert d.cmd("DEV_MODE_SET", SRC, mode=2)[0] == "EINVAL"
    d.set_mode(SRC, "STOP", "FREEZE")
    assert d.cmd("DEV_MODE_SET", SRC, mode=0)[0] == "EINVAL"
    assert d.mode(SRC) == "FREEZE"


# ---------------------------------------------------------------- peer and guest accesses


def _cfg(d: Dev, member: int) -> int:
    entries = d.c.decode_context(d.context(member))
    return int.from_bytes(entries[3]["value"], "little")


@pytest.mark.parametrize("op", ["peer", "cfgwrite"])
@pytest.mark.parametrize("bug", [None, "frozen-accepts-access"])
def test_access_changes_config_unless_frozen(device, op, bug):
    d = device(bug)
    assert d.b.workload(op, SRC)                 # ACTIVE: changes the config
    d.set_mode(SRC, "STOP")
    assert _cfg(d, SRC) == 1
    assert d.b.workload(op, SRC)                 # STOP: still accepted (DRAFT-MODE-4)
    assert _cfg(d, SRC) == 0
    d.set_mode(SRC, "FREEZE")
    assert d.b.workload(op, SRC)                 # FREEZE: reaches the device, which drops it
    assert _cfg(d, SRC) == (1 if bug else 0)


# ---------------------------------------------------------------- write recording


def test_caps_two_ranges_page_size_granularity_and_stop_by_range(dev):
    caps = dev.ok("WR_CAPS_QUERY")
    assert caps["max_ranges"] == 2 and caps["page_size_mask"] & 8192
    assert dev.start(0, 1, 8192) == ("OK", {})                     # pages 0-1 as one 8 KiB page
    assert dev.start(8192, 2, PAGE) == ("OK", {})                  # the used-ring page and the tables
    assert dev.start(4 * PAGE, 1, PAGE)[0] == "ENOSPC"             # a third range
    assert dev.start(PAGE, 1, PAGE)[0] == "EINVAL"                 # overlaps the first
    assert dev.start(0, 1, 3000)[0] == "EINVAL"                    # page size not offered
    dev.buffer(page=1)
    assert dev.ok("WR_PENDING")["pending_bytes"] == 2               # one bitmap byte per range with a record
    assert dev.report(0, 1, 8192) == 1
    assert dev.report(8192, 2, PAGE) == 1                           # the used-ring page
    dev.ok("WR_STOP", range_addr=8192)
    dev.buffer(page=0)
    assert dev.report(8192, 2, PAGE) == 0                           # that range no longer records
    assert dev.report(0, 1, 8192) == 1                              # the other one still does


@pytest.mark.parametrize("bug", [None, "report-not-cleared"])
def test_report_and_clear(device, bug):
    d = device(bug)
    d.start()
    d.buffer(page=0)
    assert d.report() == 0b101
    assert d.ok("WR_PENDING")["pending_bytes"] == (1 if bug else 0)
    assert d.report() == (0b101 if bug else 0)


@pytest.mark.parametrize("bug", [None, "report-drops-concurrent-write"])
def test_report_loses_no_write(device, bug):
    d = device(bug)
    d.start()
    d.buffer(page=1)
    reported = d.report()
    again = d.report()
    assert reported | again == 0b110 if bug is None else reported | again != 0b110


def test_record_survives_stop_until_reported(dev):
    dev.start()
    dev.buffer(page=0)
    dev.ok("WR_STOP", range_addr=0)
    dev.set_mode(SRC, "STOP")
    assert dev.report() == 0b101
    assert dev.ok("WR_PENDING")["pending_bytes"] == 0


# ---------------------------------------------------------------- the other catalogue bugs


def test_device_work_while_stopped(device):
    ok = device()
    ok.b.workload("post", SRC, 0)
    assert ok.b.workload("fetch", SRC, 0)
    ok.set_mode(SRC, "STOP")
    assert not ok.b.workload("dma", SRC, 0) and not ok.b.workload("complete", SRC, 0)
    assert not ok.b.workload("config", SRC)
    frozen = device("write-while-frozen")
    frozen.b.workload("post", SRC, 0)
    assert frozen.b.workload("fetch", SRC, 0)
    frozen.set_mode(SRC, "STOP", "FREEZE")
    assert frozen.b.workload("dma", SRC, 0)
    noisy = device("notify-while-stopped")
    noisy.set_mode(SRC, "STOP")
    assert noisy.b.workload("config", SRC)


def test_command_during_flr_is_held(device):
    d = device()
    assert d.b.inject("flr_begin", SRC)
    assert d.b.submit(d.c.encode_command("DEV_MODE_SET", "SRIOV", SRC, {"mode": 0})) is None
    assert d.b.inject("flr_end", SRC)
    assert [e.KIND for e in d.b.events()] == ["complete"]
    early = device("flr-answers-early")
    assert early.b.inject("flr_begin", SRC)
    assert early.b.submit(early.c.encode_command("DEV_MODE_SET", "SRIOV", SRC, {"mode": 0})) is not None


def test_address_list_report_form(tmp_path, emulator):
    """A profile with `[write_report] form = "address-list"`: WR_REPORT returns le64 page
    addresses, WR_PENDING 8 bytes per recorded page."""
    from pathlib import Path

    from mcheck.trace.codec import Codec
    from mcheck.trace.profile import load_profile
    text = (Path(__file__).resolve().parents[2] / "models/profiles/draft-v1.toml").read_text()
    text = text.replace('result = [{ name = "bitmap", offset = 0, type = "bitmap" }]',
                        'result = [{ name = "addresses", offset = 0, type = "page_addresses" }]')
    text = text.replace('form = "bitmap"', 'form = "address-list"')
    prof = tmp_path / "addr.toml"
    prof.write_text(text)
    d = Dev(emulator("addr", profile="draft-v1", members=2, extra=["--wire-profile", str(prof)]))
    try:
        d.c = Codec(load_profile(prof))
        assert d.start(0, PAGES + 1) == ("OK", {})
        d.buffer(page=1)
        assert d.ok("WR_PENDING")["pending_bytes"] == 16                    # two pages recorded
        assert d.ok("WR_REPORT", range_addr=0, range_len=(PAGES + 1) * PAGE)["addresses"] == [PAGE, RING * PAGE]
        assert d.ok("WR_PENDING")["pending_bytes"] == 0
        assert d.ok("WR_REPORT", range_addr=0, range_len=(PAGES + 1) * PAGE).get("addresses", []) == []
    finally:
        d.close()


def test_a_stream_may_begin_with_any_context_entry(dev):
    """A chunk that begins with an entry header (a type the profile defines, reserved zero)
    opens a stream, whatever the entry (the observer's reading of DRAFT-CTX-5); the context
    is complete once every field has arrived, in any order."""
    ctx = _source_context(dev)
    dev.set_mode(DST, "FREEZE")
    assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx[head_size():])[0] == "OK"     # the VQ_SPLIT entry first
    assert dev.cmd("DEV_MODE_SET", DST, mode=0)[0] == "EINVAL"
    assert dev.cmd("DEV_CTX_WRITE", DST, context=ctx[:head_size()])[0] == "OK"
    assert dev.context(DST) == ctx
    bad = bytearray(ctx)
    bad[2] = 1                                                                      # reserved byte set
    assert dev.cmd("DEV_CTX_WRITE", DST, context=bytes(bad))[0] == "EINVAL"


@pytest.mark.parametrize("bug", [None, "wr-stop-ignored"])
def test_wr_stop_turns_recording_off(device, bug):
    d = device(bug)
    d.start()
    d.ok("WR_STOP", range_addr=0)
    d.buffer(page=0)
    assert d.ok("WR_PENDING")["pending_bytes"] == (1 if bug else 0)
    assert d.report() == (0b101 if bug else 0)


@pytest.mark.parametrize("args,error", [
    (["--ctx-chunk", "40"], "mcheck: error: --ctx-chunk: only the draft-v1 device takes this option"),
    (["--profile", "draft-v1", "--ctx-chunk", "0"], "mcheck: error: draft-v1 device: chunk 0: must be a positive number of bytes"),
    (["--flr-mode", "active"], "mcheck: error: --flr-mode: only the draft-v1 device takes this option"),
])
def test_draft_options_are_one_line_errors(tmp_path, args, error):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "mcheck.device", "emulate", "--listen", f"unix:{tmp_path / 'x.sock'}",
                        *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == error, r.stderr
