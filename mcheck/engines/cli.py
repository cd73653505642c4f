"""`mcheck check`, `mcheck bugs` and `mcheck models`."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

from mcheck.errors import InputError
from mcheck.explore.bfs import Bounds, Checkpointing, SearchInterrupted
from mcheck.explore import gensource
from mcheck.explore.check import check
from mcheck.engines.dispatch import run, run_all
from mcheck.explore.graph import DEFAULT_GRAPH_CAP, analyse, build_graph, graph_fits, write_dot, write_graphml
from mcheck.model.params import model_relaxations, parse_assignments
from mcheck.model.build import LoadedModel
from mcheck.model.registry import BUILTIN, find_model_class, load_model
from mcheck.options import declare, refuse_inapplicable
from mcheck.report.outputs import Outputs, add_output_arguments, emit
from mcheck.paths import check_output, check_output_dir
from mcheck.report.progress import progress_for


#: --workers cap: one process each; beyond this many a machine thrashes rather than helps
MAX_WORKERS = 256


def _positive(kind: type, most: float = float("inf")) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or value == float("inf"):      # `not >` also refuses nan
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite positive number")
        if value > most:
            raise argparse.ArgumentTypeError(f"{text!r} is more than {most:g}")
        return value
    return parse


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help=f"built-in model ({', '.join(sorted(BUILTIN))}) or path to a model "
                                                  f"file (Python code, run with your permissions)")
    p.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter, repeatable (e.g. -p members=3 -p bug=dma-after-stop)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="explore every reachable state and check the model's properties",
                       description="Explore every reachable state of MODEL and check its properties.",
                       epilog="A model file is Python code: mcheck imports and runs it with your permissions, "
                              "like any script. Only check model files you would run yourself "
                              "(docs/model-guide.md, 'Model files are code'). Traces, profiles, checkpoints, "
                              "results and conformance suites are data: reading them never runs code.")
    add_model_arguments(p)
    p.add_argument("--engine", choices=("explicit", "bmc", "prove", "all"), default="explicit",
                   help="explicit: every reachable state (default); bmc: Z3 bounded search to --depth; "
                        "prove: Z3 k-induction; all: explicit, then prove (docs/symbolic.md)")
    p.add_argument("--depth", type=_positive(int), default=None, metavar="K",
                   help="BMC depth (default 10), and how deep prove searches the sometimes goals (default 40; "
                        "the search stops once every goal is reached)")
    p.add_argument("--k", type=_positive(int), metavar="K", help="largest k tried by k-induction (default 3)")
    p.add_argument("--max-states", type=_positive(int), metavar="N", help="stop after N states (verdict bounded)")
    p.add_argument("--max-depth", type=_positive(int), metavar="N", help="do not look beyond depth N (verdict bounded)")
    p.add_argument("--timeout", type=_positive(float), metavar="S", help="stop after S seconds (verdict bounded)")
    p.add_argument("--dot", metavar="PATH", help="write the reachable graph as Graphviz DOT (needs the graph to fit)")
    p.add_argument("--graphml", metavar="PATH", help="write the reachable graph as GraphML")
    p.add_argument("--graph", action="store_true", help="build the reachable graph and report its SCCs")
    p.add_argument("--graph-cap", type=_positive(int), default=DEFAULT_GRAPH_CAP, metavar="N",
                   help=f"largest states + transitions for which the graph is built (default {DEFAULT_GRAPH_CAP:,})")
    p.add_argument("--symmetry", action="store_true",
                   help="store one state per orbit of the model's symmetric index set (docs/scaling.md)")
    p.add_argument("--workers", type=_positive(int, MAX_WORKERS), default=1, metavar="N",
                   help="spread the search over N processes (same counts and verdicts)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="save the search in DIR at level boundaries and on Ctrl-C (exit 130)")
    p.add_argument("--checkpoint-every", type=_positive(float), default=60.0, metavar="S",
                   help="seconds between checkpoint saves (default 60)")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the search saved in DIR (same model, parameters, model source and mcheck)")
    p.add_argument("--dump-code", metavar="DIR", help="write the generated Python the search runs into DIR")
    add_output_arguments(p, quiet_help="print only the verdict line, no progress display")
    p.set_defaults(run=run_check)
    declare("check", p)

    b = sub.add_parser("bugs", help="list a model's device-bug catalogue")
    b.add_argument("model", metavar="MODEL")
    b.set_defaults(run=run_bugs)

    m = sub.add_parser("models", help="list the built-in models and their parameters")
    m.set_defaults(run=run_models)


def run_check(args: argparse.Namespace) -> int:
    # every option given takes effect, and every path written is checked, before the search
    engine = refuse_inapplicable("check", args)
    outputs = Outputs.from_args(args)
    check_output(args.dot, "--dot")
    check_output(args.graphml, "--graphml")
    check_output_dir(args.checkpoint, "--checkpoint")
    check_output_dir(args.dump_code, "--dump-code")
    gensource.dump_to(args.dump_code)
    model = load_model(args.model, parse_assignments(args.params))
    if engine in ("bmc", "prove"):
        return emit(run(model, engine, depth=args.depth, k=args.k, timeout=args.timeout), outputs, args.model)
    if engine == "all":
        bounds = Bounds(max_states=args.max_states, max_depth=args.max_depth, timeout=args.timeout)
        result = run_all(model, depth=args.depth, k=args.k, timeout=args.timeout, bounds=bounds)
        return emit(result, outputs, args.model)
    warning = size_warning(model, args)
    if warning:
        print(f"mcheck: warning: {warning}", file=sys.stderr)
    want_graph = bool(args.dot or args.graphml or args.graph or args.report)
    bounds = Bounds(max_states=args.max_states, max_depth=args.max_depth, timeout=args.timeout)
    directory = args.checkpoint or args.resume
    saving = Checkpointing(directory=directory, every=args.checkpoint_every) if directory else None
    graph_lost = want_graph and bool(args.resume)   # edges of the earlier sessions are not checkpointed
    try:
        with progress_for(args) as progress:
            result, exp = check(model, bounds, record_edges=want_graph and not graph_lost, progress=progress,
                                symmetry=args.symmetry, workers=args.workers, checkpoint=saving, resume=args.resume)
    except SearchInterrupted as stop:
        print(f"mcheck: {stop}", file=sys.stderr)
        return 130
    if args.resume:
        result.notes.append(f"resumed the search saved in {args.resume}")
    if graph_lost:
        want_graph = False
        result.notes.append("graph not built: a resumed search has no edges from before the checkpoint")
    graph = None
    if want_graph:
        if not graph_fits(exp, args.graph_cap):
            result.notes.append(f"graph not built: {len(exp.states):,} states and {exp.transitions:,} transitions "
                                f"exceed --graph-cap {args.graph_cap:,}")
        else:
            g = graph = build_graph(exp)
            facts = analyse(g)
            result.coverage["graph"] = facts
            result.notes.append(f"graph: {facts['nodes']:,} nodes, {facts['edges']:,} edges, {facts['sccs']:,} SCCs "
                                f"({facts['terminal_sccs']} terminal)")
            if args.dot:
                write_dot(g, args.dot)
            if args.graphml:
                write_graphml(g, args.graphml)
    return emit(result, outputs, args.model, graph=graph)


#: Beyond these the explicit engine was not seen to finish (docs/performance.md: virtio-1.4
#: members=5 with --symmetry in 69 s, members=4 without it; draft-v1 members=2, 122 bits).
WARN_BITS = 128
WARN_SYMMETRIC = 5


def size_warning(model: LoadedModel, args: argparse.Namespace) -> str | None:
    """What to say before an unbounded explicit search of a space too big to finish."""
    if args.max_states or args.max_depth or args.timeout:
        return None
    bits = sum(s.sort.bits for s in model.slots)
    large = [s for s in model.index_sets.values() if s.symmetric and len(s) > WARN_SYMMETRIC]
    if bits <= WARN_BITS and not (large and not args.symmetry):
        return None
    bound = sum(math.log10(max(2, s.sort.card)) for s in model.slots)
    given = parse_assignments(args.params)
    params = " ".join(f"{k}={v}" for k, v in model.params.as_dict().items() if k in given) or "defaults"
    hints = []
    if large and not args.symmetry:
        hints.append(f"--symmetry (index set {large[0].name} has {len(large[0])} interchangeable ids)")
    hints += ["a bound (--max-states, --max-depth or --timeout)", "--engine prove (no state is stored)"]
    return (f"{model.name} ({params}) has {len(model.slots)} state variables, {bits} bits a state: up to "
            f"10^{bound:.0f} states. The explicit engine stores every reachable state and will likely run out "
            f"of time or memory; consider {', '.join(hints[:-1])} or {hints[-1]}")


def run_bugs(args: argparse.Namespace) -> int:
    cls = find_model_class(args.model)
    if not cls.bugs:
        raise InputError(f"model {cls.name or args.model} has no bug catalogue")
    width = max(len(n) for n in cls.bugs)
    for name, doc in cls.bugs.items():
        print(f"{name:<{width}}  {doc}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    for name in sorted(BUILTIN):
        try:
            cls = find_model_class(name)
        except InputError as exc:
            print(f"{name}: {exc}")
            continue
        print(f"{name}: {cls.description}")
        for p in cls.declared_params():
            print(f"    -p {p.describe()}")
        relaxations, presets = model_relaxations(cls)
        for preset, ids in presets.items():
            print(f"    preset -p compat={preset}: {', '.join(ids)}")
        for rid, relax in relaxations.items():
            sets = " ".join(f"{k}={v}" for k, v in relax.params.items())
            print(f"    relaxation {rid} ({sets}): {relax.doc}")
    return 0
