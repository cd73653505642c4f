"""The package layout of docs/architecture.md, checked on the source: the import graph
between mcheck's packages (imports inside functions included: a lazy import still couples)
has no cycle, the layering rules hold, and the protocol models are installed only under the
mcheck namespace."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mcheck"

# importer -> packages it must not import, even where no cycle would close
FORBIDDEN = {
    "model": ["explore", "symbolic", "replay", "engines", "device", "conformance", "report", "trace"],
    "trace": ["report", "replay", "explore", "model"],
    "explore": ["symbolic", "engines", "replay", "device", "conformance"],
    "symbolic": ["engines", "replay", "device", "conformance"],
    "replay": ["device", "conformance", "engines", "symbolic"],
    "device": ["conformance", "explore", "replay", "symbolic", "engines", "model"],
    "report": ["explore", "symbolic", "replay", "engines", "device", "conformance"],
}


def unit_of(module: str) -> str | None:
    """The layout unit of a dotted module name: the name right under `mcheck` (a package or
    a top-level module), None outside mcheck."""
    parts = module.split(".")
    if parts[0] != "mcheck" or len(parts) < 2:
        return None
    return parts[1] if ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").exists()) else None


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` (a file under `root`) imports, at any depth of the file."""
    package = list(path.relative_to(root).parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def engine_sources() -> list[Path]:
    """mcheck's own files; mcheck/models is the protocol models' folder (a link to models/)."""
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] != "models"]


def unit_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in engine_sources():
        source = unit_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for module in imports_of(path):
            target = unit_of(module)
            if source and target and target != source:
                graph.add_edge(source, target, where=str(path.relative_to(ROOT)))
    return graph


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return unit_graph()


def test_no_import_cycle_between_packages(graph: nx.DiGraph) -> None:
    cycles = [" -> ".join([*cycle, cycle[0]]) for cycle in nx.simple_cycles(graph)]
    assert cycles == []


@pytest.mark.parametrize(("importer", "imported"),
                         [(a, b) for a, targets in FORBIDDEN.items() for b in targets])
def test_layering_rule(graph: nx.DiGraph, importer: str, imported: str) -> None:
    assert (PACKAGE / importer).is_dir() and (PACKAGE / imported).is_dir(), \
        "a package of the layout rules is gone: update FORBIDDEN and docs/architecture.md"
    assert not graph.has_edge(importer, imported), graph.edges[importer, imported]["where"]


def test_the_checker_sees_imports(graph: nx.DiGraph) -> None:
    """Known edges, so an empty graph cannot pass."""
    assert graph.has_edge("replay", "model") and graph.has_edge("conformance", "device")
    assert graph.has_edge("engines", "symbolic") and graph.has_edge("report", "model")


def test_imports_inside_functions_and_relative_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "mcheck" / "replay" / "cli.py"
    source.parent.mkdir(parents=True)
    source.write_text("def run():\n    from mcheck.device import backend\n"
                      "from ..conformance import gen\nfrom . import engine\n")
    found = imports_of(source, tmp_path)
    assert {"mcheck.device", "mcheck.conformance", "mcheck.conformance.gen", "mcheck.replay.engine"} <= found


def test_models_live_under_mcheck_only() -> None:
    """The protocol models are installed as mcheck.models (mcheck/models is a link to the
    repository's models/ folder); no top-level `models` package is installed or imported."""
    assert (PACKAGE / "models").resolve() == (ROOT / "models").resolve()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["mcheck*"]
    offenders = []
    for folder in ("mcheck", "models", "tests", "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if folder == "mcheck" and path.relative_to(PACKAGE).parts[0] == "models":
                continue
            if any(m == "models" or m.startswith("models.") for m in imports_of(path)):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
