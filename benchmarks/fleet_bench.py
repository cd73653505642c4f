"""replay-batch on a local Dask cluster against single-process loops over the same files.

    PYTHONPATH=. python benchmarks/fleet_bench.py [--captures N] [--workers W] [--runs R] [--cold K]

1. Generates N captures (default 1,000) with `fleet-gen`'s default firmware mix (short
   emulator flows of 12-63 events, about 9% with a catalogue bug, 1% corrupt).
2. Single process, warm: every capture through `mcheck.fleet.judge.judge` in one process
   (each model built once, the way a worker runs): median of R runs (default 3).
3. Local cluster of W worker processes (default: CPUs), the workers warmed first (the
   first divergence builds every catalogue bug's variant, once per process): median of R
   batch runs through `run_batch`, the same rows as 2. Also the warm-up itself.
4. Single process, cold, the `mcheck replay` loop: `replay_file` on the first K files
   (default 20), which builds the model for every capture, as one `mcheck replay` per
   file does; extrapolated to N.
5. Memory per worker (RSS after the runs) and the overhead per capture: the batch's
   wall time per capture times W, minus the replay time the rows report.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcheck.fleet.gen import DEFAULT_FIRMWARE, Templates, default_templates, generate, parse_firmware  # noqa: E402
from mcheck.fleet.judge import JudgeOptions, judge, warm  # noqa: E402
from mcheck.fleet.runner import connect, cpu_count, run_batch  # noqa: E402
from mcheck.fleet.sources import expand_sources  # noqa: E402
from mcheck.fleet.table import Journal, content_hash  # noqa: E402
from mcheck.replay import replay_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WARM = [str(ROOT / "traces/faulty/dma-after-stop.jsonl"), str(ROOT / "traces/linux/r0-pf-bringup.jsonl")]


def _rss() -> int:
    import psutil
    return psutil.Process().memory_info().rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=cpu_count())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    templates = Templates.load(default_templates())
    generate(tmp / "fleet", args.captures, [parse_firmware(s, set(templates.faulty)) for s in DEFAULT_FIRMWARE],
             seed=5, templates=templates)
    captures = expand_sources([str(tmp / "fleet" / "manifest.csv")])
    options = JudgeOptions()
    rows_table = []

    # 2. single process, warm
    t = time.perf_counter()
    warm(WARM)
    warm_single = time.perf_counter() - t
    loop = []
    for _ in range(args.runs):
        t = time.perf_counter()
        rows = [judge(c.path, c.meta, content_hash(c.path), options) for c in captures]
        loop.append(time.perf_counter() - t)
    events = sum(r["events"] or 0 for r in rows)
    replay_seconds = statistics.median(r["seconds"] for r in rows)
    single = statistics.median(loop)

    # 3. local cluster
    t = time.perf_counter()
    cluster = connect(None, args.workers)
    start_cluster = time.perf_counter() - t
    t = time.perf_counter()
    cluster.client.run(warm, WARM)
    warm_cluster = time.perf_counter() - t
    batch = []
    for k in range(args.runs):
        out = tmp / f"out{k}"
        out.mkdir()
        journal = Journal(str(out))
        t = time.perf_counter()
        brows = run_batch(cluster, captures, options, journal)
        batch.append(time.perf_counter() - t)
        journal.close()
    assert [r["verdict"] for r in brows] == [r["verdict"] for r in rows], "the cluster and the loop disagree"
    rss = cluster.client.run(_rss)
    cluster.close()
    dist = statistics.median(batch)

    # 4. cold loop (`mcheck replay` per file)
    sample = captures[: args.cold]
    t = time.perf_counter()
    for c in sample:
        try:
            replay_file(c.path)
        except Exception:
            pass
    cold = (time.perf_counter() - t) / len(sample) * len(captures)

    n = len(captures)
    overhead = dist * args.workers / n - statistics.mean(r["seconds"] for r in brows)
    rows_table = [
        ("single process, cold (`mcheck replay` per file, extrapolated)", cold, "-"),
        ("single process, warm models", single, f"{cold / single:.1f}x"),
        (f"local cluster, {args.workers} worker processes, warm", dist, f"{single / dist:.2f}x vs warm loop"),
    ]
    print(f"{n:,} captures, {events:,} events; {sum(r['verdict'] == 'divergent' for r in rows)} divergent, "
          f"{sum(r['verdict'] == 'error' for r in rows)} error; median of {args.runs} runs\n")
    print("| run | seconds | captures/s | events/s | ratio |")
    print("|---|---|---|---|---|")
    for name, secs, ratio in rows_table:
        print(f"| {name} | {secs:.2f} | {n / secs:,.1f} | {events / secs:,.0f} | {ratio} |")
    print(f"\nwarm-up: {warm_single:.1f} s in one process; {warm_cluster:.1f} s on the cluster (workers in parallel); "
          f"cluster start {start_cluster:.1f} s")
    print("memory per worker (RSS after the runs): " + ", ".join(f"{v / 2**20:.0f} MiB" for v in rss.values()))
    print(f"median replay time per capture (row `seconds`): {replay_seconds * 1000:.1f} ms; "
          f"overhead per capture on the cluster (wall x workers / captures - mean replay): {overhead * 1000:.1f} ms")
    print(json.dumps({"captures": n, "events": events, "cold": cold, "single": single, "cluster": dist,
                      "warm_single": warm_single, "warm_cluster": warm_cluster, "rss": list(rss.values()),
                      "overhead": overhead}))


if __name__ == "__main__":
    main()
