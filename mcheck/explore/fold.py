"""Fold terms whose value is known before any state is seen, for the code generator.

A model written for readability produces terms such as `x == x` (a transition property
comparing a variable the action does not write with itself), `b == 0 or b == 1` over a
bool, or `n <= 3` over an `Int(0, 3)`. They cost time on every state and hide the
terms that matter when the generated code is read (`--dump-code`). `fold` rewrites an
expression to an equivalent smaller one, using only facts that hold in every state the
engines produce: a slot holds a value of its sort (the explorer range-checks every write
to an `Int`, masks every bit-vector and stores only enum and bool codes).

Folding keeps the value of every term a generated line computes; it never reorders
actions, so exploration order, counts and witnesses are unchanged.
"""

from __future__ import annotations

from mcheck.model.expr import BOOL, FALSE, TRUE, BitVecSort, Const, Expr, IntSort, Op, Slot

Range = tuple[int, int]

_COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})


class Folder:
    """Folds expressions of one model; results are memoised by node identity, so the
    shared subterms of a model's expressions (a DAG) are folded once."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Expr, Expr]] = {}   # id(node) -> (node, folded); node kept alive
        self._keys: dict[int, tuple] = {}
        self._ranges: dict[int, Range] = {}

    # ------------------------------------------------------------------ public

    def fold(self, e: Expr) -> Expr:
        hit = self._memo.get(id(e))
        if hit is not None:
            return hit[1]
        out = self._fold(e)
        self._memo[id(e)] = (e, out)
        self._memo.setdefault(id(out), (out, out))
        return out

    def key(self, e: Expr) -> tuple:
        """A structural key: equal keys mean the generated code computes the same value."""
        k = self._keys.get(id(e))
        if k is None:
            if isinstance(e, Const):
                k = ("c", e.value)
            elif isinstance(e, Slot):
                k = ("s", e.index)
            else:
                assert isinstance(e, Op)
                mask = e.sort.mask if isinstance(e.sort, BitVecSort) else None
                k = (e.op, mask, tuple(self.key(a) for a in e.args))
            self._keys[id(e)] = k
        return k

    def range(self, e: Expr) -> Range:
        """Bounds on the runtime value of `e` in every state the engines produce."""
        r = self._ranges.get(id(e))
        if r is None:
            r = self._range(e)
            self._ranges[id(e)] = r
        return r

    # ------------------------------------------------------------------ internals

    def _range(self, e: Expr) -> Range:
        if isinstance(e, Const):
            return (e.value, e.value)
        if isinstance(e, Slot):
            return e.sort.code_range()
        assert isinstance(e, Op)
        if e.sort is BOOL:
            return (0, 1)
        if e.op == "ite":
            # not the node's sort: If(c, bitvec, int) is typed bitvec but yields the int as it is
            (a, b), (c, d) = self.range(e.args[1]), self.range(e.args[2])
            return (min(a, c), max(b, d))
        if isinstance(e.sort, BitVecSort):
            return (0, e.sort.mask)   # the generated code masks every bit-vector result
        (a, b), (c, d) = self.range(e.args[0]), self.range(e.args[1])
        if e.op == "add":
            return (a + c, b + d)
        if e.op == "sub":
            return (a - d, b - c)
        assert isinstance(e.sort, IntSort)
        return (e.sort.lo, e.sort.hi)

    def _fold(self, e: Expr) -> Expr:
        if not isinstance(e, Op):
            return e
        args = tuple(self.fold(a) for a in e.args)
        op = e.op
        if op == "and":
            return self._junction(args, unit=TRUE, zero=FALSE, op="and")
        if op == "or":
            return self._junction(args, unit=FALSE, zero=TRUE, op="or")
        if op == "not":
            (a,) = args
            if isinstance(a, Const):
                return FALSE if a.value else TRUE
            if isinstance(a, Op) and a.op == "not":
                return a.args[0]
            return e if a is e.args[0] else Op("not", args, BOOL)
        if op == "implies":
            a, b = args
            if _is(a, 0) or _is(b, 1):
                return TRUE
            if _is(a, 1):
                return b
            if _is(b, 0):
                return self.fold(Op("not", (a,), BOOL))
            return self._same(e, args)
        if op == "ite":
            c, t, f = args
            if isinstance(c, Const):
                return t if c.value else f
            if self.key(t) == self.key(f):
                return t
            return self._same(e, args)
        if op in _COMPARISONS:
            return self._compare(e, op, args)
        return self._same(e, args)

    def _same(self, e: Op, args: tuple[Expr, ...]) -> Expr:
        return e if all(a is b for a, b in zip(args, e.args, strict=True)) else Op(e.op, args, e.sort)

    def _junction(self, args: tuple[Expr, ...], *, unit: Const, zero: Const, op: str) -> Expr:
        items: list[Expr] = []
        seen: set[tuple] = set()
        for a in args:
            for b in (a.args if isinstance(a, Op) and a.op == op else (a,)):
                if _is(b, zero.value):
                    return zero
                if _is(b, unit.value):
                    continue
                k = self.key(b)
                if k not in seen:
                    seen.add(k)
                    items.append(b)
        if op == "or" and self._covers(items):
            return TRUE
        if not items:
            return unit
        return items[0] if len(items) == 1 else Op(op, tuple(items), BOOL)

    def _covers(self, items: list[Expr]) -> bool:
        """Whether some slot is compared for equality with every value it can hold."""
        values: dict[int, set[int]] = {}
        for b in items:
            if isinstance(b, Op) and b.op == "eq":
                x, y = b.args
                if isinstance(y, Slot):
                    x, y = y, x
                if isinstance(x, Slot) and isinstance(y, Const):
                    values.setdefault(x.index, set()).add(y.value)
                    lo, hi = self.range(x)
                    if hi - lo < 64 and values[x.index] >= set(range(lo, hi + 1)):
                        return True
        return False

    def _compare(self, e: Op, op: str, args: tuple[Expr, ...]) -> Expr:
        a, b = args
        if self.key(a) == self.key(b):
            return TRUE if op in ("eq", "le", "ge") else FALSE
        (alo, ahi), (blo, bhi) = self.range(a), self.range(b)
        known = _decide(op, alo, ahi, blo, bhi)
        if known is not None:
            return TRUE if known else FALSE
        return self._same(e, args)


def _is(e: Expr, value: int) -> bool:
    return isinstance(e, Const) and e.sort is BOOL and e.value == value


def _decide(op: str, alo: int, ahi: int, blo: int, bhi: int) -> bool | None:
    """The comparison's value when the operands' ranges settle it, else None."""
    if op == "eq":
        if ahi < blo or bhi < alo:
            return False
        return True if alo == ahi == blo == bhi else None
    if op == "ne":
        inverse = _decide("eq", alo, ahi, blo, bhi)
        return None if inverse is None else not inverse
    if op == "lt":
        return True if ahi < blo else False if alo >= bhi else None
    if op == "le":
        return True if ahi <= blo else False if alo > bhi else None
    if op == "gt":
        return _decide("lt", blo, bhi, alo, ahi)
    return _decide("le", blo, bhi, alo, ahi)   # ge
