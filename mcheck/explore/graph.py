"""The reachable graph as a networkx DiGraph, built after the search when it fits.

The explorer records edges as flat (source, target, action) tuples; this module turns
them into a graph for the analyses that need one (strongly connected components, goal
reachability, test-tour generation) and for export. It is never used inside the search.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from mcheck.errors import InputError
from mcheck.explore.bfs import Exploration

# states + transitions; networkx costs a few KB per node and per edge
DEFAULT_GRAPH_CAP = 2_000_000


def graph_fits(exp: Exploration, cap: int) -> bool:
    return len(exp.states) + exp.transitions <= cap


def build_graph(exp: Exploration) -> nx.MultiDiGraph:
    """Nodes are state ids (attribute `state`: the decoded fields); edges carry the action."""
    if exp.edges is None:
        raise ValueError("the exploration did not record edges")
    g = nx.MultiDiGraph(model=exp.model.name)
    unpack = exp.compiled.layout.unpack
    model = exp.model
    for sid, x in enumerate(exp.states):
        g.add_node(sid, state=model.decode_state(unpack(x)), initial=sid in exp.init_ids)
    for src, dst, a in exp.edges:
        act = model.actions[a]
        g.add_edge(src, dst, action=act.name, label=act.label, params=dict(act.params), index=a)
    return g


def analyse(g: nx.MultiDiGraph) -> dict[str, Any]:
    """Facts that need the whole graph: SCCs, terminal SCCs, states with no way out."""
    sccs = list(nx.strongly_connected_components(g))
    condensed = nx.condensation(g, sccs)
    terminal = [n for n in condensed.nodes if condensed.out_degree(n) == 0]
    return {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "sccs": len(sccs),
        "largest_scc": max((len(c) for c in sccs), default=0),
        "terminal_sccs": len(terminal),
        "no_successor": sum(1 for n in g.nodes if g.out_degree(n) == 0),
    }


def _state_text(state: dict[str, Any]) -> str:
    return "\\n".join(f"{k}={v}" for k, v in state.items())


def write_dot(g: nx.MultiDiGraph, path: str) -> None:
    lines = [f'digraph "{g.graph.get("model", "model")}" {{', "  node [shape=box, fontsize=9];"]
    for n, data in g.nodes(data=True):
        style = ", style=bold" if data.get("initial") else ""
        lines.append(f'  s{n} [label="{n}\\n{_state_text(data["state"])}"{style}];')
    for u, v, data in g.edges(data=True):
        label = data["label"].replace('"', '\\"')
        lines.append(f'  s{u} -> s{v} [label="{label}", fontsize=8];')
    lines.append("}")
    _write(path, "\n".join(lines) + "\n")


def write_graphml(g: nx.MultiDiGraph, path: str) -> None:
    flat = nx.MultiDiGraph()
    for n, data in g.nodes(data=True):
        flat.add_node(n, state=_state_text(data["state"]).replace("\\n", "; "), initial=bool(data.get("initial")))
    for u, v, data in g.edges(data=True):
        flat.add_edge(u, v, action=data["action"], label=data["label"])
    try:
        nx.write_graphml(flat, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
