"""Concrete evaluation of expressions over a state's runtime values.

The reference interpreter: the explorer's generated code and the Z3 translation are
tested against it on one shared table of expressions. It handles every operator in
`mcheck.model.expr.OPS` and raises on anything else.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcheck.model.expr import BitVecSort, Const, Expr, Op, Slot


def evaluate(expr: Expr, state: Sequence[int]) -> int:
    """The runtime value of `expr` in `state` (bools as 0/1, enums as positions)."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Slot):
        return state[expr.index]
    if not isinstance(expr, Op):
        raise TypeError(f"evaluate: not an expression node: {expr!r}")   # build_model checks every tree
    op, args = expr.op, expr.args
    if op == "and":
        return int(all(evaluate(a, state) for a in args))
    if op == "or":
        return int(any(evaluate(a, state) for a in args))
    if op == "ite":
        return evaluate(args[1], state) if evaluate(args[0], state) else evaluate(args[2], state)
    if op == "implies":
        return int((not evaluate(args[0], state)) or bool(evaluate(args[1], state)))
    vals = [evaluate(a, state) for a in args]
    mask = expr.sort.mask if isinstance(expr.sort, BitVecSort) else None
    if op == "not":
        return int(not vals[0])
    if op == "bvnot":
        assert mask is not None
        return ~vals[0] & mask
    a, b = vals
    if op in _COMPARE:
        return int(_COMPARE[op](a, b))
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "bvand":
        r = a & b
    elif op == "bvor":
        r = a | b
    elif op == "bvxor":
        r = a ^ b
    elif op == "shl":
        r = a << b
    elif op == "lshr":
        r = a >> b
    else:
        raise TypeError(f"evaluate: unhandled operator {op!r}")   # every operator in OPS is handled above
    return r & mask if mask is not None else r


_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
