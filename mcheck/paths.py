"""Output paths checked before the work starts, input files opened with a one-line error.

A run that computes for an hour and then cannot write its result has lost the hour: every
command checks the paths it will write (`check_output`, `check_output_dir`) before it
starts, and says which option and which path is wrong. `-` means standard output only
where the option says so (`--json -`, `--promela -`); an empty path is never a file.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

from mcheck.errors import InputError

NAME_MAX = 255


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _check_names(path: Path, where: str) -> None:
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise InputError(f"{where}: file name too long ({len(os.fsencode(part))} bytes, at most {NAME_MAX})")
    if len(os.fsencode(str(path))) >= 4096:
        raise InputError(f"{where}: path too long ({len(os.fsencode(str(path)))} bytes)")


def check_output(path: str | None, option: str, *, stdout: bool = False) -> None:
    """Refuse an output FILE that cannot be written, before any work is done.

    `stdout`: whether '-' means standard output for this option."""
    if path is None:
        return
    where = f"{option} {path!r}" if not path or path.strip() != path else f"{option} {path}"
    if not path:
        raise InputError(f"{where}: empty path; give a file name" + (" or '-' for standard output" if stdout else ""))
    if path == "-":
        if stdout:
            return
        raise InputError(f"{where}: this report is written to a file, not to standard output; give a file name")
    p = Path(path)
    _check_names(p, where)
    try:
        if p.is_dir():
            raise InputError(f"{where}: is a directory; give a file name")
        parent = _parent(p)
        if not parent.is_dir():
            raise InputError(f"{where}: directory {parent} does not exist")
        if len(os.fsencode(p.name)) > _name_max(parent):
            raise InputError(f"{where}: file name too long")
        if p.exists() and not os.access(p, os.W_OK):
            raise InputError(f"{where}: file is not writable")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{where}: directory {parent} is not writable")
    except OSError as exc:
        raise InputError(f"{where}: {exc.strerror or exc}") from None


def check_output_dir(path: str | None, option: str) -> None:
    """Refuse an output DIR that cannot be created or written, before any work is done.

    The directory is created (as the command would; its parent must exist) and a probe
    file written and removed,
    which also catches read-only file systems and full quotas of inodes."""
    if path is None:
        return
    where = f"{option} {path!r}" if not path else f"{option} {path}"
    if not path or path == "-":
        raise InputError(f"{where}: give a directory")
    p = Path(path)
    _check_names(p, where)
    try:
        if p.exists() and not p.is_dir():
            raise InputError(f"{where}: exists and is not a directory")
        parent = _parent(p)
        if not p.exists() and not parent.is_dir():
            raise InputError(f"{where}: directory {parent} does not exist")
        p.mkdir(exist_ok=True)
        probe = p / f".mcheck-probe-{uuid.uuid4().hex[:12]}"
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            reason = f"cannot write there ({reason})"
        raise InputError(f"{where}: {reason}") from None


def check_input(path: str | Path, what: str = "", *, missing: str = "no such file") -> Path:
    """An input that must be an existing regular, readable file; InputError otherwise.

    A directory, a FIFO or a device is refused (reading a FIFO could wait forever)."""
    p = Path(path)
    label = f"{what} {path}" if what else str(path)
    _check_names(p, label)
    try:
        if not p.exists():
            raise InputError(f"{label}: {missing}")
        if not p.is_file():
            raise InputError(f"{label}: not a regular file")
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"{label}: cannot read: {exc.strerror or exc}") from None
    return p
