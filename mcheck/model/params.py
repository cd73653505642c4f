"""Model parameters (`-p key=value`): declaration, parsing and validation.

A model may also declare *relaxations* (named sets of parameter values that read an open
question or a contradiction of the spec the way a real driver or device needs) and
*presets* bundling them; `-p compat=NAME` (or `compat=FILE.toml`) applies a preset.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence

from mcheck.errors import InputError, ModelDefinitionError

COMPAT = "compat"  # the parameter that selects a preset


@dataclass(frozen=True, kw_only=True)
class Param:
    """One model parameter.

    `kind` is "int", "bool" or "choice". Ints carry an inclusive range; choices carry
    their allowed values. `doc` says what the parameter means, and for spec ambiguities
    which question (Q1..Q20) it answers.
    """

    name: str
    kind: str
    default: Any
    doc: str
    lo: int | None = None
    hi: int | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("int", "bool", "choice"):
            raise ModelDefinitionError(f"parameter {self.name}: kind must be int, bool or choice")
        if self.kind == "choice" and self.default not in self.choices:
            raise ModelDefinitionError(f"parameter {self.name}: default {self.default!r} is not among {self.choices}")

    def parse(self, text: str, model: str) -> Any:
        where = f"parameter {self.name}={text!r} for model {model}"
        if self.kind == "int":
            try:
                value = int(text, 0)
            except ValueError:
                raise InputError(f"{where}: not an integer") from None
            return self.check(value, model)
        if self.kind == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise InputError(f"{where}: expected true or false")
        return self.check(text, model)

    def check(self, value: Any, model: str) -> Any:
        where = f"parameter {self.name}={value!r} for model {model}"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{where}: not an integer")
            if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
                raise InputError(f"{where}: out of range {self.lo}..{self.hi}")
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise InputError(f"{where}: expected true or false")
        elif value not in self.choices:
            raise InputError(f"{where}: unknown value (choose one of: {', '.join(self.choices)})")
        return value

    def describe(self) -> str:
        if self.kind == "int":
            domain = f"{self.lo}..{self.hi}"
        elif self.kind == "bool":
            domain = "true|false"
        else:
            domain = "|".join(self.choices)
        return f"{self.name}={domain} (default {self.default}): {self.doc}"


BUG = "bug"   # the parameter that selects a catalogue bug
ANY_BUG = "*"
#: while a model is built without a bug (`mcheck.model.build`): the catalogue bugs its code
#: asked about (`Model.bug(NAME)`), or ANY_BUG when it read the `bug` parameter itself
bug_reads: list[set[str]] = []


def note_bug_read(name: str) -> None:
    if bug_reads:
        bug_reads[-1].add(name)


@dataclass(frozen=True)
class ParamValues:
    """Validated parameter values, readable as attributes (`p.members`)."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self.values[name]
        except KeyError:
            raise AttributeError(f"model has no parameter {name!r}") from None
        if name == BUG:
            note_bug_read(ANY_BUG)
        return value

    def __getitem__(self, name: str) -> Any:
        if name == BUG:
            note_bug_read(ANY_BUG)
        return self.values[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class Relaxation:
    """Parameter values that relax the spec's text where a real implementation departs
    from it (an open question, a contradiction, a known driver habit). The id is the key
    in the model's `relaxations` dict; `doc` says in one line what it allows."""

    doc: str
    params: dict[str, Any] = field(default_factory=dict)


def model_relaxations(cls: Any) -> tuple[dict[str, Relaxation], dict[str, tuple[str, ...]]]:
    """A model class's declared relaxations and presets (empty when it declares none)."""
    return dict(getattr(cls, "relaxations", None) or {}), {
        k: tuple(v) for k, v in (getattr(cls, "presets", None) or {}).items()}


def _typed(param: Param, raw: Any, model: str) -> Any:
    return param.parse(raw, model) if isinstance(raw, str) and param.kind != "choice" else param.check(raw, model)


def relaxation_values(relaxation: Relaxation, declared: Sequence[Param], model: str) -> dict[str, Any]:
    """The relaxation's parameter values, typed (`Relaxation.params` may hold CLI strings)."""
    by_name = {p.name: p for p in declared}
    return {k: _typed(by_name[k], v, model) for k, v in relaxation.params.items()}


def _check_declarations(by_name: Mapping[str, Param], relaxations: Mapping[str, Relaxation],
                        presets: Mapping[str, tuple[str, ...]], model: str) -> None:
    for rid, relax in relaxations.items():
        if not isinstance(relax, Relaxation):
            raise ModelDefinitionError(f"model {model}: relaxation {rid!r} must be a Relaxation(doc, params)")
        for key, value in relax.params.items():
            if key not in by_name or key == COMPAT:
                raise ModelDefinitionError(f"model {model}: relaxation {rid} sets unknown parameter {key!r}")
            try:
                _typed(by_name[key], value, model)
            except InputError as exc:
                raise ModelDefinitionError(f"model {model}: relaxation {rid}: {exc}") from None
    for name, ids in presets.items():
        unknown = [i for i in ids if i not in relaxations]
        if unknown:
            raise ModelDefinitionError(f"model {model}: preset {name} names unknown relaxation(s) {', '.join(unknown)}")
    if presets:
        compat = by_name.get(COMPAT)
        if compat is None or compat.kind != "choice":
            raise ModelDefinitionError(f"model {model}: presets need a choice parameter {COMPAT!r} "
                                       f"(choices none and the preset names)")
        if set(compat.choices) != {"none", *presets}:
            raise ModelDefinitionError(f"model {model}: parameter {COMPAT} must offer exactly none and the presets "
                                       f"({', '.join(presets)}), not {', '.join(compat.choices)}")


def _merge(target: dict[str, Any], values: Mapping[str, Any], what: str, where: str) -> None:
    for key, value in values.items():
        if key in target and target[key] != value:
            raise InputError(f"{where}: {what} sets {key}={value!r}, but another relaxation sets {key}={target[key]!r}")
        target[key] = value


@dataclass(frozen=True)
class PresetFile:
    """A preset read from a TOML file: its name, relaxation ids and extra parameter values."""

    name: str
    relaxations: tuple[str, ...]
    params: dict[str, Any]


def load_preset_file(path: str, declared: Sequence[Param], relaxations: Mapping[str, Relaxation],
                     model: str) -> PresetFile:
    """Read and validate `[preset] name, relaxations` and an optional `[params]` table."""
    where = f"preset file {path}"
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"preset", "params"}
    if unknown:
        raise InputError(f"{where}: unknown key {sorted(unknown)[0]!r} (expected the tables [preset] and [params])")
    head = doc.get("preset")
    if not isinstance(head, dict):
        raise InputError(f"{where}: missing [preset] table")
    unknown = set(head) - {"name", "relaxations"}
    if unknown:
        raise InputError(f"{where}: preset.{sorted(unknown)[0]}: unknown key (expected name and relaxations)")
    name = head.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: preset.name: must be a non-empty string")
    ids = head.get("relaxations", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError(f"{where}: preset.relaxations: must be a list of relaxation ids")
    for rid in ids:
        if rid not in relaxations:
            known = ", ".join(sorted(relaxations)) or "none"
            raise InputError(f"{where}: preset.relaxations: unknown relaxation {rid!r} for model {model} (known: {known})")
    table = doc.get("params", {})
    if not isinstance(table, dict):
        raise InputError(f"{where}: params: must be a table of parameter values")
    by_name = {p.name: p for p in declared}
    params: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in by_name or key == COMPAT:
            known = ", ".join(sorted(k for k in by_name if k != COMPAT)) or "none"
            raise InputError(f"{where}: params.{key}: unknown parameter for model {model} (known: {known})")
        try:
            params[key] = _typed(by_name[key], raw, model)
        except InputError as exc:
            raise InputError(f"{where}: params.{key}: {exc}") from None
    return PresetFile(name=name.strip(), relaxations=tuple(ids), params=params)


def _preset_values(raw: Any, declared: Sequence[Param], relaxations: Mapping[str, Relaxation],
                   presets: Mapping[str, tuple[str, ...]], model: str) -> tuple[str, dict[str, Any]]:
    """`compat=raw` as (the name the verdict shows, the parameter values it implies)."""
    if raw == "none":
        return "none", {}
    if isinstance(raw, str) and raw in presets:
        out: dict[str, Any] = {}
        for rid in presets[raw]:
            _merge(out, relaxation_values(relaxations[rid], declared, model), f"relaxation {rid}",
                   f"model {model}: preset {raw}")
        return raw, out
    if isinstance(raw, str) and (raw.endswith(".toml") or os.sep in raw or os.path.isfile(raw)):
        preset = load_preset_file(raw, declared, relaxations, model)
        out = {}
        for rid in preset.relaxations:
            _merge(out, relaxation_values(relaxations[rid], declared, model), f"relaxation {rid}",
                   f"preset file {raw}")
        out.update(preset.params)
        return preset.name, out
    raise InputError(f"parameter {COMPAT}={raw!r} for model {model}: unknown preset "
                     f"(choose one of: none, {', '.join(presets)}, or a preset file .toml)")


def resolve_params(
    declared: Sequence[Param],
    given: Mapping[str, Any],
    model: str,
    *,
    relaxations: Mapping[str, Relaxation] | None = None,
    presets: Mapping[str, tuple[str, ...]] | None = None,
) -> ParamValues:
    """Defaults overlaid with `given` (strings from the CLI, or typed values from Python).

    With presets declared, `compat=NAME` or `compat=FILE.toml` applies the preset's
    relaxations (and a file's `[params]`) to every parameter `given` does not set
    explicitly; the resolved `compat` is the preset's name, so a verdict says which
    reading of the spec it used."""
    relaxations = relaxations or {}
    presets = presets or {}
    by_name = {p.name: p for p in declared}
    _check_declarations(by_name, relaxations, presets, model)
    values = {p.name: p.default for p in declared}
    for key in given:
        if key not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise InputError(f"unknown parameter {key!r} for model {model} (known: {known})")
    if presets and COMPAT in given:
        label, implied = _preset_values(given[COMPAT], declared, relaxations, presets, model)
        values.update(implied)
        values[COMPAT] = label
    for key, raw in given.items():
        if key == COMPAT and presets:
            continue
        values[key] = _typed(by_name[key], raw, model)
    return ParamValues(values)


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """`["members=3", "queues=2"]` -> {"members": "3", "queues": "2"}."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"parameter {item!r}: expected key=value")
        key = key.strip()
        if key in out:
            raise InputError(f"parameter {key!r} given twice")
        out[key] = value.strip()
    return out
