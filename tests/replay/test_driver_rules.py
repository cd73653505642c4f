"""Driver-side rules of virtio 1.4 (models/virtio_driver_rules.py) on hand-written captures.

Every capture is written here byte by byte from the spec's layouts (virtio-1.4-device-parts.md
§2, §8, §10): one clause per capture, with the findings it must give, fed to DriverRules
directly and through replay (tests/models/relaxed.py carries the rules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcheck.replay import replay_file
from mcheck.trace.io import read_trace

from ._support import ROOT
from mcheck.models.virtio_driver_rules import DriverRules

MODEL = str(ROOT / "tests" / "models" / "relaxed.py")
SELF, SRIOV = 0x0, 0x1
LIST_QUERY, LIST_USE, DRIVER_CAP_SET = 0x0, 0x1, 0x9
OBJ_CREATE, OBJ_DESTROY, METADATA_GET, PARTS_GET, PARTS_SET, MODE_SET = 0xa, 0xd, 0xe, 0xf, 0x10, 0x11
ENOMEM = 12
DEV_FEATURES, DRV_FEATURES, VQ_CFG = 0x100, 0x101, 0x104


def le(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def pad8(b: bytes) -> bytes:
    return b + bytes(-len(b) % 8)


def admin(opcode: int, data: bytes = b"", *, group: int = SRIOV, member: int = 0, status: int | None = 0,
          result: bytes = b"", pad: bool = True) -> dict:
    """One admin command: 24-byte header (opcode, group type, reserved, member) + data, and
    the 8-byte status header + result; status None: no completion in the capture."""
    readable = le(opcode, 2) + le(group, 2) + bytes(12) + le(member, 8) + data
    event = {"kind": "admin", "readable": (pad8(readable) if pad else readable).hex()}
    if status is not None:
        writable = le(status, 2) + bytes(6) + result
        event["writable"] = (pad8(writable) if pad else writable).hex()
    return event


def words(*opcodes: int) -> bytes:
    word = 0
    for op in opcodes:
        word |= 1 << op
    return le(word, 8)


def part(ptype: int, value: bytes) -> bytes:
    return le(ptype, 2) + bytes(10) + le(len(value), 4) + value


def obj(obj_id: int) -> bytes:
    """A resource-object header: type 0 (DEV_PARTS), reserved, id."""
    return le(0, 2) + bytes(2) + le(obj_id, 4)


ALL_OPS = tuple(range(0x12))
BRING_UP = [
    {"kind": "owner_reset"},
    admin(LIST_QUERY, result=words(*ALL_OPS)),
    admin(LIST_USE, words(*ALL_OPS)),
    admin(LIST_QUERY, group=SELF, result=words(*ALL_OPS)),
    admin(LIST_USE, words(*ALL_OPS), group=SELF),
    admin(DRIVER_CAP_SET, le(1, 2) + bytes(6) + bytes([1, 1]), group=SELF),
]


def stop(member: int = 1, flags: int = 1, **kw) -> dict:
    return admin(MODE_SET, bytes([flags]), member=member, **kw)


def create(obj_id: int, **kw) -> dict:
    return admin(OBJ_CREATE, obj(obj_id) + bytes(8) + bytes([1]) + bytes(7), member=1, **kw)


def parts_set(*parts: bytes, member: int = 1) -> dict:
    return admin(PARTS_SET, obj(0) + b"".join(parts), member=member)


FEATURES = part(DEV_FEATURES, bytes(8))
DRIVER_FEATURES = part(DRV_FEATURES, bytes(8))
QUEUE = part(VQ_CFG, le(256, 2) + bytes(30))   # queue 0: size 256, the rest zero

CASES = {
    "clean": (BRING_UP + [create(0), stop(), parts_set(FEATURES, DRIVER_FEATURES, QUEUE), stop(flags=0),
                          admin(OBJ_DESTROY, obj(0), member=1)], []),
    # R-GA-2/R-GA-6: a group type is used before its LIST_USE completed OK (reported once)
    "before-list-use": ([{"kind": "owner_reset"}, admin(LIST_QUERY, result=words(*ALL_OPS)), stop(), stop(flags=0)],
                        ["R-GA-2,R-GA-6"]),
    # ... a LIST_USE answered with an error enables nothing
    "list-use-failed": ([{"kind": "owner_reset"}, admin(LIST_USE, words(*ALL_OPS), status=22), stop()],
                        ["R-GA-2,R-GA-6"]),
    # R-GA-5: LIST_USE enables DEV_MODE_SET, which LIST_QUERY did not report
    "unreported-opcode": ([{"kind": "owner_reset"}, admin(LIST_QUERY, result=words(0, 1)),
                           admin(LIST_USE, words(0, 1, MODE_SET))], ["R-GA-5"]),
    # R-GA-9: SR-IOV member 3 with NumVFs 2
    "member-out-of-range": (BRING_UP + [stop(member=3, status=22)], ["R-GA-9"]),
    # R-AQ-2: DEV_MODE_SET as Linux sends it, 25 readable bytes (linux-qemu-flows T2)
    "short-buffer": (BRING_UP + [stop(pad=False)], ["R-AQ-2"]),
    # R-DP-1: a SET for a member that runs; after its FLR the mode is unknown: no finding
    "set-while-running": (BRING_UP + [create(0), parts_set(QUEUE)], ["R-DP-1"]),
    "set-after-flr": (BRING_UP + [create(0), stop(), {"kind": "flr_begin", "member": 1},
                                  {"kind": "flr_end", "member": 1}, parts_set(QUEUE)], []),
    "set-after-failed-stop": (BRING_UP + [create(0), stop(status=22), parts_set(QUEUE)], ["R-DP-1"]),
    # R-DP-2: VQ_CFG before DRV_FEATURES
    "parts-out-of-order": (BRING_UP + [create(0), stop(), parts_set(FEATURES, QUEUE, DRIVER_FEATURES)], ["R-DP-2"]),
    # R-CAP-1: an object created before any DRIVER_CAP_SET answered OK
    "create-before-cap": (BRING_UP[:5] + [create(0)], ["R-CAP-1"]),
    "create-after-failed-cap": (BRING_UP[:5] + [admin(DRIVER_CAP_SET, le(1, 2) + bytes(6) + bytes([1, 1]), group=SELF,
                                                      status=22), create(0)], ["R-CAP-1"]),
    # R-CAP-3: the capability changes while an object exists; the same values again are no change
    "cap-change-with-objects": (BRING_UP + [create(0),
                                            admin(DRIVER_CAP_SET, le(1, 2) + bytes(6) + bytes([1, 1]), group=SELF),
                                            admin(DRIVER_CAP_SET, le(1, 2) + bytes(6) + bytes([0, 0]), group=SELF)],
                                ["R-CAP-3"]),
    # R-RO-1: object 0 created twice; after its destruction it may be created again
    "duplicate-create": (BRING_UP + [create(0), create(0, status=17), admin(OBJ_DESTROY, obj(0), member=1),
                                     create(0)], ["R-RO-1"]),
    # an owner reset destroys objects and driver capabilities (D-RO-8, D-CAP-5)
    "after-owner-reset": (BRING_UP + [create(0)] + BRING_UP + [create(0)], []),
    # R-DP-4 (SHOULD): METADATA_GET into a result buffer too small, answered ENOMEM (I-DP-3)
    "metadata-small": (BRING_UP + [create(0), admin(METADATA_GET, obj(0) + bytes(8), member=1, status=ENOMEM)],
                       ["R-DP-4"]),
    # a GET answer shorter than SIZE is normal (SIZE is an upper bound), and the used length
    # shows what the device wrote, not the buffer: no driver finding
    "get-short": (BRING_UP + [create(0), admin(METADATA_GET, obj(0) + bytes(8), member=1, result=le(64, 4) + bytes(4)),
                              admin(PARTS_GET, obj(0) + bytes([1]) + bytes(7), member=1, result=bytes(16))],
                  []),
}


def write_capture(path: Path, events: list[dict]) -> Path:
    lines = [{"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1, 2], "queues": 1}]
    lines += [{"i": i, "t": 1000 * i, **ev} for i, ev in enumerate(events)]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def direct(path: Path) -> list[str]:
    rules = DriverRules({"members": 2})
    out = []
    for event in read_trace(path, join=True).events:
        out += [clause for clause, _ in rules.step(event, None)]
    return out + [clause for clause, _ in rules.finish()]


@pytest.mark.parametrize("name", sorted(CASES))
def test_driver_rules_on_hand_written_captures(tmp_path: Path, name: str) -> None:
    events, expected = CASES[name]
    path = write_capture(tmp_path / f"{name}.jsonl", events)
    assert direct(path) == expected


def test_findings_through_replay_never_change_the_verdict(tmp_path: Path) -> None:
    events, _ = CASES["set-while-running"]
    path = write_capture(tmp_path / "r.jsonl", events)
    result = replay_file(path, model=MODEL, params={"members": 2, "compat": "linux"})
    assert result.verdict == "holds"
    found = [(f["index"], f["clauses"]) for f in result.driver_findings]
    assert found == [(len(events) - 1, ["R-DP-1"])]
    assert result.driver_findings[0]["message"].startswith(f"event {len(events) - 1}: DEV_PARTS_SET for member 1")
    assert result.coverage["driver_findings"] == {"R-DP-1": 1}
    assert result.to_dict()["driver_findings"] == result.driver_findings


def test_should_findings_say_should(tmp_path: Path) -> None:
    events, _ = CASES["metadata-small"]
    rules = DriverRules({"members": 2})
    texts = [text for ev in read_trace(write_capture(tmp_path / "g.jsonl", events), join=True).events
             for _, text in rules.step(ev, None)]
    assert len(texts) == 1 and "SHOULD" in texts[0]


def test_list_use_while_another_command_is_outstanding(tmp_path: Path) -> None:
    """R-GA-3 needs the submit/complete records: a joined command is atomic."""
    mode_set = admin(MODE_SET, bytes([1]), member=1)
    list_use = admin(LIST_USE, words(*ALL_OPS))
    events = BRING_UP + [
        {"kind": "submit", "tag": 1, "readable": mode_set["readable"]},
        {"kind": "submit", "tag": 2, "readable": list_use["readable"]},
        {"kind": "complete", "tag": 1, "writable": mode_set["writable"]},
        {"kind": "complete", "tag": 2, "writable": list_use["writable"]},
    ]
    path = write_capture(tmp_path / "split.jsonl", events)
    rules = DriverRules({"members": 2})
    found = [clause for ev in read_trace(path, join=False).events for clause, _ in rules.step(ev, None)]
    assert found == ["R-GA-3"]
