"""Symmetry reduction over one index set of interchangeable ids (`symmetric=True`).

The search stores one canonical representative per orbit of states under permutations
of the ids. That is sound for every property mcheck checks (invariants, transition
properties, `sometimes` goals, deadlock) provided the model and the properties are
symmetric: renaming the ids maps the set of initial states, the set of guarded
commands and each property onto themselves. `plan_symmetry` checks exactly that on the
unrolled model, with the two generators of the permutation group (a swap and a cycle),
instead of trusting the declaration: a model that is not symmetric is refused, and a
property that names particular ids (for example `dma[1] == 3`) keeps those ids fixed,
so the reduction permutes only the others (and says so in the result notes).

Canonical form. Every cell of an array whose first index is the symmetric set belongs to
one id's *block*; the layout packs blocks contiguously (member-major), so a block is one
int. An id's key is its block plus, for each `Ref` cell, whether that cell names the id.
Sorting the keys gives the permutation; the blocks are moved and every `Ref` cell is
renamed with it. Keys are permutation-equivariant, and ids with equal keys are
interchangeable (swapping them fixes the state), so the sorted form is a true canonical
representative (one per orbit) whenever `Ref` cells lie outside the blocks (`exact`);
otherwise it is still sound but may keep a few orbits twice. The canonicaliser is
generated as straight-line code, since it runs once per successor.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from collections.abc import Callable

from mcheck.errors import InputError
from mcheck.explore import gensource
from mcheck.model.build import LoadedModel
from mcheck.model.definition import Array
from mcheck.model.expr import Const, Expr, Op, RefSort, Slot, slots_of


class _NotSymmetric(Exception):
    """An expression uses an id in a way renaming cannot follow (ordering, arithmetic)."""


@dataclass(frozen=True, kw_only=True)
class SymmetryPlan:
    """What the reduction permutes and how the state is laid out for it."""

    index_set: str
    permuted: tuple[int, ...]            # ids the canonicaliser permutes (sorted)
    fixed: tuple[int, ...]               # ids kept in place (named by an asymmetric property)
    blocks: dict[int, tuple[int, ...]]   # id -> its slots, in the same order for every id
    refs: tuple[int, ...]                # slots of sort Ref(index_set)
    order: tuple[int, ...]               # packing order: other slots, then blocks by id
    exact: bool                          # canonical form is one per orbit
    action_orbit: tuple[int, ...]        # action index -> smallest action index of its orbit
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key_slots(self) -> frozenset[int]:
        """The slots the canonical order depends on: the permuted ids' blocks and the Refs."""
        return frozenset(i for m in self.permuted for i in self.blocks[m]) | frozenset(self.refs)


# --------------------------------------------------------------------------- planning


