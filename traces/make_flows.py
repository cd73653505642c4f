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

from mcheck.device.virtio14 import DRIVER_OK_STATUS, Virtio14Device
from mcheck.trace.codec import Codec, opcode_words, opcodes_of
from mcheck.trace.events import (
    AdminCommand, AdminComplete, AdminSubmit, Annotation, ConfigNotify, DmaWrite, Doorbell, Event, FlrBegin, FlrEnd,
    OwnerReset, PciRead, PmBegin, PmEnd, Pme, TraceHeader, UsedNotify,
)
from mcheck.trace.io import write_trace
from mcheck.trace.profile import load_profile

OUT = Path(__file__).resolve().parent
SR, SELF = "SRIOV", "SELF"
V = 1            # the VF's member id (VF index + 1)
QUEUES = 2       # rx and tx of a virtio-net VF
HEADER = TraceHeader(profile="virtio-1.4", members=(V,), queues=QUEUES, params={"objects": 4, "compat": "linux"})
T0 = 1_700_000_000_000_000_000

# Every answer, DMA write and notification in these traces is produced by the software
# device emulator (mcheck/device/virtio14.py) driven with Linux's commands: the traces are
# *generated*, not captured from hardware. They test the plumbing (codec, readers, replay
# engine, backends); the oracle's evidence is the hand-written traces/spec/. The Linux
# flows' device is the emulator with `compat="linux"` (Linux needs T1a and T1b), so they
# replay clean with `mcheck replay TRACE -p compat=linux`, and also to
#     mcheck emulate --listen unix:S --compat linux --members 1 --queues 2 --objects 4
# A faulty capture is the same flow on the emulator with one catalogue `--bug` switched on.
EMULATOR = {"members": 1, "queues": QUEUES, "objects": 4}
COMPAT = "linux"

# linux-qemu-flows.md §1.1: what Linux enables (the device's LIST_QUERY answer is the emulator's)
LINUX_DEVPARTS_BITMAP = [0x7, 0x8, 0x9, 0xA, 0xD, 0xE, 0xF, 0x10, 0x11]
DEVICE_LIMIT = Virtio14Device(**EMULATOR).n_objects   # DEVICE_CAP_GET: get and set object limits


