"""The draft-v1 model before issue 14 (commit 5a709b6) and now, measured side by side in one run.

The old model is checked out into a throwaway git worktree (removed at the end) and run with
`PYTHONPATH=<worktree>` and the worktree as working directory; the new one runs from this
repository. Each configuration runs in its own process (so the peak resident memory is its
own) `--repeat` times, old and new alternating; the table gives the median wall time, the
states, states/s, the peak RSS and the bytes per state (the RSS the search added over the
process after loading the model, divided by the states). Explicit rows use the breadth-first
explorer (`mcheck.explore.check.check`); `prove` rows are k-induction with its default goal
depth (Z3). The state count grows by design, so the figure to hold within 1.5x is the cost
per state: `s/state new/old` and `B/state new/old`.
Run:  python benchmarks/draft_bench.py [--repeat 3] [--big] [--old 5a709b6]
(--big adds the full members=2 row: old ~1.1 M states, new ~5 M states, one run each.)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OLD_COMMIT = "5a709b6"

CHILD = r"""
import json, resource, sys, time
spec = json.loads(sys.argv[1])

def rss_now_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

import mcheck
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.registry import load_model
from mcheck.symbolic.induction import prove
model = load_model("draft-v1", spec["params"])
import mcheck.models.draft_v1 as source
before = rss_now_kb()
t = time.perf_counter()
if spec["engine"] == "prove":
    result = prove(model)
    states = 0
else:
    result, _ = check(model, Bounds(max_depth=spec.get("max_depth")))
    states = result.states
seconds = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "states": states, "verdict": result.verdict, "rss_kb": rss,
                  "rss_before_kb": before, "mcheck": mcheck.__file__, "model": source.__file__}))
"""

CONFIGS = [
    ("defaults", {"params": {}, "engine": "explicit"}),
    ("members=2 buffers=1", {"params": {"members": 2, "buffers": 1}, "engine": "explicit"}),
    ("queues=2", {"params": {"queues": 2}, "engine": "explicit"}),
    ("flow=free pages=1 buffers=1", {"params": {"flow": "free", "pages": 1, "buffers": 1}, "engine": "explicit"}),
    ("defaults", {"params": {}, "engine": "prove"}),
    ("members=2", {"params": {"members": 2}, "engine": "prove"}),
]
BIG = [("members=2", {"params": {"members": 2}, "engine": "explicit"})]


def run_once(spec: dict, root: pathlib.Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True,
                         cwd=root, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{spec} in {root} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("mcheck", "model"):   # the run must have imported the tree it was meant to measure
        if not pathlib.Path(result[key]).resolve().is_relative_to(root.resolve()):
            raise RuntimeError(f"{spec}: imported {result[key]}, expected a file under {root}")
    return result


def summarise(runs: list[dict]) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    states = runs[0]["states"]
    peak_kb = max(r["rss_kb"] for r in runs)
    grown_kb = statistics.median(max(r["rss_kb"] - r["rss_before_kb"], 0) for r in runs)
    return {"seconds": seconds, "states": states, "verdict": runs[0]["verdict"], "rss_mb": peak_kb / 1024,
            "per_s": states / seconds if states else None,
            "bytes_per_state": grown_kb * 1024 / states if states else None,
            "all": [round(r["seconds"], 2) for r in runs]}


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--old", default=OLD_COMMIT, help="the commit to measure against (default %(default)s)")
    ap.add_argument("--json", action="store_true", help="also print every row's raw figures as JSON")
    args = ap.parse_args()
    rows = [(label, spec, args.repeat) for label, spec in CONFIGS]
    if args.big:
        rows += [(label, spec, 1) for label, spec in BIG]
    old_root = pathlib.Path(tempfile.mkdtemp(prefix="draft-old-"))
    old_root.rmdir()
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(old_root), args.old],
                   check=True)
    raw = []
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        print(f"old = {args.old} (worktree {old_root}), new = {head} (working tree {ROOT})\n")
        print("| configuration | engine | old states | new states | old s | new s | old states/s | new states/s "
              "| throughput new/old | s/state new/old | old B/state | new B/state | B/state new/old "
              "| old/new peak RSS MB | verdict old/new |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for label, spec, repeat in rows:
            old_runs, new_runs = [], []
            for _ in range(repeat):   # alternate, so a burst of load hits both sides alike
                old_runs.append(run_once(spec, old_root))
                new_runs.append(run_once(spec, ROOT))
            old, new = summarise(old_runs), summarise(new_runs)
            raw.append({"configuration": label, "engine": spec["engine"], "old": old, "new": new})
            if old["per_s"] and new["per_s"]:
                throughput = new["per_s"] / old["per_s"]
                cost = 1 / throughput
                mem = new["bytes_per_state"] / old["bytes_per_state"] if old["bytes_per_state"] else None
            else:   # prove rows count no states: compare the wall time
                throughput = None
                cost = new["seconds"] / old["seconds"]
                mem = None
            print(f"| {label} | {spec['engine']} | {fmt(old['states'] or None, ',')} | {fmt(new['states'] or None, ',')} "
                  f"| {old['seconds']:.2f} | {new['seconds']:.2f} | {fmt(old['per_s'], ',.0f')} "
                  f"| {fmt(new['per_s'], ',.0f')} | {fmt(throughput, '.2f')} "
                  f"| {cost:.2f}{'' if throughput else ' (time)'} | {fmt(old['bytes_per_state'], ',.0f')} "
                  f"| {fmt(new['bytes_per_state'], ',.0f')} | {fmt(mem, '.2f')} "
                  f"| {old['rss_mb']:.0f} / {new['rss_mb']:.0f} | {old['verdict']} / {new['verdict']} |", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_root)], check=False)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)
    load = os.getloadavg()[0]
    print(f"\n(measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.repeat} runs per row "
          f"alternating old/new{', --big row once' if args.big else ''}; load average at the end {load:.1f})")
    if args.json:
        print(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
