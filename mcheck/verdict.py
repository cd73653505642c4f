"""The one result type every engine and every replay produces.

Engines fill these records; reporters (text, JSON, JUnit, SARIF, HTML) only read them.
All records are keyword-only dataclasses so they can grow without breaking callers.

A result has a kind (`Kind`): what produced it decides which counters it carries, so no
field is reused for another meaning (a replay has `events`, not a `depth` that counts
events). Each kind has its own JSON Schema (mcheck/report/result-schema.json,
docs/result-schema.md) and its own typed `coverage`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypedDict


class Verdict(StrEnum):
    """A run's or a property's verdict; the exit code follows the run's (EXIT_CODES)."""

    HOLDS = "holds"        # checked over the whole reachable space
    PROVED = "proved"      # k-induction
    BOUNDED = "bounded"    # nothing found within the stated bounds
    VIOLATED = "violated"  # with a witness
    ERROR = "error"        # bad input, or a device that could not be reached


HOLDS = Verdict.HOLDS
PROVED = Verdict.PROVED
BOUNDED = Verdict.BOUNDED
VIOLATED = Verdict.VIOLATED
ERROR = Verdict.ERROR
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
    verdict: Verdict
    description: str = ""

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.verdict)


class Kind(StrEnum):
    """What produced a result; the JSON result's `kind`."""

    CHECK = "check"                  # mcheck check, any engine
    REPLAY = "replay"                # mcheck replay TRACE (against the model)
    CONFORM = "conform"              # mcheck conform SUITE --backend B
    DEVICE_REPLAY = "device-replay"  # mcheck replay TRACE --backend B


SCHEMA = "mcheck-result/2"


class ActionCount(TypedDict):
    instances: int
    fired_instances: int


class ActionCoverage(TypedDict, total=False):
    """Which action instances fired and which clauses they cite (check and replay)."""

    actions: dict[str, ActionCount]
    never_fired: list[str]
    clauses: dict[str, bool]       # clause -> fired by some action that cites it
    all_clauses: list[str]         # every clause an action or a property cites


class CheckCoverage(ActionCoverage, total=False):
    memory: dict[str, Any]         # store_bytes, bytes_per_state
    symmetry: dict[str, Any]       # index_set, permuted, fixed, exact, orbit_states, reduction
    graph: dict[str, int]          # nodes, edges, sccs, largest_scc, terminal_sccs, no_successor


class ReplayCoverage(ActionCoverage, total=False):
    divergences: int
    suspects: list[dict[str, Any]]
    warnings: dict[str, int]         # clause -> SHOULD warnings, every one
    driver_findings: dict[str, int]  # clause -> driver findings, every one


class ClauseCount(TypedDict):
    tests: int
    passed: int
    failed: int


class ClauseResult(TypedDict):
    clause: str
    tests: list[str]
    passed: int
    failed: int
    blamed: int


class ConformCoverage(TypedDict, total=False):
    suite: dict[str, Any]            # the suite's own coverage, as gen-tests wrote it
    clauses: dict[str, ClauseCount]
    clause_results: list[ClauseResult]
    readings: list[dict[str, Any]]   # with --readings


@dataclass(kw_only=True)
class Result:
    """What every kind of result has; use the subclass of the kind (`RESULT_TYPES`)."""

    KIND: ClassVar[Kind]
    model: str
    params: dict[str, Any]
    engine: str
    verdict: Verdict
    seconds: float
    bounds_hit: list[str] = field(default_factory=list)
    properties: list[PropertyVerdict] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    coverage: Any = field(default_factory=dict)   # the kind's TypedDict
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.verdict)

    @property
    def kind(self) -> Kind:
        return self.KIND

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def counts(self) -> dict[str, int | None]:
        """The kind's own counters, in the order reports show them (None: not counted)."""
        return {}

    def rate(self) -> tuple[str, float] | None:
        """What the run did per second, for the summary line (None: nothing to rate)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        for p in data["properties"]:
            p["verdict"] = str(p["verdict"])
        return {"schema": SCHEMA, "kind": self.KIND.value, **data}


@dataclass(kw_only=True)
class CheckResult(Result):
    """`mcheck check`: `states` and `transitions` are None for the symbolic engines (bmc,
    prove), which store no state; `depth` is how deep the search went."""

    KIND = Kind.CHECK
    states: int | None
    transitions: int | None
    depth: int
    coverage: CheckCoverage = field(default_factory=lambda: CheckCoverage())

    def counts(self) -> dict[str, int | None]:
        return {"states": self.states, "transitions": self.transitions, "depth": self.depth}

    def rate(self) -> tuple[str, float] | None:
        return ("states", self.states / self.seconds) if self.states is not None and self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        rate = self.rate()
        data["states_per_second"] = round(rate[1]) if rate else None
        return data


@dataclass(kw_only=True)
class ReplayResult(Result):
    """`mcheck replay TRACE`: `events` replayed, the largest set of candidate model states
    (`max_candidates`), the model steps taken over all candidates (`model_steps`), the event
    kinds the capture is taken not to record (`hidden_kinds`: the model may do them unseen), the SHOULD
    `warnings` and the driver's departures from its rules (`driver_findings`; each: index,
    clauses, message; neither changes the verdict)."""

    KIND = Kind.REPLAY
    events: int
    max_candidates: int
    model_steps: int
    hidden_kinds: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    driver_findings: list[dict[str, Any]] = field(default_factory=list)
    coverage: ReplayCoverage = field(default_factory=lambda: ReplayCoverage())

    def counts(self) -> dict[str, int | None]:
        return {"events": self.events, "max_candidates": self.max_candidates, "model_steps": self.model_steps}

    def rate(self) -> tuple[str, float] | None:
        return ("events", self.events / self.seconds) if self.seconds > 0 else None


@dataclass(kw_only=True)
class ConformResult(Result):
    """`mcheck conform`: one property (kind `test`) per test run."""

    KIND = Kind.CONFORM
    tests: int
    passed: int
    failed: int
    steps: int
    commands: int
    coverage: ConformCoverage = field(default_factory=lambda: ConformCoverage())

    def counts(self) -> dict[str, int | None]:
        return {"tests": self.tests, "passed": self.passed, "failed": self.failed, "steps": self.steps,
                "commands": self.commands}


@dataclass(kw_only=True)
class DeviceReplayResult(Result):
    """`mcheck replay TRACE --backend B`: the `requests` sent to the device `backend` and the
    events observed from it (`observed_events`), which are then replayed against the model."""

    KIND = Kind.DEVICE_REPLAY
    backend: str
    requests: int
    observed_events: int

    def counts(self) -> dict[str, int | None]:
        return {"requests": self.requests, "observed_events": self.observed_events}


RESULT_TYPES: dict[Kind, type[Result]] = {t.KIND: t for t in (CheckResult, ReplayResult, ConformResult,
                                                              DeviceReplayResult)}


def overall(property_verdicts: list[Verdict], bounded: bool) -> Verdict:
    """The run's verdict from its properties: any violation wins, then bounds."""
    if VIOLATED in property_verdicts:
        return VIOLATED
    if bounded or BOUNDED in property_verdicts:
        return BOUNDED
    return HOLDS