class Flow:
    """Builds one trace by driving an emulator: numbers events, advances a fake clock
    (1 µs per event) and remembers marks (named event indices) for the manifest."""

    def __init__(self, bugs: frozenset[str] | set[str] = frozenset(), compat: str = COMPAT) -> None:
        self.codec = Codec(load_profile("virtio-1.4"))
        self.dev = Virtio14Device(**EMULATOR, bugs=set(bugs), compat=compat)
        self.events: list[Event] = []
        self.marks: dict[str, int] = {}
        self.next_tag = 1
        self.opcodes: list[int] = []

    def _common(self) -> dict[str, int]:
        n = len(self.events)
        return {"index": n, "timestamp": T0 + 1000 * n}

    def mark(self, name: str) -> None:
        """Name the last event (for the manifest)."""
        self.marks[name] = self.events[-1].index

    def _device_events(self, events: list[tuple]) -> int | None:
        """Record what the emulator did; the index of the last event recorded."""
        last = None
        for ev in events:
            kind = ev[0]
            if kind == "dma_write":
                last = self.side(DmaWrite, member=ev[1], address=ev[2], length=ev[3])
            elif kind == "used_notify":
                last = self.side(UsedNotify, member=ev[1], queue=ev[2])
            elif kind == "config_notify":
                last = self.side(ConfigNotify, member=ev[1])
            elif kind == "pme":
                last = self.side(Pme, member=ev[1])
            elif kind == "complete":
                self.events.append(AdminComplete(**self._common(), tag=ev[1], writable=ev[2]))
                last = self.events[-1].index
            else:
                raise ValueError(f"emulator event {ev!r} has no trace event here")
        return last

    # -- raw building blocks
    def cmd(self, name: str, group: str, member: int, fields: dict[str, Any]) -> int:
        """Send one command to the emulator; its answer (or, held, its later completion) is recorded."""
        readable = self.codec.encode_command(name, group, member, fields)
        tag = self.next_tag
        self.next_tag += 1
        writable, events = self.dev.admin(tag, readable)
        self._device_events(events)
        if writable is None:
            self.events.append(AdminSubmit(**self._common(), tag=tag, readable=readable, codec=self.codec))
        else:
            self.events.append(AdminCommand(**self._common(), readable=readable, writable=writable, codec=self.codec))
        return self.events[-1].index

    def side(self, cls: Callable[..., Event], **kw: Any) -> int:
        self.events.append(cls(**self._common(), **kw))
        return self.events[-1].index

    def fault(self, kind: str, cls: Callable[..., Event]) -> int:
        """A fault of the VF: recorded, then the emulator's reaction (held commands answered)."""
        i = self.side(cls, member=V)
        done, events = self.dev.inject(kind, V)
        assert done, kind
        self._device_events(events)
        return i

    def step(self, op: str, q: int = 0) -> int | None:
        """One guest or device step on the emulator; the index of the last event it made."""
        done, events = self.dev.workload(op, V, q)
        last = None
        if done and op == "post":       # the guest notifies the queue; the device serves it from then on
            last = self.side(Doorbell, member=V, queue=q)
            self.dev.inject("doorbell", V, q)
        if op == "pci_read":
            ev = events[0]
            return self.side(PciRead, member=V, offset=0, length=len(ev[3]), value=ev[3])
        return self._device_events(events) if events else last

    def note(self, text: str) -> None:
        self.side(Annotation, text=text)

    # -- Linux's commands (linux-qemu-flows.md §9.0 short forms)
    def list_query(self) -> None:
        self.cmd("LIST_QUERY", SR, 0, {})
        answer = self.codec.decode_result("LIST_QUERY", self.events[-1].writable)
        self.opcodes = opcodes_of(answer.fields["opcodes"])

    def list_use(self, extra_ops: tuple[int, ...] = ()) -> None:
        used = sorted(set(self.opcodes) & (set(LINUX_DEVPARTS_BITMAP) | set(extra_ops)))
        self.cmd("LIST_USE", SR, 0, {"opcodes": opcode_words(used)})
        self.mark("list_use")

    def obj_create(self, oid: int, kind: str) -> int:
        return self.cmd("RESOURCE_OBJ_CREATE", SR, V,
                        {"obj_type": 0, "obj_id": oid, "flags": 0, "parts_type": {"get": 0, "set": 1}[kind]})

    def obj_destroy(self, oid: int) -> int:
        return self.cmd("RESOURCE_OBJ_DESTROY", SR, V, {"obj_type": 0, "obj_id": oid})

    def meta_size(self, oid: int) -> int:
        return self.cmd("DEV_PARTS_METADATA_GET", SR, V, {"obj_type": 0, "obj_id": oid, "type": 0})

    def get_all(self, oid: int) -> int:
        return self.cmd("DEV_PARTS_GET", SR, V, {"obj_type": 0, "obj_id": oid, "type": 1, "headers": []})

    def parts_set(self, oid: int, status: int = DRIVER_OK_STATUS) -> int:
        """A record as the source sends it: the parts of a VF with this device_status."""
        member = self.dev._new_member(V)
        member.status = status
        parts = Virtio14Device(**EMULATOR).parts(member)
        return self.cmd("DEV_PARTS_SET", SR, V, {"obj_type": 0, "obj_id": oid, "parts": parts})

    def mode_set(self, flags: int) -> int:
        return self.cmd("DEV_MODE_SET", SR, V, {"flags": flags})

    def stop(self) -> int:
        return self.mode_set(0x01)

    def resume(self) -> int:
        return self.mode_set(0x00)

    def flr(self) -> None:
        self.fault("flr_begin", FlrBegin)
        self.fault("flr_end", FlrEnd)

    def guest_init(self) -> None:
        """The guest driver (re)initialises the VF (no admin-queue event)."""
        self.dev.workload("init", V, 0)

    def io(self, rounds: int = 1) -> None:
        """Guest I/O while the member runs: doorbell, the device's DMA write, used notification."""
        for r in range(rounds):
            q = r % QUEUES
            self.step("post", q)
            self.step("fetch", q)
            self.step("complete", q)
            self.step("notify", q)

    # -- reference sequences
    def r0(self, limit: int = DEVICE_LIMIT, extra_ops: tuple[int, ...] = ()) -> None:
        """Owner reset, then R0 PF bring-up (§1.4, §9.1) and QEMU's machine-reset FLR of the VF."""
        self.side(OwnerReset)
        self.dev.inject("owner_reset", 0)
        self.note("R0: PF bring-up (vp_modern_avq_activate)")
        self.list_query()
        self.list_use(extra_ops)
        self.cmd("CAP_ID_LIST_QUERY", SELF, 0, {})
        self.cmd("DEVICE_CAP_GET", SELF, 0, {"id": 0})
        self.cmd("DRIVER_CAP_SET", SELF, 0, {"id": 0, "get_parts_limit": limit, "set_parts_limit": limit})
        self.mark("cap_set")
        self.note("QEMU opens the VF; machine reset: VFIO_DEVICE_RESET")
        self.flr()
        self.guest_init()

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