def plan_symmetry(model: LoadedModel) -> SymmetryPlan:
    """Check the model's declared symmetry and decide what to permute, or raise InputError."""
    sets = [s for s in model.index_sets.values() if s.symmetric]
    if not sets:
        raise InputError(f"--symmetry: model {model.name} declares no symmetric index set "
                         "(self.index_set(..., symmetric=True))")
    iset = sets[0]
    notes = []
    if len(sets) > 1:
        notes.append(f"symmetry: reduction over {iset.name} only; "
                     f"{', '.join(s.name for s in sets[1:])} also declared symmetric but not reduced")
    ids = list(iset.values)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ids):
        raise InputError(f"--symmetry: ids of {iset.name} must be ints")
    blocks: dict[int, list[int]] = {m: [] for m in ids}
    shape_of = {}
    for s in model.slots:
        shape = model.cells.shapes[s.var]
        if isinstance(shape, Array) and shape.index.name == iset.name:
            blocks[s.path[0]].append(s.index)
            shape_of[s.index] = (s.var, s.path[1:])
        elif _indexes_below_top(shape, iset.name):
            raise InputError(f"--symmetry: variable {s.var} is indexed by {iset.name} below its first index; "
                             f"declare it as Array({iset.name}, ...)")
    members_block = [tuple(shape_of[i] for i in blocks[m]) for m in ids]
    if any(b != members_block[0] for b in members_block):  # pragma: no cover - arrays make this impossible
        raise InputError(f"--symmetry: the cells of the ids of {iset.name} differ in shape")
    refs = tuple(s.index for s in model.slots if isinstance(s.sort, RefSort) and s.sort.index == iset.name)
    in_blocks = {i for b in blocks.values() for i in b}
    others = [s.index for s in model.slots if s.index not in in_blocks]
    order = tuple(others + [i for m in ids for i in blocks[m]])
    block_of = {i: (m, pos) for m in ids for pos, i in enumerate(blocks[m])}
    slot_by_pos = {(m, pos): i for m in ids for pos, i in enumerate(blocks[m])}

    fixed: set[int] = set()
    while True:
        permuted = [m for m in ids if m not in fixed]
        checker = _Checker(model, block_of, slot_by_pos, refs, iset.name)
        bad_props, orbit = checker.verify(permuted)
        if not bad_props:
            break
        touched = set()
        for p in bad_props:
            exprs = [p.expr] if p.expr is not None else list(p.per_action.values())
            touched |= {block_of[i][0] for e in exprs for i in slots_of(e) if i in block_of}
        if not touched - fixed:
            touched = set(ids)
        notes.append(f"symmetry: {', '.join(p.name for p in bad_props)} not symmetric in {iset.name}; "
                     f"ids {', '.join(map(str, sorted(touched - fixed)))} kept fixed")
        fixed |= touched
    permuted = [m for m in ids if m not in fixed]
    return SymmetryPlan(index_set=iset.name, permuted=tuple(permuted), fixed=tuple(sorted(fixed)),
                        blocks={m: tuple(b) for m, b in blocks.items()}, refs=refs, order=order,
                        exact=not (set(refs) & in_blocks), action_orbit=tuple(orbit), notes=tuple(notes))


def _indexes_below_top(shape: object, name: str) -> bool:
    while isinstance(shape, Array):
        shape = shape.elem
        if isinstance(shape, Array) and shape.index.name == name:
            return True
    return False


