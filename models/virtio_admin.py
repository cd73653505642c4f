"""Admin-command vocabulary shared by the virtio models: statuses, qualifiers, answer sets.

A device's answer to a command is not one fixed value: the spec fixes some answers (MUST),
prefers others (SHOULD), permits alternatives (MAY, "an error", silence) and imposes an
order only on the validation of D-GA-1. A model states a command's answers as a list of
`Outcome`s, each of one `kind`:

- ``first``: an ordered check (D-GA-1: group, then opcode, then member). When its
  condition holds this answer is the only one, and nothing after it applies.
- ``defer``: while the condition holds the device holds the command (D-DP-17/18/19): no
  answer is possible yet, and nothing after it applies.
- ``fail``: the command must fail when the condition holds; it does not rule out other
  failing answers whose conditions hold too (no precedence the spec does not impose).
- ``may``: a permitted answer whenever its condition holds (EAGAIN, an optional refusal).
- ``ok``: success, possible only when no ``fail`` condition holds.

Each outcome becomes one guarded action instance. `status=None` means "any error" and
`qualifier=None` "any qualifier": the emitted event then leaves the field out, and the
replayer's matching (fields both sides know) accepts every value. Every admin event
carries `ok` (status is OK). `should` lists the SHOULD clauses an answer departs from: a
permitted answer that the replayer reports as a warning, not a divergence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from mcheck.errors import ModelDefinitionError
from mcheck.model.definition import ActionBuilder
from mcheck.model.expr import BOOL, FALSE, TRUE, Not, Or, Value, lift

OK = "OK"
EINVAL = "EINVAL"
ENXIO = "ENXIO"
EAGAIN = "EAGAIN"
ENOMEM = "ENOMEM"
EBUSY = "EBUSY"
EEXIST = "EEXIST"   # Q3: used by the spec, missing from its table; 17 as in Linux errno
ENOSPC = "ENOSPC"
ERROR = None        # any status other than OK

Q_OK = "Q_OK"
ANY = None          # any qualifier
INVALID_COMMAND = "INVALID_COMMAND"
INVALID_OPCODE = "INVALID_OPCODE"
INVALID_FIELD = "INVALID_FIELD"
INVALID_GROUP = "INVALID_GROUP"
INVALID_MEMBER = "INVALID_MEMBER"

# the validation qualifiers of D-GA-1, in precedence order
VALIDATION_QUALIFIERS = (INVALID_GROUP, INVALID_OPCODE, INVALID_MEMBER)
# answers that mean "try again": permitted for any well-formed command, never a side effect
TRANSIENT = (EAGAIN, ENOMEM)

KINDS = ("first", "defer", "fail", "may", "ok")

# how many answers one command may have; action decorators range `outcome` over this
MAX_OUTCOMES = 16
OUTCOMES = range(MAX_OUTCOMES)


@dataclass(frozen=True)
class Outcome:
    """One permitted answer (see the module docstring for `kind`). `effect` runs for a
    successful answer only (D-GA-3); `clauses` are the rules this answer encodes; `fields`
    are result fields it carries; `should` the SHOULD clauses it departs from."""

    cond: Value
    status: str | None
    qualifier: str | None = Q_OK
    clauses: tuple[str, ...] = ()
    kind: str = "fail"
    effect: Callable[[ActionBuilder], None] | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    should: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelDefinitionError(f"outcome kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.effect is not None and self.kind != "ok":
            raise ModelDefinitionError("only an ok outcome may have an effect (D-GA-3: a failure changes nothing)")


def first(cond: Value, qualifier: str, *clauses: str) -> Outcome:
    """A D-GA-1 validation check: EINVAL with this qualifier, before anything else."""
    return Outcome(cond, EINVAL, qualifier, clauses, kind="first")


def deferred(cond: Value, *clauses: str) -> Outcome:
    """The device holds the command while `cond` holds."""
    return Outcome(cond, EINVAL, ANY, clauses, kind="defer")


def fail(cond: Value, *clauses: str, preferred: str | None = None, should: str | None = None,
         qualifier: str | None = ANY) -> list[Outcome]:
    """The command must fail when `cond` holds. With `preferred` (a SHOULD of clause
    `should`), that status is the expected answer and any other error is permitted with a
    warning; without it any error is as good as another."""
    if preferred is None:
        return [Outcome(cond, ERROR, qualifier, clauses)]
    return [Outcome(cond, preferred, ANY, clauses),
            Outcome(cond, ERROR, ANY, clauses, should=(should or clauses[0],))]


def may_fail(cond: Value, *clauses: str, status: str | None = ERROR, qualifier: str | None = ANY) -> Outcome:
    """The device may refuse when `cond` holds (a MAY, or a reading the spec leaves open)."""
    return Outcome(cond, status, qualifier, clauses, kind="may")


TRANSIENT_ANSWER = "transient"   # status EAGAIN or ENOMEM: the observation says which events are


def transients(*clauses: str) -> list[Outcome]:
    """EAGAIN or ENOMEM, with any qualifier: legal for any command that passed validation,
    and without side effects (D-AQ-7). One answer: the event carries `transient`, not a
    status, and the observation marks EAGAIN and ENOMEM answers transient."""
    return [Outcome(True, TRANSIENT_ANSWER, ANY, ("D-AQ-7",) + clauses, kind="may")]


def success(*clauses: str, cond: Value = True, effect: Callable[[ActionBuilder], None] | None = None,
            should: tuple[str, ...] = (), **fields: Any) -> Outcome:
    """The successful answer (status OK, qualifier OK: I-GA-1)."""
    return Outcome(cond, OK, Q_OK, clauses, kind="ok", effect=effect, fields=fields, should=should)


def answer(s: ActionBuilder, chain: Sequence[Outcome], outcome: int, cmd: str, **fields: Any) -> None:
    """Make this action instance the `outcome`-th permitted answer of `chain` and emit the admin event."""
    chain = _merged(chain)
    if len(chain) > MAX_OUTCOMES:
        raise ModelDefinitionError(f"{cmd}: {len(chain)} outcomes exceed MAX_OUTCOMES={MAX_OUTCOMES}; raise it")
    if outcome >= len(chain):
        s.require(False)
        return
    chosen = chain[outcome]
    conds = [lift(o.cond, BOOL) for o in chain]
    blockers = [(o, c) for o, c in zip(chain[:outcome], conds[:outcome], strict=True) if o.kind in ("first", "defer")]
    if chosen.kind == "ok":
        blockers += [(o, c) for o, c in zip(chain, conds, strict=True) if o.kind == "fail" and c is not FALSE]
    if chosen.kind == "defer" or conds[outcome] is FALSE or any(c is TRUE for _, c in blockers):
        s.require(False)  # this outcome can never be the answer for these parameters
        return
    for earlier, cond in blockers:
        s.require(Not(cond), *earlier.clauses)  # "not that answer's condition": the same rule, negated
    s.require(conds[outcome], *chosen.clauses)
    if chosen.effect is not None:
        chosen.effect(s)
    result = dict(fields, **chosen.fields, ok=chosen.status == OK)
    if chosen.status == TRANSIENT_ANSWER:
        result["transient"] = True
    elif chosen.status is not None:
        result["status"] = chosen.status
    if chosen.qualifier is not None:
        result["qualifier"] = chosen.qualifier
    if chosen.should:
        result["should"] = ",".join(chosen.should)
    s.emit("admin", cmd=cmd, **result)


def _merged(chain: Sequence[Outcome]) -> list[Outcome]:
    """Fail and may outcomes with the same answer become one (their conditions or-ed), so
    "any error" is one action instance however many rules call for an error."""
    out: list[Outcome] = []
    index: dict[tuple[Any, ...], int] = {}
    for o in chain:
        if o.kind in ("first", "defer"):
            index.clear()   # never merge across a check that blocks what follows it
        key = (o.kind, o.status, o.qualifier, o.should)
        if o.kind not in ("fail", "may") or key not in index:
            if o.kind in ("fail", "may"):
                index[key] = len(out)
            out.append(o)
            continue
        i = index[key]
        prev = out[i]
        clauses = tuple(dict.fromkeys(prev.clauses + o.clauses))
        out[i] = Outcome(Or(lift(prev.cond, BOOL), lift(o.cond, BOOL)), prev.status, prev.qualifier, clauses,
                         kind=prev.kind, should=prev.should)
    return out