def _source_until_stop(bug: str, rounds: int = 0) -> Flow:
    f = Flow({bug})
    f.r0()
    f.r1_precopy(rounds=rounds)
    f.note("R1.5a vm_stop: [k] PRE_COPY->PRE_COPY_P2P")
    f.io(1)
    f.step("post", 1)    # a buffer posted and fetched just before the stop
    f.step("fetch", 1)
    f.stop()
    f.mark("stop")
    return f


def faulty_dma_after_stop() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop("dma-after-stop")
    i = f.step("complete", 1)    # the in-flight buffer, finished late
    f.meta_size(0)
    f.get_all(0)
    # the stop completed with the buffer still in flight: that is where the fault is
    return f, [{"index": i, "clause": "D-DP-9", "fault_index": f.marks["stop"], "fault_clause": "D-DP-10"}]


def faulty_notify_after_stop() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop("notify-after-stop")
    i = f.step("notify", 0)
    f.meta_size(0)
    f.get_all(0)
    return f, [{"index": i, "clause": "D-DP-16"}]


def _one_get(bug: str) -> tuple[Flow, int]:
    f = Flow({bug})
    f.r0()
    f.io(1)
    f.obj_create(0, "get")
    f.meta_size(0)
    i = f.get_all(0)
    f.obj_destroy(0)
    return f, i


def faulty_parts_out_of_order() -> tuple[Flow, list[dict[str, Any]]]:
    f, i = _one_get("parts-out-of-order")
    return f, [{"index": i, "clause": "D-DP-3"}]


def faulty_parts_missing_vq() -> tuple[Flow, list[dict[str, Any]]]:
    f, i = _one_get("parts-missing-vq")
    return f, [{"index": i, "clause": "I-DP-8"}]


def faulty_mode_set_during_flr() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"mode-set-during-flr"})
    f.r0()
    f.r1_precopy(rounds=0)
    f.r1_switchover()
    f.note("FLR of the VF; a MODE_SET sent meanwhile is answered before the FLR ends")
    f.fault("flr_begin", FlrBegin)
    f.obj_destroy(0)
    i = f.stop()
    f.fault("flr_end", FlrEnd)
    return f, [{"index": i, "clause": "D-DP-17"}]


def faulty_stop_not_idempotent() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop("stop-not-idempotent")
    f.note("a second stop of the stopped member")
    i = f.stop()
    f.meta_size(0)
    f.get_all(0)
    return f, [{"index": i, "clause": "D-DP-20"}]


def faulty_ok_with_qualifier() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop("ok-with-qualifier")
    return f, [{"index": f.marks["stop"], "clause": "I-GA-1"}]


def faulty_member_checked_first() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"member-checked-first"})
    f.r0()
    f.note("RESOURCE_OBJ_QUERY (not enabled) for a member that does not exist")
    i = f.cmd("RESOURCE_OBJ_QUERY", SR, 5, {"obj_type": 0, "obj_id": 0})
    return f, [{"index": i, "clause": "D-GA-1"}]


def faulty_create_beyond_limit() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"create-beyond-limit"})
    f.r0(limit=1)
    f.obj_create(0, "get")
    i = f.obj_create(1, "get")     # the driver declared one object
    return f, [{"index": i, "clause": "D-RO-5"}]


def faulty_disabled_list_query() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"disabled-list-query"})
    f.r0()
    f.note("Linux's LIST_USE left LIST_QUERY disabled; it is answered anyway")
    i = f.cmd("LIST_QUERY", SR, 0, {})
    return f, [{"index": i, "clause": "D-GA-9"}]


def faulty_owner_reset_keeps_objects() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"owner-reset-keeps-objects"})
    f.r0()
    f.obj_create(0, "get")
    f.note("owner reset and a new PF bring-up")
    fault = len(f.events)      # the owner reset r0 records next
    f.r0()
    # the object survived: the driver's new DRIVER_CAP_SET is refused EBUSY (D-CAP-4)
    return f, [{"index": f.marks["cap_set"], "clause": "D-CAP-4", "fault_index": fault, "fault_clause": "D-RO-8"}]


