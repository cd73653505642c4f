"""Generate the reference traces (traces/linux/) and the faulty captures (traces/faulty/).

Deterministic: the same profile and code give byte-identical files. Every admin command
is built with the virtio-1.4 codec in the exact layout Linux's virtio_pci_modern sends
(shared/reference/linux-qemu-flows.md §1.2: DEV_MODE_SET 25 bytes, DRIVER_CAP_SET 34,
DEVICE_CAP_GET result 10, ...), following the reference sequences of §9 (R0..R6).

Every trace starts with an owner reset and the R0 PF bring-up, so the model's initial
state applies; the header names one member (VF 1) and two queues, which is what the
default replay model is sized from. `traces/manifest.json` lists every trace with the
model parameters it needs (only `faulty/flr-keeps-parts` needs one) and, for a faulty
capture, the catalogue bug, the event index and clause of each divergence.

Run from the repository root:  PYTHONPATH=. python traces/make_flows.py [OUTDIR]
tests/replay/test_reference_traces.py checks that the committed files equal its output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

from mcheck.device.virtio14 import DRIVER_OK_STATUS, SUPPORTED, Virtio14Device
from mcheck.trace.codec import Codec, opcode_words
from mcheck.trace.events import (
    AdminCommand, AdminComplete, AdminSubmit, Annotation, DmaWrite, Doorbell, Event, FlrBegin, FlrEnd, OwnerReset,
    TraceHeader, UsedNotify,
)
from mcheck.trace.io import write_trace
from mcheck.trace.profile import load_profile

OUT = Path(__file__).resolve().parent
SR, SELF = "SRIOV", "SELF"
V = 1            # the VF's member id (VF index + 1)
QUEUES = 2       # rx and tx of a virtio-net VF
HEADER = TraceHeader(profile="virtio-1.4", members=(V,), queues=QUEUES)
T0 = 1_700_000_000_000_000_000

# The device the traces describe is the software device emulator (mcheck/device/virtio14.py)
# in this configuration, so every reference trace also replays clean to
#     mcheck emulate --listen unix:S --members 1 --queues 2 --objects 4
# with `mcheck replay TRACE --backend emulator:unix:S` (traces/README.md). Its answers
# (opcodes, object limits, device parts and their size) are taken from that implementation.
EMULATOR = {"members": 1, "queues": QUEUES, "objects": 4}
DEVICE = Virtio14Device(**EMULATOR)

# linux-qemu-flows.md §1.1: what the device reports and what Linux enables
DEVICE_OPCODES = sorted(SUPPORTED)
LINUX_DEVPARTS_BITMAP = [0x7, 0x8, 0x9, 0xA, 0xD, 0xE, 0xF, 0x10, 0x11]
DEVICE_LIMIT = DEVICE.n_objects   # DEVICE_CAP_GET: get and set object limits


def device_parts(*, status: int = DRIVER_OK_STATUS, order: str = "table", missing_vq: bool = False) -> list[dict[str, Any]]:
    """A GET(ALL) answer of the emulator's VF with this device_status (DRIVER_OK: the guest
    driver runs), in order-table order. `order="wrong"` puts DEVICE_STATUS before
    DRV_FEATURES; `missing_vq` leaves out the last queue's VQ_CFG (catalogue bugs)."""
    member = DEVICE._new_member(V)
    member.status = status
    parts = DEVICE.parts(member)
    if order == "wrong":
        parts[1], parts[2] = parts[2], parts[1]
    if missing_vq:
        parts = [p for p in parts if not (p["type"] == "VQ_CFG" and p["index"] == QUEUES - 1)]
    return parts