class _Checker:
    """Compares the model with its image under a permutation, through normalised signatures."""

    def __init__(self, model: LoadedModel, block_of: dict[int, tuple[int, int]],
                 slot_by_pos: dict[tuple[int, int], int], refs: tuple[int, ...], iset: str) -> None:
        self.model = model
        self.block_of = block_of
        self.slot_by_pos = slot_by_pos
        self.refs = set(refs)
        self.iset = iset

    def verify(self, permuted: list[int]) -> tuple[list, list[int]]:
        """Asymmetric properties (empty: all symmetric) and the action-orbit map.

        Raises InputError when the model itself (initial states, actions, end states)
        is not symmetric in the permuted ids."""
        model = self.model
        parent = list(range(len(model.actions)))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        gens = []
        if len(permuted) >= 2:
            gens.append({permuted[0]: permuted[1], permuted[1]: permuted[0]})
        if len(permuted) >= 3:
            gens.append({m: permuted[(k + 1) % len(permuted)] for k, m in enumerate(permuted)})
        trans = [p for p in model.properties if p.kind == "transition"]
        bad: list = []
        ident = self._sigs({}, trans)
        for perm in gens:
            what = f"renaming {self.iset} by {perm}"
            self._check_initial(perm, what)
            if self._sig(model.end_state, perm) != self._sig(model.end_state, {}):
                raise InputError(f"--symmetry: the end-state condition is not symmetric ({what})")
            image = self._sigs(perm, trans)
            base_id = Counter(b for b, _ in ident)
            if Counter(b for b, _ in image) != base_id:
                a = next(i for i, (b, _) in enumerate(image) if b not in base_id)
                raise InputError(f"--symmetry: {self.iset} is declared symmetric, but action "
                                 f"{model.actions[a].label} has no counterpart after {what}")
            for k, p in enumerate(trans):
                if Counter((b, t[k]) for b, t in image) != Counter((b, t[k]) for b, t in ident):
                    bad.append(p)
            for p in model.properties:
                if p.expr is not None and self._sig(p.expr, perm) != self._sig(p.expr, {}):
                    bad.append(p)
            buckets: dict[tuple, list[int]] = {}
            for a, sig in enumerate(ident):
                buckets.setdefault(sig, []).append(a)
            for a, sig in enumerate(image):
                bucket = buckets.get(sig)
                if bucket:
                    parent[find(a)] = find(bucket.pop())
        unique = list({id(p): p for p in bad}.values())
        return unique, _orbit_minima(find, len(model.actions))

    def _check_initial(self, perm: dict[int, int], what: str) -> None:
        init = set(self.model.initial)
        for values in self.model.initial:
            moved = list(values)
            for i, v in enumerate(values):
                j = self._slot(i, perm)
                moved[j] = perm.get(v, v) if i in self.refs else v
            if tuple(moved) not in init:
                raise InputError(f"--symmetry: the initial states are not symmetric ({what})")

    def _sigs(self, perm: dict[int, int], trans: list) -> list[tuple[str, tuple[str, ...]]]:
        out = []
        for act in self.model.actions:
            assigns = sorted(f"s{self._slot(i, perm)}={self._sig(e, perm, i in self.refs)}" for i, e in act.assigns.items())
            base = f"{act.name}|{self._sig(act.guard, perm)}|{';'.join(assigns)}"
            tps = tuple(self._sig(p.per_action[act.index], perm) if act.index in p.per_action else "T" for p in trans)
            out.append((base, tps))
        return out

    def _slot(self, i: int, perm: dict[int, int]) -> int:
        where = self.block_of.get(i)
        if where is None or where[0] not in perm:
            return i
        return self.slot_by_pos[(perm[where[0]], where[1])]

    def _refish(self, e: Expr) -> bool:
        if isinstance(e, Slot):
            return e.index in self.refs
        return isinstance(e, Op) and e.op == "ite" and (self._refish(e.args[1]) or self._refish(e.args[2]))

    def _sig(self, e: Expr, perm: dict[int, int], ref: bool = False) -> str:
        """A normal form of `e` renamed by `perm` (and/or and ==/!= operands sorted)."""
        try:
            return self._norm(e, perm, ref)
        except _NotSymmetric as exc:  # never equal to the identity's signature
            return f"<{exc}>"

    def _norm(self, e: Expr, perm: dict[int, int], ref: bool) -> str:
        if isinstance(e, Const):
            return str(perm.get(e.value, e.value) if ref else e.value)
        if isinstance(e, Slot):
            return f"s{self._slot(e.index, perm)}"
        assert isinstance(e, Op)
        op, args = e.op, e.args
        if op in ("and", "or"):
            return f"{op}(" + ",".join(sorted(self._norm(a, perm, False) for a in _flat(op, args))) + ")"
        if op in ("eq", "ne"):
            r = any(self._refish(a) for a in args)
            return f"{op}(" + ",".join(sorted(self._norm(a, perm, r) for a in args)) + ")"
        if op == "ite":
            r = ref or self._refish(e)
            return f"ite({self._norm(args[0], perm, False)},{self._norm(args[1], perm, r)},{self._norm(args[2], perm, r)})"
        if perm and (ref or any(self._refish(a) for a in args)):
            raise _NotSymmetric(f"{op} on an id of {self.iset}")
        return f"{op}(" + ",".join(self._norm(a, perm, False) for a in args) + ")"


def _flat(op: str, args: tuple[Expr, ...]) -> list[Expr]:
    """Operands of nested and/or (`a | b | c` builds or(or(a, b), c))."""
    out: list[Expr] = []
    for a in args:
        out.extend(_flat(op, a.args) if isinstance(a, Op) and a.op == op else [a])
    return out


def _orbit_minima(find: Callable[[int], int], n: int) -> list[int]:
    smallest: dict[int, int] = {}
    for a in range(n):
        smallest.setdefault(find(a), a)
    return [smallest[find(a)] for a in range(n)]


# --------------------------------------------------------------------------- generated canonicaliser


