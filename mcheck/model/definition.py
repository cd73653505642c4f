"""How a model is written: the `Model` base class, its decorators, and state views.

A model is a small class. `setup()` declares index sets and state variables from the
validated parameters; methods decorated with `@action` are guarded commands run once per
parameter value at load time (Murphi's rulesets, with Python as the macro language);
`@invariant`, `@transition_property` and `@sometimes` methods return expressions. The
decorators only record; `mcheck.model.build.build_model` runs the definitions and
checks what they return (sorts, conditions, value ranges), naming the file and line.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import os
import sys
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Iterator, Mapping, Sequence

from mcheck.errors import ModelDefinitionError
from mcheck.model.expr import (
    BOOL, BitVecSort, Expr, If, Implies, And, IntSort, RefSort, Slot, Sort, Value, lift,
)
from mcheck.model.params import BUG, Param, ParamValues, note_bug_read

# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class IndexSet:
    """A finite set of ids (members, queues, pages); `symmetric` marks interchangeable ids."""

    name: str
    values: tuple[Any, ...]
    symmetric: bool = False

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def Ref(index: IndexSet, *, none: int = 0) -> RefSort:
    """A variable that names one id of `index` (an int index set), or holds `none`.

    Declare with it any value that stores a member id (for example which member owns an
    object): with `--symmetry`, when the explorer permutes interchangeable ids it renames
    such values too. An `Int` holding an id would not be renamed, and the check would
    refuse the model as not symmetric."""
    ids = list(index.values)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ids):
        raise ModelDefinitionError(f"Ref({index.name}): the index set's ids must be ints")
    if none in ids:
        raise ModelDefinitionError(f"Ref({index.name}, none={none}): 'none' must not be an id of {index.name}")
    return RefSort(min(ids + [none]), max(ids + [none]), index.name)


@dataclass(frozen=True)
class Array:
    """A variable shape: one element of `elem` per value of `index` (nestable)."""

    index: IndexSet
    elem: Sort | Array


@dataclass(frozen=True, kw_only=True)
class SlotInfo:
    """One scalar cell of the state vector."""

    index: int
    name: str          # e.g. "mode[1]" or "vq_enabled[1][0]"
    var: str           # the declared variable, e.g. "mode"
    path: tuple[Any, ...]  # array indices, e.g. (1,) or (1, 0)
    sort: Sort
    init: tuple[int, ...]  # allowed initial runtime values (usually one)


# --------------------------------------------------------------------------- where clauses are stated


@dataclass(frozen=True)
class Site:
    """Where a model states a clause: how (`guard`, `outcome`, `cite`, `property`), file, line.

    `outcome` is a guard that a helper outside the model file stated on the model's behalf
    (for example an answer chain turned into guards); its line is the model's call of that
    helper."""

    kind: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@functools.cache
def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


_THIS_FILE = _norm(__file__)


def _model_frame(source: str | None) -> tuple[str, int, bool] | None:
    """The innermost caller frame outside this module that is in `source` (the model
    class's file; None: any file), as (file, line, whether it is the innermost caller
    outside this module). Without such a frame, the innermost caller outside this module.
    Runs at model-load time only."""
    frame: Any = sys._getframe(1)
    want = _norm(source) if source else None
    first = None
    direct = True
    while frame is not None:
        name = _norm(frame.f_code.co_filename)
        if name != _THIS_FILE:
            if first is None:
                first = (frame.f_code.co_filename, frame.f_lineno)
            if want is None or name == want:
                return frame.f_code.co_filename, frame.f_lineno, direct
            direct = False
        frame = frame.f_back
    return (first[0], first[1], False) if first else None


def class_where(cls: type) -> str:
    """`file:line` of a model class's `class` statement (the file alone if it cannot be found)."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None) or cls.__module__
    try:
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return file
    return f"{file}:{line}"


# --------------------------------------------------------------------------- decorators


@dataclass(frozen=True, kw_only=True)
class ActionDecl:
    name: str
    func: Callable[..., None]
    over: Mapping[str, Any]  # parameter name -> index-set name, iterable, or callable(model)
    doc: str
    site: Site | None = None  # the decorator line