class Flow:
    """Builds one trace: numbers events, advances a fake clock (1 µs per event) and
    remembers marks (named event indices) for the manifest."""

    def __init__(self) -> None:
        self.codec = Codec(load_profile("virtio-1.4"))
        self.events: list[Event] = []
        self.marks: dict[str, int] = {}
        self.get_size = len(self.codec.encode_result("DEV_PARTS_GET", "OK", "OK", {"parts": device_parts()})) - 8

    def _common(self) -> dict[str, int]:
        n = len(self.events)
        return {"index": n, "timestamp": T0 + 1000 * n}

    def mark(self, name: str) -> None:
        """Name the last event (for the manifest)."""
        self.marks[name] = self.events[-1].index

    # -- raw building blocks
    def cmd(self, name: str, group: str, member: int, fields: dict[str, Any], status: str = "OK",
            qualifier: str = "OK", result: dict[str, Any] | None = None, *, complete: bool = True) -> int:
        readable = self.codec.encode_command(name, group, member, fields)
        writable = self.codec.encode_result(name, status, qualifier, result or {}) if complete else None
        self.events.append(AdminCommand(**self._common(), readable=readable, writable=writable, codec=self.codec))
        return self.events[-1].index

    def submit(self, tag: int, name: str, group: str, member: int, fields: dict[str, Any]) -> None:
        readable = self.codec.encode_command(name, group, member, fields)
        self.events.append(AdminSubmit(**self._common(), tag=tag, readable=readable, codec=self.codec))

    def complete(self, tag: int, name: str, status: str = "OK", qualifier: str = "OK") -> int:
        writable = self.codec.encode_result(name, status, qualifier, {})
        self.events.append(AdminComplete(**self._common(), tag=tag, writable=writable))
        return self.events[-1].index

    def side(self, cls: Callable[..., Event], **kw: Any) -> int:
        self.events.append(cls(**self._common(), **kw))
        return self.events[-1].index

    def note(self, text: str) -> None:
        self.side(Annotation, text=text)

    # -- Linux's commands (linux-qemu-flows.md §9.0 short forms)
    def list_query(self) -> None:
        self.cmd("LIST_QUERY", SR, 0, {}, result={"opcodes": opcode_words(DEVICE_OPCODES)})

    def list_use(self) -> None:
        used = sorted(set(DEVICE_OPCODES) & set(LINUX_DEVPARTS_BITMAP))
        self.cmd("LIST_USE", SR, 0, {"opcodes": opcode_words(used)})

    def obj_create(self, oid: int, kind: str, **kw: Any) -> int:
        return self.cmd("RESOURCE_OBJ_CREATE", SR, V,
                        {"obj_type": 0, "obj_id": oid, "flags": 0, "parts_type": {"get": 0, "set": 1}[kind]}, **kw)

    def obj_destroy(self, oid: int, **kw: Any) -> int:
        return self.cmd("RESOURCE_OBJ_DESTROY", SR, V, {"obj_type": 0, "obj_id": oid}, **kw)

    def meta_size(self, oid: int, **kw: Any) -> int:
        return self.cmd("DEV_PARTS_METADATA_GET", SR, V, {"obj_type": 0, "obj_id": oid, "type": 0},
                        result={"value": self.get_size, "headers": []}, **kw)

    def get_all(self, oid: int, **parts_kw: Any) -> int:
        return self.cmd("DEV_PARTS_GET", SR, V, {"obj_type": 0, "obj_id": oid, "type": 1, "headers": []},
                        result={"parts": device_parts(**parts_kw)})

    def parts_set(self, oid: int, **kw: Any) -> int:
        return self.cmd("DEV_PARTS_SET", SR, V, {"obj_type": 0, "obj_id": oid, "parts": device_parts()}, **kw)

    def mode_set(self, flags: int, **kw: Any) -> int:
        return self.cmd("DEV_MODE_SET", SR, V, {"flags": flags}, **kw)

    def stop(self, **kw: Any) -> int:
        return self.mode_set(0x01, **kw)

    def resume(self, **kw: Any) -> int:
        return self.mode_set(0x00, **kw)

    def flr(self) -> None:
        self.side(FlrBegin, member=V)
        self.side(FlrEnd, member=V)

    def io(self, rounds: int = 1) -> None:
        """Guest I/O while the member runs: doorbell, the device's DMA write, used notification."""
        for r in range(rounds):
            q = r % QUEUES
            self.side(Doorbell, member=V, queue=q)
            self.side(DmaWrite, member=V, address=0x200000 + 0x1000 * r, length=1514)
            self.side(UsedNotify, member=V, queue=q)

    # -- reference sequences
    def r0(self) -> None:
        """Owner reset, then R0 PF bring-up (§1.4, §9.1) and QEMU's machine-reset FLR of the VF."""
        self.side(OwnerReset)
        self.note("R0: PF bring-up (vp_modern_avq_activate)")
        self.list_query()
        self.list_use()
        self.cmd("CAP_ID_LIST_QUERY", SELF, 0, {}, result={"supported_caps": [1]})
        self.cmd("DEVICE_CAP_GET", SELF, 0, {"id": 0},
                 result={"get_parts_limit": DEVICE_LIMIT, "set_parts_limit": DEVICE_LIMIT})
        self.cmd("DRIVER_CAP_SET", SELF, 0, {"id": 0, "get_parts_limit": DEVICE_LIMIT, "set_parts_limit": DEVICE_LIMIT})
        self.note("QEMU opens the VF; machine reset: VFIO_DEVICE_RESET")
        self.flr()

    def r1_precopy(self, rounds: int = 1) -> None:
        """R1 steps 1-4: MIG_DATA_SIZE, RUNNING->PRE_COPY, PRECOPY_INFO, `rounds` iterations."""
        self.note("guest running")
        self.io(2)
        self.note("R1.1 save_setup: MIG_DATA_SIZE (temporary object)")
        self.obj_create(0, "get")
        self.meta_size(0)
        self.obj_destroy(0)
        self.note("R1.2 [k] RUNNING->PRE_COPY")
        self.obj_create(0, "get")
        self.meta_size(0)
        self.get_all(0)
        self.note("R1.3 PRECOPY_INFO")
        self.meta_size(0)
        for r in range(rounds):
            self.io(2)
            self.note(f"R1.4 iteration {r + 1}: MIG_DATA_SIZE, PRECOPY_INFO re-read")
            self.meta_size(0)
            self.meta_size(0)
            self.get_all(0)
            self.io(1)

    def r1_switchover(self) -> None:
        """R1 steps 5a-5b: PRE_COPY->PRE_COPY_P2P (stop), PRE_COPY_P2P->STOP_COPY (final GET)."""
        self.note("R1.5a vm_stop: [k] PRE_COPY->PRE_COPY_P2P")
        self.stop()
        self.mark("stop")
        self.note("R1.5b [k] PRE_COPY_P2P->STOP_COPY: final record")
        self.meta_size(0)
        self.get_all(0)

    def r2_load(self, records: int = 3) -> None:
        """R2 steps 1-2: SET RESUMING (stop, create SET object), one PARTS_SET per record."""
        self.note("R2.1 load_setup: [k] RUNNING->RUNNING_P2P->STOP->RESUMING")
        self.stop()
        self.obj_create(0, "set")
        for r in range(records):
            self.note(f"R2.2 record {r + 1}")
            self.parts_set(0)


