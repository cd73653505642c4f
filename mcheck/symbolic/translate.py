"""Translate the expression tree into Z3 terms: the only Expr -> Z3 code in mcheck.

Every model sort becomes a Z3 bit-vector (or Bool), so every query is pure QF_BV, which
Z3 bit-blasts; no integer arithmetic theory is involved:

* Bool -> z3 Bool.
* Enum -> BitVec(sort.bits), the value's position, with `pos < card` as a domain constraint.
* Int(lo, hi) -> BitVec(W) read as two's complement, with `lo <= v <= hi` (signed) as a
  domain constraint. W is one width per model (`int_width`), wide enough for the static
  range of every Int-sorted node, so Int arithmetic is exact (no wrap) as in the concrete
  interpreter.
* BitVec(w) -> BitVec(w), unsigned, wrapping modulo 2**w.

Mixed operands follow `mcheck.model.evaluate` exactly: an Int operand of a bit-vector
operation is reduced modulo 2**w (a literal becomes a `BitVecVal`); a comparison between
a bit-vector and an Int compares the mathematical values; a shift by at least the width
gives 0. The parity test in tests/symbolic runs one table through all three interpreters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import z3

from mcheck.errors import McheckError
from mcheck.model.expr import (
    OPS,
    BitVecSort,
    BoolSort,
    Const,
    EnumSort,
    Expr,
    IntSort,
    Op,
    Slot,
    Sort,
)


class TranslationError(McheckError):
    """An expression the Z3 translation does not know (a new node or operator)."""


def _signed_bits(v: int) -> int:
    return (v if v >= 0 else -v - 1).bit_length() + 1


def int_width(exprs: Iterable[Expr], sorts: Iterable[Sort] = ()) -> int:
    """The bit width that holds every Int value `exprs` can compute, as two's complement."""
    width = 2
    for sort in sorts:
        if isinstance(sort, IntSort):
            width = max(width, _signed_bits(sort.lo), _signed_bits(sort.hi))
    seen: set[int] = set()
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.sort, IntSort):
            width = max(width, _signed_bits(node.sort.lo), _signed_bits(node.sort.hi))
        if isinstance(node, Op):
            stack.extend(node.args)
    return width


class Encoding:
    """How runtime values of each sort are represented in one Z3 context."""

    def __init__(self, int_width: int, ctx: z3.Context | None = None) -> None:
        self.int_width = int_width
        self.ctx = ctx or z3.Context()

    def width(self, sort: Sort) -> int:
        if isinstance(sort, BitVecSort):
            return sort.width
        if isinstance(sort, EnumSort):
            return sort.bits
        if isinstance(sort, IntSort):
            return self.int_width
        raise TranslationError(f"{sort!r} has no bit-vector width")

    def var(self, name: str, sort: Sort) -> z3.ExprRef:
        if isinstance(sort, BoolSort):
            return z3.Bool(name, self.ctx)
        return z3.BitVec(name, self.width(sort), self.ctx)

    def value(self, sort: Sort, v: int) -> z3.ExprRef:
        """The Z3 literal for runtime value `v` of `sort`."""
        if isinstance(sort, BoolSort):
            return z3.BoolVal(bool(v), self.ctx)
        return z3.BitVecVal(v, self.width(sort), self.ctx)

    def decode(self, sort: Sort, term: z3.ExprRef) -> int:
        """The runtime value of a Z3 literal (from a model or after `simplify`)."""
        if isinstance(sort, BoolSort):
            if z3.is_true(term):
                return 1
            if z3.is_false(term):
                return 0
        elif z3.is_bv_value(term):
            return term.as_signed_long() if isinstance(sort, IntSort) else term.as_long()
        raise TranslationError(f"{term} is not a value of {sort!r}")

    def domain(self, sort: Sort, term: z3.ExprRef) -> z3.BoolRef | None:
        """The constraint keeping `term` inside `sort`, or None when every bit pattern is a value."""
        if isinstance(sort, EnumSort) and sort.card < (1 << sort.bits):
            return z3.ULT(term, z3.BitVecVal(sort.card, sort.bits, self.ctx))
        if isinstance(sort, IntSort):
            w = self.int_width
            return z3.And(term >= z3.BitVecVal(sort.lo, w, self.ctx), term <= z3.BitVecVal(sort.hi, w, self.ctx))
        return None


