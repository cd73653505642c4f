"""Trace read throughput and memory: JSONL and pcapng, fast readers, no field decoding.

    python benchmarks/trace_read.py [--events N]

Writes a synthetic trace of N events (default 1,000,000; a mix of admin commands and
side-band events) to a temporary directory, reads it three times per format and reports
the median events/s, then the tracemalloc peak while reading N/10 and N events, which
should be about equal: reading streams.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from collections.abc import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcheck.trace.codec import Codec  # noqa: E402
from mcheck.trace.events import AdminCommand, Doorbell, DmaWrite, Event, TraceHeader, UsedNotify  # noqa: E402
from mcheck.trace.io import read_trace, write_trace  # noqa: E402
from mcheck.trace.profile import load_profile  # noqa: E402


def synthetic(n: int, codec: Codec) -> Iterator[Event]:
    stop = codec.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1})
    meta = codec.encode_command("DEV_PARTS_METADATA_GET", "SRIOV", 1, {"obj_id": 0, "type": 0})
    meta_result = codec.encode_result("DEV_PARTS_METADATA_GET", "OK", "OK", {"value": 4096})
    for i in range(n):
        step = i % 8
        if step == 0:
            yield AdminCommand(index=i, timestamp=i * 100, readable=stop, writable=bytes(8))
        elif step == 1:
            yield AdminCommand(index=i, timestamp=i * 100, readable=meta, writable=meta_result)
        elif step in (2, 3, 4):
            yield DmaWrite(index=i, timestamp=i * 100, member=1 + i % 2, address=0x10000 + i * 64, length=64)
        elif step == 5:
            yield Doorbell(index=i, timestamp=i * 100, member=1, queue=0)
        else:
            yield UsedNotify(index=i, timestamp=i * 100, member=2, queue=1)


def read_all(path: Path) -> int:
    count = 0
    for _ in read_trace(path).events:
        count += 1
    return count


def peak_bytes(path: Path) -> int:
    tracemalloc.start()
    read_all(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="number of events (default 1,000,000)")
    args = parser.parse_args()
    n = args.events
    codec = Codec(load_profile("virtio-1.4"))
    header = TraceHeader(profile="virtio-1.4", members=(1, 2), queues=2)
    with tempfile.TemporaryDirectory() as tmp:
        for ext in (".pcapng", ".jsonl"):
            path = Path(tmp) / f"trace{ext}"
            small = Path(tmp) / f"small{ext}"
            t0 = time.perf_counter()
            write_trace(path, header, synthetic(n, codec))
            write_trace(small, header, synthetic(max(1, n // 10), codec))
            written = time.perf_counter() - t0
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                assert read_all(path) == n
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            print(f"{ext[1:]:>6}: {n:,} events, {path.stat().st_size / n:.0f} B/event, written in {written:.1f}s; "
                  f"read median {median:.2f}s = {n / median:,.0f} events/s")
            print(f"{'':>6}  tracemalloc peak while reading: {peak_bytes(small) / 1e6:.2f} MB at {max(1, n // 10):,} events, "
                  f"{peak_bytes(path) / 1e6:.2f} MB at {n:,} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
