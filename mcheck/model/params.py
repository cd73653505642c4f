"""Model parameters (`-p key=value`): declaration, parsing and validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from mcheck.errors import InputError, ModelDefinitionError


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


@dataclass(frozen=True)
class ParamValues:
    """Validated parameter values, readable as attributes (`p.members`)."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(f"model has no parameter {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


def resolve_params(
    declared: Sequence[Param],
    given: Mapping[str, Any],
    model: str,
) -> ParamValues:
    """Defaults overlaid with `given` (strings from the CLI, or typed values from Python)."""
    by_name = {p.name: p for p in declared}
    values = {p.name: p.default for p in declared}
    for key, raw in given.items():
        if key not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise InputError(f"unknown parameter {key!r} for model {model} (known: {known})")
        param = by_name[key]
        values[key] = param.parse(raw, model) if isinstance(raw, str) and param.kind != "choice" else param.check(raw, model)
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
