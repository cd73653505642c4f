"""Run a model's definitions for concrete parameters and judge them.

The result, `LoadedModel`, is a flat list of guarded commands over numbered state slots
plus properties as expressions: exactly what every engine needs and nothing
Python-specific. Definition mistakes raise `ModelDefinitionError` with the model file and
line and a sentence saying what to write instead.
"""

from __future__ import annotations

import itertools
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mcheck.errors import McheckError, ModelDefinitionError
from mcheck.model.definition import (
    ActionBuilder, AfterView, Array, Guard, IndexSet, Model, Site, SlotInfo, StateView, TransitionView,
    _Cells, combos,
)
from mcheck.model.expr import BOOL, FALSE, TRUE, And, BitVecSort, Expr, IntSort, Slot, Sort, lift
from mcheck.model.params import ParamValues, model_relaxations, resolve_params


@dataclass(frozen=True, kw_only=True)
class ActionInstance:
    """One guarded command: an action for one combination of its parameters."""

    index: int
    name: str
    params: Mapping[str, Any]
    guard: Expr
    guards: tuple[Guard, ...]
    assigns: Mapping[int, Expr]  # slot -> new value (over the state before)
    event: Mapping[str, Any] | None
    clauses: tuple[str, ...]
    doc: str
    # clause -> where the model states it for this instance (guards, outcomes and cites)
    sites: Mapping[str, tuple[Site, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`name(param=value, ...)`; a parameter named `outcome` (a choice among a command's
        possible answers) is left out, since the event shows the answer."""
        args = ", ".join(f"{k}={_show(v)}" for k, v in self.params.items() if k != "outcome")
        return f"{self.name}({args})"


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


@dataclass(frozen=True, kw_only=True)
class PropertyInstance:
    name: str
    kind: str  # "invariant" | "transition" | "sometimes"
    clauses: tuple[str, ...]
    doc: str
    expr: Expr | None = None                 # invariant / sometimes
    per_action: Mapping[int, Expr] = field(default_factory=dict)  # transition: action -> condition
    site: Site | None = None                 # the decorator line in the model file


@dataclass(kw_only=True)
class LoadedModel:
    name: str
    source: str            # file the model class comes from
    model: Model
    params: ParamValues
    slots: list[SlotInfo]
    cells: _Cells
    index_sets: dict[str, IndexSet]
    actions: list[ActionInstance]
    properties: list[PropertyInstance]
    end_state: Expr
    initial: list[tuple[int, ...]]  # runtime values per slot

    def slot(self, name: str) -> SlotInfo:
        for s in self.slots:
            if s.name == name:
                return s
        raise KeyError(name)

    def decode_state(self, values: tuple[int, ...]) -> dict[str, Any]:
        return {s.name: s.sort.decode(v) for s, v in zip(self.slots, values)}

    def view(self) -> StateView:
        """A read-only view for building expressions over this model's state."""
        return StateView(self.cells)


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else "?"


def _call(what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run model code; turn a Python failure into one line naming the model file and line."""
    try:
        return func(*args, **kwargs)
    except McheckError as exc:
        raise type(exc)(f"{_failing_line(exc, func)}: {what}: {exc}") from None
    except Exception as exc:
        raise ModelDefinitionError(f"{_failing_line(exc, func)}: {what} raised {type(exc).__name__}: {exc}") from None
    except SystemExit as exc:   # model code is not a program: it may not end mcheck
        raise ModelDefinitionError(f"{_failing_line(exc, func)}: {what} called sys.exit({exc.code!r}); "
                                   f"model code must return or raise, never exit") from None


def _failing_line(exc: BaseException, func: Callable[..., Any]) -> str:
    filename = getattr(getattr(func, "__code__", None), "co_filename", None)
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.filename == filename:
            return f"{frame.filename}:{frame.lineno}"
    return _where(func)


def _expand_shape(var: str, shape: Sort | Array, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Sort]]:
    if isinstance(shape, Array):
        out = []
        for idx in shape.index.values:
            out.extend(_expand_shape(var, shape.elem, path + (idx,)))
        return out
    if not isinstance(shape, Sort):
        raise ModelDefinitionError(f"variable {var}: shape must be a sort (Bool, Enum, Int, BitVec) or Array, got {shape!r}")
    return [(path, shape)]


def _init_values(var: str, path: tuple[Any, ...], sort: Sort, init: Any) -> tuple[int, ...]:
    value = init(*path) if callable(init) else init
    if isinstance(value, dict):
        value = value[path[0] if len(path) == 1 else path]
    options = value if isinstance(value, (list, set, frozenset)) else [value]
    try:
        return tuple(sort.encode(v) for v in options)
    except ModelDefinitionError as exc:
        raise ModelDefinitionError(f"initial value of {var}{''.join(f'[{p}]' for p in path)}: {exc}") from None


def build_model(cls: type[Model], given: Mapping[str, Any] | None = None) -> LoadedModel:
    """Instantiate `cls` for the given parameters and unroll it into a `LoadedModel`."""
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ModelDefinitionError(f"{cls!r} is not a Model subclass")
    name = cls.name or cls.__name__
    relaxations, presets = model_relaxations(cls)
    params = resolve_params(cls.declared_params(), given or {}, name, relaxations=relaxations, presets=presets)
    model = cls(params)
    source = sys.modules[cls.__module__].__file__ or cls.__module__
    _call("setup()", model.setup)
    if not model._vars:
        raise ModelDefinitionError(f"{source}: model {name} declares no state variables; call self.var(...) in setup()")

    slots: list[SlotInfo] = []
    shapes: dict[str, Sort | Array] = {}
    for var, (shape, init) in model._vars.items():
        shapes[var] = shape
        for path, sort in _expand_shape(var, shape, ()):
            slots.append(SlotInfo(index=len(slots), name=var + "".join(f"[{p}]" for p in path), var=var,
                                  path=path, sort=sort, init=_init_values(var, path, sort, init)))
    cells = _Cells(slots, shapes)

    actions = _build_actions(model, cells, source)
    properties = _build_properties(model, cells, actions, source)
    end = lift(_call("end_state()", model.end_state, StateView(cells)), BOOL)
    initial = [tuple(v) for v in itertools.product(*(s.init for s in slots))]
    return LoadedModel(name=name, source=source, model=model, params=params, slots=slots, cells=cells,
                       index_sets=dict(model._index_sets), actions=actions, properties=properties,
                       end_state=end, initial=initial)


def _domain(model: Model, action: str, pname: str, spec: Any) -> list[Any]:
    if isinstance(spec, str):
        if spec not in model._index_sets:
            raise ModelDefinitionError(
                f"action {action}: parameter {pname} ranges over index set {spec!r}, which setup() did not declare")
        return list(model._index_sets[spec].values)
    if callable(spec):
        spec = spec(model)
    try:
        values = list(spec)
    except TypeError:
        raise ModelDefinitionError(f"action {action}: domain of {pname} must be an index-set name or an iterable") from None
    return values


def _build_actions(model: Model, cells: _Cells, source: str) -> list[ActionInstance]:
    decls = type(model).action_decls()
    if not decls:
        raise ModelDefinitionError(f"{source}: model {model.name} has no actions; decorate a method with @action(...)")
    out: list[ActionInstance] = []
    for decl in decls:
        domains = {k: _domain(model, decl.name, k, v) for k, v in decl.over.items()}
        for params in combos(domains):
            b = ActionBuilder(cells, source)
            label = f"action {decl.name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
            _call(label, decl.func, model, b, **params)
            guard = And(*(g.cond for g in b._guards))
            if guard is FALSE:
                continue  # switched off for these parameters (for example by a bug choice)
            assigns = {slot: e for slot, e in b._assigned.items() if not _is_same_slot(e, slot)}
            for slot, e in assigns.items():
                _check_assignable(cells, slot, e, label)
            out.append(ActionInstance(index=len(out), name=decl.name, params=params, guard=guard,
                                      guards=tuple(b._guards), assigns=assigns, event=b._event,
                                      clauses=tuple(dict.fromkeys(b._clauses)), doc=decl.doc,
                                      sites=_group_sites(b._sites)))
    if not out:
        raise ModelDefinitionError(f"{source}: every action of {model.name} is disabled for these parameters")
    return out


def _group_sites(pairs: list[tuple[str, Site]]) -> dict[str, tuple[Site, ...]]:
    out: dict[str, dict[Site, None]] = {}
    for clause, site in pairs:
        out.setdefault(clause, {})[site] = None
    return {c: tuple(sites) for c, sites in out.items()}


def _is_same_slot(e: Expr, slot: int) -> bool:
    return isinstance(e, Slot) and e.index == slot


def _check_assignable(cells: _Cells, slot: int, e: Expr, label: str) -> None:
    target = next(s for s in cells.by_key.values() if s.index == slot)
    ok = e.sort == target.sort or (isinstance(target.sort, IntSort) and isinstance(e.sort, IntSort))
    ok = ok or (isinstance(target.sort, BitVecSort) and isinstance(e.sort, (IntSort, BitVecSort)))
    if not ok:
        raise ModelDefinitionError(f"{label}: cannot assign {e!r} ({e.sort.name}) to {target.name} ({target.sort.name})")


def _build_properties(model: Model, cells: _Cells, actions: list[ActionInstance], source: str) -> list[PropertyInstance]:
    out: list[PropertyInstance] = []
    names: set[str] = set()
    for decl in type(model).property_decls():
        if decl.name in names:
            raise ModelDefinitionError(f"{source}: property {decl.name} defined twice")
        names.add(decl.name)
        if not decl.clauses:
            raise ModelDefinitionError(
                f"{_where(decl.func)}: property {decl.name} names no clause; write @{decl.kind if decl.kind != 'transition' else 'transition_property'}(\"D-DP-9\", ...)")
        what = f"property {decl.name}"
        if decl.kind == "transition":
            per_action: dict[int, Expr] = {}
            for act in actions:
                t = TransitionView(StateView(cells), AfterView(cells, act.assigns), act.name, act.params, act.event)
                cond = lift(_call(what, decl.func, model, t), BOOL)
                if cond is not TRUE:
                    per_action[act.index] = cond
            out.append(PropertyInstance(name=decl.name, kind="transition", clauses=decl.clauses, doc=decl.doc,
                                        per_action=per_action, site=decl.site))
        else:
            cond = lift(_call(what, decl.func, model, StateView(cells)), BOOL)
            if cond.sort is not BOOL:
                raise ModelDefinitionError(f"{_where(decl.func)}: {what} must return a condition, got {cond!r}")
            out.append(PropertyInstance(name=decl.name, kind=decl.kind, clauses=decl.clauses, doc=decl.doc, expr=cond,
                                        site=decl.site))
    return out
