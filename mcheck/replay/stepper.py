"""One generated Python function per action instance: `step(x) -> next packed state or None`.

The replayer only tries the few actions whose event matches an observed trace event, so
it needs each guarded command on its own; the explorer's `expand` runs them all at once.
Both come from the same code generator (and the same folding of terms known before any
state is seen), so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable

from mcheck.errors import ModelRuntimeError
from mcheck.explore import gensource
from mcheck.explore.codegen import (
    Layout, _effect_lines, _is_false, _readers, _unpack_lines, fold_model, header, py_expr, slot_notes,
)
from mcheck.model.build import LoadedModel
from mcheck.model.expr import slots_of

StepFn = Callable[[int], "int | None"]


def step_source(model: LoadedModel, layout: Layout) -> str:
    """The source of `STEPS`, one `step_<action index>(x)` per action instance."""
    folded = fold_model(model)
    notes = slot_notes(model, _readers(model, folded))
    lines = header("replayer step functions", model)
    for act in model.actions:
        a = act.index
        lines.append(f"def step_{a}(x):  # action {a}: {gensource.comment(act.label)}")
        if _is_false(folded.guards[a]):
            lines.append("    return None  # never enabled")
            continue
        used = set(slots_of(folded.guards[a]))
        for e in folded.assigns[a].values():
            used |= slots_of(e)
        lines.extend(_unpack_lines(layout, {i: notes[i] for i in sorted(used)}, "    "))
        lines.append(f"    if not {py_expr(folded.guards[a])}:")
        lines.append("        return None")
        lines.extend(_effect_lines(model, folded, layout, a, "    "))
        lines.append("    return y")
    lines.append("STEPS = [" + ", ".join(f"step_{a.index}" for a in model.actions) + "]")
    return "\n".join(lines) + "\n"


def step_functions(model: LoadedModel, layout: Layout) -> list[StepFn]:
    def range_fail(a: int, slot: int, value: int, x: int) -> None:
        raise ModelRuntimeError(f"{model.source}: action {model.actions[a].label} sets {model.slots[slot].name} "
                                f"to {value}, outside {model.slots[slot].sort.name}")

    _, namespace = gensource.load(step_source(model, layout), kind="replay", model=model.name,
                                  namespace={"range_fail": range_fail})
    return namespace["STEPS"]
