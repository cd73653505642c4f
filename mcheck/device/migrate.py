"""`mcheck migrate-demo`: a live migration between two emulator processes, checked end to end.

A source and a destination emulator run as separate processes. This process plays the
guest (it posts buffers), lets the devices work, and drives the hypervisor flow:

- draft-v1 (the seed draft's example flow): WR_CAPS_QUERY, WR_START, a full copy, pre-copy
  rounds (WR_PENDING, WR_REPORT, copy the reported pages), DEV_MODE_SET(STOP), the final
  WR_REPORT and copy, DEV_MODE_SET(FREEZE), DEV_MODE_GET, DEV_CTX_SIZE_GET,
  DEV_CTX_FIELDS_QUERY, DEV_CTX_READ, WR_STOP; the ring pages (outside the tracked range)
  are copied while the source is frozen; destination DEV_MODE_SET(FREEZE),
  DEV_CTX_WRITE, DEV_MODE_SET(ACTIVE), DEV_MODE_GET.
- virtio-1.4 (the Linux flow, linux-qemu-flows.md §9.1-9.3): PF bring-up on both hosts;
  source OBJ_CREATE / METADATA_GET / GET_ALL (pre-copy), MODE_SET(stop), METADATA_GET,
  GET_ALL (final record), OBJ_DESTROY; destination MODE_SET(stop), OBJ_CREATE(SET),
  PARTS_SET(record), OBJ_DESTROY, MODE_SET(resume). virtio 1.4 has no write reporting, so
  every guest page is copied at switchover, while the source is stopped.

Then the guest runs on the destination, which must continue the workload. The checks:
guest memory identical at switchover; no DMA write by the source once it was stopped;
every buffer the guest posted completed exactly once, none lost; both captures (and for
draft-v1 the merged two-host capture, one model member being a source/destination
pair) replay clean against the model.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcheck.device.backend import EmulatorBackend
from mcheck.device.killmatrix import start_emulator, stop_emulator
from mcheck.errors import InputError
from mcheck.trace.codec import Codec
from mcheck.trace.profile import load_profile

PAGE = 4096
SEQ = re.compile(rb"m(\d+) q(\d+) seq(\d{8})")


@dataclass
class Host:
    name: str
    dev: EmulatorBackend
    member: int
    codec: Codec
    log: list[str]
    stopped_at: int | None = None      # request count when the stop completed
    writes_after_stop: list[str] = field(default_factory=list)

    def cmd(self, name: str, group: Any, fields: dict[str, Any], *, member: int | None = None, expect: str = "OK") -> Any:
        readable = self.codec.encode_command(name, group, self.member if member is None else member, fields)
        writable = self.dev.submit(readable)
        if writable is None:
            raise InputError(f"{self.name}: {name} was held by the device")
        res = self.codec.decode_result(name, writable)
        self.log.append(f"{self.name:<11} {name:<24} -> {res.status_name}")
        if expect and res.status_name != expect:
            raise DemoFailure(f"{self.name}: {name} answered {res.status_name}/{res.qualifier_name}, expected {expect}")
        return res


class DemoFailure(Exception):
    pass


class Demo:
    def __init__(self, profile: str, bugs: list[str], out: Path, buffers: int) -> None:
        self.profile, self.bugs, self.out, self.buffers = profile, bugs, out, buffers
        self.codec = Codec(load_profile(profile))
        self.log: list[str] = []
        self.completions: dict[int, list[str]] = {}     # seq -> hosts that completed it
        self.posted = 0
        self.problems: list[str] = []

    # -- guest and device work
    def post(self, host: Host) -> None:
        if host.dev.workload("post", host.member, 0):
            host.dev.inject("doorbell", host.member, 0)
            self.posted += 1

    def work(self, host: Host, op: str, arg: int = 0) -> bool:
        done = host.dev.workload(op, host.member, arg)
        self._collect(host)
        return done

    def _collect(self, host: Host) -> None:
        for ev in host.dev.events():
            if ev.KIND != "dma_write":
                continue
            page = host.dev.mem_read(host.member, ev.address // PAGE)
            off = ev.address % PAGE
            found = SEQ.search(page[off : off + ev.length])
            seq = int(found.group(3)) if found else -1
            where = f"{host.name} (DMA write at {ev.address:#x})"
            if host.stopped_at is not None:
                host.writes_after_stop.append(f"seq {seq} at {ev.address:#x}")
                where += " after it was stopped"
            self.completions.setdefault(seq, []).append(where)

    def copy_pages(self, src: Host, dst: Host, pages: list[int]) -> None:
        for p in pages:
            dst.dev.mem_write(dst.member, p, src.dev.mem_read(src.member, p))

    def compare(self, src: Host, dst: Host, pages: int, why: str) -> None:
        for p in range(pages):
            a, b = src.dev.mem_read(src.member, p), dst.dev.mem_read(dst.member, p)
            if a != b:
                self.problems.append(f"guest page {p} differs between source and destination at switchover ({why})")

    # -- the flows
    def run_draft(self, src: Host, dst: Host, pages: int) -> None:
        s, d = src, dst
        s.cmd("WR_CAPS_QUERY", "SRIOV", {})
        s.cmd("WR_START", "SRIOV", {"page_size": PAGE, "mode": 0, "range_addr": 0, "range_len": PAGE * pages})
        self.copy_pages(s, d, list(range(pages)))                    # the first, full copy
        self.log.append(f"hypervisor  copy pages 0..{pages - 1} (full copy under tracking)")
        rounds = max(1, self.buffers - 1)
        for _ in range(rounds):                                     # pre-copy rounds
            self.post(s)
            self.work(s, "service")
            n = s.cmd("WR_PENDING", "SRIOV", {}).fields.get("pending_bytes", 0)
            report = s.cmd("WR_REPORT", "SRIOV", {"range_addr": 0, "range_len": PAGE * pages})
            dirty = self._bits(report.fields.get("bitmap", b""), pages)
            self.log.append(f"hypervisor  WR_PENDING={n}, copy reported pages {dirty}")
            self.copy_pages(s, d, dirty)
        self.post(s)
        self.work(s, "fetch")                                       # in flight at the stop
        s.cmd("DEV_MODE_SET", "SRIOV", {"mode": 1})
        s.stopped_at = s.dev.requests
        for _ in range(2):                                          # the device's own timers
            self.work(s, "service")
        report = s.cmd("WR_REPORT", "SRIOV", {"range_addr": 0, "range_len": PAGE * pages})
        dirty = self._bits(report.fields.get("bitmap", b""), pages)
        self.copy_pages(s, d, dirty)
        self.log.append(f"hypervisor  final report: copy pages {dirty}")
        s.cmd("DEV_MODE_SET", "SRIOV", {"mode": 2})
        self.work(s, "service")                                     # a frozen device does nothing
        s.cmd("DEV_MODE_GET", "SRIOV", {})
        s.cmd("DEV_CTX_SIZE_GET", "SRIOV", {"freeze_mode": 1})
        s.cmd("DEV_CTX_FIELDS_QUERY", "SRIOV", {})
        ctx = s.cmd("DEV_CTX_READ", "SRIOV", {}).fields.get("context", b"")
        s.cmd("WR_STOP", "SRIOV", {"range_addr": 0})
        self.copy_pages(s, d, [pages, pages + 1])
        self.log.append(f"hypervisor  copy ring pages {pages}, {pages + 1} (outside the tracked range) while frozen")
        d.cmd("DEV_MODE_SET", "SRIOV", {"mode": 2})
        d.cmd("DEV_CTX_WRITE", "SRIOV", {"context": ctx})
        d.cmd("DEV_MODE_SET", "SRIOV", {"mode": 0})
        d.cmd("DEV_MODE_GET", "SRIOV", {})
        self.compare(s, d, pages + 2, "a page the source wrote was not reported" if "unreported-write" in self.bugs
                     else "copy incomplete")
        self.log.append("switchover  the guest runs on the destination")

    def run_v14(self, src: Host, dst: Host, pages: int) -> None:
        from mcheck.device.adapt14 import snapshot_parts  # noqa: F401 - the record comes from the source
        for h in (src, dst):                                        # R0: PF bring-up
            for group in ("SELF", "SRIOV"):      # each group's commands enabled by its own LIST_USE (D-GA-9)
                ops = h.cmd("LIST_QUERY", group, {}, member=0).fields.get("opcodes", [])
                h.cmd("LIST_USE", group, {"opcodes": ops}, member=0)
            h.cmd("CAP_ID_LIST_QUERY", "SELF", {}, member=0)
            lim = h.cmd("DEVICE_CAP_GET", "SELF", {"id": 0}, member=0).fields
            m = min(lim.get("get_parts_limit", 1), lim.get("set_parts_limit", 1))
            h.cmd("DRIVER_CAP_SET", "SELF", {"id": 0, "get_parts_limit": m, "set_parts_limit": m}, member=0)
        self.work(src, "init")
        src.cmd("RESOURCE_OBJ_CREATE", "SRIOV", {"obj_id": 0, "parts_type": 0})       # R1 step 1-2
        src.cmd("DEV_PARTS_METADATA_GET", "SRIOV", {"obj_id": 0, "type": 0})
        src.cmd("DEV_PARTS_GET", "SRIOV", {"obj_id": 0, "type": 1})
        for _ in range(self.buffers):                                # the VM runs during pre-copy
            self.post(src)
            self.work(src, "service")
            self.work(src, "notify")
        src.cmd("DEV_PARTS_METADATA_GET", "SRIOV", {"obj_id": 0, "type": 0})
        self.post(src)
        self.post(src)
        self.work(src, "fetch")                                     # two buffers in flight at the stop
        self.work(src, "fetch")
        src.cmd("DEV_MODE_SET", "SRIOV", {"flags": 1})              # step 5a: the stop writes them back
        self._collect(src)
        src.stopped_at = src.dev.requests
        src.cmd("DEV_PARTS_METADATA_GET", "SRIOV", {"obj_id": 0, "type": 0})
        record = src.cmd("DEV_PARTS_GET", "SRIOV", {"obj_id": 0, "type": 1}).fields.get("parts", [])
        self.copy_pages(src, dst, list(range(pages)))
        self.log.append(f"hypervisor  copy every guest page 0..{pages - 1} at switchover (virtio 1.4 has no write reporting)")
        for _ in range(2):                                          # the device's own timers run on
            self.work(src, "complete")
        src.cmd("RESOURCE_OBJ_DESTROY", "SRIOV", {"obj_id": 0})
        dst.cmd("DEV_MODE_SET", "SRIOV", {"flags": 1})              # R2
        dst.cmd("RESOURCE_OBJ_CREATE", "SRIOV", {"obj_id": 0, "parts_type": 1})
        dst.cmd("DEV_PARTS_SET", "SRIOV", {"obj_id": 0, "parts": record})
        dst.cmd("RESOURCE_OBJ_DESTROY", "SRIOV", {"obj_id": 0})
        dst.cmd("DEV_MODE_SET", "SRIOV", {"flags": 0})
        self.compare(src, dst, pages, "the source wrote guest memory after it was stopped"
                     if src.writes_after_stop else "copy incomplete")
        self.log.append("switchover  the guest runs on the destination")

    @staticmethod
    def _bits(raw: bytes, pages: int) -> list[int]:
        value = int.from_bytes(raw, "little")
        return [p for p in range(pages) if value >> p & 1]

    def continue_on(self, dst: Host, extra: int) -> None:
        for _ in range(4):
            self.work(dst, "service")
        for _ in range(extra):
            self.post(dst)
            self.work(dst, "service")

    def judge(self, src: Host) -> None:
        if src.writes_after_stop:
            self.problems.append(f"the source device wrote guest memory after it was stopped: {', '.join(src.writes_after_stop)}")
        for seq in range(self.posted):
            done = self.completions.get(seq, [])
            if not done:
                self.problems.append(f"buffer seq {seq} was lost: posted by the guest, never completed")
            elif len(done) > 1:
                self.problems.append(f"buffer seq {seq} was completed {len(done)} times: {'; '.join(done)}")


def run_demo(profile: str, bugs: list[str], out: Path, *, buffers: int = 3, timeout: float = 5.0) -> tuple[bool, Demo, dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mcheck-migrate-"))
    draft = profile == "draft-v1"
    pages = 2 if draft else 8
    demo = Demo(profile, bugs, out, buffers)
    caps = {"source": out / "source.jsonl", "destination": out / "destination.jsonl"}
    procs = []
    try:
        procs.append(start_emulator(tmp / "src.sock", profile=profile, members=2 if draft else 1, bugs=bugs,
                                    capture=str(caps["source"]), extra=["--pages", str(pages)]))
        procs.append(start_emulator(tmp / "dst.sock", profile=profile, members=2 if draft else 1,
                                    capture=str(caps["destination"]), extra=["--pages", str(pages)]))
        s_dev = EmulatorBackend(f"unix:{tmp / 'src.sock'}", timeout=timeout)
        d_dev = EmulatorBackend(f"unix:{tmp / 'dst.sock'}", timeout=timeout)
        if draft:
            s_dev.power_on({"members": 2, "pages": pages, "initialised": "odd"})
            d_dev.power_on({"members": 2, "pages": pages, "initialised": "none"})
        else:
            s_dev.power_on({"members": 1, "pages": pages})
            d_dev.power_on({"members": 1, "pages": pages})
        src = Host("source", s_dev, 1, demo.codec, demo.log)
        dst = Host("destination", d_dev, 2 if draft else 1, demo.codec, demo.log)
        try:
            if draft:
                demo.run_draft(src, dst, pages)
                demo.continue_on(dst, 0)
            else:
                demo.run_v14(src, dst, pages)
                demo.continue_on(dst, 2)
        except DemoFailure as exc:
            demo.problems.append(str(exc))
        demo.judge(src)
        s_dev.close()
        d_dev.close()
    finally:
        for p in procs:
            stop_emulator(p)
    replays = replay_captures(profile, caps, out, buffers)
    ok = not demo.problems and all(v == "holds" for v in replays.values())
    return ok, demo, replays


def replay_captures(profile: str, caps: dict[str, Path], out: Path, buffers: int) -> dict[str, str]:
    from mcheck.model.registry import load_model
    from mcheck.replay.engine import replay_events
    from mcheck.trace.io import read_trace, write_trace
    verdicts: dict[str, str] = {}
    if profile == "draft-v1":
        a, b = read_trace(caps["source"]), read_trace(caps["destination"])
        merged = sorted(list(a.events) + list(b.events), key=lambda e: e.timestamp)
        merged = [type(e)(**{**{k: v for k, v in vars(e).items() if k in e.__dataclass_fields__}, "index": i})
                  for i, e in enumerate(merged)]
        caps = {**caps, "merged": out / "merged.jsonl"}
        write_trace(caps["merged"], a.header, merged, codec=a.codec)
        params = {"members": 1, "pages": 2, "queues": 1, "buffers": min(3, buffers)}
        hidden = ("doorbell", "driver_init", "driver_cfg_write", "reset_end")
        targets = {"source": caps["source"], "merged": caps["merged"]}
    else:
        params = {"members": 1, "queues": 1, "buffers": 2}
        hidden = ("doorbell",)
        targets = caps
    for name, path in targets.items():
        trace = read_trace(path, join=True)
        model = load_model(profile, params)
        outcome = replay_events(model, trace.events, hidden_kinds=hidden)
        verdicts[name] = outcome.result.verdict
    return verdicts


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate-demo", help="migrate a live device between two emulator processes and check it")
    p.add_argument("--profile", choices=("virtio-1.4", "draft-v1"), default=None,
                   help="protocol (default: the one whose catalogue has --bug, else virtio-1.4)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME", help="a catalogue bug for the SOURCE device")
    p.add_argument("--out", default="reports/migrate-demo", metavar="DIR",
                   help="where the captures go (default reports/migrate-demo, generated output)")
    p.add_argument("--buffers", type=int, default=3, metavar="N", help="buffers the guest posts before the stop")
    p.set_defaults(run=run_migrate_demo)


def run_migrate_demo(args: argparse.Namespace) -> int:
    from mcheck.device.draftv1 import BUGS as DRAFT_BUGS
    from mcheck.device.virtio14 import BUGS as V14_BUGS
    profile = args.profile
    if profile is None:
        profile = "draft-v1" if args.bug and all(b in DRAFT_BUGS for b in args.bug) else "virtio-1.4"
    known = DRAFT_BUGS if profile == "draft-v1" else V14_BUGS
    for b in args.bug:
        if b not in known:
            raise InputError(f"unknown bug {b!r} for profile {profile} (known: {', '.join(sorted(known))})")
    ok, demo, replays = run_demo(profile, args.bug, Path(args.out), buffers=args.buffers)
    bugs = f" with source --bug {', '.join(args.bug)}" if args.bug else ""
    print(f"migrate-demo: {profile}{bugs}")
    for line in demo.log:
        print(f"  {line}")
    print(f"buffers posted by the guest: {demo.posted}; completed: "
          f"{sum(1 for s in demo.completions if 0 <= s < demo.posted)} distinct")
    for name, verdict in replays.items():
        print(f"capture {name}: replays against the model: {verdict.upper()}")
    for problem in demo.problems:
        print(f"FAIL: {problem}")
    print(f"captures in {args.out}/")
    print(f"verdict: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1