# ---------------------------------------------------------------------- reference traces

def r0_pf_bringup() -> Flow:
    f = Flow()
    f.r0()
    f.note("VF running")
    f.io(2)
    return f


def r1_source() -> Flow:
    f = Flow()
    f.r0()
    f.r1_precopy(rounds=2)
    f.r1_switchover()
    f.note("R1.7 save_cleanup: [k] STOP_COPY->STOP")
    f.obj_destroy(0)
    f.note("R1.8 QEMU exits: close_device, function reset")
    f.flr()
    return f


def r2_destination() -> Flow:
    f = Flow()
    f.r0()
    f.r2_load(records=4)
    f.note("R2.4a vm_start prepare: [k] RESUMING->STOP->RUNNING_P2P")
    f.obj_destroy(0)
    f.note("R2.4c [k] RUNNING_P2P->RUNNING")
    f.resume()
    f.note("guest running on the destination")
    f.io(3)
    return f


def r3_source() -> Flow:
    f = Flow()
    f.r0()
    f.r1_precopy(rounds=1)
    f.note("R3.7 cancel: PRECOPY_FAILED notifier, [k] PRE_COPY->RUNNING")
    f.obj_destroy(0)
    f.note("guest keeps running")
    f.io(2)
    return f


def r3_destination() -> Flow:
    f = Flow()
    f.r0()
    f.r2_load(records=1)
    f.note("R3 load fails; QEMU exits: close_device")
    f.obj_destroy(0)
    f.flr()
    return f


def r4_source() -> Flow:
    f = Flow()
    f.r0()
    f.r1_precopy(rounds=1)
    f.r1_switchover()
    f.note("R4.6a cancel after switchover, vm_start prepare: [k] STOP_COPY->STOP->RUNNING_P2P")
    f.obj_destroy(0)
    f.note("R4.6c [k] RUNNING_P2P->RUNNING")
    f.resume()
    f.note("guest running again on the source")
    f.io(2)
    return f


