"""Write a loaded model as Promela, for SPIN.

The translation is built so that the states SPIN stores correspond one-to-one to the
states mcheck's explorer stores (see docs/spin.md for why and how that was checked):

* one global variable per state slot, holding the slot's *runtime* value (Bool 0/1,
  Enum position, Int value, BitVec unsigned value); the narrowest Promela type that holds
  the slot's range (`bit`, `byte`, `short`, `int`);
* a single `active proctype` whose body is one `do` loop; every option is a `d_step`, so
  a step is one indivisible transition with no intermediate states, and the process
  counter is always at the loop head when a state is stored;
* an action is `d_step { guard -> transition assertions; range assertions;
  assignments }`: every right-hand side must read the state before the step (mcheck's
  parallel assignment), so the assignments are ordered so that no slot is overwritten
  while a later right-hand side still reads it; a cycle (a swap) saves one old value in a
  temporary that is reset to 0 before the step ends. (SPIN refuses `hidden` variables
  under -DBFS, so temporaries and markers are ordinary globals that are constant between
  steps: they make the state vector longer but add no states);
* an invariant is an option `d_step { !(inv) -> assert(P_name) }`, a self-loop taken only
  where the invariant fails, so it adds no state; `P_name` is a bit that is always 0, so
  SPIN's "assertion violated" message names the property;
* a transition property of an action is `assert(P_name || cond)` inside that action's
  `d_step`, evaluated on the state before the assignments;
* deadlock: an option enabled exactly when no action is enabled,
  `d_step { !(g1 || ... || gn) -> assert(P_deadlock_free || end_state) }`: in a
  declared end state it is a self-loop, elsewhere it reports the deadlock. Because that
  option exists, SPIN's own "invalid end state" never fires;
* several initial states: SPIN has one, so the globals start in the first one and an
  option enabled only in exactly that valuation jumps to each of the others. These jumps
  reach no state mcheck does not also start from, so the state count is unchanged.

`sometimes` goals are not translated (SPIN checks safety here); they appear as comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mcheck.errors import InputError
from mcheck.model.build import LoadedModel
from mcheck.model.expr import TRUE, BitVecSort, BoolSort, Const, EnumSort, Expr, IntSort, Op, Slot, Sort, slots_of, walk

# widest bit-vector whose wrap-around arithmetic stays inside C's signed int in pan
MAX_BV_WIDTH = 30
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
DEADLOCK_NAME = "deadlock_free"

PROMELA_KEYWORDS = frozenset("""
active assert atomic bit bool break byte chan d_step D_proctype do else empty enabled eval
fi full goto hidden if in init inline int len local ltl mtype nempty never nfull od of
pc_value print printf printm priority proctype provided run select short show skip timeout
true false typedef unless unsigned xr xs c_code c_decl c_expr c_state c_track for notrace
trace always eventually until weak stronger release implies equivalent return
now np_ get_priority set_priority
""".split())

_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_BIN = {"add": "+", "sub": "-", "bvand": "&", "bvor": "|", "bvxor": "^"}


@dataclass
class PromelaExport:
    """The Promela text plus what a caller needs to read SPIN's answer."""

    text: str
    var_names: list[str]               # Promela name per slot
    prop_markers: dict[str, str]       # marker bit name -> property name (incl. deadlock_free)
    initial_states: int                # distinct initial states
    vector_bytes: int                  # estimate of the global part of SPIN's state vector
    skipped: list[str] = field(default_factory=list)  # sometimes goals SPIN does not check


def _sanitize(name: str, taken: set[str], prefix: str = "") -> str:
    """A Promela identifier for `name`, unique in `taken`; slot names never start with P_ or T_."""
    base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "v"
    if prefix:
        base = prefix + base
    else:
        if base[0].isdigit() or base.startswith(("P_", "T_")):
            base = "v_" + base
        if base in PROMELA_KEYWORDS or base.isupper():
            base = base + "_v"
    out = base
    n = 2
    while out in taken:
        out = f"{base}_{n}"
        n += 1
    taken.add(out)
    return out