def canon_source(plan: SymmetryPlan, offsets: tuple[int, ...], widths: tuple[int, ...], lows: tuple[int, ...]) -> str:
    """Python source of `canon(y)` (canonical representative) and `keys(y)` (the ids' sort keys)."""
    P = plan.permuted
    first = [plan.blocks[m][0] for m in P]
    boff = [offsets[i] for i in first]
    bwidth = sum(widths[i] for i in plan.blocks[P[0]]) if P else 0
    bmask = (1 << bwidth) - 1
    nref = len(plan.refs)
    ibits = max(1, (len(P) - 1).bit_length())
    L = ["def canon(y):"]
    if len(P) < 2:
        L.append("    return y")
        return "\n".join(L + ["", "def keys(y):", "    return ()", ""]) + "\n"
    body = [f"    b{k} = (y >> {boff[k]}) & {bmask}  # id {m}: slots {', '.join(map(str, plan.blocks[m]))}"
            for k, m in enumerate(P)]
    for r, i in enumerate(plan.refs):
        text = f"(y >> {offsets[i]}) & {(1 << widths[i]) - 1}"
        body.append((f"    r{r} = ({text}) + {lows[i]}" if lows[i] else f"    r{r} = {text}") + f"  # slot {i}, names an id")
    for k, m in enumerate(P):
        inc = " | ".join(f"((r{r} == {m}) << {r})" for r in range(nref))
        key = f"(b{k} << {nref}) | {inc}" if nref else f"b{k}"
        body.append(f"    k{k} = {key}")
    L += body
    L.append("    ks = sorted((" + ", ".join(f"(k{k} << {ibits}) | {k}" for k in range(len(P))) + ",))")
    L.append("    " + ", ".join(f"i{k}" for k in range(len(P))) + " = " +
             ", ".join(f"ks[{k}] & {(1 << ibits) - 1}" for k in range(len(P))))
    L.append("    if " + " and ".join(f"i{k} == {k}" for k in range(len(P))) + ":")
    L.append("        return y")
    L.append("    bs = (" + ", ".join(f"b{k}" for k in range(len(P))) + ",)")
    total = sum(widths)
    keep = (1 << total) - 1
    for o in boff:
        keep &= ~(bmask << o)
    L.append(f"    y = (y & {keep}) | " + " | ".join(f"(bs[i{k}] << {boff[k]})" for k in range(len(P))))
    if nref:
        top = max(max(P), max(lows[i] + (1 << widths[i]) for i in plan.refs))
        L.append(f"    ren = list(range({top + 1}))")
        L.append(f"    ids = {tuple(P)!r}")
        L.extend(f"    ren[ids[i{k}]] = {m}" for k, m in enumerate(P))
        for i in plan.refs:
            off, mask, lo = offsets[i], (1 << widths[i]) - 1, lows[i]
            value = f"ren[((y >> {off}) & {mask}) + {lo}] - {lo}" if lo else f"ren[(y >> {off}) & {mask}]"
            L.append(f"    y = (y & {((1 << total) - 1) & ~(mask << off)}) | (({value}) << {off})")
    L.append("    return y")
    L.append("")
    L.append("def keys(y):")
    L += body
    L.append("    return (" + ", ".join(f"k{k}" for k in range(len(P))) + ",)")
    return "\n".join(L) + "\n"


def compile_canon(plan: SymmetryPlan, offsets: tuple[int, ...], widths: tuple[int, ...],
                  lows: tuple[int, ...], *, model: str = "model"
                  ) -> tuple[Callable[[int], int], Callable[[int], tuple[int, ...]]]:
    """`canon` and `keys` of `canon_source`, compiled through `mcheck.explore.gensource`
    (`model` names the source: `canon-MODEL-HASH.py`)."""
    source = (f"# mcheck generated code: symmetry canonicaliser for model {gensource.comment(model)}\n"
              "# b<k>: the slots of the k-th permuted id as one bit field, r<k>: a slot holding an id, "
              "k<k>: the sort key of b<k>\n\n" + canon_source(plan, offsets, widths, lows))
    _, namespace = gensource.load(source, kind="canon", model=model, namespace={})
    return namespace["canon"], namespace["keys"]


def orbit_states(states: list[int], keys: Callable[[int], tuple[int, ...]], n: int) -> int:
    """How many concrete states the canonical `states` stand for: the sum of orbit sizes,
    n! / (product of k! over each group of k ids with equal keys). Exact plans only."""
    whole = math.factorial(n)
    total = 0
    cache: dict[tuple[int, ...], int] = {}
    for x in states:
        shape = tuple(sorted(Counter(keys(x)).values()))
        size = cache.get(shape)
        if size is None:
            size = cache[shape] = whole // math.prod(math.factorial(c) for c in shape)
        total += size
    return total
