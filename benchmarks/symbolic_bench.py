"""Symbolic engine timings: k-induction proofs at members 2, 8, 64 and BMC at depth 10 and 20.

Prints one markdown table per measurement (median of --repeat runs, wall-clock seconds,
with the verdict). A cell is "n/a" when the model does not accept that many members.
Run:  python benchmarks/symbolic_bench.py [--repeat 3] [--members 2 8 64] [--depths 10 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcheck.errors import InputError
from mcheck.model.registry import load_model
from mcheck.engines.dispatch import run

MODELS = {
    "wide-ring (tests/symbolic/models)": str(ROOT / "tests" / "symbolic" / "models" / "wide_ring.py"),
    "virtio-1.4": "virtio-1.4",
    "draft-v1": "draft-v1",
}


def timed(spec: str, params: dict, engine: str, repeat: int, **kwargs: Any) -> str:
    try:
        model = load_model(spec, params)
    except InputError as exc:
        return "n/a" if "out of range" in str(exc) else f"error: {exc}"
    times, verdict = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        verdict = run(model, engine, **kwargs).verdict
        times.append(time.perf_counter() - start)
    return f"{statistics.median(times):.2f} s ({verdict})"


def table(title: str, columns: list[str], rows: dict[str, list[str]]) -> str:
    lines = [f"### {title}", "", "| model | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--members", type=int, nargs="+", default=[2, 8, 64])
    ap.add_argument("--depths", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--timeout", type=float, default=60.0, help="per run, seconds")
    args = ap.parse_args()
    prove_rows = {name: [timed(spec, {"members": m}, "prove", args.repeat, timeout=args.timeout) for m in args.members]
                  for name, spec in MODELS.items()}
    print(table("k-induction (`--engine prove`, default k)", [f"members={m}" for m in args.members], prove_rows))
    bmc_rows = {name: [timed(spec, {"members": 2}, "bmc", args.repeat, depth=d, timeout=args.timeout)
                       for d in args.depths] for name, spec in MODELS.items()}
    print(table("BMC (`--engine bmc`, members=2, other parameters default)",
                [f"depth {d}" for d in args.depths], bmc_rows))


if __name__ == "__main__":
    main()
