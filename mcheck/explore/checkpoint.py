"""Saving a breadth-first search at a level boundary, and loading it to continue.

A snapshot is the search as it stood when a level began: every state found so far (packed
ints), their parent and action links, the level's frontier, and the counters. Taking it
at a level boundary is what makes it consistent; an interrupted level is rolled back and
redone on resume. One file (`search.ckpt`: a JSON header line, then binary sections) is
written to a temporary name and renamed, so a crash while saving leaves the previous
snapshot intact. No pickle: loading a checkpoint never runs code from it.

The header names the format version and holds a SHA-256 of itself and of each binary
section; loading checks them, the section sizes (none negative, together exactly the
file) and that every state id stored points inside the stored states, so a damaged file
is refused with the section and byte offset instead of resuming with wrong counts.

A checkpoint records what it belongs to (model, parameters, SHA-256 of the model's
source file, mcheck version, symmetry); resuming with anything different is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from dataclasses import dataclass
from typing import Any

from mcheck import __version__
from mcheck.errors import InputError
from mcheck.model.build import LoadedModel
from mcheck.trace.safejson import loads

FILE = "search.ckpt"
#: Version 2: a SHA-256 per section and over the header (version 1 had neither).
FORMAT = "mcheck-checkpoint/2"


@dataclass(kw_only=True)
class Snapshot:
    """The search at the start of level `depth` (found/reached/deadlock as plain data)."""

    identity: dict[str, Any]
    states: list[int]
    parent: array
    via: array
    frontier: list[int]
    depth: int
    transitions: int
    seconds: float
    coverage: list[int]
    found: dict[int, tuple[int, int | None]]   # property -> (state id, action or None)
    reached: dict[int, int]                     # goal -> state id
    deadlock: int | None                        # state id
    state_bytes: int                            # bytes per packed state in the file


def identity(model: LoadedModel, symmetric: bool) -> dict[str, Any]:
    """What a checkpoint must match to be resumed."""
    try:
        with open(model.source, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        digest = "unreadable"
    return {"model": model.name, "params": {k: _plain(v) for k, v in model.params.as_dict().items()},
            "source_sha256": digest, "mcheck": __version__, "symmetry": symmetric}


def _plain(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def save(directory: str, snap: Snapshot) -> None:
    nb = snap.state_bytes
    sections = {
        "states": b"".join(x.to_bytes(nb, "little") for x in snap.states),
        "parent": snap.parent.tobytes(),
        "via": snap.via.tobytes(),
        "frontier": array("q", snap.frontier).tobytes(),
    }
    header = {
        "format": FORMAT, "identity": snap.identity, "depth": snap.depth, "transitions": snap.transitions,
        "seconds": snap.seconds, "coverage": snap.coverage, "state_bytes": nb, "count": len(snap.states),
        "found": {str(k): list(v) for k, v in snap.found.items()},
        "reached": {str(k): v for k, v in snap.reached.items()}, "deadlock": snap.deadlock,
        "sections": [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                     for name, data in sections.items()],
        "typecodes": {"parent": snap.parent.typecode, "via": snap.via.typecode},
    }
    header["header_sha256"] = _header_digest(header)
    path = os.path.join(directory, FILE)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(directory, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(json.dumps(header).encode() + b"\n")
            fh.writelines(sections.values())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(f"--checkpoint {directory}: cannot save the checkpoint: {exc.strerror or exc}") from None


def _header_digest(header: dict[str, Any]) -> str:
    """SHA-256 of the header without its own digest, keys sorted (the counters and the
    found states are checked as the binary sections are)."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


#: The section names and order of FORMAT, and the array typecodes a checkpoint may name.
SECTIONS = ("states", "parent", "via", "frontier")
TYPECODES = frozenset("bhilqBHILQ")