def r4_destination() -> Flow:
    f = Flow()
    f.r0()
    f.r2_load(records=3)
    f.note("R4 destination: the final record was applied, then the migration was cancelled; QEMU exits")
    f.obj_destroy(0)
    f.flr()
    return f


def r6_source() -> Flow:
    f = Flow()
    f.r0()
    f.r1_precopy(rounds=1)
    f.r1_switchover()
    f.note("R6.6 FLR of the VF while QEMU drains the stream")
    f.flr()
    f.note("R6.8 reset_done: the object survived the FLR (T5)")
    f.obj_destroy(0)
    f.note("R6.10 vm_start prepare: [k] RUNNING->RUNNING_P2P")
    f.stop()
    f.note("R6.11 [k] RUNNING_P2P->RUNNING")
    f.resume()
    return f


REFERENCE: dict[str, Callable[[], Flow]] = {
    "r0-pf-bringup": r0_pf_bringup,
    "r1-precopy-source": r1_source,
    "r2-precopy-destination": r2_destination,
    "r3-cancel-precopy-source": r3_source,
    "r3-cancel-precopy-destination": r3_destination,
    "r4-cancel-after-switchover-source": r4_source,
    "r4-cancel-after-switchover-destination": r4_destination,
    "r6-flr-during-stopcopy-source": r6_source,
}

# ---------------------------------------------------------------------- faulty captures
# Each returns the flow and its divergences: the event index where the capture first
# contradicts the model and a clause the report must name there; and where the fault
# itself shows (`fault_index`, `fault_clause`: the property the catalogue bug breaks,
# reported as a suspect), which is earlier when the capture reveals the fault only later.


def _source_until_stop(rounds: int = 0) -> Flow:
    f = Flow()
    f.r0()
    f.r1_precopy(rounds=rounds)
    f.note("R1.5a vm_stop: [k] PRE_COPY->PRE_COPY_P2P")
    f.io(1)
    f.side(Doorbell, member=V, queue=1)   # a buffer posted just before the stop
    f.stop()
    f.mark("stop")
    return f


def faulty_dma_after_stop() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop()
    i = f.side(DmaWrite, member=V, address=0x300000, length=64)   # the in-flight buffer, finished late
    f.meta_size(0)
    f.get_all(0)
    # the stop completed with the buffer still in flight: that is where the fault is
    return f, [{"index": i, "clause": "D-DP-9", "fault_index": f.marks["stop"], "fault_clause": "D-DP-10"}]


def faulty_notify_after_stop() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop()
    i = f.side(UsedNotify, member=V, queue=0)
    f.meta_size(0)
    f.get_all(0)
    return f, [{"index": i, "clause": "D-DP-16"}]


def faulty_set_while_running() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow()
    f.r0()
    f.note("destination without the stop: SET RESUMING skipped the MODE_SET")
    f.obj_create(0, "set")
    i = f.parts_set(0)   # answered OK although the member runs
    f.obj_destroy(0)
    return f, [{"index": i, "clause": "D-DP-4"}]


def faulty_parts_out_of_order() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow()
    f.r0()
    f.io(1)
    f.obj_create(0, "get")
    f.meta_size(0)
    i = f.get_all(0, order="wrong")
    f.obj_destroy(0)
    return f, [{"index": i, "clause": "D-DP-3"}]


def faulty_parts_missing_vq() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow()
    f.r0()
    f.io(1)
    f.obj_create(0, "get")
    f.meta_size(0)
    i = f.get_all(0, missing_vq=True)
    f.obj_destroy(0)
    return f, [{"index": i, "clause": "I-DP-8"}]


def faulty_mode_set_during_flr() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow()
    f.r0()
    f.r1_precopy(rounds=0)
    f.r1_switchover()
    f.note("FLR of the VF; a MODE_SET sent meanwhile is answered before the FLR ends")
    f.side(FlrBegin, member=V)
    f.obj_destroy(0)
    i = f.stop()
    f.side(FlrEnd, member=V)
    return f, [{"index": i, "clause": "D-DP-17"}]


