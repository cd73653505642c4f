"""Which option takes effect in which run: one table, consulted before any work is done.

An option the run would not use is an error (exit 2, one line naming the option and why),
never silently dropped. `OPTIONS` has one line per option of each verdict-producing
command; a command's run modes (`MODES`, chosen by `mode_of`) are what decides: `check`
by its engine, `replay` and `conform` by where the events come from. A new option needs a
line here (tests/test_option_matrix.py fails otherwise, and shows it taking effect).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from mcheck.errors import InputError


@dataclass(frozen=True)
class Rule:
    """Where an option takes effect: in `modes` (None: every mode of the command), and only
    together with one of `needs` (options) when that is given; `why` says why not elsewhere."""

    modes: frozenset[str] | None = None
    why: str = ""
    needs: tuple[str, ...] = ()


EVERY = Rule()


def only(*modes: str, why: str, needs: tuple[str, ...] = ()) -> Rule:
    return Rule(frozenset(modes), why, needs)


def needs(*options: str) -> Rule:
    return Rule(None, "", options)


MODES: dict[str, tuple[str, ...]] = {
    "check": ("explicit", "bmc", "prove", "all"),
    "replay": ("model", "backend-model", "backend-emulator"),
    "conform": ("backend-model", "backend-emulator"),
}

_EXPLICIT = "only the explicit engine stores states"
_NO_BACKEND = "with --backend the device's own exchange is judged, by the device adapter's judge"
_WAITS = "only an emulator backend is waited for; --backend model runs in-process"

OPTIONS: dict[str, dict[str, Rule]] = {
    "check": {
        "--param": EVERY,
        "--engine": EVERY,
        "--depth": only("bmc", "prove", "all", why="the explicit engine takes --max-depth"),
        "--k": only("prove", "all", why="only k-induction (prove, all) has a k"),
        "--max-states": only("explicit", "all", why=_EXPLICIT),
        "--max-depth": only("explicit", "all", why="the symbolic engines take --depth"),
        "--timeout": EVERY,
        "--dot": only("explicit", why="only the explicit engine builds the reachable graph"),
        "--graphml": only("explicit", why="only the explicit engine builds the reachable graph"),
        "--graph": only("explicit", why="only the explicit engine builds the reachable graph"),
        "--graph-cap": only("explicit", why="only the explicit engine builds the reachable graph",
                            needs=("--dot", "--graphml", "--graph", "--report")),
        "--quiet": EVERY,
        "--symmetry": only("explicit", why="only the explicit engine reduces its state store by symmetry"),
        "--workers": only("explicit", why="only the explicit engine spreads its search over processes"),
        "--checkpoint": only("explicit", why="only the explicit engine saves its search"),
        "--checkpoint-every": only("explicit", why="only the explicit engine saves its search",
                                   needs=("--checkpoint", "--resume")),
        "--resume": only("explicit", why="only the explicit engine saves its search"),
        "--dump-code": only("explicit", "all", why="only the explicit search runs generated Python; the "
                                                   "symbolic engines hand Z3 formulas"),
        "--json": EVERY,
        "--junit": EVERY,
        "--sarif": EVERY,
        "--report": EVERY,
    },
    "replay": {
        "--model": EVERY,
        "--param": EVERY,
        "--profile": EVERY,
        "--reader": EVERY,
        "--keep-going": only("model", why=_NO_BACKEND + ", up to its first divergence"),
        "--hidden": only("model", why=_NO_BACKEND + ", whose hidden event kinds are the adapter's"),
        "--max-candidates": only("model", why=_NO_BACKEND + ", whose candidate bound is fixed"),
        "--backend": EVERY,
        "--device-timeout": only("backend-emulator", why=_WAITS),
        "--dump-code": only("model", why=_NO_BACKEND + ", which runs no generated code"),
        "--json": EVERY,
        "--quiet": EVERY,
        "--junit": EVERY,
        "--sarif": EVERY,
        "--report": EVERY,
    },
    "conform": {
        "--backend": EVERY,
        "--timeout": only("backend-emulator", why=_WAITS),
        "--only": EVERY,
        "--fail-fast": EVERY,
        "--model": EVERY,
        "--readings": EVERY,
        "--json": EVERY,
        "--quiet": EVERY,
        "--junit": EVERY,
        "--sarif": EVERY,
        "--report": EVERY,
    },
}

# command -> option -> (dest, default), from the parser: what "given" means for each option
_DECLARED: dict[str, dict[str, tuple[str, Any]]] = {}


def option_name(action: argparse.Action) -> str:
    """An option's name in the table and in messages: its longest spelling (`--param`, not `-p`)."""
    return max(action.option_strings, key=len)


def declare(command: str, parser: argparse.ArgumentParser) -> None:
    """Record `command`'s options (call at the end of its `register`)."""
    _DECLARED[command] = {option_name(a): (a.dest, a.default) for a in parser._actions
                          if a.option_strings and not isinstance(a, argparse._HelpAction)}


def declared(command: str) -> dict[str, tuple[str, Any]]:
    return _DECLARED.get(command, {})


def mode_of(command: str, args: argparse.Namespace) -> str:
    if command == "check":
        return str(args.engine)
    backend = getattr(args, "backend", None)
    if command == "replay" and not backend:
        return "model"
    return "backend-model" if backend == "model" else "backend-emulator"


def _context(command: str, mode: str) -> str:
    return {"explicit": "check --engine explicit", "bmc": "check --engine bmc", "prove": "check --engine prove",
            "all": "check --engine all", "model": f"{command} without --backend",
            "backend-model": f"{command} --backend model",
            "backend-emulator": f"{command} --backend emulator:..."}[mode]


def given(command: str, args: argparse.Namespace) -> list[str]:
    """The options of `command` given on this command line (a value other than the default)."""
    out = []
    for name, (dest, default) in declared(command).items():
        value = getattr(args, dest, default)
        if value != default and value not in (None, [], False):
            out.append(name)
    return out


def refuse_inapplicable(command: str, args: argparse.Namespace) -> str:
    """Raise InputError for the first given option that would not take effect; return the mode."""
    mode = mode_of(command, args)
    names = given(command, args)
    for name in names:
        rule = OPTIONS[command].get(name, EVERY)
        if rule.modes is not None and mode not in rule.modes:
            raise InputError(f"{name} does not apply to {_context(command, mode)}: {rule.why}")
        if rule.needs and not set(names) & set(rule.needs):
            raise InputError(f"{name} takes effect only with {' or '.join(rule.needs)}; give one or drop {name}")
    return mode
