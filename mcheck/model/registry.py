"""Find a model class by built-in name or by file path, and load it with parameters."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from typing import Any
from collections.abc import Mapping

from mcheck.errors import InputError, McheckError, ModelDefinitionError
from mcheck.model.build import LoadedModel, build_model
from mcheck.model.definition import Model, class_where

# built-in name -> "module:Class"
BUILTIN = {
    "virtio-1.4": "mcheck.models.virtio_1_4:Virtio14",
    "draft-v1": "mcheck.models.draft_v1:DraftV1",
    "virtio-1.4-migration": "mcheck.models.virtio_1_4_migration:Virtio14Migration",
}


def builtin_names() -> list[str]:
    return sorted(BUILTIN)


def find_model_class(spec: str) -> type[Model]:
    """`spec` is a built-in name (`virtio-1.4`) or a path to a model file."""
    if spec in BUILTIN:
        module_name, _, cls_name = BUILTIN[spec].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise InputError(f"built-in model {spec!r} is not installed ({module_name})") from None
            raise
        return getattr(module, cls_name)
    if spec.endswith(".py") or os.sep in spec or os.path.exists(spec):
        return _load_file(spec)
    raise InputError(f"unknown model {spec!r}: give a built-in name ({', '.join(builtin_names())}) or a path to a model file")


def _load_file(path: str) -> type[Model]:
    if not os.path.isfile(path):
        raise InputError(f"model file {path}: no such file")
    name = "mcheck_user_model_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"model file {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise InputError(f"{path}:{exc.lineno}: model file does not import: {exc.msg}") from None
    except (Exception, SystemExit) as exc:   # a model file that calls sys.exit() does not end mcheck
        line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                     if os.path.abspath(f.filename) == os.path.abspath(path)), None)
        where = f"{path}:{line}" if line else path
        if isinstance(exc, SystemExit):
            raise InputError(f"{where}: model file called sys.exit({exc.code!r}) while being imported; "
                             f"a model file defines a Model and must not exit") from None
        if isinstance(exc, McheckError):   # a declaration refused (Param, Enum, Int, ...): its own words
            raise type(exc)(f"{where}: {exc}") from None
        raise InputError(f"{where}: model file does not import: {type(exc).__name__}: {exc}") from None
    classes = [c for c in vars(module).values()
               if inspect.isclass(c) and issubclass(c, Model) and c is not Model and c.__module__ == name]
    chosen = getattr(module, "MODEL", None)
    if chosen is not None:
        if not (inspect.isclass(chosen) and issubclass(chosen, Model)):
            line = _line_of(path, r"MODEL\s*=")
            raise ModelDefinitionError(f"{path}:{line}: MODEL must name a Model subclass, not {chosen!r}")
        return chosen
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        where = class_where(classes[1]) if classes else path
        raise InputError(f"{where}: expected exactly one Model subclass in {path} (found: {found}); "
                         f"or set MODEL = TheClass")
    return classes[0]


def _line_of(path: str, pattern: str) -> int:
    """The first line of `path` that starts with `pattern` (1 if none does)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, text in enumerate(fh, 1):
            if re.match(pattern, text):
                return number
    return 1


def load_model(spec: str, params: Mapping[str, Any] | None = None) -> LoadedModel:
    """Find the model and build it for `params` (strings from the CLI or typed values)."""
    return build_model(find_model_class(spec), params or {})
