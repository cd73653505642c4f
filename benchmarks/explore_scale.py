"""Scaling of the explicit search: symmetry reduction and worker processes.

For each member count, with and without `--symmetry`, with 1 and 2 workers: reachable
(stored) states, time to verdict (model load excluded, code generation included), states/s,
CPU seconds of this process and its workers, bytes per stored state, and the reduction
factor (the orbit sizes of the stored canonical states summed, divided by the stored
states: how many unreduced states each stored state stands for). Median of --repeat
runs; a configuration slower than --long seconds runs once, and one that hits --timeout
is shown as bounded and not tried at larger sizes. The first four columns (model,
members, states, seconds) match the SPIN comparison table of docs/performance.md.

Run:  python benchmarks/explore_scale.py [--members 2 3 4 5] [--workers 1 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.registry import load_model


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(model_name: str, members: int, symmetry: bool, workers: int, repeat: int, long: float,
        timeout: float) -> dict:
    model = load_model(model_name, {"members": members})
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        c, t = cpu_seconds(), time.perf_counter()
        result, _ = check(model, Bounds(timeout=timeout), symmetry=symmetry, workers=workers)
        walls.append(time.perf_counter() - t)
        cpus.append(cpu_seconds() - c)
        if walls[-1] > long or result.verdict == "bounded":
            break
    assert result is not None
    sym = result.coverage.get("symmetry", {})
    return {
        "states": result.states, "verdict": result.verdict, "seconds": statistics.median(walls),
        "cpu": statistics.median(cpus), "runs": len(walls),
        "rate": result.states / statistics.median(walls),
        "bytes": result.coverage["memory"]["bytes_per_state"],
        "reduction": sym.get("reduction"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="virtio-1.4")
    ap.add_argument("--members", type=int, nargs="+", default=[2, 3, 4, 5])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--long", type=float, default=20.0, help="runs longer than this are not repeated")
    ap.add_argument("--timeout", type=float, default=600.0, help="per run; the verdict is then bounded")
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print()
    print("| model | members | states | seconds | symmetry | workers | verdict | states/s | CPU s | bytes/state "
          "| reduction | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    gave_up: set[tuple[bool, int]] = set()
    for members in args.members:
        for symmetry in (False, True):
            for workers in args.workers:
                if (symmetry, workers) in gave_up:
                    continue
                r = run(args.model, members, symmetry, workers, args.repeat, args.long, args.timeout)
                red = f"{r['reduction']:.1f}x" if r["reduction"] else "-"
                print(f"| {args.model} | {members} | {r['states']:,} | {r['seconds']:.2f} | {'on' if symmetry else 'off'} "
                      f"| {workers} | {r['verdict']} | {r['rate']:,.0f} | {r['cpu']:.1f} | {r['bytes']:.0f} | {red} "
                      f"| {r['runs']} |", flush=True)
                if r["verdict"] == "bounded":
                    gave_up.add((symmetry, workers))


if __name__ == "__main__":
    main()
