#!/usr/bin/env python3
"""Device-side benchmark: admin commands per second through the socket backend, and the time
to generate and run the full virtio-1.4 conformance suite.

    python benchmarks/device_bench.py [--members 2] [--commands 20000]

Prints a markdown table. The emulator runs as a separate process on a Unix socket.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcheck.device.backend import EmulatorBackend
from mcheck.device.conform import run_suite
from mcheck.device.gen import generate, write_suite
from mcheck.device.killmatrix import start_emulator, stop_emulator
from mcheck.device.virtio14 import SUPPORTED, words_of


def commands_per_second(addr: str, n: int) -> tuple[float, float]:
    b = EmulatorBackend(addr)
    c = b.codec
    b.submit(c.encode_command("LIST_USE", "SRIOV", 0, {"opcodes": words_of(SUPPORTED)}))
    b.submit(c.encode_command("DRIVER_CAP_SET", "SELF", 0, {"id": 0, "get_parts_limit": 1, "set_parts_limit": 1}))
    b.submit(c.encode_command("RESOURCE_OBJ_CREATE", "SRIOV", 1, {"obj_id": 0, "parts_type": 0}))
    mix = [c.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1}),
           c.encode_command("DEV_PARTS_GET", "SRIOV", 1, {"obj_id": 0, "type": 1}),
           c.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 0}),
           c.encode_command("DEV_PARTS_METADATA_GET", "SRIOV", 1, {"obj_id": 0, "type": 0})]
    start = time.perf_counter()
    for i in range(n // 4):
        for cmd in mix:
            b.submit(cmd)
    one = n / (time.perf_counter() - start)
    start = time.perf_counter()
    b.batch([("submit", mix[i % 4]) for i in range(n)])
    piped = n / (time.perf_counter() - start)
    b.close()
    return one, piped


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=2)
    ap.add_argument("--commands", type=int, default=20000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mcheck-bench-"))
    rows = []
    proc = start_emulator(tmp / "d.sock", members=args.members)
    try:
        one, piped = commands_per_second(f"unix:{tmp / 'd.sock'}", args.commands)
        rows.append(("admin commands/s, one at a time (submit)", f"{one:,.0f}"))
        rows.append(("admin commands/s, pipelined (batch, window 64)", f"{piped:,.0f}"))
        t = time.perf_counter()
        suite = generate("virtio-1.4", {"members": args.members})
        write_suite(suite, tmp / "suite")
        gen_s = time.perf_counter() - t
        cov = suite.coverage
        rows.append((f"gen-tests virtio-1.4 members={args.members}: states / transitions",
                     f"{cov['states']:,} / {cov['transitions_distinct']:,}"))
        rows.append(("gen-tests: tests / walk steps / probes", f"{cov['tests']:,} / {cov['walk_steps']:,} / {cov['probes']:,}"))
        rows.append(("gen-tests: transition coverage",
                     f"{100.0 * cov['transitions_covered'] / cov['transitions_distinct']:.1f}%"))
        rows.append(("gen-tests: time (explore + graph + walk + write)", f"{gen_s:.1f} s"))
        t = time.perf_counter()
        result, outcomes, _ = run_suite(str(tmp / "suite"), f"emulator:unix:{tmp / 'd.sock'}")
        run_s = time.perf_counter() - t
        steps = result.coverage["steps"]
        rows.append(("conform: time for the whole suite (correct emulator)", f"{run_s:.1f} s"))
        rows.append(("conform: steps/s (requests incl. probes, replay included)", f"{steps / run_s:,.0f}"))
        rows.append(("conform: verdict", f"{result.coverage['passed']}/{result.coverage['tests']} passed"))
    finally:
        stop_emulator(proc)
    print("| measure | value |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
