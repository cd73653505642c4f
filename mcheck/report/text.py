"""Human-readable rendering of a `Result`: summary, property table, counterexamples."""

from __future__ import annotations

from typing import Any

from mcheck.verdict import ReplayResult, Result, Step, Violation


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_event(event: dict[str, Any] | None) -> str:
    if not event:
        return ""
    fields = {k: v for k, v in event.items() if k != "kind"}
    if event.get("kind") == "admin":
        name = fields.pop("cmd", "?")
        status = fields.pop("status", None)
        qualifier = fields.pop("qualifier", None)
        if status is not None and qualifier not in (None, "Q_OK"):
            status = f"{status}/{qualifier}"
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        return f"AQ {name}({args})" + (f" -> {status}" if status is not None else "")
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
    return f"{event.get('kind')}({args})"


def format_step(step: Step) -> list[str]:
    event = format_event(step.event)
    head = f"  {step.number:>3}. {step.label}"
    if event:
        head += f"  [{event}]"
    if step.clauses:
        head += f"  ({', '.join(step.clauses)})"
    lines = [head]
    for c in step.changes:
        lines.append(f"         {c.field}: {_fmt(c.before)} -> {_fmt(c.after)}")
    if not step.changes:
        lines.append("         (no state change)")
    return lines


def format_violation(v: Violation, *, show_initial: bool = False) -> list[str]:
    clauses = ", ".join(v.clauses) or "-"
    if v.kind == "divergence":
        return _format_divergence(v, clauses)
    lines = [f"VIOLATION {v.property} [{clauses}]: {v.message}"]
    if v.witness.steps:
        lines.append(f"  shortest counterexample, {len(v.witness.steps)} step(s) from the initial state:")
        if show_initial:
            lines.append("  initial: " + ", ".join(f"{k}={_fmt(x)}" for k, x in v.witness.initial.items()))
        for step in v.witness.steps:
            lines.extend(format_step(step))
    return lines


def _format_divergence(v: Violation, clauses: str) -> list[str]:
    lines = [f"DIVERGENCE at event {v.event_index} [{clauses}]: {v.message}"]
    if v.witness.steps:
        lines.append(f"  how the model explains the events just before ({len(v.witness.steps)} step(s), "
                     "hidden steps marked '-'):")
        for step in v.witness.steps:
            index = (step.event or {}).get("index")
            mark = f"#{index}" if index is not None else "-"
            lines.extend(f"  {mark:>6} {line.strip()}" if i == 0 else f"         {line.strip()}"
                         for i, line in enumerate(format_step(step)))
    if v.candidates:
        fields = list(v.candidates[0])
        differing = [f for f in fields if len({str(c.get(f)) for c in v.candidates}) > 1]
        shown = v.candidates[0]
        lines.append(f"  candidate state{'s' if len(v.candidates) > 1 else ''} just before "
                     f"({len(v.candidates)} shown): " + ", ".join(f"{k}={_fmt(shown[k])}" for k in fields))
        if differing:
            for k, c in enumerate(v.candidates[1:], 2):
                lines.append(f"    candidate {k} differs: " + ", ".join(f"{f}={_fmt(c.get(f))}" for f in differing))
    return lines


def counts_line(result: Result) -> str:
    """The kind's counters, the time and the rate:
    `states 12  transitions 30  depth 4  time 0.01 s  (1,200 states/s)`."""
    counts = "  ".join(f"{name.replace('_', ' ')} {'-' if value is None else f'{value:,}'}"
                       for name, value in result.counts().items())
    rate = result.rate()
    per_second = f"  ({rate[1]:,.0f} {rate[0]}/s)" if rate else ""
    return f"{counts}  time {result.seconds:.2f} s{per_second}".lstrip()


def render(result: Result, *, show_initial: bool = False) -> str:
    params = " ".join(f"{k}={_fmt(v)}" for k, v in result.params.items())
    lines = [f"model {result.model} ({params}), engine {result.engine}", counts_line(result)]
    if result.bounds_hit:
        lines.append(f"bounds hit: {', '.join(result.bounds_hit)} (the search is incomplete)")
    lines.extend(result.notes)
    lines.append("")
    width = max((len(p.name) for p in result.properties), default=8)
    lines.append(f"  {'property':<{width}}  {'kind':<10}  {'verdict':<8}  clauses")
    for p in result.properties:
        lines.append(f"  {p.name:<{width}}  {p.kind:<10}  {p.verdict:<8}  {', '.join(p.clauses) or '-'}")
    cov = result.coverage
    if cov.get("never_fired"):
        lines.append("")
        lines.append(f"{len(cov['never_fired'])} action instance(s) never fired, e.g. {', '.join(cov['never_fired'][:5])}")
    for v in result.violations:
        lines.append("")
        lines.extend(format_violation(v, show_initial=show_initial))
    lines.append("")
    lines.append(f"verdict: {result.verdict.upper()}")
    lines.extend(finding_lines(result))
    return "\n".join(lines)


def finding_lines(result: Result) -> list[str]:
    """The replay's SHOULD warnings and driver findings, one line each: they never change
    the verdict, so they follow it."""
    if not isinstance(result, ReplayResult):
        return []
    return ([f"warning [{', '.join(w['clauses'])}] {w['message']}" for w in result.warnings]
            + [f"driver violation [{', '.join(f['clauses'])}] {f['message']}" for f in result.driver_findings])