def _ptype(sort: Sort, where: str) -> tuple[str, int]:
    """Promela type and its size in bytes for a slot of `sort` (runtime values)."""
    if isinstance(sort, BitVecSort) and sort.width > MAX_BV_WIDTH:
        raise InputError(f"{where}: bit-vector of width {sort.width} cannot be exported to Promela "
                         f"(at most {MAX_BV_WIDTH} bits: pan computes in 32-bit signed int)")
    lo, hi = sort.code_range()
    if isinstance(sort, BoolSort) or (lo >= 0 and hi <= 1):
        return "bit", 1
    if lo >= 0 and hi <= 255:
        return "byte", 1
    if lo >= -(2 ** 15) and hi < 2 ** 15:
        return "short", 2
    if lo >= INT_MIN and hi <= INT_MAX:
        return "int", 4
    raise InputError(f"{where}: range {lo}..{hi} does not fit Promela's 32-bit int")


class _Writer:
    def __init__(self, model: LoadedModel, names: list[str]) -> None:
        self.model = model
        self.names = names
        self.checked: set[int] = set()
        self.rename: dict[int, str] = {}  # slot -> temporary holding its old value

    def check_ranges(self, e: Expr, where: str) -> None:
        for node in walk(e):
            if id(node) in self.checked:
                continue
            self.checked.add(id(node))
            s = node.sort
            if isinstance(s, BitVecSort) and s.width > MAX_BV_WIDTH:
                raise InputError(f"{where}: bit-vector of width {s.width} cannot be exported to Promela "
                                 f"(at most {MAX_BV_WIDTH} bits)")
            if isinstance(s, IntSort) and (s.lo < INT_MIN or s.hi > INT_MAX):
                raise InputError(f"{where}: intermediate value range {s.lo}..{s.hi} exceeds Promela's 32-bit int")
            if isinstance(node, Const) and not INT_MIN <= node.value <= INT_MAX:
                raise InputError(f"{where}: constant {node.value} exceeds Promela's 32-bit int")

    def expr(self, e: Expr) -> str:
        if isinstance(e, Const):
            return f"({e.value})" if e.value < 0 else str(e.value)
        if isinstance(e, Slot):
            return self.rename.get(e.index) or self.names[e.index]
        if not isinstance(e, Op):
            raise InputError(f"Promela export: cannot translate {e!r}")
        a = [self.expr(x) for x in e.args]
        op = e.op
        mask = e.sort.mask if isinstance(e.sort, BitVecSort) else None
        width = e.sort.width if isinstance(e.sort, BitVecSort) else None
        if op == "and":
            return "(" + " && ".join(a) + ")"
        if op == "or":
            return "(" + " || ".join(a) + ")"
        if op == "not":
            return f"(!{a[0]})"
        if op == "implies":
            return f"((!{a[0]}) || {a[1]})"
        if op == "ite":
            return f"({a[0]} -> {a[1]} : {a[2]})"
        if op in _CMP:
            return f"({a[0]} {_CMP[op]} {a[1]})"
        if op == "bvnot":
            return f"((~{a[0]}) & {mask})"
        if op in _BIN:
            text = f"({a[0]} {_BIN[op]} {a[1]})"
            return f"({text} & {mask})" if mask is not None else text
        if op == "shl":
            # Python: (x << y) & mask, 0 once y >= width; mask x first so C int never overflows
            return f"(({a[1]} >= {width}) -> 0 : (({a[0]} & ({mask} >> {a[1]})) << {a[1]}))"
        if op == "lshr":
            return f"(({a[1]} >= {width}) -> 0 : ({a[0]} >> {a[1]}))"
        raise InputError(f"Promela export: unhandled operator {op!r}")