def faulty_query_ignores_modify() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"query-ignores-modify"})
    f.note("a driver that also enables MODIFY and QUERY")
    f.r0(extra_ops=(0xB, 0xC))
    f.obj_create(0, "get")
    f.cmd("RESOURCE_OBJ_MODIFY", SR, V, {"obj_type": 0, "obj_id": 0, "flags": 0, "parts_type": 1})
    i = f.cmd("RESOURCE_OBJ_QUERY", SR, V, {"obj_type": 0, "obj_id": 0})
    # the model's catalogue calls this bug query-wrong-type
    return f, [{"index": i, "clause": "D-RO-7", "bug": "query-wrong-type"}]


def faulty_pme_while_stopped() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop("pme-while-stopped")
    i = f.step("pme")
    return f, [{"index": i, "clause": "D-DP-15"}]


def faulty_bad_read_while_stopped() -> tuple[Flow, list[dict[str, Any]]]:
    f = _source_until_stop("bad-read-while-stopped")
    i = f.step("pci_read")
    return f, [{"index": i, "clause": "D-DP-13"}]


def faulty_mode_set_during_pm() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"mode-set-during-pm"})
    f.r0()
    f.fault("pm_begin", PmBegin)
    i = f.stop()
    f.fault("pm_end", PmEnd)
    return f, [{"index": i, "clause": "D-DP-19"}]


def faulty_list_use_ignored() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"list-use-ignored"})
    f.r0()
    i = f.obj_create(0, "get")    # LIST_USE was OK, yet RESOURCE_OBJ_CREATE is still disabled
    return f, [{"index": i, "clause": "D-GA-9", "fault_index": f.marks["list_use"], "fault_clause": "D-GA-8"}]


def faulty_two_divergences() -> tuple[Flow, list[dict[str, Any]]]:
    f = Flow({"dma-after-stop", "stop-not-idempotent"})
    f.r0()
    f.r1_precopy(rounds=0)
    f.io(1)
    f.step("post", 1)
    f.step("fetch", 1)
    f.stop()
    f.mark("stop")
    first = f.step("complete", 1)
    f.meta_size(0)
    f.get_all(0)
    f.note("a second stop of the stopped member")
    second = f.stop()
    f.obj_destroy(0)
    return f, [{"index": first, "clause": "D-DP-9", "fault_index": f.marks["stop"], "fault_clause": "D-DP-10",
                "bug": "dma-after-stop"},
               {"index": second, "clause": "D-DP-20", "bug": "stop-not-idempotent"}]


FAULTY: dict[str, tuple[str | None, Callable[[], tuple[Flow, list[dict[str, Any]]]], dict[str, Any]]] = {
    # name: (catalogue bug, builder, model parameters the replay needs besides compat=linux)
    "dma-after-stop": ("dma-after-stop", faulty_dma_after_stop, {}),
    "notify-after-stop": ("notify-after-stop", faulty_notify_after_stop, {}),
    "parts-out-of-order": ("parts-out-of-order", faulty_parts_out_of_order, {}),
    "parts-missing-vq": ("parts-missing-vq", faulty_parts_missing_vq, {}),
    "mode-set-during-flr": ("mode-set-during-flr", faulty_mode_set_during_flr, {}),
    "stop-not-idempotent": ("stop-not-idempotent", faulty_stop_not_idempotent, {}),
    "ok-with-qualifier": ("ok-with-qualifier", faulty_ok_with_qualifier, {}),
    "member-checked-first": ("member-checked-first", faulty_member_checked_first, {}),
    "create-beyond-limit": ("create-beyond-limit", faulty_create_beyond_limit, {}),
    "disabled-list-query": ("disabled-list-query", faulty_disabled_list_query, {}),
    "owner-reset-keeps-objects": ("owner-reset-keeps-objects", faulty_owner_reset_keeps_objects, {}),
    "query-ignores-modify": ("query-ignores-modify", faulty_query_ignores_modify, {}),
    "pme-while-stopped": ("pme-while-stopped", faulty_pme_while_stopped, {}),
    "bad-read-while-stopped": ("bad-read-while-stopped", faulty_bad_read_while_stopped, {}),
    "mode-set-during-pm": ("mode-set-during-pm", faulty_mode_set_during_pm, {}),
    "list-use-ignored": ("list-use-ignored", faulty_list_use_ignored, {}),
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
        manifest["reference"][emit("linux", name, flow)] = {"events": len(flow.events), "params": {"compat": COMPAT}}
    for name, (bug, build, params) in FAULTY.items():
        flow, divergences = build()
        for d in divergences:
            d.setdefault("bug", bug)
            d.setdefault("fault_index", d["index"])
            d.setdefault("fault_clause", d["clause"])
        manifest["faulty"][emit("faulty", name, flow)] = {
            "events": len(flow.events), "bug": bug, "params": {"compat": COMPAT, **params},
            "divergences": divergences}
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
