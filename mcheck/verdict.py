"""The one result type every engine and every replay produces.

Engines fill these records; reporters (text, JSON, JUnit, SARIF, HTML) only read them.
All records are keyword-only dataclasses so they can grow without breaking callers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

HOLDS = "holds"        # checked over the whole reachable space
PROVED = "proved"      # k-induction
BOUNDED = "bounded"    # nothing found within the stated bounds
VIOLATED = "violated"  # with a witness
ERROR = "error"        # bad input

EXIT_CODES = {HOLDS: 0, PROVED: 0, VIOLATED: 1, ERROR: 2, BOUNDED: 3}


@dataclass(kw_only=True)
class Change:
    field: str
    before: Any
    after: Any


@dataclass(kw_only=True)
class Step:
    """One step of a witness: the action, its parameters, what it emits, what it changes."""

    number: int
    action: str
    params: dict[str, Any]
    label: str
    event: dict[str, Any] | None
    clauses: list[str]
    changes: list[Change]


@dataclass(kw_only=True)
class Witness:
    initial: dict[str, Any]
    steps: list[Step]
    # the action indices, enough to rebuild every state by replay
    action_indices: list[int] = field(default_factory=list)
    initial_index: int = 0


@dataclass(kw_only=True)
class Violation:
    """A property violation, or (kind "divergence") a trace event the model cannot explain.

    Divergences also carry the trace's `event_index`, the `candidates` (model states just
    before, decoded), what the model `expected` instead, and the model relaxations or
    presets under which the window up to the event replays clean (`explained_by`: id,
    doc, preset)."""

    property: str
    kind: str
    clauses: list[str]
    message: str
    witness: Witness
    event_index: int | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    explained_by: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True)
class PropertyVerdict:
    name: str
    kind: str          # invariant | transition | sometimes | deadlock
    clauses: list[str]
    verdict: str       # holds | violated | bounded (| proved)
    description: str = ""


@dataclass(kw_only=True)
class Result:
    model: str
    params: dict[str, Any]
    engine: str
    verdict: str
    states: int
    transitions: int
    depth: int
    seconds: float
    bounds_hit: list[str] = field(default_factory=list)
    properties: list[PropertyVerdict] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # replay: answers the spec permits but that depart from a SHOULD, and the driver's own
    # departures from its rules; neither changes the verdict. Each: index, clauses, message.
    warnings: list[dict[str, Any]] = field(default_factory=list)
    driver_findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = "mcheck-result/1"
        data["states_per_second"] = round(self.states / self.seconds) if self.seconds > 0 else None
        return data


def overall(property_verdicts: list[str], bounded: bool) -> str:
    """The run's verdict from its properties: any violation wins, then bounds."""
    if VIOLATED in property_verdicts:
        return VIOLATED
    if bounded or BOUNDED in property_verdicts:
        return BOUNDED
    return HOLDS
