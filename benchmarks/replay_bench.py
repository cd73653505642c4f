"""Replay throughput and memory against the virtio-1.4 model; pyshark vs plain tshark.

    python benchmarks/replay_bench.py [--events N] [--pyshark-events M] [--runs R]

1. Writes a valid capture of N events (default 1,000,000): the R0 PF bring-up and the
   start of an R1 pre-copy (traces/make_flows.py), then a running phase repeated to
   length: doorbell / DMA write / used notification on both queues, and every 24
   events the METADATA_GET(SIZE) that QEMU's PRECOPY_INFO and MIG_DATA_SIZE send.
2. Reads it with the fast reader alone, and replays it in full (read, decode, observe,
   match) against virtio-1.4: median events/s of R runs (default 3), for pcapng and JSONL.
3. tracemalloc peak of a full replay at N/10 and N events: replay streams, so the two
   must be about equal.
4. On an M-event pcapng (default 20,000): `mcheck replay --reader pyshark` (tshark with
   the Lua dissector, JSON through pyshark, then replay) against plain
   `tshark -X lua_script:dissector.lua -T json -r FILE > /dev/null`.
Prints a markdown table. Needs tshark and pyshark for step 4 (skipped without).
"""

from __future__ import annotations

import argparse
import resource
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from functools import partial
from pathlib import Path
from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcheck.model.registry import load_model  # noqa: E402
from mcheck.replay import model_for_trace, open_trace  # noqa: E402
from mcheck.replay.engine import replay_events  # noqa: E402
from mcheck.trace.events import AdminCommand, DmaWrite, Doorbell, Event, UsedNotify  # noqa: E402
from mcheck.trace.io import read_trace, write_trace  # noqa: E402
from mcheck.trace.pyshark_reader import DISSECTOR_PATH  # noqa: E402

PERIOD = 24   # events per running-phase round: 3 x (doorbell, dma, notify) x 2 queues + ... see synthetic()


def _flows():
    spec = importlib.util.spec_from_file_location("make_flows", ROOT / "traces" / "make_flows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic(n: int) -> Iterator[Event]:
    """A valid capture of exactly n events (n >= the prelude's length)."""
    F = _flows()
    f = F.Flow()
    f.r0()
    f.obj_create(0, "get")
    f.meta_size(0)
    f.get_all(0)
    prelude = f.events
    yield from prelude[:n]
    meta = next(e for e in prelude if isinstance(e, AdminCommand) and e.opcode == 0xE)
    i = len(prelude)
    t = prelude[-1].timestamp
    while i < n:
        k = (i - len(prelude)) % PERIOD
        t += 1000
        if k == PERIOD - 1:
            yield AdminCommand(index=i, timestamp=t, readable=meta.readable, writable=meta.writable, codec=meta.codec)
        else:
            q = (k // 3) % 2
            step = k % 3
            if step == 0:
                yield Doorbell(index=i, timestamp=t, member=F.V, queue=q)
            elif step == 1:
                yield DmaWrite(index=i, timestamp=t, member=F.V, address=0x200000 + 64 * (i % 4096), length=64)
            else:
                yield UsedNotify(index=i, timestamp=t, member=F.V, queue=q)
        i += 1


def replay(path: Path, reader: str = "fast") -> tuple[int, str]:
    trace = open_trace(path, reader=reader)
    model = model_for_trace(trace.header, None, {})
    outcome = replay_events(model, trace.events)
    return outcome.events, outcome.result.verdict


def read_only(path: Path) -> tuple[int, str]:
    n = 0
    for _ in read_trace(path, join=True).events:
        n += 1
    return n, "-"


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tshark)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def median_rate(fn: Callable[[], tuple[int, str]], runs: int) -> tuple[float, float, int, str]:
    """Median events/s over `runs`, by wall clock and by CPU time (the CPU figure is the
    one to compare on a shared, loaded machine)."""
    walls, cpus, count, verdict = [], [], 0, ""
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _cpu()
        count, verdict = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return count / statistics.median(walls), count / max(statistics.median(cpus), 1e-9), count, verdict


def peak(path: Path) -> int:
    tracemalloc.start()
    replay(path)
    value = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--pyshark-events", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n, runs = args.events, args.runs
    F = _flows()
    load_model("virtio-1.4", {})   # warm the import
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for ext in (".pcapng", ".jsonl"):
            big, small = d / f"big{ext}", d / f"small{ext}"
            write_trace(big, F.HEADER, synthetic(n))
            rate, cpu, count, _ = median_rate(partial(read_only, big), runs)
            rows.append((f"read only (fast reader, joined) {ext}", f"{count:,}", f"{rate:,.0f}", f"{cpu:,.0f}", "-"))
            rate, cpu, count, verdict = median_rate(partial(replay, big), runs)
            rows.append((f"full replay vs virtio-1.4 {ext}", f"{count:,}", f"{rate:,.0f}", f"{cpu:,.0f}", verdict))
            if verdict != "holds":
                print(f"benchmark trace did not replay clean: {verdict}", file=sys.stderr)
                return 1
            if ext == ".pcapng":
                write_trace(small, F.HEADER, synthetic(max(n // 10, 1000)))
                p_small, p_big = peak(small), peak(big)
                rows.append((f"tracemalloc peak, replay of {max(n // 10, 1000):,} events", "", "", "",
                             f"{p_small / 1e6:.2f} MB"))
                rows.append((f"tracemalloc peak, replay of {n:,} events", "", "", "", f"{p_big / 1e6:.2f} MB"))
        m = args.pyshark_events
        cap = d / "pyshark.pcapng"
        write_trace(cap, F.HEADER, synthetic(m))
        tshark = shutil.which("tshark")
        try:
            import pyshark  # noqa: F401
            have_pyshark = True
        except ImportError:
            have_pyshark = False
        if tshark:
            def plain() -> tuple[int, str]:
                subprocess.run([tshark, "-X", f"lua_script:{DISSECTOR_PATH}", "-T", "json", "-r", str(cap)],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return m + 1, "-"   # + the header record
            rate, cpu, count, _ = median_rate(plain, runs)
            rows.append(("plain `tshark -X lua_script:dissector.lua -T json` (pcapng)", f"{count:,}", f"{rate:,.0f}",
                         f"{cpu:,.0f}", "-"))
        if tshark and have_pyshark:
            rate, cpu, count, verdict = median_rate(lambda: replay(cap, "pyshark"), runs)
            rows.append(("pyshark reader + full replay (pcapng)", f"{count:,}", f"{rate:,.0f}", f"{cpu:,.0f}", verdict))
            rate, cpu, count, verdict = median_rate(lambda: replay(cap), runs)
            rows.append(("fast reader + full replay, same file", f"{count:,}", f"{rate:,.0f}", f"{cpu:,.0f}", verdict))
        else:
            rows.append(("pyshark path", "", "", "", "skipped: tshark or pyshark missing"))
    print(f"\nReplay benchmark, median of {runs} runs (python {sys.version.split()[0]})\n")
    print("| measurement | events | events/s (wall) | events/s (CPU) | verdict / value |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