def _resize(term: z3.BitVecRef, width: int, signed: bool) -> z3.BitVecRef:
    have = term.size()
    if have == width:
        return term
    if have > width:
        return z3.Extract(width - 1, 0, term)
    return z3.SignExt(width - have, term) if signed else z3.ZeroExt(width - have, term)


def _bv_width(e: Op) -> int:
    """The width of a bit-vector operation (the expression builders give these ops a BitVecSort)."""
    if not isinstance(e.sort, BitVecSort):
        raise TranslationError(f"{e!r} is a bit-vector operation on {e.sort!r}")
    return e.sort.width


class Translator:
    """Translates expressions over one state (a Z3 term per slot), sharing common nodes."""

    def __init__(self, enc: Encoding, state: Sequence[z3.ExprRef]) -> None:
        self.enc = enc
        self.state = state
        self._cache: dict[int, z3.ExprRef] = {}
        self._keep: list[Expr] = []  # cache keys are ids: keep the nodes alive

    def __call__(self, expr: Expr) -> z3.ExprRef:
        hit = self._cache.get(id(expr))
        if hit is not None:
            return hit
        if isinstance(expr, Const):
            term = self.enc.value(expr.sort, expr.value)
        elif isinstance(expr, Slot):
            term = self.state[expr.index]
        elif isinstance(expr, Op):
            handler = _HANDLERS.get(expr.op)
            if handler is None:
                raise TranslationError(f"translate: unhandled operator {expr.op!r}")
            term = handler(self, expr)
        else:
            raise TranslationError(f"translate: unknown node {expr!r}")
        self._cache[id(expr)] = term
        self._keep.append(expr)
        return term

    # -- coercions
    def as_sort(self, expr: Expr, sort: Sort) -> z3.ExprRef:
        """`expr` as a value of `sort` (the target of an assignment or an If branch)."""
        if isinstance(sort, BitVecSort):
            return self.bv(expr, sort.width)
        return self(expr)

    def bv(self, expr: Expr, width: int) -> z3.BitVecRef:
        """`expr` reduced modulo 2**width, as the concrete interpreter masks it."""
        if isinstance(expr, Const) and not isinstance(expr.sort, BoolSort):
            return z3.BitVecVal(expr.value % (1 << width), width, self.enc.ctx)
        return _resize(self(expr), width, signed=isinstance(expr.sort, IntSort))

    def _numeric_pair(self, a: Expr, b: Expr) -> tuple[z3.BitVecRef, z3.BitVecRef, bool]:
        """Both operands at one width where their order is the mathematical one; and signedness."""
        wa = a.sort.width if isinstance(a.sort, BitVecSort) else None
        wb = b.sort.width if isinstance(b.sort, BitVecSort) else None
        bva, bvb = wa is not None, wb is not None
        if wa is not None and wb is not None:
            w = max(wa, wb)
            return _resize(self(a), w, False), _resize(self(b), w, False), False
        if wa is None and wb is None:
            return self(a), self(b), True
        w = max((wa or wb or 0) + 1, self.enc.int_width)
        return (_resize(self(a), w, not bva), _resize(self(b), w, not bvb), True)

    # -- operators
    def _and(self, e: Op) -> z3.ExprRef:
        return z3.And(*[self(a) for a in e.args])

    def _or(self, e: Op) -> z3.ExprRef:
        return z3.Or(*[self(a) for a in e.args])

    def _not(self, e: Op) -> z3.ExprRef:
        return z3.Not(self(e.args[0]))

    def _implies(self, e: Op) -> z3.ExprRef:
        return z3.Implies(self(e.args[0]), self(e.args[1]))

    def _ite(self, e: Op) -> z3.ExprRef:
        c, t, f = e.args
        return z3.If(self(c), self.as_sort(t, e.sort), self.as_sort(f, e.sort))

    def _eq(self, e: Op) -> z3.ExprRef:
        a, b = e.args
        if isinstance(a.sort, (BitVecSort, IntSort)):
            x, y, _ = self._numeric_pair(a, b)
            return x == y
        return self(a) == self(b)

    def _ne(self, e: Op) -> z3.ExprRef:
        return z3.Not(self._eq(e))

    def _order(self, e: Op, signed: Callable[..., z3.BoolRef], unsigned: Callable[..., z3.BoolRef]) -> z3.ExprRef:
        x, y, is_signed = self._numeric_pair(*e.args)
        return signed(x, y) if is_signed else unsigned(x, y)

    def _lt(self, e: Op) -> z3.ExprRef:
        return self._order(e, lambda x, y: x < y, z3.ULT)

    def _le(self, e: Op) -> z3.ExprRef:
        return self._order(e, lambda x, y: x <= y, z3.ULE)

    def _gt(self, e: Op) -> z3.ExprRef:
        return self._order(e, lambda x, y: x > y, z3.UGT)

    def _ge(self, e: Op) -> z3.ExprRef:
        return self._order(e, lambda x, y: x >= y, z3.UGE)

    def _binary(self, e: Op, fn: Callable[[z3.BitVecRef, z3.BitVecRef], z3.BitVecRef]) -> z3.ExprRef:
        a, b = e.args
        if isinstance(e.sort, BitVecSort):
            return fn(self.bv(a, e.sort.width), self.bv(b, e.sort.width))
        return fn(self(a), self(b))  # Int: exact within int_width

    def _add(self, e: Op) -> z3.ExprRef:
        return self._binary(e, lambda x, y: x + y)

    def _sub(self, e: Op) -> z3.ExprRef:
        return self._binary(e, lambda x, y: x - y)

    def _bvand(self, e: Op) -> z3.ExprRef:
        return self._binary(e, lambda x, y: x & y)

    def _bvor(self, e: Op) -> z3.ExprRef:
        return self._binary(e, lambda x, y: x | y)

    def _bvxor(self, e: Op) -> z3.ExprRef:
        return self._binary(e, lambda x, y: x ^ y)

    def _bvnot(self, e: Op) -> z3.ExprRef:
        return ~self.bv(e.args[0], _bv_width(e))

    def _shift(self, e: Op, fn: Callable[[z3.BitVecRef, z3.BitVecRef], z3.BitVecRef]) -> z3.ExprRef:
        a, b = e.args
        w = _bv_width(e)
        x = self.bv(a, w)
        zero = z3.BitVecVal(0, w, self.enc.ctx)
        if isinstance(b, Const):
            if b.value < 0:
                raise TranslationError(f"negative shift count in {e!r}")
            return zero if b.value >= w else fn(x, z3.BitVecVal(b.value, w, self.enc.ctx))
        amount = self(b)
        if isinstance(b.sort, BitVecSort) and b.sort.width <= w:
            return fn(x, _resize(amount, w, False))  # Z3 also gives 0 for counts >= w
        big = amount >= w if isinstance(b.sort, IntSort) else z3.UGE(amount, w)
        return z3.If(big, zero, fn(x, _resize(amount, w, isinstance(b.sort, IntSort))))

    def _shl(self, e: Op) -> z3.ExprRef:
        return self._shift(e, lambda x, y: x << y)

    def _lshr(self, e: Op) -> z3.ExprRef:
        return self._shift(e, z3.LShR)


_HANDLERS: dict[str, Callable[[Translator, Op], z3.ExprRef]] = {
    name: getattr(Translator, f"_{name}") for name in OPS
}



def translate(expr: Expr, enc: Encoding, state: Sequence[z3.ExprRef]) -> z3.ExprRef:
    """One expression over `state` (a Z3 term per slot); use one `Translator` for many."""
    return Translator(enc, state)(expr)
