"""One generated Python function per action instance: `step(x) -> next packed state or None`.

The replayer only tries the few actions whose event matches an observed trace event, so
it needs each guarded command on its own; the explorer's `expand` runs them all at once.
Both come from the same code generator, so they cannot disagree.
"""

from __future__ import annotations

from typing import Callable

from mcheck.explore.codegen import Layout, _effect_lines, _unpack_lines, py_expr
from mcheck.model.build import LoadedModel
from mcheck.model.expr import slots_of

StepFn = Callable[[int], "int | None"]


def step_functions(model: LoadedModel, layout: Layout) -> list[StepFn]:
    lines: list[str] = []
    for act in model.actions:
        used = set(slots_of(act.guard))
        for e in act.assigns.values():
            used |= slots_of(e)
        lines.append(f"def step_{act.index}(x):")
        lines.extend(_unpack_lines(model, layout, used, "    "))
        lines.append(f"    if not {py_expr(act.guard)}:")
        lines.append("        return None")
        lines.extend(_effect_lines(model, layout, act.index, "    "))
        lines.append("    return y")
    lines.append("STEPS = [" + ", ".join(f"step_{a.index}" for a in model.actions) + "]")

    def range_fail(a: int, slot: int, value: int, x: int) -> None:
        from mcheck.errors import ModelRuntimeError
        raise ModelRuntimeError(f"{model.source}: action {model.actions[a].label} sets {model.slots[slot].name} "
                                f"to {value}, outside {model.slots[slot].sort.name}")

    namespace: dict = {"range_fail": range_fail}
    exec(compile("\n".join(lines) + "\n", f"<mcheck replay steps for {model.name}>", "exec"), namespace)
    return namespace["STEPS"]
