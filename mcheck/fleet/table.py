"""The results table: one JSON object per capture (schema `mcheck-fleet-row/1`, docs/fleet.md).

Rows are appended to DIR/journal.jsonl as they come back (flushed, so an interrupted batch
keeps every verdict it had), and the final table DIR/results.jsonl holds one row per input
of the run. `--resume DIR` reads both and skips the captures, by content hash, whose
verdict does not depend on the run (conforming, divergent, or an error in the file itself).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from mcheck.errors import InputError
from mcheck.fleet.sources import META_KEYS

SCHEMA = "mcheck-fleet-row/1"
CONFORMING, DIVERGENT, ERROR = "conforming", "divergent", "error"
VERDICTS = (CONFORMING, DIVERGENT, ERROR)

# why a capture is an error
KIND_CORRUPT = "corrupt"                  # the file is damaged (header, a record, truncation)
KIND_UNKNOWN_PROFILE = "unknown-profile"  # its header names a profile mcheck does not know
KIND_UNREADABLE = "unreadable"            # cannot be opened or read (missing, permissions)
KIND_BOUNDED = "bounded"                  # the candidate-set bound was hit: not judged
KIND_TIMEOUT = "timeout"                  # over --timeout
KIND_WORKER_DIED = "worker-died"          # the worker process died replaying it, every retry
KIND_INTERNAL = "internal"                # a bug in mcheck or the model
# errors that are a property of the file: --resume does not try those again
FINAL_KINDS = (KIND_CORRUPT, KIND_UNKNOWN_PROFILE, KIND_BOUNDED)

JOURNAL = "journal.jsonl"
RESULTS = "results.jsonl"
HASH_CHUNK = 1 << 20


def new_row(path: str, digest: str, meta: Mapping[str, str], *, worker: str | None = None) -> dict[str, Any]:
    """A row with every column, metadata from the manifest; the judge fills in the rest."""
    row: dict[str, Any] = {
        "schema": SCHEMA, "path": path, "sha256": digest, "verdict": None, "error_kind": None, "reason": None,
        "replay_verdict": None, "first_divergence": None, "clauses": [], "suspected_bugs": [], "relaxations": [],
        "profile": None, "model": None, "events": None, "timestamp": None,
        **{k: None for k in META_KEYS}, "seconds": None, "worker": worker,
    }
    row.update({k: v for k, v in meta.items() if k in META_KEYS})
    return row


def error_row(path: str, digest: str, meta: Mapping[str, str], kind: str, reason: str, *,
              worker: str | None = None) -> dict[str, Any]:
    row = new_row(path, digest, meta, worker=worker)
    row.update(verdict=ERROR, error_kind=kind, reason=reason)
    return row


def content_hash(path: str) -> str:
    """SHA-256 of the file's bytes (OSError when it cannot be read)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tally(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for row in rows:
        counts[row["verdict"]] += 1
    return counts


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a journal or table; a damaged last line (the batch was killed while
    writing it) is dropped, damage elsewhere is an error naming the line."""
    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        return rows
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):   # no newline after it: the write was cut
                break
            raise InputError(f"{path}: line {number}: not a results row: {exc}") from None
        if not isinstance(row, dict) or row.get("schema") != SCHEMA or row.get("verdict") not in VERDICTS:
            raise InputError(f"{path}: line {number}: not a {SCHEMA} row")
        rows.append(row)
    return rows


def judged(directory: str) -> dict[str, dict[str, Any]]:
    """--resume DIR: content hash -> the latest row whose verdict holds whatever the run."""
    base = Path(directory)
    if not base.is_dir():
        raise InputError(f"--resume {directory}: not a directory")
    if not (base / JOURNAL).exists() and not (base / RESULTS).exists():
        raise InputError(f"--resume {directory}: no {JOURNAL} or {RESULTS} there (not a replay-batch output)")
    out: dict[str, dict[str, Any]] = {}
    for row in [*read_rows(base / RESULTS), *read_rows(base / JOURNAL)]:
        if row.get("sha256") and (row["verdict"] != ERROR or row.get("error_kind") in FINAL_KINDS):
            out[row["sha256"]] = row
    return out


class Journal:
    """DIR/journal.jsonl, appended to and flushed row by row."""

    def __init__(self, directory: str) -> None:
        self.path = Path(directory) / JOURNAL
        try:
            self._fh = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {self.path}: {exc.strerror}") from None

    def write(self, row: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(row, separators=(",", ":"), default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def write_table(directory: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """DIR/results.jsonl, one row per input, replaced atomically."""
    path = Path(directory) / RESULTS
    tmp = path.with_suffix(".jsonl.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, separators=(",", ":"), default=str) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    return str(path)
