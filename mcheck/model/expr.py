"""The expression tree every engine reads.

A model's guards, effects and properties are built from these nodes at load time. Each
engine walks them its own way: `mcheck.model.evaluate` (concrete values),
`mcheck.explore.codegen` (Python source for the explorer's inner loop) and
`mcheck.symbolic.translate` (Z3 terms). Every walker handles every operator in `OPS` and
raises on anything else, so an engine can never silently skip a node.

Python's own `if`, `and`, `or` and `not` cannot see inside an expression; using one on a
model value raises `ModelDefinitionError` with a hint (`If(c, a, b)`, `s.when(c)`, `&`,
`|`, `~`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union, cast
from collections.abc import Iterable

from mcheck.errors import ModelDefinitionError


# --------------------------------------------------------------------------- sorts


class Sort:
    """A finite domain. Values are stored as small non-negative codes (`encode`).

    Each subclass supplies `name` and `card` (the number of values), as a class attribute,
    a dataclass field or a computed property; declared here for the type checker only, since
    a property on this base class would make the dataclass fields read-only."""

    if TYPE_CHECKING:
        @property
        def name(self) -> str: ...

        @property
        def card(self) -> int: ...

    @property
    def bits(self) -> int:
        return max(1, (self.card - 1).bit_length())

    def encode(self, value: object) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, code: int) -> object:  # pragma: no cover - abstract
        raise NotImplementedError

    def values(self) -> list[object]:
        return [self.decode(c) for c in range(self.card)]

    def code_range(self) -> tuple[int, int]:
        """The range of the *runtime* integers the explorer uses for this sort."""
        return (0, self.card - 1)


class BoolSort(Sort):
    name = "bool"
    card = 2

    def encode(self, value: object) -> int:
        if not isinstance(value, (bool, int)) or value not in (0, 1):
            raise ModelDefinitionError(f"{value!r} is not a bool")
        return int(value)

    def decode(self, code: int) -> object:
        return bool(code)

    def __repr__(self) -> str:
        return "Bool"


BOOL = BoolSort()


@dataclass(frozen=True, eq=True)
class EnumSort(Sort):
    """Named values; runtime integers are the value's position."""

    name: str
    members: tuple[str, ...]

    @property
    def card(self) -> int:
        return len(self.members)

    def encode(self, value: object) -> int:
        if isinstance(value, str) and value in self.members:
            return self.members.index(value)
        raise ModelDefinitionError(f"{value!r} is not a value of enum {self.name} (values: {', '.join(self.members)})")

    def decode(self, code: int) -> object:
        return self.members[code]


