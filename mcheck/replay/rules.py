"""What the generic replayer needs to know about a model's event vocabulary.

The replayer matches observed events against the events a model's actions emit; it knows
no protocol. A few facts about the vocabulary are not visible in the events themselves:
which event kind is a command whose completion a capture can lose, which fields name
a command (for resynchronising after a divergence), and which clauses the `conforms`
verdict stands for. A model's observation supplies them as `Model.replay_rules`, a mapping
of `ReplayRules` field names to values (plain data, so a model need not import the
replayer); a model without one gets `ReplayRules()`, the rules of a vocabulary with no
commands.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from collections.abc import Mapping

from mcheck.errors import ModelDefinitionError


@dataclass(frozen=True, kw_only=True)
class ReplayRules:
    #: event kinds that are commands: an observed command without `answer_field` lost its
    #: completion, and a command of one member is never offered as what another was allowed
    command_kinds: frozenset[str] = frozenset()
    #: the field of a command event that carries the answer
    answer_field: str | None = None
    #: the fields naming a command regardless of its answer
    command_fields: tuple[str, ...] = ("kind", "cmd", "member")
    #: clauses of the `conforms` property when the replay found no divergence
    default_clauses: tuple[str, ...] = ()

    def unanswered(self, observed: dict[str, Any]) -> bool:
        """The observed command's completion is missing from the capture."""
        return (self.answer_field is not None and observed.get("kind") in self.command_kinds
                and self.answer_field not in observed)


_FIELDS = {f.name for f in fields(ReplayRules)}


def rules_of(model: Any) -> ReplayRules:
    """The replay rules a model instance supplies (`replay_rules`), else the defaults."""
    given: Mapping[str, Any] | None = getattr(model, "replay_rules", None)
    if given is None:
        return ReplayRules()
    name = type(model).__name__
    if not isinstance(given, Mapping) or set(given) - _FIELDS:
        raise ModelDefinitionError(f"model {name}: replay_rules must map some of {', '.join(sorted(_FIELDS))} "
                                   f"to values, not {given!r}")
    return ReplayRules(command_kinds=frozenset(given.get("command_kinds", ())),
                       answer_field=given.get("answer_field"),
                       command_fields=tuple(given.get("command_fields", ReplayRules.command_fields)),
                       default_clauses=tuple(given.get("default_clauses", ())))