@dataclass(frozen=True, kw_only=True)
class PropertyDecl:
    name: str
    kind: str  # "invariant" | "transition" | "sometimes"
    clauses: tuple[str, ...]
    func: Callable[..., Any]
    doc: str
    site: Site | None = None  # the decorator line


def action(**over: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a method `(self, s, **params)` as a guarded command.

    Each keyword names an action parameter and its domain: the name of an index set
    declared in `setup()`, any iterable of concrete values, or a callable
    `(model) -> iterable`. The method runs once per combination of values.
    """

    found = _model_frame(None)
    site = Site("action", found[0], found[1]) if found else None

    def mark(func: Callable[..., None]) -> Callable[..., None]:
        # a marker attribute on the method (a function object takes any attribute; the
        # Callable type does not say so), collected by Model.actions() through getattr
        func.__mcheck_action__ = ActionDecl(  # type: ignore[attr-defined]
            name=func.__name__, func=func, over=dict(over), doc=(func.__doc__ or "").strip(), site=site,
        )
        return func

    return mark


def _property(kind: str, clauses: Sequence[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # the class body calling @invariant(...) etc.: the first frame outside this module
    found = _model_frame(None)
    site = Site("property", found[0], found[1]) if found else None

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        # a marker attribute on the method, as for actions
        func.__mcheck_property__ = PropertyDecl(  # type: ignore[attr-defined]
            name=func.__name__, kind=kind, clauses=tuple(clauses), func=func, doc=(func.__doc__ or "").strip(),
            site=site,
        )
        return func

    return mark


def invariant(*clauses: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A state invariant `(self, s) -> condition`, tagged with the clauses it encodes."""
    return _property("invariant", clauses)


def transition_property(*clauses: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A property of every step `(self, t) -> condition`; `t` has before, after, action, params, event.

    It is evaluated once per action instance at load time, so Python `if` on `t.action`
    or `t.params` is fine; conditions on state values must be expressions.
    """
    return _property("transition", clauses)


def sometimes(*clauses: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A goal `(self, s) -> condition` that some reachable state must satisfy."""
    return _property("sometimes", clauses)


# --------------------------------------------------------------------------- the model base


class Model:
    """Base class of every protocol model.

    Subclasses set `name`, `description`, `params` (a tuple of `Param`), optionally `bugs`
    (catalogue name -> description; a `bug` parameter is added automatically), and
    implement `setup()`; they may override `end_state(s)` to declare legitimate end states.
    """

    name: str = ""
    description: str = ""
    params: tuple[Param, ...] = ()
    bugs: Mapping[str, str] = {}
    # wire profile the model's events are encoded with (see mcheck.trace)
    profile: str | None = None
    # module that turns the model's actions into device steps and judges a device's answers
    # (mcheck.conformance: gen-tests, conform, replay --backend); None: no conformance adapter
    conformance_adapter: str | None = None
    # event kinds a capture does not record, so the replayer lets them happen unseen
    unobserved: tuple[str, ...] = ("doorbell",)
    # the clause catalogue (`mcheck clauses`): a name, read from clauses/<name>.toml next to
    # the model file, or a .toml path relative to it; None: clauses/<model name>.toml if present
    clause_catalogue: str | None = None

    def __init__(self, p: ParamValues) -> None:
        self.p = p
        self._index_sets: dict[str, IndexSet] = {}
        self._vars: dict[str, tuple[Sort | Array, Any]] = {}
        self._var_sites: dict[str, str] = {}   # variable -> "file:line" of its self.var(...)

    # -- declarations used from setup()
    def index_set(self, name: str, values: Sequence[Any], *, symmetric: bool = False) -> IndexSet:
        if name in self._index_sets:
            raise ModelDefinitionError(f"index set {name!r} declared twice")
        if not values:
            raise ModelDefinitionError(f"index set {name!r} is empty")
        iset = IndexSet(name, tuple(values), symmetric)
        self._index_sets[name] = iset
        return iset

    def var(self, name: str, shape: Sort | Array, init: Any) -> None:
        """Declare a state variable. `init` is a value, a list of allowed values
        (several initial states), or a callable `(index path) -> value` for arrays."""
        if name in self._vars:
            raise ModelDefinitionError(f"state variable {name!r} declared twice")
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ModelDefinitionError(f"state variable name {name!r} must be an identifier not starting with '_'")
        _check_shape(name, shape)
        found = _model_frame(None)
        self._var_sites[name] = f"{found[0]}:{found[1]}" if found else type(self).__name__
        self._vars[name] = (shape, init)

    def setup(self) -> None:  # pragma: no cover - every model overrides it
        raise ModelDefinitionError(f"model {type(self).__name__} must define setup() declaring its state variables")

    def end_state(self, s: StateView) -> Value:
        """States where having no enabled action is legitimate (default: none)."""
        return False

    def observe(self, event: Any) -> dict[str, Any] | None:
        """Map a decoded trace event to the event dict this model's actions emit (for replay).

        Keys the capture cannot tell are left out and match anything; None means the model
        ignores the event. Models that can replay traces override this."""
        raise ModelDefinitionError(f"{class_where(type(self))}: model {self.name} cannot replay traces: "
                                   f"it defines no observe(event)")

    def bug(self, name: str) -> bool:
        """True when `-p bug=name` selected this catalogue bug (a load-time switch)."""
        if name not in self.bugs:
            raise ModelDefinitionError(f"bug {name!r} is used but not in the catalogue of {self.name}")
        note_bug_read(name)
        return self.p.values.get(BUG) == name

    @classmethod
    def topology_params(cls, members: Sequence[int], queues: int | None) -> dict[str, Any]:
        """Parameters a trace's topology (its member ids, its queue count) asks of this model, for
        replay: by default `members` = the highest member id and `queues`. A model whose
        members are grouped differently (a migration pair per two wire members) overrides it."""
        out: dict[str, Any] = {}
        if members:
            out["members"] = max(members)
        if queues:
            out["queues"] = queues
        return out

    # -- introspection used by build
    @classmethod
    def declared_params(cls) -> tuple[Param, ...]:
        params = tuple(cls.params)
        if cls.bugs and not any(p.name == "bug" for p in params):
            params += (Param(name="bug", kind="choice", default="none", choices=("none", *cls.bugs),
                             doc="replace one correct device behaviour with a catalogued firmware mistake"),)
        return params

    @classmethod
    def action_decls(cls) -> list[ActionDecl]:
        return [d for d in (getattr(v, "__mcheck_action__", None) for v in _members_in_order(cls)) if d]

    @classmethod
    def property_decls(cls) -> list[PropertyDecl]:
        return [d for d in (getattr(v, "__mcheck_property__", None) for v in _members_in_order(cls)) if d]


def _check_shape(var: str, shape: Any) -> None:
    if isinstance(shape, Array):
        if not isinstance(shape.index, IndexSet):
            raise ModelDefinitionError(f"variable {var}: Array needs an index set from self.index_set(...), "
                                       f"got {shape.index!r}")
        _check_shape(var, shape.elem)
    elif not isinstance(shape, Sort):
        raise ModelDefinitionError(f"variable {var}: shape must be a sort (Bool, Enum, Int, BitVec) or Array, "
                                   f"got {shape!r}")


def _members_in_order(cls: type) -> list[Any]:
    """Class attributes in definition order, base classes first."""
    seen: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            seen[key] = value
    return list(seen.values())


# --------------------------------------------------------------------------- state views


class _Cells:
    """Maps variable names and index paths to slots; shared by every view of one model."""

    def __init__(self, slots: Sequence[SlotInfo], shapes: Mapping[str, Sort | Array]) -> None:
        self.by_key = {(s.var, s.path): s for s in slots}
        self.shapes = shapes


class ArrayView:
    """`s.mode[m]` reads (and in actions writes) one element; nested arrays nest views."""

    __slots__ = ("_view", "_var", "_path", "_shape")

    def __init__(self, view: StateView, var: str, path: tuple[Any, ...], shape: Array) -> None:
        self._view = view
        self._var = var
        self._path = path
        self._shape = shape

    def _key(self, idx: Any) -> tuple[Any, ...]:
        if isinstance(idx, Expr):
            raise ModelDefinitionError(
                f"{self._var}[...] indexed by a model value; indices must be concrete (use an action parameter)")
        if idx not in self._shape.index.values:
            raise ModelDefinitionError(f"{self._var}: index {idx!r} is not in {self._shape.index.name} {list(self._shape.index.values)}")
        return self._path + (idx,)

    def __getitem__(self, idx: Any) -> Any:
        path = self._key(idx)
        if isinstance(self._shape.elem, Array):
            return ArrayView(self._view, self._var, path, self._shape.elem)
        return self._view._read(self._var, path)

    def __setitem__(self, idx: Any, value: Value) -> None:
        if isinstance(self._shape.elem, Array):
            raise ModelDefinitionError(f"{self._var}: assign one element at a time")
        self._view._write(self._var, self._key(idx), value)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in self._shape.index.values)

    def items(self) -> Iterator[tuple[Any, Any]]:
        return ((i, self[i]) for i in self._shape.index.values)


class StateView:
    """Read-only access to a state's variables as expressions (`s.mode[m]`)."""

    def __init__(self, cells: _Cells) -> None:
        object.__setattr__(self, "_cells", cells)

    def __getattr__(self, name: str) -> Any:
        cells: _Cells = object.__getattribute__(self, "_cells")
        if name not in cells.shapes:
            raise ModelDefinitionError(f"no state variable {name!r} (declared: {', '.join(cells.shapes)})")
        shape = cells.shapes[name]
        if isinstance(shape, Array):
            return ArrayView(self, name, (), shape)
        return self._read(name, ())

    def __setattr__(self, name: str, value: Any) -> None:
        raise ModelDefinitionError(f"cannot assign {name!r} here: properties only read the state")

    def _slot(self, var: str, path: tuple[Any, ...]) -> SlotInfo:
        return self._cells.by_key[(var, path)]

    def _read(self, var: str, path: tuple[Any, ...]) -> Expr:
        info = self._slot(var, path)
        return Slot(info.index, info.sort, info.name)

    def _write(self, var: str, path: tuple[Any, ...], value: Value) -> None:
        raise ModelDefinitionError(f"cannot assign {var} here: properties only read the state")


@dataclass(kw_only=True)
class Guard:
    cond: Expr
    clauses: tuple[str, ...]
    site: Site | None = None  # where the model stated it (kind guard or outcome)


class ActionBuilder(StateView):
    """The `s` an action body sees: reads give current expressions, writes are recorded.

    Assignments are sequential (a later read sees an earlier write) and conditional inside
    `with s.when(c):` blocks; guards (`s.require`) inside such a block only apply when the
    condition holds.
    """

    def __init__(self, cells: _Cells, source: str | None = None) -> None:
        super().__init__(cells)
        object.__setattr__(self, "_assigned", {})   # slot index -> Expr
        object.__setattr__(self, "_guards", [])
        object.__setattr__(self, "_conds", [])
        object.__setattr__(self, "_event", None)
        object.__setattr__(self, "_clauses", [])
        object.__setattr__(self, "_source", source)  # the model class's file, for `_sites`
        object.__setattr__(self, "_sites", [])      # (clause, Site) for every require and cite

    def _site(self, kind: str, clauses: Sequence[str]) -> Site | None:
        """Where the model stated `clauses`: the innermost caller line in the model's file;
        a guard reached through a helper in another file is an `outcome`."""
        if not clauses:
            return None
        found = _model_frame(self._source)
        if found is None:
            return None
        file, line, direct = found
        site = Site("outcome" if kind == "guard" and not direct else kind, file, line)
        self._sites.extend((c, site) for c in clauses)
        return site

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        shape = self._cells.shapes.get(name)
        if shape is None:
            raise ModelDefinitionError(f"no state variable {name!r} to assign")
        if isinstance(shape, Array):
            raise ModelDefinitionError(f"{name} is an array: assign elements, {name}[i] = ...")
        self._write(name, (), value)

    def _read(self, var: str, path: tuple[Any, ...]) -> Expr:
        info = self._slot(var, path)
        current = self._assigned.get(info.index)
        return current if current is not None else Slot(info.index, info.sort, info.name)

    def _write(self, var: str, path: tuple[Any, ...], value: Value) -> None:
        info = self._slot(var, path)
        new = lift(value, info.sort)
        target = info.sort
        ok = new.sort == target or (isinstance(target, IntSort) and isinstance(new.sort, IntSort))
        if not (ok or (isinstance(target, BitVecSort) and isinstance(new.sort, (IntSort, BitVecSort)))):
            raise ModelDefinitionError(f"cannot assign {new!r} ({new.sort.name}) to {info.name} ({target.name})")
        if self._conds:
            new = If(And(*self._conds), new, self._read(var, path))
        self._assigned[info.index] = new

    # -- the action vocabulary
    def require(self, cond: Value, *clauses: str) -> None:
        """A guard: the action is enabled only when `cond` holds. Name the clauses it encodes."""
        c = _condition("s.require", cond)
        if self._conds:
            c = Implies(And(*self._conds), c)
        self._guards.append(Guard(cond=c, clauses=tuple(clauses), site=self._site("guard", clauses)))
        self._clauses.extend(clauses)

    @contextlib.contextmanager
    def when(self, cond: Value) -> Iterator[None]:
        """Assignments and guards inside the block apply only when `cond` holds."""
        self._conds.append(_condition("s.when", cond))
        try:
            yield
        finally:
            self._conds.pop()

    def emit(self, kind: str, /, **fields: Any) -> None:
        """The observable event this action produces (concrete values only)."""
        if self._event is not None:
            raise ModelDefinitionError("an action emits at most one event")
        for key, value in fields.items():
            if isinstance(value, Expr):
                raise ModelDefinitionError(f"event field {key} must be concrete; split the action by outcome instead")
        object.__setattr__(self, "_event", {"kind": kind, **fields})

    def cite(self, *clauses: str) -> None:
        """Record clauses an effect (not a guard) encodes."""
        self._site("cite", clauses)
        self._clauses.extend(clauses)


def _condition(what: str, cond: Value) -> Expr:
    c = lift(cond, BOOL)
    if c.sort is not BOOL:
        raise ModelDefinitionError(f"{what}({c!r}): {c!r} is a {c.sort.name}, not a condition; compare it (==, <, ...)")
    return c


class AfterView(StateView):
    """The state after one action instance, as expressions over the state before it."""

    def __init__(self, cells: _Cells, assigned: Mapping[int, Expr]) -> None:
        super().__init__(cells)
        object.__setattr__(self, "_assigned", assigned)

    def _read(self, var: str, path: tuple[Any, ...]) -> Expr:
        info = self._slot(var, path)
        current = self._assigned.get(info.index)
        return current if current is not None else Slot(info.index, info.sort, info.name)


class TransitionView:
    """The `t` a transition property sees for one action instance."""

    def __init__(self, before: StateView, after: StateView, action: str, params: Mapping[str, Any],
                 event: Mapping[str, Any] | None) -> None:
        self.before = before
        self.after = after
        self.action = action
        self.params = dict(params)
        self.event = dict(event) if event else None

    def unchanged(self) -> Expr:
        """The step leaves every state variable as it was."""
        assigned: Mapping[int, Expr] = object.__getattribute__(self.after, "_assigned")
        cells: _Cells = object.__getattribute__(self.after, "_cells")
        by_index = {info.index: info for info in cells.by_key.values()}
        return And(*(e == Slot(i, by_index[i].sort, by_index[i].name) for i, e in assigned.items()))


def combos(domains: Mapping[str, Sequence[Any]]) -> Iterator[dict[str, Any]]:
    keys = list(domains)
    for values in itertools.product(*(domains[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


__all__ = [
    "Model", "IndexSet", "Array", "Ref", "SlotInfo", "StateView", "ActionBuilder", "TransitionView",
    "action", "invariant", "transition_property", "sometimes", "combos", "Guard", "Site",
]