def _fits(value_sort: Sort, target: Sort) -> bool:
    if isinstance(target, IntSort):
        return isinstance(value_sort, IntSort) and target.lo <= value_sort.lo and value_sort.hi <= target.hi
    return True


def _order_assignments(act) -> tuple[list[int], list[int]]:
    """Serialise `act`'s parallel assignment: (slots to save first, order of the assignments).

    A slot may be overwritten only once no remaining right-hand side reads its old value;
    a cycle (a swap) is broken by saving one slot's old value in a temporary.
    """
    reads = {slot: slots_of(e) - {slot} for slot, e in act.assigns.items()}
    remaining = sorted(act.assigns)
    saved: list[int] = []
    order: list[int] = []
    while remaining:
        for b in remaining:
            if b in saved or not any(b in reads[a] for a in remaining if a != b):
                order.append(b)
                remaining.remove(b)
                break
        else:
            victim = next(b for b in remaining if b not in saved)
            saved.append(victim)
    return saved, order


def _comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")


def to_promela(model: LoadedModel) -> PromelaExport:
    """Translate `model` (already loaded with its parameters) to Promela source."""
    taken: set[str] = set()
    names = [_sanitize(s.name, taken) for s in model.slots]
    w = _Writer(model, names)
    for act in model.actions:
        w.check_ranges(act.guard, f"action {act.label}")
        for e in act.assigns.values():
            w.check_ranges(e, f"action {act.label}")
    for p in model.properties:
        if p.kind == "sometimes":
            continue
        for e in ([p.expr] if p.expr is not None else []) + list(p.per_action.values()):
            w.check_ranges(e, f"property {p.name}")
    w.check_ranges(model.end_state, "end_state")

    initial = list(dict.fromkeys(model.initial))
    first = initial[0]
    markers: dict[str, str] = {}
    marker_of: dict[str, str] = {}
    for named in [*model.properties, None]:
        pname = DEADLOCK_NAME if named is None else named.name
        if named is not None and named.kind == "sometimes":
            continue
        m = _sanitize(pname, taken, prefix="P_")
        markers[m] = pname
        marker_of[pname] = m

    L: list[str] = []
    params = ", ".join(f"{k}={v}" for k, v in model.params.as_dict().items())
    L.append(f"/* mcheck export of model {model.name} ({params}) */")
    L.append(f"/* source: {_comment(model.source)} */")
    L.append("/* generated by `mcheck export --promela`; see docs/spin.md. Check exhaustively with:")
    L.append("     spin -a FILE && gcc -O2 -DBFS -DNOREDUCE -DSAFETY -o pan pan.c && ./pan -c0 -n */")
    L.append("")
    L.append("/* state slots: runtime values (Bool 0/1, Enum position, Int value, BitVec unsigned) */")
    vector = 0
    for s, name, v0 in zip(model.slots, names, first, strict=True):
        ptype, size = _ptype(s.sort, f"slot {s.name}")
        vector += size
        what = s.sort.name
        if isinstance(s.sort, EnumSort):
            what += " {" + ", ".join(f"{i}={m}" for i, m in enumerate(s.sort.members)) + "}"
        L.append(f"{ptype} {name} = {v0};  /* {_comment(s.name)}: {_comment(what)} */")
    L.append("")
    L.append("/* property markers: constant 0 (so no extra states); assert(P_x || cond) names property x */")
    for m, pname in markers.items():
        L.append(f"bit {m} = 0;  /* {_comment(pname)} */")
    vector += (len(markers) + 7) // 8
    L.append("")
    temps: dict[int, str] = {}
    plans: dict[int, tuple[list[int], list[int]]] = {}
    for act in model.actions:
        plans[act.index] = _order_assignments(act)
        for slot in plans[act.index][0]:
            if slot not in temps:
                temps[slot] = _sanitize(names[slot], taken, prefix="T_")
    if temps:
        L.append("/* temporaries for swaps in a parallel assignment: always 0 between steps, so no extra states */")
        for slot, t in sorted(temps.items()):
            ptype, size = _ptype(model.slots[slot].sort, f"slot {model.slots[slot].name}")
            vector += size
            L.append(f"{ptype} {t} = 0;")
        L.append("")
    skipped = [p.name for p in model.properties if p.kind == "sometimes"]
    for name in skipped:
        L.append(f"/* sometimes goal {name}: not checked by SPIN (reachability goal, see docs/spin.md) */")
    if skipped:
        L.append("")

    L.append("active proctype mcheck_model() {")
    L.append("  do")
    # invariants: self-loops enabled only where the invariant fails
    for p in model.properties:
        if p.kind != "invariant" or p.expr is None or p.expr is TRUE:
            continue
        clauses = ", ".join(p.clauses)
        L.append(f"  /* invariant {p.name} [{clauses}] */")
        L.append(f"  :: d_step {{ !({w.expr(p.expr)}) -> assert({marker_of[p.name]}) }}")
    # actions
    trans = [p for p in model.properties if p.kind == "transition"]
    for act in model.actions:
        L.append(f"  /* {_comment(act.label)}" + (f" [{', '.join(act.clauses)}]" if act.clauses else "") + " */")
        body = [f"{w.expr(act.guard)} ->"]
        for p in trans:
            cond = p.per_action.get(act.index)
            if cond is None or cond is TRUE:
                continue
            body.append(f"assert({marker_of[p.name]} || {w.expr(cond)});")
        saved, order = plans[act.index]
        # range checks first: they read the state before the step
        for slot, e in sorted(act.assigns.items()):
            sort = model.slots[slot].sort
            if isinstance(sort, IntSort) and not _fits(e.sort, sort):
                # mcheck stops with "value outside its range"; SPIN reports this assertion
                v = w.expr(e)
                body.append(f"assert({sort.lo} <= {v} && {v} <= {sort.hi});")
        for slot in saved:
            body.append(f"{temps[slot]} = {names[slot]};")
        w.rename = {slot: temps[slot] for slot in saved}
        for slot in order:
            e = act.assigns[slot]
            sort = model.slots[slot].sort
            value = w.expr(e)
            if isinstance(sort, BitVecSort) and not isinstance(e.sort, BitVecSort):
                value = f"({value} & {sort.mask})"
            body.append(f"{names[slot]} = {value};")
        w.rename = {}
        for slot in saved:
            body.append(f"{temps[slot]} = 0;")
        if not act.assigns:
            body.append("skip")
        else:
            body[-1] = body[-1].rstrip(";")  # no separator before the closing brace
        L.append("  :: d_step {")
        for line in body:
            L.append(f"       {line}")
        L.append("     }")
    # deadlock / end states
    enabled = " || ".join(w.expr(a.guard) for a in model.actions)
    end = model.end_state
    L.append("  /* no action enabled: a declared end state stutters, any other state is a deadlock */")
    if end is TRUE:
        L.append(f"  :: d_step {{ !({enabled}) -> skip }}")
    else:
        L.append(f"  :: d_step {{ !({enabled}) -> assert({marker_of[DEADLOCK_NAME]} || {w.expr(end)}) }}")
    # extra initial states
    if len(initial) > 1:
        at_first = " && ".join(f"{names[i]} == {v}" for i, v in enumerate(first))
        L.append(f"  /* {len(initial)} initial states: from the first one, jump to each of the others */")
        for values in initial[1:]:
            sets = "; ".join(f"{names[i]} = {v}" for i, v in enumerate(values) if v != first[i])
            L.append(f"  :: d_step {{ ({at_first}) -> {sets} }}")
    L.append("  od")
    L.append("}")
    return PromelaExport(text="\n".join(L) + "\n", var_names=names, prop_markers=markers,
                         initial_states=len(initial), vector_bytes=vector, skipped=skipped)


def write_promela(model: LoadedModel, path: str) -> PromelaExport:
    exp = to_promela(model)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(exp.text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    return exp
