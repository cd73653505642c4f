"""Compile a loaded model into plain Python for the explorer's inner loop.

A state is one Python int: every slot packed at a fixed bit offset (`Layout`). The
generated `expand(x, pid)` unpacks the slots into locals once, checks invariants and goals,
then runs every guarded command inline and stores each successor directly, so the
inner loop makes no calls into the model, networkx or Z3. The same generator also gives
`successors(x)` (for replay and graph walks) with identical semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mcheck.errors import ModelDefinitionError, ModelRuntimeError
from mcheck.model.build import LoadedModel
from mcheck.model.expr import BitVecSort, Const, Expr, IntSort, Op, Slot, Sort, slots_of


@dataclass(frozen=True)
class Layout:
    """Bit offsets of the slots inside the packed state integer."""

    offsets: tuple[int, ...]
    widths: tuple[int, ...]
    lows: tuple[int, ...]   # runtime value = code + low (non-zero only for Int sorts)
    total_bits: int

    @classmethod
    def of(cls, model: LoadedModel, order: tuple[int, ...] | None = None) -> "Layout":
        """Slots packed in `order` (slot indices, lowest bits first; default: declaration order).
        Symmetry reduction asks for member-major order so that each member's cells form one
        contiguous bit field that can be compared and moved as a single int."""
        slots = model.slots
        offsets, widths, lows = [0] * len(slots), [0] * len(slots), [0] * len(slots)
        bit = 0
        for i in order if order is not None else range(len(slots)):
            s = slots[i]
            lows[i] = s.sort.lo if isinstance(s.sort, IntSort) else 0
            offsets[i] = bit
            widths[i] = s.sort.bits
            bit += s.sort.bits
        return cls(tuple(offsets), tuple(widths), tuple(lows), bit)

    def pack(self, values: tuple[int, ...]) -> int:
        x = 0
        for v, off, lo in zip(values, self.offsets, self.lows):
            x |= (v - lo) << off
        return x

    def unpack(self, x: int) -> tuple[int, ...]:
        return tuple(((x >> off) & ((1 << w) - 1)) + lo for off, w, lo in zip(self.offsets, self.widths, self.lows))


# --------------------------------------------------------------------------- expression source


def py_expr(e: Expr) -> str:
    """Python source computing `e` from locals v<slot> (runtime values)."""
    if isinstance(e, Const):
        return str(e.value)
    if isinstance(e, Slot):
        return f"v{e.index}"
    if not isinstance(e, Op):
        raise ModelDefinitionError(f"codegen: cannot compile {e!r}")
    a = [py_expr(x) for x in e.args]
    op = e.op
    mask = e.sort.mask if isinstance(e.sort, BitVecSort) else None
    if op == "and":
        return "(" + " and ".join(a) + ")"
    if op == "or":
        return "(" + " or ".join(a) + ")"
    if op == "not":
        return f"(not {a[0]})"
    if op == "implies":
        return f"((not {a[0]}) or {a[1]})"
    if op == "ite":
        return f"({a[1]} if {a[0]} else {a[2]})"
    if op in _CMP:
        return f"({a[0]} {_CMP[op]} {a[1]})"
    if op == "bvnot":
        return f"(~{a[0]} & {mask})"
    if op in _ARITH:
        text = f"({a[0]} {_ARITH[op]} {a[1]})"
        return f"({text} & {mask})" if mask is not None else text
    raise ModelDefinitionError(f"codegen: unhandled operator {op!r}")


_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_ARITH = {"add": "+", "sub": "-", "bvand": "&", "bvor": "|", "bvxor": "^", "shl": "<<", "lshr": ">>"}


def _fits(value_sort: Sort, target: Sort) -> bool:
    if isinstance(target, IntSort):
        return isinstance(value_sort, IntSort) and target.lo <= value_sort.lo and value_sort.hi <= target.hi
    return True


# --------------------------------------------------------------------------- functions


@dataclass
class Compiled:
    """The generated functions and the layout they share."""

    layout: Layout
    source: str
    namespace: dict[str, Any]

    def expand_factory(self) -> Callable[..., Callable[[int, int], int]]:
        return self.namespace["make_expand"]

    def successors(self, x: int) -> list[tuple[int, int]]:
        """(action index, next state) for every enabled action of state `x`."""
        return self.namespace["successors"](x)

    def check_state(self) -> Callable[[int, int], None]:
        return self.namespace["make_check"]

    def transition_failures(self, x: int) -> list[tuple[int, int]]:
        """(action index, transition-property index) for every enabled action of `x` that breaks one."""
        return self.namespace["transition_failures"](x)


def _unpack_lines(model: LoadedModel, layout: Layout, used: set[int], indent: str) -> list[str]:
    out = []
    for i in sorted(used):
        off, w, lo = layout.offsets[i], layout.widths[i], layout.lows[i]
        text = f"(x >> {off}) & {(1 << w) - 1}" if off else f"x & {(1 << w) - 1}"
        if lo:
            text = f"({text}) + {lo}"
        out.append(f"{indent}v{i} = {text}")
    return out


def _effect_lines(model: LoadedModel, layout: Layout, a_index: int, indent: str) -> list[str]:
    """Lines computing `y`, the packed successor, from locals (guard already checked)."""
    act = model.actions[a_index]
    lines = []
    keep = (1 << layout.total_bits) - 1
    parts = []
    for slot, e in sorted(act.assigns.items()):
        sort = model.slots[slot].sort
        off, lo = layout.offsets[slot], layout.lows[slot]
        keep &= ~(((1 << layout.widths[slot]) - 1) << off)
        name = f"t{slot}"
        value = py_expr(e)
        if isinstance(sort, BitVecSort) and not isinstance(e.sort, BitVecSort):
            value = f"({value} & {sort.mask})"
        lines.append(f"{indent}{name} = {value}")
        if isinstance(sort, IntSort) and not _fits(e.sort, sort):
            lines.append(f"{indent}if not {sort.lo} <= {name} <= {sort.hi}: range_fail({a_index}, {slot}, {name}, x)")
        code = f"({name} - {lo})" if lo else name
        parts.append(f"({code} << {off})" if off else f"{code}")
    if parts:
        lines.append(f"{indent}y = (x & {keep}) | " + " | ".join(parts))
    else:
        lines.append(f"{indent}y = x")
    return lines


def _conjuncts(guard: Expr) -> list[Expr]:
    if isinstance(guard, Const) and guard.value == 1:
        return []
    if isinstance(guard, Op) and guard.op == "and":
        return list(guard.args)
    return [guard]


def _guard_tree(items: list[tuple[int, list[Expr]]], bodies: dict[int, list[str]], indent: str) -> list[str]:
    """Nested `if`s that test a leading conjunct shared by consecutive actions only once.

    Actions keep their order (so exploration order, and with it which of several
    equally short witnesses is found, does not depend on the factoring)."""
    out: list[str] = []
    i = 0
    while i < len(items):
        a, conj = items[i]
        if not conj:
            out.extend(indent + line for line in bodies[a])
            i += 1
            continue
        key = repr(conj[0])
        j = i + 1
        while j < len(items) and items[j][1] and repr(items[j][1][0]) == key:
            j += 1
        if j - i == 1:
            cond = " and ".join(py_expr(c) for c in conj)
            out.append(f"{indent}if {cond}:")
            out.extend(indent + "    " + line for line in bodies[a])
        else:
            out.append(f"{indent}if {py_expr(conj[0])}:")
            out.extend(_guard_tree([(b, c[1:]) for b, c in items[i:j]], bodies, indent + "    "))
        i = j
    return out


# partition of a packed state among workers: the modulus mixes every bit of the state
PARTITION_PRIME = 1_000_003


def _expand_body(model: LoadedModel, layout: Layout, a: int, trans: list, prop_index: dict[str, int],
                 record_edges: bool, canon_slots: frozenset[int] | None, workers: int) -> list[str]:
    """The lines run when action `a` is enabled: successor, transition checks, store, coverage.

    With symmetry the successor is replaced by its canonical representative before the
    lookup, unless the action writes none of `canon_slots` (the slots the canonical order
    depends on): the expanded state is canonical, so such a successor already is. With
    several workers a successor owned by another worker is sent to it instead of being
    stored here (`send[w]`: a dict successor -> parent * actions + action; the first link
    wins, as in the store)."""
    act = model.actions[a]
    lines = [f"# {act.label}"]
    self_loop = not act.assigns
    if not self_loop:
        lines.extend(_effect_lines(model, layout, a, ""))
    for p in trans:
        cond = p.per_action.get(a)
        if cond is not None:
            k = prop_index[p.name]
            lines.append(f"if not found[{k}] and not {py_expr(cond)}: tp_fail({k}, pid, {a}, {'x' if self_loop else 'y'})")
    if self_loop:
        target = "pid"
    else:
        target = "j"
        if canon_slots is not None and not canon_slots.isdisjoint(act.assigns):
            lines.append("y = canon(y)")
        store = [f"j = len(states); ids[y] = j; push(y); par(pid); vi({a}); nx(j)"]
        if workers > 1:
            lines.append(f"w = y % {PARTITION_PRIME} % {workers}")
            lines.append("if w != me:")
            lines.append("    box = send[w]")
            lines.append(f"    if y not in box: box[y] = pid * {len(model.actions)} + {a}")
            lines.append("elif y not in ids:")
            lines.extend("    " + line for line in store)
        else:
            lines.append("j = get(y)")
            lines.append("if j is None:")
            lines.extend("    " + line for line in store)
    if record_edges:
        lines.append(f"edge((pid, {target}, {a}))")
    lines.append(f"cov[{a}] = 1")  # fired; a flag store is ~35% cheaper than a count
    lines.append("n += 1")
    return lines


def generate(model: LoadedModel, *, record_edges: bool, order: tuple[int, ...] | None = None,
             canon_slots: frozenset[int] | None = None, workers: int = 1) -> Compiled:
    """Generate the search functions. `order` is the slot packing order (see `Layout.of`);
    `canon_slots` (symmetry) makes `expand` store successors that write one of these slots
    through `canon` (passed to `make_expand`);
    `workers` > 1 makes it route successors owned by other workers to `send[w]`."""
    if workers > 1 and record_edges:
        raise ValueError("edges are recorded by the one-worker search only")
    layout = Layout.of(model, order)
    inv = [p for p in model.properties if p.kind == "invariant"]
    goals = [p for p in model.properties if p.kind == "sometimes"]
    trans = [p for p in model.properties if p.kind == "transition"]
    props = model.properties
    prop_index = {p.name: i for i, p in enumerate(props)}

    used: set[int] = set()
    for act in model.actions:
        used |= slots_of(act.guard)
        for e in act.assigns.values():
            used |= slots_of(e)
    for p in props:
        if p.expr is not None:
            used |= slots_of(p.expr)
        for e in p.per_action.values():
            used |= slots_of(e)
    used |= slots_of(model.end_state)

    L: list[str] = []
    # invariants and goals, checked on every state taken from the frontier
    state_checks = [f"        if not found[{prop_index[p.name]}] and not {py_expr(p.expr)}: inv_fail({prop_index[p.name]}, pid)"
                    for p in inv]
    state_checks += [f"        if not reached[{prop_index[p.name]}] and {py_expr(p.expr)}: goal_hit({prop_index[p.name]}, pid)"
                     for p in goals]
    # ---- the explorer's expand()
    L.append("def make_expand(ids, states, parent, via, nxt, cov, edges, reached, found, inv_fail, tp_fail, goal_hit, "
             "deadlock, canon=None, me=0, send=None):")
    L.append("    get = ids.get; push = states.append; par = parent.append; vi = via.append; nx = nxt.append")
    if record_edges:
        L.append("    edge = edges.append")
    L.append("    def expand(x, pid):")
    L.extend(_unpack_lines(model, layout, used, "        "))
    L.extend(state_checks)
    L.append("        n = 0")
    bodies = {act.index: _expand_body(model, layout, act.index, trans, prop_index, record_edges, canon_slots, workers)
              for act in model.actions}
    L.extend(_guard_tree([(act.index, _conjuncts(act.guard)) for act in model.actions], bodies, "        "))
    L.append(f"        if n == 0 and not {py_expr(model.end_state)}: deadlock(pid)")
    L.append("        return n")
    L.append("    return expand")
    L.append("")
    # ---- check-only (states at the depth bound are checked but not expanded)
    L.append("def make_check(reached, found, inv_fail, goal_hit):")
    L.append("    def check(x, pid):")
    L.extend(_unpack_lines(model, layout, used, "        "))
    L.extend(state_checks)
    L.append("        return None")
    L.append("    return check")
    L.append("")
    # ---- successors(x) for replay, graph walks and witnesses
    L.append("def successors(x):")
    L.extend(_unpack_lines(model, layout, used, "    "))
    L.append("    out = []")
    for act in model.actions:
        L.append(f"    if {py_expr(act.guard)}:")
        L.extend(_effect_lines(model, layout, act.index, "        "))
        L.append(f"        out.append(({act.index}, y))")
    L.append("    return out")
    L.append("")
    # ---- transition_failures(x): which enabled actions break which transition property (witnesses)
    L.append("def transition_failures(x):")
    L.extend(_unpack_lines(model, layout, used, "    "))
    L.append("    out = []")
    for act in model.actions:
        conds = [(prop_index[p.name], p.per_action[act.index]) for p in trans if act.index in p.per_action]
        if conds:
            L.append(f"    if {py_expr(act.guard)}:")
            L.extend(f"        if not {py_expr(c)}: out.append(({act.index}, {k}))" for k, c in conds)
    L.append("    return out")
    source = "\n".join(L) + "\n"

    def range_fail(a: int, slot: int, value: int, x: int) -> None:
        act = model.actions[a]
        s = model.slots[slot]
        raise ModelRuntimeError(
            f"{model.source}: action {act.label} sets {s.name} to {value}, outside {s.sort.name}; "
            "guard the action or widen the variable")

    namespace: dict[str, Any] = {"range_fail": range_fail}
    exec(compile(source, f"<mcheck generated code for {model.name}>", "exec"), namespace)
    return Compiled(layout=layout, source=source, namespace=namespace)
