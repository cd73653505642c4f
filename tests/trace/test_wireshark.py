"""The Lua dissector under tshark, and the pyshark reader against the fast reader.

Without tshark these tests skip, except under CI=true, where they fail: CI must have it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.trace.io import read_trace, write_trace
from mcheck.trace.profile import load_profile
from mcheck.trace.pyshark_reader import DISSECTOR_PATH, read_trace_pyshark
from mcheck.trace.record import PROFILE_CODES
from tests.conftest import require_tool

REFERENCE_DIR = Path(__file__).resolve().parent / "data"
CAPTURES = sorted(REFERENCE_DIR.glob("*.pcapng"))


@pytest.fixture(scope="module")
def tshark() -> str:
    return require_tool("tshark", "apt-get install -y tshark; the dissector cannot be checked")


@pytest.fixture(scope="module")
def verbose(tshark: str) -> dict[str, str]:
    """`tshark -V` output for every reference capture, one tshark run each."""
    out = {}
    for capture in CAPTURES:
        done = subprocess.run([tshark, "-X", f"lua_script:{DISSECTOR_PATH}", "-r", str(capture), "-V"], capture_output=True, text=True, timeout=60, check=True)
        assert "Lua: Error" not in done.stderr and "Lua: Error" not in done.stdout, done.stderr
        out[capture.stem] = done.stdout
    return out


def test_reference_captures_exist() -> None:
    assert len(CAPTURES) >= 4


@pytest.mark.parametrize(
    ("capture", "lines"),
    [
        ("virtio14-source", [
            "Encapsulation type: USER 0 (45)",
            "Event kind: admin (1)",
            "Profile: virtio-1.4 (1)",
            "Command: DEV_MODE_SET",
            "Group type: SRIOV (1)",
            "Group member id: 1",
            "Mode flags (bit 0 = stopped): 0x01 (stop)",
            "Command: RESOURCE_OBJ_CREATE",
            "Resource object id: 0",
            "Device part: VQ_CFG (0x0104)",
            "Queue index: 1",
            "Status: EINVAL (22)",
            "Status qualifier: INVALID_MEMBER (0x0005)",
            "GET objects limit: 4",
            "Size / count: 4096",
            "DMA address: 0x0000000000012000",
            "Event kind: doorbell (7)",
            "Text: stop-copy",
        ]),
        ("draft-v1-migration", [
            "Profile: draft-v1 (2)",
            "Command: WR_START",
            "Range address: 0x0000000000100000",
            "Mode: FREEZE (2)",
            "Command: DEV_CTX_READ",
            "Remaining context size: 59",
            "Pending bytes: 2",
        ]),
        ("virtio14-split-records", [
            "Event kind: submit (2)",
            "Event kind: complete (3)",
            "Tag: 2",
            "Status: EBUSY (16)",
        ]),
        ("virtio14-destination", ["Event kind: flr_begin (8)", "Event kind: owner_reset (11)", "Command: DEV_PARTS_SET"]),
        ("virtio14-spec-corners", [
            "Command: unknown opcode 0x0013",
            "Group type: Unknown (2)",
            "Group member id: 18446744073709551615",
            "Status: Unknown (99)",
            "Status qualifier: Unknown (0x0009)",
            "Command: unknown opcode 0x8000",
            "Event kind: pm_begin (13)",
            "Event kind: pm_end (14)",
            "Event kind: pme (15)",
            "Event kind: pci_read (16)",
            "PCI read offset: 0x0000000000001000",
            "PCI read length: 4",
            "PCI read value: 0c00f0fe",
        ]),
    ],
)
def test_tshark_shows_decoded_fields(verbose: dict[str, str], capture: str, lines: list[str]) -> None:
    shown = {line.strip() for line in verbose[capture].splitlines()}
    missing = [line for line in lines if line not in shown]
    assert not missing, f"not in tshark -V output: {missing}"


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.stem for c in CAPTURES])
def test_pyshark_reader_matches_fast_reader(tshark: str, capture: Path) -> None:
    slow = read_trace_pyshark(capture)
    fast = read_trace(capture)
    assert slow.header == fast.header
    slow_events, fast_events = list(slow.events), list(fast.events)
    assert slow_events == fast_events
    assert len(fast_events) > 5


def test_tshark_summary_lines_of_the_new_kinds(tshark: str) -> None:
    capture = REFERENCE_DIR / "virtio14-spec-corners.pcapng"
    done = subprocess.run([tshark, "-X", f"lua_script:{DISSECTOR_PATH}", "-r", str(capture)], capture_output=True, text=True, timeout=60, check=True)
    assert "Lua: Error" not in done.stderr + done.stdout, done.stderr
    for info in ("admin 0x0013 member 18446744073709551615 -> 99", "pm_begin member 1", "pci_read member 1 offset 0x1000 value ffff", "pme member 1"):
        assert info in done.stdout, info


def test_pyshark_reader_on_a_hand_written_trace(tshark: str, tmp_path: Path) -> None:
    # Unknown opcodes, group types, statuses, member 2^64-1, the PM / PCI kinds and header params.
    hand = REFERENCE_DIR / "hand-written-corners.jsonl"
    capture = tmp_path / "hand.pcapng"
    trace = read_trace(hand)
    write_trace(capture, trace.header, trace.events)
    slow = read_trace_pyshark(capture)
    assert slow.header == read_trace(hand).header
    assert list(slow.events) == list(read_trace(hand).events)


def _lua_table(text: str, start: str) -> dict[int, str]:
    body = text[text.index(start) :]
    body = body[: body.index("}")]
    return {int(k, 0): v for k, v in re.findall(r'\[(0x[0-9A-Fa-f]+|\d+)\] = "(\w+)"', body)}


def test_lua_tables_match_the_profiles() -> None:
    text = DISSECTOR_PATH.read_text()
    for name, code in PROFILE_CODES.items():
        profile = load_profile(name)
        assert _lua_table(text, f"[{code}] = {{") == profile.opcode_names, name
    v14 = load_profile("virtio-1.4")
    assert _lua_table(text, "local STATUS = {") == v14.status_names
    assert _lua_table(text, "local QUALIFIERS = {") == v14.qualifier_names
    assert _lua_table(text, "local GROUP_TYPES = {") == v14.group_type_names
    assert _lua_table(text, "local PART_TYPES = {") == {n: p.name for n, p in v14.parts.items()}
    assert _lua_table(text, "local DRAFT_MODES = {") == {v: k for k, v in load_profile("draft-v1").modes.items()}


def test_pyshark_reader_on_a_truncated_capture(tshark: str, tmp_path: Path) -> None:
    src = REFERENCE_DIR / "virtio14-source.pcapng"
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(src.read_bytes()[:-10])
    got = []
    with pytest.raises(InputError, match=r"event 20 \(frame 22\): tshark could not read the capture: .*cut short"):
        for event in read_trace_pyshark(cut).events:
            got.append(event)
    assert got == list(read_trace(src).events)[:-1]