def load(directory: str, expected: dict[str, Any]) -> Snapshot:
    """The snapshot in `directory`, or InputError (one line) if it is missing, damaged or is
    for another run. Every section and the header carry a SHA-256: a flipped bit anywhere is
    refused, never resumed with wrong counts."""
    path = os.path.join(directory, FILE)
    where = f"--resume {directory}"
    try:
        with open(path, "rb") as fh:
            first = fh.readline(1 << 20)
            body = fh.read()
    except FileNotFoundError:
        raise InputError(f"{where}: no checkpoint there ({FILE} missing)") from None
    except OSError as exc:
        raise InputError(f"{where}: unreadable checkpoint: {exc.strerror or exc}") from None
    try:
        header = loads(first)
    except ValueError as exc:
        raise InputError(f"{where}: damaged checkpoint: header line: {exc}") from None
    if not isinstance(header, dict):
        raise InputError(f"{where}: damaged checkpoint: the header line is not a JSON object")
    fmt = header.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith("mcheck-checkpoint/"):
            raise InputError(f"{where}: checkpoint format {fmt}, this mcheck reads {FORMAT} "
                             f"(start the search again with --checkpoint)")
        raise InputError(f"{where}: not an {FORMAT} file")
    if header.get("header_sha256") != _header_digest(header):
        raise InputError(f"{where}: damaged checkpoint: the header's checksum does not match (bytes 0..{len(first)})")
    got = header.get("identity")
    if not isinstance(got, dict):
        raise InputError(f"{where}: damaged checkpoint: no identity")
    for key in ("model", "params", "source_sha256", "mcheck", "symmetry"):
        if got.get(key) != expected[key]:
            was, now = got.get(key), expected[key]
            if isinstance(was, dict) and isinstance(now, dict):
                keys = [k for k in {**was, **now} if was.get(k) != now.get(k)]
                was, now = {k: was.get(k) for k in keys}, {k: now.get(k) for k in keys}
            raise InputError(f"{where}: the checkpoint is for {key} {_show(was)}, this run has {_show(now)}")
    try:
        return _snapshot(header, body, len(first), got)
    except _Damage as exc:
        raise InputError(f"{where}: damaged checkpoint: {exc}") from None


class _Damage(Exception):
    pass


def _uint(header: dict[str, Any], key: str, *, positive: bool = False) -> int:
    value = header.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < (1 if positive else 0):
        raise _Damage(f"{key} {value!r} is not a {'positive' if positive else 'non-negative'} integer")
    return value


def _snapshot(header: dict[str, Any], body: bytes, base: int, got: dict[str, Any]) -> Snapshot:
    nb, count = _uint(header, "state_bytes", positive=True), _uint(header, "count")
    depth, transitions = _uint(header, "depth"), _uint(header, "transitions")
    sections = header.get("sections")
    if not isinstance(sections, list) or [s.get("name") if isinstance(s, dict) else None for s in sections] != list(SECTIONS):
        raise _Damage(f"the sections must be {', '.join(SECTIONS)}")
    chunks, at = {}, 0
    for sec in sections:
        size = sec.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _Damage(f"section {sec['name']}: size {size!r} is not a non-negative integer")
        if at + size > len(body):
            raise _Damage(f"section {sec['name']} (byte offset {base + at}): {size:,} bytes, only "
                          f"{len(body) - at:,} left in the file (truncated)")
        data = body[at:at + size]
        if hashlib.sha256(data).hexdigest() != sec.get("sha256"):
            raise _Damage(f"section {sec['name']} (byte offset {base + at}, {size:,} bytes): checksum does not match")
        chunks[sec["name"]] = data
        at += size
    if at != len(body):
        raise _Damage(f"{len(body) - at:,} bytes after the last section (byte offset {base + at})")
    codes = header.get("typecodes")
    if not isinstance(codes, dict) or codes.get("parent") not in TYPECODES or codes.get("via") not in TYPECODES:
        raise _Damage(f"typecodes {codes!r}")
    parent, via, frontier = array(codes["parent"]), array(codes["via"]), array("q")
    raw = chunks["states"]
    for arr, name in ((parent, "parent"), (via, "via"), (frontier, "frontier")):
        if len(chunks[name]) % arr.itemsize:
            raise _Damage(f"section {name}: {len(chunks[name])} bytes is not a whole number of items")
        arr.frombytes(chunks[name])
    if len(raw) != count * nb or not len(parent) == len(via) == count:
        raise _Damage(f"section sizes do not hold {count:,} states")
    states = [int.from_bytes(raw[i:i + nb], "little") for i in range(0, len(raw), nb)]
    if any(not -1 <= p < count for p in parent) or any(not 0 <= f < count for f in frontier):
        raise _Damage("a parent or frontier state id is outside the stored states")
    try:
        found = {int(k): (int(v[0]), None if v[1] is None else int(v[1])) for k, v in header["found"].items()}
        reached = {int(k): int(v) for k, v in header["reached"].items()}
        deadlock = header["deadlock"]
        coverage = [int(c) for c in header["coverage"]]
        seconds = float(header["seconds"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise _Damage(f"found/reached/deadlock/coverage: {type(exc).__name__}: {exc}") from None
    ids = [sid for sid, _ in found.values()] + list(reached.values()) + ([deadlock] if deadlock is not None else [])
    if any(not isinstance(i, int) or not 0 <= i < count for i in ids):
        raise _Damage("a found, reached or deadlock state id is outside the stored states")
    return Snapshot(identity=got, states=states, parent=parent, via=via, frontier=list(frontier),
                    depth=depth, transitions=transitions, seconds=seconds, coverage=coverage, state_bytes=nb,
                    found=found, reached=reached, deadlock=deadlock)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    return str(value)
