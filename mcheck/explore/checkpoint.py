"""Saving a breadth-first search at a level boundary, and loading it to continue.

A snapshot is the search as it stood when a level began: every state found so far (packed
ints), their parent and action links, the level's frontier, and the counters. Taking it
at a level boundary is what makes it consistent; an interrupted level is rolled back and
redone on resume. One file (`search.ckpt`: a JSON header line, then binary sections) is
written to a temporary name and renamed, so a crash while saving leaves the previous
snapshot intact. No pickle: loading a checkpoint never runs code from it.

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

FILE = "search.ckpt"
FORMAT = "mcheck-checkpoint/1"


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
    os.makedirs(directory, exist_ok=True)
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
        "sections": {name: len(data) for name, data in sections.items()},
        "typecodes": {"parent": snap.parent.typecode, "via": snap.via.typecode},
    }
    path = os.path.join(directory, FILE)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(json.dumps(header).encode() + b"\n")
        fh.writelines(sections.values())
    os.replace(tmp, path)


def load(directory: str, expected: dict[str, Any]) -> Snapshot:
    """The snapshot in `directory`, or InputError (one line) if it is missing or is for another run."""
    path = os.path.join(directory, FILE)
    try:
        with open(path, "rb") as fh:
            header = json.loads(fh.readline())
            body = fh.read()
    except FileNotFoundError:
        raise InputError(f"--resume {directory}: no checkpoint there ({FILE} missing)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"--resume {directory}: unreadable checkpoint: {exc}") from None
    if header.get("format") != FORMAT:
        raise InputError(f"--resume {directory}: not an {FORMAT} file")
    got = header["identity"]
    for key in ("model", "params", "source_sha256", "mcheck", "symmetry"):
        if got.get(key) != expected[key]:
            was, now = got.get(key), expected[key]
            if isinstance(was, dict) and isinstance(now, dict):
                keys = [k for k in {**was, **now} if was.get(k) != now.get(k)]
                was, now = {k: was.get(k) for k in keys}, {k: now.get(k) for k in keys}
            raise InputError(f"--resume {directory}: the checkpoint is for {key} {_show(was)}, this run has {_show(now)}")
    chunks, at = {}, 0
    for name, size in header["sections"].items():
        chunks[name] = body[at:at + size]
        at += size
    nb = header["state_bytes"]
    raw = chunks["states"]
    states = [int.from_bytes(raw[i:i + nb], "little") for i in range(0, len(raw), nb)]
    parent, via, frontier = array(header["typecodes"]["parent"]), array(header["typecodes"]["via"]), array("q")
    parent.frombytes(chunks["parent"])
    via.frombytes(chunks["via"])
    frontier.frombytes(chunks["frontier"])
    if not len(states) == len(parent) == len(via) == header["count"]:
        raise InputError(f"--resume {directory}: the checkpoint is truncated")
    return Snapshot(identity=got, states=states, parent=parent, via=via, frontier=list(frontier),
                    depth=header["depth"], transitions=header["transitions"], seconds=header["seconds"],
                    coverage=list(header["coverage"]), state_bytes=nb,
                    found={int(k): (v[0], v[1]) for k, v in header["found"].items()},
                    reached={int(k): v for k, v in header["reached"].items()}, deadlock=header["deadlock"])


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    return str(value)
