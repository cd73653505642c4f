"""mcheck versus SPIN on the same model: states, time to verdict, peak memory.

For each member count the model is checked by mcheck (no symmetry, one worker) and
exported with `mcheck export --promela`, then SPIN 6.5.2 checks the export exhaustively
(`spin -a`, `gcc -O2 -DBFS -DNOREDUCE -DSAFETY`, `pan -c0`, exact state storage). Both
must store the same number of states and find the same violated properties; a
disagreement is printed in the table and makes the script exit 1.

Columns: reachable states (each tool's own count), mcheck's time to verdict (the search
with code generation, model load excluded), SPIN's compile time (export + spin -a + gcc)
and search time shown separately and summed as its time to verdict, each tool's peak
resident memory (each measured as its own process started through a small fork/wait4
probe, so neither inherits this script's memory), and the ratio mcheck/SPIN of the times
to verdict (with and without SPIN's compile time) and of the memory peaks. Times are the
median of --repeat runs; a run slower than --long seconds is not repeated; a tool that
hits --timeout at one size is not run at larger sizes.

Run:  python benchmarks/spin_compare.py [--model virtio-1.4] [--members 2 3 4 5] [--repeat 3]
With no built-in virtio-1.4 model installed it falls back to tests/models/counter.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcheck.errors import InputError  # noqa: E402
from mcheck.export.promela import to_promela  # noqa: E402
from mcheck.export.spin import compile_pan, hash_bits_for, measured_run, run_pan, spin_missing  # noqa: E402
from mcheck.model.registry import find_model_class, load_model  # noqa: E402

# the mcheck side, run as its own process: prints states, verdict, violated, seconds
_MCHECK_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from mcheck.explore.check import check
from mcheck.model.registry import load_model
model = load_model(sys.argv[2], json.loads(sys.argv[3]))
t = time.perf_counter()
result, _ = check(model)
seconds = time.perf_counter() - t
violated = sorted(p.name for p in result.properties if p.verdict == "violated" and p.kind != "sometimes")
print("MCHECK " + json.dumps({"states": result.states, "verdict": result.verdict, "seconds": seconds,
                              "violated": violated}))
"""


def run_mcheck(spec: str, params: dict, workdir: str, timeout: float) -> dict:
    out_path = os.path.join(workdir, "mcheck.out")
    with open(out_path, "w+", encoding="utf-8") as out:
        rc, wall, peak, timed_out = measured_run(
            [sys.executable, "-c", _MCHECK_CHILD, str(ROOT), spec, json.dumps(params)], workdir, out, timeout=timeout)
        out.seek(0)
        text = out.read()
    if timed_out:
        return {"timeout": True}
    line = next((ln for ln in text.splitlines() if ln.startswith("MCHECK ")), None)
    if line is None:
        raise RuntimeError(f"mcheck child failed (exit {rc}): {text.strip()[-500:]}")
    data = json.loads(line[len("MCHECK "):])
    data["peak_kb"] = peak
    return data


def run_spin_side(spec: str, params: dict, workdir: str, timeout: float, states_hint: int | None) -> dict:
    t = time.perf_counter()
    export = to_promela(load_model(spec, params))
    export_seconds = time.perf_counter() - t
    pan, compile_seconds = compile_pan(export, workdir)
    try:
        res = run_pan(pan, export, hash_bits=hash_bits_for(states_hint), timeout=timeout)
    except InputError as exc:
        if "timed out" in str(exc):
            return {"timeout": True, "compile": export_seconds + compile_seconds}
        raise
    return {"states": res.states, "violated": sorted(res.violated), "compile": export_seconds + compile_seconds,
            "search": res.run_seconds, "peak_kb": res.peak_rss_kb, "complete": res.complete}


def median_runs(fn, repeat: int, long: float, key) -> tuple[dict, int]:
    runs = []
    for _ in range(repeat):
        r = fn()
        runs.append(r)
        if r.get("timeout") or key(r) > long:
            break
    if runs[-1].get("timeout"):
        return runs[-1], len(runs)
    best = dict(runs[0])
    for field in ("seconds", "compile", "search", "peak_kb"):
        if field in best:
            best[field] = statistics.median(r[field] for r in runs)
    return best, len(runs)


