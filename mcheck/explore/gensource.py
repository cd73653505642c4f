"""Compile generated Python so that it stays inspectable.

Every piece of code mcheck generates (the explorer's search functions, the symmetry
canonicaliser, the replayer's step functions) is compiled here under a stable
pseudo-filename, `<mcheck-generated/KIND-MODEL-HASH.py>` (HASH: of the source, so the
same model and parameters give the same name in every run), and registered with
`linecache`, so a traceback through generated code shows the generated line. The entry
is dropped again when the last function of that code is garbage collected, so a long
process that builds many model variants does not keep every source.

`dump_to(DIR)` (the `--dump-code DIR` option) also writes each source to
`DIR/KIND-MODEL-HASH.py` as it is compiled, before it runs: code that crashes or hangs
can still be read, and the line numbers of a traceback are those of the file.
"""

from __future__ import annotations

import hashlib
import linecache
import os
import re
import tempfile
import types
import weakref
from typing import Any

from mcheck.errors import InputError

PREFIX = "<mcheck-generated/"

_dump_dir: str | None = None
_live: dict[str, int] = {}   # pseudo-filename -> live compiled copies


def dump_to(directory: str | None) -> None:
    """Write every source compiled from now on into `directory` (None: stop)."""
    global _dump_dir
    _dump_dir = directory


def comment(text: str) -> str:
    """`text` made safe for a `#` comment: one line, printable ASCII (model names and
    parameter values are the model's; a newline in one must not end the comment)."""
    return ascii(text)[1:-1]


def load(source: str, *, kind: str, model: str, namespace: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Compile and run `source` (definitions only) in `namespace`; return its
    pseudo-filename and the namespace."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    name = f"{kind}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', model)[:60]}-{digest}.py"
    filename = f"{PREFIX}{name}>"
    code = compile(source, filename, "exec")
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)   # mtime None: checkcache keeps it
    _live[filename] = _live.get(filename, 0) + 1
    if _dump_dir is not None:
        _write(os.path.join(_dump_dir, name), source)
    exec(code, namespace)
    anchor = next((v for v in namespace.values()
                   if isinstance(v, types.FunctionType) and v.__globals__ is namespace), None)
    if anchor is not None:
        # every generated function holds `namespace` as its globals, and `namespace` holds
        # them all: the anchor dies with the last of them
        weakref.finalize(anchor, _release, filename)
    return filename, namespace


def _release(filename: str) -> None:
    left = _live.get(filename, 0) - 1
    if left > 0:
        _live[filename] = left
        return
    _live.pop(filename, None)
    linecache.cache.pop(filename, None)


def _write(path: str, source: str) -> None:
    directory = os.path.dirname(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mcheck-code-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(source)
        os.replace(tmp, path)   # parallel workers may write the same file: never half a file
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(f"--dump-code {directory}: cannot write {os.path.basename(path)}: "
                         f"{exc.strerror or exc}") from None