@dataclass(frozen=True, eq=True)
class IntSort(Sort):
    """Integers lo..hi inclusive; runtime integers are the values themselves."""

    lo: int
    hi: int

    @property
    def name(self) -> str:
        return f"int[{self.lo}..{self.hi}]"

    @property
    def card(self) -> int:
        return self.hi - self.lo + 1

    def encode(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise ModelDefinitionError(f"{value!r} is outside {self.name}")
        return value

    def decode(self, code: int) -> object:
        return code

    def values(self) -> list[object]:
        return list(range(self.lo, self.hi + 1))

    def code_range(self) -> tuple[int, int]:
        return (self.lo, self.hi)


@dataclass(frozen=True, eq=True)
class RefSort(IntSort):
    """Integers lo..hi of which those in index set `index` name one of its ids (the others
    mean "none"). It behaves as an `IntSort` everywhere; only symmetry reduction reads the
    extra field, to rename a stored id together with the id's own state when it permutes
    interchangeable ids."""

    index: str = ""


@dataclass(frozen=True, eq=True)
class BitVecSort(Sort):
    """Unsigned fixed-width bit-vectors; arithmetic wraps modulo 2**width."""

    width: int

    @property
    def name(self) -> str:
        return f"bv{self.width}"

    @property
    def card(self) -> int:
        return 1 << self.width

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    def encode(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.mask:
            raise ModelDefinitionError(f"{value!r} does not fit {self.name}")
        return value

    def decode(self, code: int) -> object:
        return code


def Enum(name: str, *members: str) -> EnumSort:
    if len(set(members)) != len(members) or not members:
        raise ModelDefinitionError(f"enum {name} needs distinct values, got {members}")
    return EnumSort(name, tuple(members))


def Int(lo: int, hi: int) -> IntSort:
    if lo > hi:
        raise ModelDefinitionError(f"Int({lo}, {hi}): lo must not exceed hi")
    return IntSort(lo, hi)


def BitVec(width: int) -> BitVecSort:
    if not 1 <= width <= 64:
        raise ModelDefinitionError(f"BitVec({width}): width must be 1..64")
    return BitVecSort(width)


# --------------------------------------------------------------------------- nodes

# operator name -> (arity or -1 for n-ary)
OPS: dict[str, int] = {
    "and": -1, "or": -1, "not": 1, "implies": 2, "ite": 3,
    "eq": 2, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2,
    "add": 2, "sub": 2,
    "bvand": 2, "bvor": 2, "bvxor": 2, "bvnot": 1, "shl": 2, "lshr": 2,
}

Value = Union["Expr", bool, int, str]


class Expr:
    """Base of every node. Operators build nodes; `bool(expr)` is refused."""

    __slots__ = ()
    sort: Sort

    def __bool__(self) -> bool:
        raise ModelDefinitionError(
            "a model value was used in a Python 'if', 'and', 'or' or 'not'; "
            "write If(c, a, b), s.when(c), s.require(c), or the operators &, |, ~ instead"
        )

    # comparison and arithmetic build nodes
    # `==` and `!=` build a comparison node instead of answering a bool (object's contract)
    def __eq__(self, other: Value) -> Expr:  # type: ignore[override]
        return _cmp("eq", self, other)

    def __ne__(self, other: Value) -> Expr:  # type: ignore[override]
        return _cmp("ne", self, other)

    def __lt__(self, other: Value) -> Expr:
        return _cmp("lt", self, other)

    def __le__(self, other: Value) -> Expr:
        return _cmp("le", self, other)

    def __gt__(self, other: Value) -> Expr:
        return _cmp("gt", self, other)

    def __ge__(self, other: Value) -> Expr:
        return _cmp("ge", self, other)

    def __add__(self, other: Value) -> Expr:
        return _arith("add", self, other)

    def __radd__(self, other: Value) -> Expr:
        return _arith("add", other, self)

    def __sub__(self, other: Value) -> Expr:
        return _arith("sub", self, other)

    def __rsub__(self, other: Value) -> Expr:
        return _arith("sub", other, self)

    def __and__(self, other: Value) -> Expr:
        if self.sort is BOOL:
            return And(self, other)
        return _bv("bvand", self, other)

    def __rand__(self, other: Value) -> Expr:
        return self.__and__(other)

    def __or__(self, other: Value) -> Expr:
        if self.sort is BOOL:
            return Or(self, other)
        return _bv("bvor", self, other)

    def __ror__(self, other: Value) -> Expr:
        return self.__or__(other)

    def __xor__(self, other: Value) -> Expr:
        return _bv("bvxor", self, other)

    def __invert__(self) -> Expr:
        if self.sort is BOOL:
            return Not(self)
        return Op("bvnot", (self,), self.sort)

    def __lshift__(self, other: Value) -> Expr:
        return _bv("shl", self, other)

    def __rshift__(self, other: Value) -> Expr:
        return _bv("lshr", self, other)

    __hash__ = object.__hash__


class Const(Expr):
    """A literal; `value` is the runtime integer (enum position, 0/1 for bools)."""

    __slots__ = ("value", "sort")

    def __init__(self, value: int, sort: Sort) -> None:
        self.value = value
        self.sort = sort

    def __repr__(self) -> str:
        return repr(self.sort.decode(self.value) if not isinstance(self.sort, IntSort) else self.value)


class Slot(Expr):
    """A reference to one state slot (a scalar variable or one array element).

    Expressions only ever read the state *before* a step: an action's effects and a
    transition property's `after` view are substituted into pre-state expressions at
    load time, so no engine needs a second copy of the state vector.
    """

    __slots__ = ("index", "sort", "name")

    def __init__(self, index: int, sort: Sort, name: str) -> None:
        self.index = index
        self.sort = sort
        self.name = name

    def __repr__(self) -> str:
        return self.name


class Op(Expr):
    __slots__ = ("op", "args", "sort")

    def __init__(self, op: str, args: tuple[Expr, ...], sort: Sort) -> None:
        if op not in OPS:
            raise ModelDefinitionError(f"unknown operator {op!r}")
        self.op = op
        self.args = args
        self.sort = sort

    def __repr__(self) -> str:
        return f"{self.op}({', '.join(map(repr, self.args))})"


# --------------------------------------------------------------------------- builders

TRUE = Const(1, BOOL)
FALSE = Const(0, BOOL)


def lift(value: Value, sort: Sort | None = None) -> Expr:
    """Turn a Python literal into a Const of `sort` (or of the obvious sort)."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if sort is None:
        if isinstance(value, int):
            return Const(value, Int(value, value))
        raise ModelDefinitionError(f"cannot tell the type of {value!r}; compare it with a model value")
    if isinstance(sort, IntSort) and isinstance(value, int) and not isinstance(value, bool):
        # arithmetic literals need not be inside the variable's own range
        return Const(value, Int(value, value))
    return Const(sort.encode(value), sort)


def _pair(a: Value, b: Value) -> tuple[Expr, Expr]:
    if isinstance(a, Expr):
        return a, lift(b, a.sort)
    if isinstance(b, Expr):
        return lift(a, b.sort), b
    return lift(a), lift(b)


def _cmp(op: str, a: Value, b: Value) -> Expr:
    x, y = _pair(a, b)
    _check_comparable(op, x, y)
    return Op(op, (x, y), BOOL)


def _check_comparable(op: str, x: Expr, y: Expr) -> None:
    sx, sy = x.sort, y.sort
    numeric = (IntSort, BitVecSort)
    if isinstance(sx, IntSort) and isinstance(sy, IntSort):
        return
    if isinstance(sx, BitVecSort) and isinstance(sy, (BitVecSort, IntSort)):
        return
    if isinstance(sy, BitVecSort) and isinstance(sx, IntSort):
        return
    if op in ("eq", "ne") and sx == sy:
        return
    if isinstance(sx, numeric) or isinstance(sy, numeric) or op not in ("eq", "ne"):
        raise ModelDefinitionError(f"cannot apply {op} to {x!r} ({sx.name}) and {y!r} ({sy.name})")
    raise ModelDefinitionError(f"cannot compare {x!r} ({sx.name}) with {y!r} ({sy.name})")


def _arith(op: str, a: Value, b: Value) -> Expr:
    x, y = _pair(a, b)
    if isinstance(x.sort, BitVecSort):
        return Op(op, (x, y), x.sort)
    if isinstance(y.sort, BitVecSort):
        return Op(op, (x, y), y.sort)
    if not (isinstance(x.sort, IntSort) and isinstance(y.sort, IntSort)):
        raise ModelDefinitionError(f"{op} needs numbers, got {x!r} and {y!r}")
    lo = x.sort.lo + y.sort.lo if op == "add" else x.sort.lo - y.sort.hi
    hi = x.sort.hi + y.sort.hi if op == "add" else x.sort.hi - y.sort.lo
    return Op(op, (x, y), Int(lo, hi))


def _bv(op: str, a: Value, b: Value) -> Expr:
    x, y = _pair(a, b)
    sort = x.sort if isinstance(x.sort, BitVecSort) else y.sort
    if not isinstance(sort, BitVecSort):
        raise ModelDefinitionError(f"{op} needs a bit-vector operand, got {x!r} and {y!r}")
    return Op(op, (x, y), sort)


def _bools(args: Iterable[Value]) -> list[Expr]:
    out = []
    for a in args:
        e = lift(a, BOOL)
        if e.sort is not BOOL:
            raise ModelDefinitionError(f"{e!r} is not a condition")
        out.append(e)
    return out


def And(*args: Value) -> Expr:
    items = [a for a in _bools(_flatten(args)) if a is not TRUE]
    if any(a is FALSE for a in items):
        return FALSE
    if not items:
        return TRUE
    return items[0] if len(items) == 1 else Op("and", tuple(items), BOOL)


def Or(*args: Value) -> Expr:
    items = [a for a in _bools(_flatten(args)) if a is not FALSE]
    if any(a is TRUE for a in items):
        return TRUE
    if not items:
        return FALSE
    return items[0] if len(items) == 1 else Op("or", tuple(items), BOOL)


def _flatten(args: Iterable[object]) -> list[Value]:
    """`args` with lists, tuples and generators spliced in, so `And(xs)` reads as `And(*xs)`;
    anything that is not a value is rejected later by `lift`."""
    out: list[Value] = []
    for a in args:
        if isinstance(a, Iterable) and not isinstance(a, (str, Expr)):
            out.extend(_flatten(a))
        else:
            out.append(cast(Value, a))
    return out


_NEGATED = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}


def Not(a: Value) -> Expr:
    (x,) = _bools([a])
    if x is TRUE:
        return FALSE
    if x is FALSE:
        return TRUE
    if isinstance(x, Op) and x.op == "not":
        return x.args[0]
    if isinstance(x, Op) and x.op in _NEGATED:
        return Op(_NEGATED[x.op], x.args, BOOL)
    return Op("not", (x,), BOOL)


def Implies(a: Value, b: Value) -> Expr:
    x, y = _bools([a, b])
    if x is FALSE or y is TRUE:
        return TRUE
    if x is TRUE:
        return y
    return Op("implies", (x, y), BOOL)


def If(cond: Value, then: Value, other: Value) -> Expr:
    (c,) = _bools([cond])
    t, e = _pair(then, other)
    if c is TRUE:
        return t
    if c is FALSE:
        return e
    if t is e:
        return t
    sort = t.sort
    if isinstance(t.sort, IntSort) and isinstance(e.sort, IntSort):
        sort = Int(min(t.sort.lo, e.sort.lo), max(t.sort.hi, e.sort.hi))
    elif t.sort != e.sort and not (isinstance(t.sort, BitVecSort) and isinstance(e.sort, IntSort)):
        raise ModelDefinitionError(f"If branches differ in type: {t!r} ({t.sort.name}) vs {e!r} ({e.sort.name})")
    return Op("ite", (c, t, e), sort)


def walk(expr: Expr) -> Iterable[Expr]:
    """Every node of `expr`, parents before children."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Op):
            stack.extend(node.args)


def slots_of(expr: Expr) -> set[int]:
    """The slot indices an expression reads."""
    return {n.index for n in walk(expr) if isinstance(n, Slot)}