def faulty_stop_not_idempotent() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop()
    f.note("a second stop of the stopped member")
    i = f.stop(status="EBUSY")
    f.meta_size(0)
    f.get_all(0)
    return f, [{"index": i, "clause": "D-DP-20"}]


def faulty_einval_side_effect() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow()
    f.r0()
    f.obj_create(0, "set")
    fault = f.mode_set(0x03, status="EINVAL", qualifier="INVALID_FIELD")   # reserved flag bit: rejected...
    f.note("...yet the member acts stopped: the SET is accepted")
    i = f.parts_set(0)
    f.obj_destroy(0)
    return f, [{"index": i, "clause": "D-DP-4", "fault_index": fault, "fault_clause": "D-GA-3"}]


def faulty_flr_keeps_parts() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow()
    f.r0()
    f.r1_precopy(rounds=0)
    f.r1_switchover()
    f.note("FLR of the VF while QEMU still reads the stream; the device answers GETs during the FLR (Q7)")
    fault = f.side(FlrBegin, member=V)
    f.meta_size(0)
    i = f.get_all(0)     # DEVICE_STATUS still 0x0F: the FLR kept the parts
    f.side(FlrEnd, member=V)
    f.obj_destroy(0)
    return f, [{"index": i, "clause": "D-DP-2", "fault_index": fault, "fault_clause": "D-DP-22"}]


def faulty_two_divergences() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop()
    first = f.side(DmaWrite, member=V, address=0x300000, length=64)
    f.meta_size(0)
    f.get_all(0)
    f.note("a second stop of the stopped member")
    second = f.stop(status="EBUSY")
    f.obj_destroy(0)
    return f, [{"index": first, "clause": "D-DP-9", "fault_index": f.marks["stop"], "fault_clause": "D-DP-10",
                "bug": "dma-after-stop"},
               {"index": second, "clause": "D-DP-20", "bug": "stop-not-idempotent"}]


FAULTY: dict[str, tuple[str | None, Callable[[], tuple[Flow, list[dict[str, Any]]]], dict[str, Any]]] = {
    # name: (catalogue bug, builder, model parameters the replay needs)
    "dma-after-stop": ("dma-after-stop", faulty_dma_after_stop, {}),
    "notify-after-stop": ("notify-after-stop", faulty_notify_after_stop, {}),
    "set-while-running": ("set-while-running", faulty_set_while_running, {}),
    "parts-out-of-order": ("parts-out-of-order", faulty_parts_out_of_order, {}),
    "parts-missing-vq": ("parts-missing-vq", faulty_parts_missing_vq, {}),
    "mode-set-during-flr": ("mode-set-during-flr", faulty_mode_set_during_flr, {}),
    "stop-not-idempotent": ("stop-not-idempotent", faulty_stop_not_idempotent, {}),
    "einval-side-effect": ("einval-side-effect", faulty_einval_side_effect, {}),
    # a GET is the only way a capture shows the parts; answered during the FLR, or a hidden
    # guest re-initialisation after it could explain any DEVICE_STATUS
    "flr-keeps-parts": ("flr-keeps-parts", faulty_flr_keeps_parts, {"get_during_flr": "answer"}),
    # for --keep-going: a DMA write after the stop, then a second stop answered EBUSY
    "two-divergences": (None, faulty_two_divergences, {}),
}


def write_all(out: Path = OUT) -> list[Path]:
    written: list[Path] = []
    manifest: dict[str, Any] = {"reference": {}, "faulty": {}}

    def emit(sub: str, name: str, flow: Flow) -> str:
        (out / sub).mkdir(parents=True, exist_ok=True)
        for ext in (".jsonl", ".pcapng"):
            path = out / sub / f"{name}{ext}"
            write_trace(path, HEADER, flow.events)
            written.append(path)
        return f"{sub}/{name}"

    for name, build in REFERENCE.items():
        flow = build()
        manifest["reference"][emit("linux", name, flow)] = {"events": len(flow.events), "params": {}}
    for name, (bug, build, params) in FAULTY.items():
        flow, divergences = build()
        for d in divergences:
            d.setdefault("bug", bug)
            d.setdefault("fault_index", d["index"])
            d.setdefault("fault_clause", d["clause"])
        manifest["faulty"][emit("faulty", name, flow)] = {
            "events": len(flow.events), "bug": bug, "params": params, "divergences": divergences}
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
