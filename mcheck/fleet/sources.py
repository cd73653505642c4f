"""SOURCES of `mcheck replay-batch` as a list of captures with their fleet metadata.

A source is a capture file, a directory (every `.jsonl` and `.pcapng` below it), a glob
pattern, or a manifest: a `.csv` file whose `path` column names captures (relative to the
manifest's directory) and whose other columns are metadata (META_KEYS). The header of a
capture may carry the same metadata (its `fleet` key, docs/trace-format.md); the worker
reads that, and a manifest's value wins over it.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable

from mcheck.errors import InputError

META_KEYS = ("host", "device_model", "firmware", "migration_id")
CAPTURE_SUFFIXES = (".jsonl", ".pcapng")
MANIFEST_SUFFIX = ".csv"


@dataclass(frozen=True)
class Capture:
    """One input: an absolute path and the metadata a manifest gave it."""

    path: str
    meta: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def read_manifest(path: Path) -> list[Capture]:
    """The captures a CSV manifest lists; a missing `path` column, an unknown column or an
    empty path is an error naming the file and line."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            if "path" not in columns:
                raise InputError(f"{path}: line 1: manifest has no 'path' column (columns: path, {', '.join(META_KEYS)})")
            unknown = [c for c in columns if c not in ("path", *META_KEYS)]
            if unknown:
                raise InputError(f"{path}: line 1: unknown manifest column {unknown[0]!r} "
                                 f"(known: path, {', '.join(META_KEYS)})")
            out = []
            for row in reader:
                where = f"{path}: line {reader.line_num}"
                if None in row:
                    raise InputError(f"{where}: more fields than the header has columns")
                name = (row.get("path") or "").strip()
                if not name:
                    raise InputError(f"{where}: empty path")
                meta = {k: v.strip() for k, v in row.items() if k in META_KEYS and v and v.strip()}
                out.append(Capture(str((path.parent / name).resolve()), meta))
            return out
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: manifest is not UTF-8 text: {exc.reason}") from None
    except csv.Error as exc:
        raise InputError(f"{path}: bad CSV: {exc}") from None


def _under(path: Path, excluded: Path | None) -> bool:
    return excluded is not None and (path == excluded or excluded in path.parents)


def expand_sources(sources: Iterable[str], *, exclude: str | None = None) -> list[Capture]:
    """Every capture the sources name, in order, each once (the first mention's metadata
    wins, except that a manifest's metadata is kept over a bare mention). Files under
    `exclude` (the output directory) are skipped when a directory or pattern is expanded."""
    excluded = Path(exclude).resolve() if exclude else None
    found: dict[str, Capture] = {}

    def add(capture: Capture) -> None:
        old = found.get(capture.path)
        if old is None or (capture.meta and not old.meta):
            found[capture.path] = capture

    for source in sources:
        path = Path(source)
        if path.is_dir():
            names = sorted(p for p in path.rglob("*") if p.suffix in CAPTURE_SUFFIXES and p.is_file())
            for p in names:
                if not _under(p.resolve(), excluded):
                    add(Capture(str(p.resolve())))
        elif path.suffix == MANIFEST_SUFFIX and path.is_file():
            for capture in read_manifest(path):
                add(capture)
        elif path.exists():
            if not path.is_file():
                raise InputError(f"{source}: not a file or directory")
            add(Capture(str(path.resolve())))
        elif glob.has_magic(source):
            matches = sorted(glob.glob(source, recursive=True))
            captures = [Path(m).resolve() for m in matches if Path(m).suffix in CAPTURE_SUFFIXES and os.path.isfile(m)]
            if not captures:
                raise InputError(f"{source}: the pattern matches no .jsonl or .pcapng file")
            for p in captures:
                if not _under(p, excluded):
                    add(Capture(str(p)))
        else:
            raise InputError(f"{source}: no such file, directory or pattern")
    if not found:
        raise InputError(f"no captures (.jsonl or .pcapng) in {', '.join(sources)}")
    return list(found.values())
