"""CPU seconds of one explicit search, serial and with workers (median of --repeat runs).

CPU time (this process plus its finished children) is steadier than wall time on a shared
machine. Run:  python benchmarks/explore_cpu.py [--model virtio-1.4] [--members 2] [--workers 1 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics

from mcheck.explore.check import check
from mcheck.model.registry import load_model


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="virtio-1.4")
    ap.add_argument("--members", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    model = load_model(args.model, {"members": args.members})
    for workers in args.workers:
        runs, states = [], 0
        for _ in range(args.repeat):
            before = cpu()
            result, _ = check(model, workers=workers)
            runs.append(cpu() - before)
            states = result.states
        print(f"{args.model} members={args.members} workers={workers}: {states:,} states, CPU median "
              f"{statistics.median(runs):.2f} s (runs {', '.join(f'{r:.2f}' for r in sorted(runs))})", flush=True)


if __name__ == "__main__":
    main()
