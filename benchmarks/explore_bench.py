"""Explicit-state exploration speed and memory for the built-in models.

Reports states/s (median of --repeat runs) with graph building off and on (on = edges
recorded during the search, then the networkx graph built if it fits the default cap), and the
bytes each stored state costs in the explorer's store (the dict from packed state to id,
the packed ints themselves, and the parent/action arrays), measured with sys.getsizeof.
Run:  python benchmarks/explore_bench.py [--model virtio-1.4] [--members 2 3 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from mcheck.explore.bfs import Bounds, explore
from mcheck.explore.graph import DEFAULT_GRAPH_CAP, build_graph, graph_fits
from mcheck.model.registry import load_model


def store_bytes(exp) -> int:
    total = sys.getsizeof(exp.states) + sum(sys.getsizeof(x) for x in exp.states)
    total += exp.parent.buffer_info()[1] * exp.parent.itemsize + exp.via.buffer_info()[1] * exp.via.itemsize
    # the dict from packed state to id: keys are the same int objects as `states`
    total += _dict_bytes(len(exp.states))
    return total


def _dict_bytes(n: int) -> int:
    """Size of a dict with n int->int entries, measured rather than estimated."""
    d = {i: i for i in range(n)}
    return sys.getsizeof(d)


def run(model_name: str, members: int, record_edges: bool, repeat: int, timeout: float) -> dict:
    model = load_model(model_name, {"members": members})
    rates, seconds = [], []
    exp = None
    for _ in range(repeat):
        t = time.perf_counter()
        exp = explore(model, Bounds(timeout=timeout), record_edges=record_edges)
        if record_edges and exp.complete and graph_fits(exp, DEFAULT_GRAPH_CAP):
            build_graph(exp)
        seconds.append(time.perf_counter() - t)
        rates.append(len(exp.states) / seconds[-1])
        if not exp.complete:
            break
    assert exp is not None
    return {
        "members": members,
        "graph": "on" if record_edges else "off",
        "states": len(exp.states),
        "complete": exp.complete,
        "seconds": statistics.median(seconds),
        "states_per_s": statistics.median(rates),
        "bytes_per_state": store_bytes(exp) / len(exp.states),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="virtio-1.4")
    ap.add_argument("--members", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    print("| model | members | graph recording | states | complete | time (s, median) | states/s (median) | bytes/state |")
    print("|---|---|---|---|---|---|---|---|")
    for members in args.members:
        for edges in (False, True):
            r = run(args.model, members, edges, args.repeat, args.timeout)
            print(f"| {args.model} | {r['members']} | {r['graph']} | {r['states']:,} | {'yes' if r['complete'] else 'no (60 s)'} "
                  f"| {r['seconds']:.2f} | {r['states_per_s']:,.0f} | {r['bytes_per_state']:.0f} |", flush=True)
            if not r["complete"]:
                break


if __name__ == "__main__":
    main()
