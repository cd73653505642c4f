"""Admin-command vocabulary shared by the virtio models: statuses, qualifiers, outcomes.

A device answers a command with the first outcome of an ordered chain whose condition
holds (the validation order of D-GA-1, then command-specific checks, then success). A
model turns one chain into one guarded command per outcome: outcome i is enabled when
conditions 0..i-1 fail and condition i holds. Outcomes that can never be chosen for the
given parameters are pruned at load time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from mcheck.errors import ModelDefinitionError
from mcheck.model.definition import ActionBuilder
from mcheck.model.expr import BOOL, FALSE, TRUE, Not, Value, lift

OK = "OK"
EINVAL = "EINVAL"
ENXIO = "ENXIO"
EAGAIN = "EAGAIN"
ENOMEM = "ENOMEM"
EBUSY = "EBUSY"
EEXIST = "EEXIST"   # Q3: used by the spec, missing from its table; 17 as in Linux errno
ENOSPC = "ENOSPC"

Q_OK = "Q_OK"
INVALID_COMMAND = "INVALID_COMMAND"
INVALID_OPCODE = "INVALID_OPCODE"
INVALID_FIELD = "INVALID_FIELD"
INVALID_GROUP = "INVALID_GROUP"
INVALID_MEMBER = "INVALID_MEMBER"

# not an answer: the device holds the command until the condition clears (D-DP-17/18/19)
DEFERRED = "deferred"

# qualifiers that mean "the command itself was malformed or not allowed" (D-GA-1)
VALIDATION_QUALIFIERS = (INVALID_GROUP, INVALID_OPCODE, INVALID_MEMBER, INVALID_FIELD, INVALID_COMMAND)

# how many outcomes one chain may have; action decorators range `outcome` over this
MAX_OUTCOMES = 12
OUTCOMES = range(MAX_OUTCOMES)


@dataclass(frozen=True)
class Outcome:
    """One possible answer: when `cond` holds (and no earlier outcome's does), answer
    `status`/`qualifier`; `effect` runs for the chosen outcome (only success should
    change state, D-GA-3). `clauses` are the rules this branch encodes; `fields` are
    result fields this answer carries. A DEFERRED outcome is never an answer: while its
    condition holds the device does not answer at all."""

    cond: Value
    status: str
    qualifier: str = Q_OK
    clauses: tuple[str, ...] = ()
    effect: Callable[[ActionBuilder], None] | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


def answer(s: ActionBuilder, chain: Sequence[Outcome], outcome: int, cmd: str, **fields: Any) -> None:
    """Make this action instance the `outcome`-th answer of `chain` and emit the admin event."""
    if len(chain) > MAX_OUTCOMES:
        raise ModelDefinitionError(f"{cmd}: {len(chain)} outcomes exceed MAX_OUTCOMES={MAX_OUTCOMES}; raise it")
    if outcome >= len(chain):
        s.require(False)
        return
    chosen = chain[outcome]
    static = [lift(o.cond, BOOL) for o in chain[: outcome + 1]]
    if chosen.status == DEFERRED or static[-1] is FALSE or any(c is TRUE for c in static[:-1]):
        s.require(False)  # this outcome can never be the answer for these parameters
        return
    for earlier, cond in zip(chain[:outcome], static[:-1]):
        s.require(Not(cond), *earlier.clauses)  # "not that earlier answer": the same rule, negated
    s.require(chosen.cond, *chosen.clauses)
    if chosen.effect is not None:
        chosen.effect(s)
    s.emit("admin", cmd=cmd, **fields, **chosen.fields, status=chosen.status, qualifier=chosen.qualifier)
