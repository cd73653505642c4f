"""An example bridge: the kit (`mcheck.bridge.kit`) in front of a firmware simulator.

    python -m mcheck.bridge.example --listen unix:/tmp/dev.sock [--members N]
    mcheck gen-tests virtio-1.4 --out suite/ && mcheck conform suite/ --backend emulator:unix:/tmp/dev.sock

The "firmware simulator" here is mcheck's own software device (`Virtio14Device`), used
the way a vendor would use theirs: only through `SimulatorDevice`, the adapter below. Each
of its methods is where a vendor puts the calls into their simulator or hardware; nothing
else in this file knows the simulator. The simulator reports what it did as a list of
tuples after each call (a vendor's might use callbacks, an event ring or trace hooks);
`_forward` turns them into the kit's `emit_*` / `complete_held` calls.

`--bug NAME` makes the simulated firmware misbehave like a bug of mcheck's catalogue
(`mcheck bugs virtio-1.4`), to watch the conformance suite catch it. `--autonomous` makes
it work on its own, as real firmware does (`AutonomousSimulatorDevice`); mcheck then judges
it with its runner for autonomous devices (docs/device-protocol.md, "Autonomous devices").
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from typing import Any

from mcheck.bridge import kit
from mcheck.device.virtio14 import BUGS, PAGE_SIZE, Virtio14Device

PROFILE = "virtio-1.4"


class SimulatorDevice(kit.Device):
    """The adapter: the kit's host-side operations, each mapped onto the simulator."""

    def __init__(self, *, members: int = 1, queues: int = 1, objects: int = 1, pages: int = 8,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.bugs = sorted(bugs)
        self.sim = Virtio14Device(members=members, queues=queues, objects=objects, pages=pages, bugs=set(bugs))

    def describe(self) -> kit.Description:
        topo = self.sim.topology()
        return kit.Description(profile=PROFILE, members=topo["members"], queues=topo["queues"],
                               objects=topo["objects"], pages=topo["pages"], autonomous=False,
                               bugs=self.bugs, extra={"compat": topo["compat"]})

    def power_on(self, config: kit.PowerOn) -> None:
        if not 1 <= config.members <= 64:
            raise kit.BridgeError(f"power_on: {config.members} members (this device has 1..64)")
        self.sim.configure(members=config.members, queues=config.queues, objects=config.objects, pages=config.pages)

    def admin(self, tag: int, readable: bytes) -> bytes | None:
        writable, did = self.sim.admin(tag, readable)
        self._forward(did)
        return writable

    def inject(self, kind: str, member: int, queue: int) -> bool:
        done, did = self.sim.inject(kind, member, queue)
        self._forward(did)
        return done

    def workload(self, op: str, member: int, queue: int) -> bool:
        done, did = self.sim.workload(op, member, queue)
        self._forward(did)
        return done

    def mem_read(self, member: int, page: int) -> bytes:
        self._check_page(member, page)
        return self.sim.mem_read(member, page)

    def mem_write(self, member: int, page: int, data: bytes) -> None:
        self._check_page(member, page)
        if len(data) != PAGE_SIZE:
            raise kit.BridgeError(f"mem_write: {len(data)} bytes (a page is {PAGE_SIZE})")
        self.sim.mem_write(member, page, data)

    def state(self) -> dict[str, Any]:
        return self.sim.state()

    def _check_page(self, member: int, page: int) -> None:
        if member not in self.sim.members:
            raise kit.BridgeError(f"member {member} does not exist (members: {list(self.sim.members)})")
        if page >= self.sim.pages:
            raise kit.BridgeError(f"page {page} is out of range (member {member} has {self.sim.pages} pages)")

    def _forward(self, did: list[tuple]) -> None:
        """The simulator's record of what it did, in order, as kit events."""
        for ev in did:
            kind = ev[0]
            if kind == "dma_write":
                self.emit_dma_write(ev[1], ev[2], ev[3])
            elif kind == "used_notify":
                self.emit_used_notify(ev[1], ev[2])
            elif kind == "config_notify":
                self.emit_config_notify(ev[1])
            elif kind == "pme":
                self.emit_pme(ev[1])
            elif kind == "pci_read":
                self.emit_pci_read(ev[1], ev[2], ev[3])
            elif kind == "complete":              # a held command answered now: (tag, writable, readable)
                self.complete_held(ev[1], ev[2])
            else:
                raise kit.BridgeError(f"the simulator reported an unknown event {kind!r}")


class AutonomousSimulatorDevice(SimulatorDevice):
    """The same adapter for firmware that works on its own (`--autonomous`).

    The software device only acts when called, so a scheduler thread stands in for the
    firmware's own execution: at a doorbell the firmware reads the avail ring at once; after
    each request, and after each step of its own, it waits a random delay in [0, max_delay_ms]
    and takes one device-internal step the device allows (write a fetched buffer back,
    notify used buffers, fetch), until it finds nothing to do. With real firmware this thread
    is the firmware itself, and the adapter only takes its events (`_forward`) under
    `acting()`. `busy()` is true from a request until the scheduler has nothing left to do,
    which is what a quiesce waits for.
    """

    OWN_STEPS = ("fetch", "complete", "notify")

    def __init__(self, *, max_delay_ms: float = 5.0, seed: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_delay_ms = max_delay_ms
        self.rng = random.Random(seed)
        self.pending = False                       # a step is scheduled (guarded by acting())
        self.closing = False
        self.notify_due: set[tuple[int, int]] = set()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="firmware", daemon=True)
        self.thread.start()

    def describe(self) -> kit.Description:
        desc = super().describe()
        desc.autonomous, desc.max_delay_ms = True, self.max_delay_ms
        return desc

    def busy(self) -> bool:
        return self.pending

    # every request may give the firmware something to do
    def power_on(self, config: kit.PowerOn) -> None:
        super().power_on(config)
        self.notify_due.clear()
        self._kick()

    def admin(self, tag: int, readable: bytes) -> bytes | None:
        writable = super().admin(tag, readable)
        self._kick()
        return writable

    def inject(self, kind: str, member: int, queue: int) -> bool:
        done = super().inject(kind, member, queue)
        if done and kind == "doorbell":            # the firmware reads the avail ring at the doorbell write
            while self._step("fetch", member, queue):
                pass
        self._kick()
        return done

    def workload(self, op: str, member: int, queue: int) -> bool:
        done = super().workload(op, member, queue)
        self._kick()
        return done

    def _kick(self) -> None:
        self.pending = True
        self.wake.set()

    def _forward(self, did: list[tuple]) -> None:
        """A buffer written back (a DMA write: its own step, or a stop's write-back) is owed a
        used-buffer notification, which the firmware sends when it may."""
        super()._forward(did)
        queues = self.sim.topology()["queues"]
        self.notify_due.update((ev[1], q) for ev in did if ev[0] == "dma_write" for q in range(queues))

    def _step(self, op: str, member: int, queue: int) -> bool:
        done, did = self.sim.workload(op, member, queue)
        if done:
            self._forward(did)
            if op == "notify":
                self.notify_due.discard((member, queue))
        return done

    def close(self) -> None:
        """Stop the scheduler thread."""
        self.closing = True
        self.wake.set()
        self.thread.join(timeout=2.0)

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.closing:
                return
            time.sleep(self.rng.uniform(0.0, self.max_delay_ms / 1000.0))   # the firmware's own pace
            with self.acting():
                topo = self.sim.topology()
                steps = [(op, m, q) for m in topo["members"] for q in range(topo["queues"]) for op in self.OWN_STEPS
                         if op != "notify" or (m, q) in self.notify_due]
                self.rng.shuffle(steps)
                if any(self._step(*step) for step in steps):
                    self._kick()                   # keep going while there is work
                elif not self.wake.is_set():       # nothing to do, and no request since: idle
                    self.pending = False


def main(argv: list[str] | None = None, device_class: type[SimulatorDevice] = SimulatorDevice) -> int:
    """The command line; `device_class` lets a test serve a deliberately broken adapter."""
    p = argparse.ArgumentParser(prog="python -m mcheck.bridge.example",
                                description="an example device bridge built on mcheck.bridge.kit")
    p.add_argument("--listen", required=True, metavar="ADDR", help="unix:PATH or tcp:HOST:PORT")
    p.add_argument("--members", type=int, default=1, metavar="N", help="member devices (VFs), 1..64 (default 1)")
    p.add_argument("--queues", type=int, default=1, metavar="Q", help="virtqueues per member (default 1)")
    p.add_argument("--objects", type=int, default=1, metavar="K", help="resource-object ids (default 1)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="simulate firmware with this catalogue bug (repeatable; see `mcheck bugs virtio-1.4`)")
    p.add_argument("--autonomous", action="store_true",
                   help="the firmware works on its own: fetches at the doorbell, writes back and notifies after "
                        "random delays (HELLO says autonomous)")
    p.add_argument("--max-delay-ms", type=float, default=5.0, metavar="D",
                   help="--autonomous: longest delay before a step of its own (default 5)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="--autonomous: seed of the delays (default 0)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.bug) - BUGS)
    if unknown:
        p.error(f"unknown bug {unknown[0]!r} (known: {', '.join(sorted(BUGS))})")
    if not 1 <= args.members <= 64 or args.queues < 1 or args.objects < 1:
        p.error("--members must be 1..64, --queues and --objects at least 1")
    if not 0 <= args.max_delay_ms <= 10_000:
        p.error("--max-delay-ms must be 0..10000")
    sizes: dict[str, Any] = {"members": args.members, "queues": args.queues, "objects": args.objects,
                             "bugs": frozenset(args.bug)}
    if args.autonomous:
        if device_class is SimulatorDevice:
            device_class = AutonomousSimulatorDevice
        sizes.update(max_delay_ms=args.max_delay_ms, seed=args.seed)
    device = device_class(**sizes)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)

    def ready(name: Any) -> None:
        bugs = f", bugs {', '.join(args.bug)}" if args.bug else ""
        bugs += ", autonomous" if args.autonomous else ""
        print(f"example bridge: {PROFILE}, {args.members} member(s){bugs}, listening on {args.listen}", flush=True)

    try:
        kit.serve(device, args.listen, ready=ready)
    except kit.BridgeError as exc:
        print(f"example bridge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
