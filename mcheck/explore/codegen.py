"""Compile a loaded model into plain Python for the explorer's inner loop.

A state is one Python int: every slot packed at a fixed bit offset (`Layout`). The
generated `expand(x, pid)` unpacks the slots into locals once, checks invariants and goals,
then runs every guarded command inline and stores each successor directly, so the
inner loop makes no calls into the model, networkx or Z3. The same generator also gives
`successors(x)` (for replay and graph walks) with identical semantics.

Terms known before any state is seen are folded away first (`mcheck.explore.fold`), and
the source is meant to be read: each local says which slot it holds and which actions
and properties read it, each block which action or property it serves, and it is
compiled through `mcheck.explore.gensource` (tracebacks show its lines; `--dump-code`
writes it out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from mcheck.errors import ModelRuntimeError
from mcheck.explore import gensource
from mcheck.explore.fold import Folder
from mcheck.model.build import LoadedModel
from mcheck.model.expr import BitVecSort, Const, Expr, IntSort, Op, Slot, slots_of


@dataclass(frozen=True)
class Layout:
    """Bit offsets of the slots inside the packed state integer."""

    offsets: tuple[int, ...]
    widths: tuple[int, ...]
    lows: tuple[int, ...]   # runtime value = code + low (non-zero only for Int sorts)
    total_bits: int

    @classmethod
    def of(cls, model: LoadedModel, order: tuple[int, ...] | None = None) -> Layout:
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
        for v, off, lo in zip(values, self.offsets, self.lows, strict=True):
            x |= (v - lo) << off
        return x

    def unpack(self, x: int) -> tuple[int, ...]:
        return tuple(((x >> off) & ((1 << w) - 1)) + lo for off, w, lo in zip(self.offsets, self.widths, self.lows, strict=True))


# --------------------------------------------------------------------------- expression source


def py_expr(e: Expr) -> str:
    """Python source computing `e` from locals v<slot> (runtime values)."""
    if isinstance(e, Const):
        return str(e.value)
    if isinstance(e, Slot):
        return f"v{e.index}"
    if not isinstance(e, Op):
        raise TypeError(f"codegen: not an expression node: {e!r}")   # build_model checks every tree
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
    raise TypeError(f"codegen: unhandled operator {op!r}")   # every operator in OPS is handled above


_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_ARITH = {"add": "+", "sub": "-", "bvand": "&", "bvor": "|", "bvxor": "^", "shl": "<<", "lshr": ">>"}




# --------------------------------------------------------------------------- folded model


@dataclass(frozen=True)
class Folded:
    """A model's expressions with the terms known before any state folded away.

    `guards[a]` is FALSE for an action that can never fire, `assigns[a]` leaves out
    writes that store the slot's own value, `per_action[k]` leaves out actions for which
    transition property `k` always holds, `props[k]` is the condition of an invariant or
    goal (None for transition properties)."""

    folder: Folder
    guards: list[Expr]
    assigns: list[dict[int, Expr]]
    props: list[Expr | None]
    per_action: list[dict[int, Expr]]
    end_state: Expr


def fold_model(model: LoadedModel) -> Folded:
    f = Folder()
    assigns = []
    for act in model.actions:
        out = {}
        for slot, e in sorted(act.assigns.items()):
            value = f.fold(e)
            if not (isinstance(value, Slot) and value.index == slot):
                out[slot] = value
        assigns.append(out)
    per_action = []
    for p in model.properties:
        conds = {a: f.fold(c) for a, c in p.per_action.items()}
        per_action.append({a: c for a, c in conds.items() if not _is_true(c)})
    return Folded(folder=f, guards=[f.fold(act.guard) for act in model.actions], assigns=assigns,
                  props=[f.fold(p.expr) if p.expr is not None else None for p in model.properties],
                  per_action=per_action, end_state=f.fold(model.end_state))


def _is_false(e: Expr | None) -> bool:
    return isinstance(e, Const) and e.value == 0


def _is_true(e: Expr | None) -> bool:
    return isinstance(e, Const) and e.value == 1


# --------------------------------------------------------------------------- functions


@dataclass
class Compiled:
    """The generated functions and the layout they share; `filename` is the source's
    pseudo-filename (`mcheck.explore.gensource`)."""

    layout: Layout
    source: str
    namespace: dict[str, Any]
    filename: str = ""

    def expand_factory(self) -> Callable[..., Callable[[int, int], int]]:
        return self.namespace["make_expand"]

    def successors(self, x: int) -> list[tuple[int, int]]:
        """(action index, next state) for every enabled action of state `x`."""
        return self.namespace["successors"](x)

    def check_state(self) -> Callable[..., Callable[[int, int], None]]:
        return self.namespace["make_check"]

    def transition_failures(self, x: int) -> list[tuple[int, int]]:
        """(action index, transition-property index) for every enabled action of `x` that breaks one."""
        return self.namespace["transition_failures"](x)


def slot_notes(model: LoadedModel, readers: dict[int, list[str]]) -> dict[int, str]:
    """slot -> the comment on the local holding it: slot number, variable, sort, readers."""
    out = {}
    for i, names in readers.items():
        s = model.slots[i]
        out[i] = f"slot {i} {s.name} {s.sort.name}" + (f": {'; '.join(names)}" if names else "")
    return out


def _readers(model: LoadedModel, folded: Folded) -> dict[int, list[str]]:
    """slot -> who reads it in the folded model: action names, property names, end_state."""
    acts: dict[int, dict[str, None]] = {}
    prs: dict[int, dict[str, None]] = {}
    for act in model.actions:
        if _is_false(folded.guards[act.index]):
            continue
        read = slots_of(folded.guards[act.index])
        for e in folded.assigns[act.index].values():
            read |= slots_of(e)
        for i in read:
            acts.setdefault(i, {})[act.name] = None
    for k, p in enumerate(model.properties):
        cond = folded.props[k]
        read = slots_of(cond) if cond is not None else set()
        for a, c in folded.per_action[k].items():
            if not _is_false(folded.guards[a]):
                read |= slots_of(c)
        for i in read:
            prs.setdefault(i, {})[p.name] = None
    ends = slots_of(folded.end_state)
    out: dict[int, list[str]] = {}
    for i in sorted(set(acts) | set(prs) | ends):
        names = []
        if i in acts:
            names.append("actions " + ", ".join(acts[i]))
        if i in prs:
            names.append("properties " + ", ".join(prs[i]))
        if i in ends:
            names.append("end_state")
        out[i] = names
    return out


def _unpack_lines(layout: Layout, notes: dict[int, str], indent: str) -> list[str]:
    """`v<slot> = ...` for every slot in `notes`, each with its note as a comment."""
    out = []
    for i in sorted(notes):
        off, w, lo = layout.offsets[i], layout.widths[i], layout.lows[i]
        text = f"(x >> {off}) & {(1 << w) - 1}" if off else f"x & {(1 << w) - 1}"
        if lo:
            text = f"({text}) + {lo}"
        out.append(f"{indent}v{i} = {text}  # {gensource.comment(notes[i])}")
    return out


def _effect_lines(model: LoadedModel, folded: Folded, layout: Layout, a_index: int, indent: str) -> list[str]:
    """Lines computing `y`, the packed successor, from locals (guard already checked)."""
    lines = []
    keep = (1 << layout.total_bits) - 1
    parts = []
    for slot, e in folded.assigns[a_index].items():
        info = model.slots[slot]
        sort = info.sort
        off, lo = layout.offsets[slot], layout.lows[slot]
        keep &= ~(((1 << layout.widths[slot]) - 1) << off)
        name = f"t{slot}"
        value = py_expr(e)
        if isinstance(sort, BitVecSort) and not isinstance(e.sort, BitVecSort):
            value = f"({value} & {sort.mask})"
        lines.append(f"{indent}{name} = {value}  # new {gensource.comment(info.name)}")
        if isinstance(sort, IntSort):
            vlo, vhi = folded.folder.range(e)
            if not sort.lo <= vlo <= vhi <= sort.hi:
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


def _expand_body(model: LoadedModel, folded: Folded, layout: Layout, a: int, trans: list[int],
                 record_edges: bool, canon_slots: frozenset[int] | None, workers: int) -> list[str]:
    """The lines run when action `a` is enabled: successor, transition checks, store, coverage.

    With symmetry the successor is replaced by its canonical representative before the
    lookup, unless the action writes none of `canon_slots` (the slots the canonical order
    depends on): the expanded state is canonical, so such a successor already is. With
    several workers a successor owned by another worker is sent to it instead of being
    stored here (`send[w]`: a dict successor -> parent * actions + action; the first link
    wins, as in the store)."""
    act = model.actions[a]
    lines = [f"# action {a}: {gensource.comment(act.label)}"]
    assigns = folded.assigns[a]
    self_loop = not assigns
    if not self_loop:
        lines.extend(_effect_lines(model, folded, layout, a, ""))
    for k in trans:
        cond = folded.per_action[k].get(a)
        if cond is not None:
            lines.append(f"if not found[{k}] and not {py_expr(cond)}: tp_fail({k}, pid, {a}, {'x' if self_loop else 'y'})"
                         f"  # transition property {gensource.comment(model.properties[k].name)}")
    if self_loop:
        target = "pid"
    else:
        target = "j"
        if canon_slots is not None and not canon_slots.isdisjoint(assigns):
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


def header(kind: str, model: LoadedModel) -> list[str]:
    """The first lines of a generated source: what it is, for which model and parameters."""
    params = ", ".join(f"{k}={v!r}" for k, v in model.params.as_dict().items())
    return [f"# mcheck generated code: {kind} for model {gensource.comment(model.name)}",
            f"# model file: {gensource.comment(str(model.source))}",
            f"# parameters: {gensource.comment(params)}",
            "# locals v<N> hold slot N of the state (x), t<N> its new value; see mcheck/explore/codegen.py",
            ""]


def generate(model: LoadedModel, *, record_edges: bool, order: tuple[int, ...] | None = None,
             canon_slots: frozenset[int] | None = None, workers: int = 1) -> Compiled:
    """Generate the search functions. `order` is the slot packing order (see `Layout.of`);
    `canon_slots` (symmetry) makes `expand` store successors that write one of these slots
    through `canon` (passed to `make_expand`);
    `workers` > 1 makes it route successors owned by other workers to `send[w]`."""
    if workers > 1 and record_edges:
        raise ValueError("edges are recorded by the one-worker search only")
    layout = Layout.of(model, order)
    folded = fold_model(model)
    props = model.properties
    inv = [k for k, p in enumerate(props) if p.kind == "invariant" and not _is_true(folded.props[k])]
    goals = [k for k, p in enumerate(props) if p.kind == "sometimes"]
    trans = [k for k, p in enumerate(props) if p.kind == "transition"]
    live = [act.index for act in model.actions if not _is_false(folded.guards[act.index])]

    notes = slot_notes(model, _readers(model, folded))

    def notes_for(exprs: list[Expr]) -> dict[int, str]:
        read: set[int] = set()
        for e in exprs:
            read |= slots_of(e)
        return {i: notes[i] for i in sorted(read)}

    def prop_note(k: int) -> str:
        return f"  # {props[k].kind} {gensource.comment(props[k].name)}"

    state_props = {k: e for k in inv + goals if (e := folded.props[k]) is not None}
    L: list[str] = header("explorer search functions", model)
    # invariants and goals, checked on every state taken from the frontier
    state_checks = [f"        if not found[{k}] and not {py_expr(state_props[k])}: inv_fail({k}, pid)" + prop_note(k)
                    for k in inv]
    state_checks += [f"        if not reached[{k}] and {py_expr(state_props[k])}: goal_hit({k}, pid)" + prop_note(k)
                     for k in goals]
    # ---- the explorer's expand()
    L.append("def make_expand(ids, states, parent, via, nxt, cov, edges, reached, found, inv_fail, tp_fail, goal_hit, "
             "deadlock, canon=None, me=0, send=None):")
    L.append("    get = ids.get; push = states.append; par = parent.append; vi = via.append; nx = nxt.append")
    if record_edges:
        L.append("    edge = edges.append")
    L.append("    def expand(x, pid):")
    L.extend(_unpack_lines(layout, notes, "        "))
    L.extend(state_checks)
    L.append("        n = 0")
    bodies = {a: _expand_body(model, folded, layout, a, trans, record_edges, canon_slots, workers) for a in live}
    L.extend(_guard_tree([(a, _conjuncts(folded.guards[a])) for a in live], bodies, "        "))
    if _is_false(folded.end_state):
        L.append("        if n == 0: deadlock(pid)")
    elif not _is_true(folded.end_state):
        L.append(f"        if n == 0 and not {py_expr(folded.end_state)}: deadlock(pid)  # end_state")
    L.append("        return n")
    L.append("    return expand")
    L.append("")
    # ---- check-only (states at the depth bound are checked but not expanded)
    L.append("def make_check(reached, found, inv_fail, goal_hit):")
    L.append("    def check(x, pid):")
    L.extend(_unpack_lines(layout, notes_for(list(state_props.values())), "        "))
    L.extend(state_checks)
    L.append("        return None")
    L.append("    return check")
    L.append("")
    # ---- successors(x) for replay, graph walks and witnesses
    L.append("def successors(x):")
    L.extend(_unpack_lines(layout, notes_for([folded.guards[a] for a in live]
                                             + [e for a in live for e in folded.assigns[a].values()]), "    "))
    L.append("    out = []")
    for a in live:
        L.append(f"    if {py_expr(folded.guards[a])}:  # action {a}: {gensource.comment(model.actions[a].label)}")
        L.extend(_effect_lines(model, folded, layout, a, "        "))
        L.append(f"        out.append(({a}, y))")
    L.append("    return out")
    L.append("")
    # ---- transition_failures(x): which enabled actions break which transition property (witnesses)
    L.append("def transition_failures(x):")
    checks = {a: [(k, folded.per_action[k][a]) for k in trans if a in folded.per_action[k]] for a in live}
    L.extend(_unpack_lines(layout, notes_for([e for a, conds in checks.items() if conds
                                              for e in [folded.guards[a], *(c for _, c in conds)]]), "    "))
    L.append("    out = []")
    for a, conds in checks.items():
        if conds:
            L.append(f"    if {py_expr(folded.guards[a])}:  # action {a}: {gensource.comment(model.actions[a].label)}")
            L.extend(f"        if not {py_expr(c)}: out.append(({a}, {k})){prop_note(k)}" for k, c in conds)
    L.append("    return out")
    source = "\n".join(L) + "\n"

    def range_fail(a: int, slot: int, value: int, x: int) -> None:
        act = model.actions[a]
        s = model.slots[slot]
        raise ModelRuntimeError(
            f"{model.source}: action {act.label} sets {s.name} to {value}, outside {s.sort.name}; "
            "guard the action or widen the variable")

    filename, namespace = gensource.load(source, kind="explore", model=model.name, namespace={"range_fail": range_fail})
    return Compiled(layout=layout, source=source, namespace=namespace, filename=filename)
