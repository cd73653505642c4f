"""Parity: one table of expressions and states through all three interpreters (PySMT style).

`mcheck.model.evaluate` (reference), the explorer's generated Python
(`mcheck.explore.codegen.py_expr`) and the Z3 translation (substitute the values,
simplify) must agree on every row, including bit-vector wrap-around and mixed
Int/bit-vector operands.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import z3

from mcheck.explore.codegen import py_expr
from mcheck.explore.fold import Folder
from mcheck.model.evaluate import evaluate
from mcheck.model.expr import (
    BOOL,
    OPS,
    And,
    BitVec,
    Const,
    Enum,
    Expr,
    If,
    Implies,
    Int,
    Not,
    Op,
    Or,
    Slot,
    walk,
)
from mcheck.symbolic.translate import Encoding, TranslationError, Translator, int_width

B8 = Slot(0, BitVec(8), "b8")
B16 = Slot(1, BitVec(16), "b16")
I = Slot(2, Int(-3, 5), "i")
E = Slot(3, Enum("mode", "running", "stopped", "frozen"), "e")
F = Slot(4, BOOL, "f")
B64 = Slot(5, BitVec(64), "b64")
SORTS = [B8.sort, B16.sort, I.sort, E.sort, F.sort, B64.sort]

TABLE: dict[str, Expr] = {
    "add wraps": B8 + 1,
    "sub wraps below zero": B16 - 1,
    "bv minus bv": B16 - B16 - 1,
    "int add literal": I + 7,
    "int sub goes negative": I - 5,
    "int plus bv reduces mod 2**8": I + B8,
    "bv plus int slot": B8 + I,
    "bvand": B16 & 0x0F0F,
    "bvor": B8 | 0x81,
    "bvxor with int slot": B8 ^ I,
    "bvnot": ~B16,
    "shl by literal": B8 << 3,
    "shl by 8 is zero": B8 << 8,
    "shl by bv": B16 << B8,
    "lshr by bv": B16 >> B8,
    "lshr by int, up to the width": B8 >> (I + 3),
    "shl by wider bv": B8 << B16,
    "64-bit wrap": B64 + 0x1000,
    "64-bit mask": (B64 & 0xFFF) == 0,
    "unsigned lt": B8 < 0x80,
    "unsigned le across wrap": (B16 + 1) <= B16,
    "gt": B16 > B8,
    "ge": B64 >= 1,
    "bv vs negative int": B8 > I,
    "bv eq int": B8 == I,
    "bv ne int": B8 != I,
    "int lt": I < 0,
    "int ge literal": I >= -2,
    "enum eq": E == "stopped",
    "enum ne": E != "running",
    "bool eq": F == True,
    "and": And(F, B8 > 3, I < 2),
    "or": Or(F, E == "frozen"),
    "not": Not(F),
    "implies": Implies(F, B8 == 0),
    "ite int": If(F, I, I + 3),
    "ite bv": If(B8 < 10, B8 + 250, B8 - 3),
    "ite bv with int branch": If(F, B8, 7),
    "ite enum": If(F, E, "frozen") == E,
}

STATES = [
    (0, 0, 0, 0, 0, 0),
    (0xFF, 0xFFFF, -3, 2, 1, (1 << 64) - 1),
    (0x80, 0x0001, 5, 1, 0, 0xFFFF_FFFF_FFFF_F000),
    (3, 0x8000, -1, 2, 1, 0x1000),
    (17, 9, 4, 0, 1, 0xFFF),
    (200, 0x00FF, 1, 1, 0, 1),
]


def _by_codegen(e: Expr, state: tuple[int, ...]) -> int:
    return int(eval(py_expr(e), {f"v{i}": v for i, v in enumerate(state)}))


def _z3_evaluator(e: Expr) -> Callable[[tuple[int, ...]], int]:
    """Translate once; evaluate by substituting a state's values and simplifying."""
    enc = Encoding(int_width([e], SORTS))
    variables = [enc.var(f"s{i}", s) for i, s in enumerate(SORTS)]
    term = Translator(enc, variables)(e)

    def at(state: tuple[int, ...]) -> int:
        values = [(v, enc.value(s, x)) for v, s, x in zip(variables, SORTS, state, strict=True)]
        return enc.decode(e.sort, z3.simplify(z3.substitute(term, *values)))

    return at


def _by_z3(e: Expr, state: tuple[int, ...]) -> int:
    return _z3_evaluator(e)(state)


def test_the_table_covers_every_operator() -> None:
    used = {n.op for e in TABLE.values() for n in walk(e) if isinstance(n, Op)}
    assert used == set(OPS)


@pytest.mark.parametrize("name", list(TABLE))
def test_three_interpreters_agree(name: str) -> None:
    e = TABLE[name]
    by_z3 = _z3_evaluator(e)
    for state in STATES:
        expected = evaluate(e, state)
        assert _by_codegen(e, state) == expected, (name, state)
        assert _by_codegen(Folder().fold(e), state) == expected, (name, state, "folded")
        assert by_z3(state) == expected, (name, state)


def test_wraparound_values_are_the_modular_ones() -> None:
    assert _by_z3(B16 - 1, (0,) * 6) == 0xFFFF
    assert _by_z3(B64 + 0x1000, (0, 0, 0, 0, 0, 0xFFFF_FFFF_FFFF_F000)) == 0


def test_int_literal_in_a_bitvector_context_is_a_bitvecval() -> None:
    enc = Encoding(4)
    tr = Translator(enc, [enc.var("b", BitVec(8))])
    term = tr.bv(Const(300, Int(300, 300)), 8)
    assert z3.is_bv_value(term) and term.size() == 8 and term.as_long() == 300 % 256


def test_unknown_operator_raises() -> None:
    e = Op("add", (B8, B8), B8.sort)
    e.op = "rotate"  # a node no walker knows
    enc = Encoding(4)
    with pytest.raises(TranslationError, match="rotate"):
        Translator(enc, [enc.var(f"s{i}", s) for i, s in enumerate(SORTS)])(e)


def test_unknown_node_raises() -> None:
    class Strange(Expr):
        __slots__ = ("sort",)

        def __init__(self) -> None:
            self.sort = BOOL

    enc = Encoding(4)
    with pytest.raises(TranslationError, match="unknown node"):
        Translator(enc, [])(Strange())


def test_int_width_covers_intermediate_ranges() -> None:
    assert int_width([I + 7], SORTS) >= 5  # -3..12 needs 5 signed bits
