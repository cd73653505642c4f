"""The migration pair model against the single-member model, measured side by side in one run.

Each configuration runs in its own process (so the peak resident memory is its own) `--repeat`
times; the table gives the median wall time, the states, and the peak RSS. Explicit rows use
the breadth-first explorer; `prove` rows are k-induction with the 16-bit ring (Z3).
Run:  python benchmarks/migration_bench.py [--repeat 3] [--big]
(--big adds the two-queue explicit row: ~40 s and ~0.7 GB.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.registry import load_model
from mcheck.symbolic.induction import prove
spec = json.loads(sys.argv[1])
model = load_model(spec["model"], spec["params"])
t = time.perf_counter()
if spec["engine"] == "prove":
    result = prove(model, depth=14)
    states = 0
else:
    result, _ = check(model, Bounds(max_depth=spec.get("max_depth")))
    states = result.states
seconds = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "states": states, "verdict": result.verdict, "rss_kb": rss}))
"""

CONFIGS = [
    ("single member (virtio-1.4, members=2)", {"model": "virtio-1.4", "params": {"members": 2}, "engine": "explicit"}),
    ("single member (virtio-1.4, members=1)", {"model": "virtio-1.4", "params": {"members": 1}, "engine": "explicit"}),
    ("pair, Linux flows (pairs=1 queues=1)", {"model": "virtio-1.4-migration", "params": {}, "engine": "explicit"}),
    ("pair, free hypervisor, depth 14", {"model": "virtio-1.4-migration", "params": {"flow": "free"},
                                         "engine": "explicit", "max_depth": 14}),
    ("pair, k-induction 16-bit (pairs=1 queues=1)", {"model": "virtio-1.4-migration",
                                                     "params": {"index_bits": 16, "index_start": 65534},
                                                     "engine": "prove"}),
    ("pair, k-induction 16-bit (pairs=2 queues=2)", {"model": "virtio-1.4-migration",
                                                     "params": {"index_bits": 16, "index_start": 65534, "pairs": 2,
                                                                "queues": 2}, "engine": "prove"}),
]
BIG = [("pair, Linux flows (queues=2 buffers=1 faults=0)",
        {"model": "virtio-1.4-migration", "params": {"queues": 2, "buffers": 1, "faults": 0, "dst_features": "same"},
         "engine": "explicit"})]


def run_once(spec: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big", action="store_true")
    args = ap.parse_args()
    rows = CONFIGS + (BIG if args.big else [])
    print("| configuration | engine | states | median s | peak RSS MB | verdict |")
    print("|---|---|---|---|---|---|")
    for label, spec in rows:
        runs = [run_once(spec) for _ in range(1 if (label, spec) in BIG else args.repeat)]
        seconds = statistics.median(r["seconds"] for r in runs)
        rss = max(r["rss_kb"] for r in runs) / 1024
        print(f"| {label} | {spec['engine']} | {runs[0]['states']:,} | {seconds:.2f} | {rss:.0f} | {runs[0]['verdict']} |",
              flush=True)
    print(f"\n(measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.repeat} runs per row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
