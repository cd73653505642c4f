#!/usr/bin/env python3
"""Device-side benchmark: admin commands per second through the socket backend, and the time
to generate and run the virtio-1.4 conformance suites (the CI size, members=1, and the
members=2 suites: the targeted one, and the full one where the model's graph allows).

    python benchmarks/device_bench.py [--commands 20000] [--repeat 3] [--autonomous]

Prints a markdown table of medians over --repeat runs. The emulator runs as a separate
process on a Unix socket; `--autonomous` also runs the members=1 suite against an
emulator that acts on its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcheck.device.backend import EmulatorBackend
from mcheck.conformance.conform import run_suite
from mcheck.conformance.gen import generate, write_suite
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.device.virtio14 import SELF_SUPPORTED, SRIOV_SUPPORTED
from mcheck.errors import InputError
from mcheck.trace.codec import opcode_words


def commands_per_second(addr: str, n: int) -> tuple[float, float]:
    """Admin commands per second, one at a time and pipelined (a mix of MODE_SET, GET, METADATA_GET)."""
    b = EmulatorBackend(addr)
    c = b.codec
    b.submit(c.encode_command("LIST_USE", "SELF", 0, {"opcodes": opcode_words(SELF_SUPPORTED)}))
    b.submit(c.encode_command("LIST_USE", "SRIOV", 0, {"opcodes": opcode_words(SRIOV_SUPPORTED)}))
    b.submit(c.encode_command("DRIVER_CAP_SET", "SELF", 0, {"id": 0, "get_parts_limit": 1, "set_parts_limit": 1}))
    b.submit(c.encode_command("RESOURCE_OBJ_CREATE", "SRIOV", 1, {"obj_id": 0, "parts_type": 0}))
    mix = [c.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1}),
           c.encode_command("DEV_PARTS_GET", "SRIOV", 1, {"obj_id": 0, "type": 1}),
           c.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 0}),
           c.encode_command("DEV_PARTS_METADATA_GET", "SRIOV", 1, {"obj_id": 0, "type": 0})]
    start = time.perf_counter()
    for _ in range(n // 4):
        for cmd in mix:
            b.submit(cmd)
    one = n / (time.perf_counter() - start)
    start = time.perf_counter()
    b.batch([("submit", mix[i % 4]) for i in range(n)])
    piped = n / (time.perf_counter() - start)
    b.close()
    return one, piped


def suite_row(tmp: Path, name: str, params: dict, repeat: int, *, classes_only: bool = False,
              autonomous: bool = False) -> tuple[str, str]:
    """Generate a suite and run it against the correct emulator `repeat` times: medians."""
    gens, runs, verdict, size = [], [], "", ""
    for i in range(repeat):
        t = time.perf_counter()
        try:
            suite = generate("virtio-1.4", params, classes_only=classes_only)
        except InputError as exc:
            return name, f"not generated: {exc}"
        out = tmp / f"{name}-{i}".replace(" ", "_")
        write_suite(suite, out)
        gens.append(time.perf_counter() - t)
        cov = suite.coverage
        size = f"{cov['tests']:,} tests" + (f", {cov['states']:,} states" if "states" in cov else "")
        sock = tmp / f"{i}.sock"
        proc = start_emulator(sock, members=params["members"], autonomous=autonomous)
        try:
            t = time.perf_counter()
            result, _, _ = run_suite(str(out), f"emulator:unix:{sock}")
            runs.append(time.perf_counter() - t)
        finally:
            stop_emulator(proc)
        verdict = f"{result.coverage['passed']}/{result.coverage['tests']} passed"
    return name, (f"{size}; generated in {statistics.median(gens):.1f} s, run in {statistics.median(runs):.1f} s "
                  f"(medians of {repeat}); {verdict}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--autonomous", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mcheck-bench-"))
    rows = []
    proc = start_emulator(tmp / "d.sock", members=2)
    try:
        rates = [commands_per_second(f"unix:{tmp / 'd.sock'}", args.commands) for _ in range(args.repeat)]
    finally:
        stop_emulator(proc)
    rows.append(("admin commands/s, one at a time (submit)", f"{statistics.median(r[0] for r in rates):,.0f}"))
    rows.append(("admin commands/s, pipelined (batch, window 64)", f"{statistics.median(r[1] for r in rates):,.0f}"))
    rows.append(suite_row(tmp, "virtio-1.4 suite, members=1 (CI size)", {"members": 1}, args.repeat))
    if args.autonomous:
        rows.append(suite_row(tmp, "virtio-1.4 suite, members=1, autonomous emulator", {"members": 1}, args.repeat,
                              autonomous=True))
    rows.append(suite_row(tmp, "virtio-1.4 targeted suite, members=2 (--classes-only)", {"members": 2}, args.repeat,
                          classes_only=True))
    rows.append(suite_row(tmp, "virtio-1.4 full suite, members=2", {"members": 2}, 1))
    print("| measure | value |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
