"""Clause catalogues: the list of clause IDs a model is measured against.

A catalogue is a TOML file (docs/model-guide.md, "Clause catalogue"): a `title`, optional
`related` catalogues whose IDs the model may also cite (analogies to another spec), and one
`[clauses."ID"]` table per clause with `strength`, `side`, `summary` and, for clauses the
model deliberately leaves out, `scope = "out"` and a `reason`. The engine reads it; what
the clauses mean lives only in the file.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mcheck.errors import InputError
from mcheck.model.definition import Model

STRENGTHS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY", "descriptive")
SIDES = ("device", "driver", "descriptive")
SCOPES = ("in", "out")


@dataclass(frozen=True, kw_only=True)
class Clause:
    id: str
    catalogue: str        # name of the catalogue that lists it
    strength: str
    side: str
    summary: str
    scope: str = "in"
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Catalogue:
    name: str
    path: Path
    title: str
    clauses: dict[str, Clause]                       # in file order
    related: dict[str, Clause] = field(default_factory=dict)  # known through `related`

    def lookup(self, clause: str) -> Clause | None:
        return self.clauses.get(clause) or self.related.get(clause)


def catalogue_path(cls: type[Model]) -> Path | None:
    """The catalogue file of a model class, or None when it declares none and there is no
    clauses/<model name>.toml next to its file."""
    model_file = Path(sys.modules[cls.__module__].__file__ or ".")
    base = model_file.parent
    declared = cls.clause_catalogue
    if declared is None:
        guess = base / "clauses" / f"{cls.name or cls.__name__}.toml"
        return guess if guess.is_file() else None
    path = base / declared if declared.endswith(".toml") else base / "clauses" / f"{declared}.toml"
    if not path.is_file():
        raise InputError(f"{model_file}: clause_catalogue {declared!r}: no file {path}")
    return path


def load_catalogue(path: Path, *, _seen: tuple[Path, ...] = ()) -> Catalogue:
    """Read and check a catalogue file; every mistake is one line naming the file and clause."""
    name = path.stem
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"clause catalogue {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"clause catalogue {path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"title", "related", "clauses"}
    if unknown:
        raise InputError(f"clause catalogue {path}: unknown keys {sorted(unknown)} (title, related, clauses)")
    entries = data.get("clauses")
    if not isinstance(entries, dict) or not entries:
        raise InputError(f"clause catalogue {path}: no [clauses.\"ID\"] tables")
    clauses = {cid: _clause(path, name, cid, entry) for cid, entry in entries.items()}
    related: dict[str, Clause] = {}
    names = data.get("related", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"clause catalogue {path}: related must be a list of catalogue names")
    for other in names:
        other_path = path.parent / f"{other}.toml"
        if other_path in _seen or other_path == path:
            continue
        if not other_path.is_file():
            raise InputError(f"clause catalogue {path}: related catalogue {other!r}: no file {other_path}")
        loaded = load_catalogue(other_path, _seen=_seen + (path,))
        for cid, clause in {**loaded.related, **loaded.clauses}.items():
            if cid not in clauses:
                related.setdefault(cid, clause)
    return Catalogue(name=name, path=path, title=str(data.get("title", name)), clauses=clauses, related=related)


def _clause(path: Path, catalogue: str, cid: str, entry: object) -> Clause:
    where = f"clause catalogue {path}: clause {cid}"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: must be a table")
    unknown = set(entry) - {"strength", "side", "summary", "scope", "reason"}
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)} (strength, side, summary, scope, reason)")
    strength, side = entry.get("strength"), entry.get("side")
    summary, scope, reason = entry.get("summary"), entry.get("scope", "in"), entry.get("reason", "")
    if strength not in STRENGTHS:
        raise InputError(f"{where}: strength {strength!r}: use one of {', '.join(STRENGTHS)}")
    if side not in SIDES:
        raise InputError(f"{where}: side {side!r}: use one of {', '.join(SIDES)}")
    if not isinstance(summary, str) or not summary.strip():
        raise InputError(f"{where}: needs a one-line summary")
    if scope not in SCOPES:
        raise InputError(f"{where}: scope {scope!r}: use \"in\" or \"out\"")
    if scope == "out" and not (isinstance(reason, str) and reason.strip()):
        raise InputError(f"{where}: scope = \"out\" needs a reason")
    return Clause(id=cid, catalogue=catalogue, strength=strength, side=side, summary=summary.strip(),
                  scope=scope, reason=str(reason).strip())


def model_catalogue(cls: type[Model]) -> Catalogue | None:
    path = catalogue_path(cls)
    return load_catalogue(path) if path is not None else None