def fmt_s(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="built-in name or model file (default: virtio-1.4, else the counter model)")
    ap.add_argument("--members", type=int, nargs="+", default=[2, 3, 4, 5])
    ap.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="other model parameters")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--long", type=float, default=60.0, help="do not repeat a run slower than this (s)")
    ap.add_argument("--timeout", type=float, default=600.0, help="per run and tool (s)")
    ap.add_argument("--states-hint", type=int, default=None,
                    help="expected states, to size SPIN's hash table when mcheck is not run first")
    ap.add_argument("--only", choices=("mcheck", "spin"), help="run one tool only (no agreement check)")
    args = ap.parse_args()
    reason = spin_missing()
    if reason:
        print(f"spin_compare: {reason}", file=sys.stderr)
        return 2
    spec = args.model
    if spec is None:
        try:
            find_model_class("virtio-1.4")
            spec = "virtio-1.4"
        except InputError:
            spec = str(ROOT / "tests" / "models" / "counter.py")
    if os.path.exists(spec):
        spec = os.path.abspath(spec)  # the mcheck side runs in a scratch directory
    extra = dict(item.split("=", 1) for item in args.param)
    uname = os.uname()
    print(f"<!-- python benchmarks/spin_compare.py --model {args.model or spec} --members {' '.join(map(str, args.members))} "
          f"--repeat {args.repeat}; {uname.sysname} {uname.machine}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')} -->")
    print("| model | members | states mcheck | states SPIN | mcheck s | SPIN compile s | SPIN search s | "
          "SPIN total s | mcheck MB | SPIN MB | time ratio (total) | time ratio (search) | memory ratio | agree |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    name = os.path.basename(spec).removesuffix(".py")
    disagree = False
    mcheck_out, spin_out = args.only == "spin", args.only == "mcheck"
    for members in args.members:
        params = {**extra, "members": members}
        with tempfile.TemporaryDirectory(prefix="spin-compare-") as work:
            if mcheck_out:
                m = {"skipped": True} if args.only == "spin" else {"timeout": True, "skipped": True}
                m_runs = 0
            else:
                m, m_runs = median_runs(partial(run_mcheck, spec, params, work, args.timeout), args.repeat, args.long,
                                        lambda r: r["seconds"])
            if spin_out:
                s = {"skipped": True} if args.only == "mcheck" else {"timeout": True, "skipped": True}
                s_runs = 0
            else:
                hint = m.get("states") or args.states_hint
                s, s_runs = median_runs(partial(run_spin_side, spec, params, work, args.timeout, hint), args.repeat,
                                        args.long, lambda r: r["compile"] + r["search"])
        mcheck_out = mcheck_out or bool(m.get("timeout"))
        spin_out = spin_out or bool(s.get("timeout"))
        cut = f"> {args.timeout:g}"
        m_cut = "not run" if m.get("skipped") and not m.get("timeout") else cut
        s_cut = "not run" if s.get("skipped") and not s.get("timeout") else cut
        m_states = f"{m['states']:,}" if "states" in m else "-"
        s_states = f"{s['states']:,}" if "states" in s else "-"
        m_time = fmt_s(m["seconds"]) if "seconds" in m else m_cut
        s_total = s["compile"] + s["search"] if "search" in s else None
        agree = "-"
        if "states" in m and "states" in s:
            ok = m["states"] == s["states"] and m["violated"] == s["violated"] and s.get("complete", False)
            agree = "yes" if ok else f"NO ({m['violated']} vs {s['violated']})"
            disagree = disagree or not ok
        ratio_t = f"{m['seconds'] / s_total:.1f}" if "seconds" in m and s_total else "-"
        ratio_s = f"{m['seconds'] / s['search']:.1f}" if "seconds" in m and s.get("search") else "-"
        ratio_m = f"{m['peak_kb'] / s['peak_kb']:.1f}" if m.get("peak_kb") and s.get("peak_kb") else "-"
        cells = [name, str(members), m_states, s_states, m_time,
                 fmt_s(s["compile"]) if "compile" in s else "-",
                 fmt_s(s["search"]) if "search" in s else s_cut,
                 fmt_s(s_total) if s_total else s_cut,
                 f"{m['peak_kb'] / 1024:.0f}" if m.get("peak_kb") else "-",
                 f"{s['peak_kb'] / 1024:.0f}" if s.get("peak_kb") else "-",
                 ratio_t, ratio_s, ratio_m, agree]
        print("| " + " | ".join(cells) + f" |  <!-- runs: mcheck {m_runs}, SPIN {s_runs} -->", flush=True)
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
