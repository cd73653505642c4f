"""CPU seconds to build every catalogue-bug variant of a model: full builds against builds
`like=` the build without the bug (mcheck.model.build.Reuse), side by side, median of
--repeat rounds. A divergent replay builds every variant to name its suspects, so this is
most of what explaining a divergence costs.

Run:  python benchmarks/variant_builds.py [--model virtio-1.4] [-p compat=linux] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from mcheck.model.build import build_model
from mcheck.model.registry import find_model_class


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="virtio-1.4")
    ap.add_argument("-p", dest="params", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cls = find_model_class(args.model)
    params = dict(p.split("=", 1) for p in args.params)
    base = build_model(cls, params)
    rounds: dict[str, list[float]] = {"full": [], "like": []}
    for _ in range(args.repeat):
        for way in rounds:
            start = time.process_time()
            for bug in cls.bugs:
                build_model(cls, {**params, "bug": bug}, like=base if way == "like" else None)
            rounds[way].append(time.process_time() - start)
    full, like = (statistics.median(rounds[w]) for w in ("full", "like"))
    print(f"{args.model} {params or ''} {len(cls.bugs)} variants: full {full:.2f} s, like {like:.2f} s "
          f"(CPU medians of {args.repeat}; like / full = {like / full:.2f})")


if __name__ == "__main__":
    main()
