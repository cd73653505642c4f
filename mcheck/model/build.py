"""Run a model's definitions for concrete parameters and judge them.

The result, `LoadedModel`, is a flat list of guarded commands over numbered state slots
plus properties as expressions: exactly what every engine needs and nothing
Python-specific. Definition mistakes raise `ModelDefinitionError` with the model file and
line and a sentence saying what to write instead.
"""

from __future__ import annotations

import inspect
import itertools
import re
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from collections.abc import Callable, Iterator, Mapping

from mcheck.errors import McheckError, ModelDefinitionError
from mcheck.model.definition import (
    ActionBuilder, ActionDecl, AfterView, Array, Guard, IndexSet, Model, PropertyDecl, Site, SlotInfo, StateView,
    TransitionView,
    _Cells, class_where, combos,
)
from mcheck.model.expr import BOOL, FALSE, OPS, TRUE, And, Const, Expr, Op, Slot, Sort, lift
from mcheck.model.params import ANY_BUG, BUG, ParamValues, bug_reads, model_relaxations, resolve_params


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
    #: for a build without a catalogue bug: what its bug variants can take from it
    reuse: Reuse | None = field(default=None, repr=False, compare=False)

    def slot(self, name: str) -> SlotInfo:
        for s in self.slots:
            if s.name == name:
                return s
        raise KeyError(name)

    def decode_state(self, values: tuple[int, ...]) -> dict[str, Any]:
        return {s.name: s.sort.decode(v) for s, v in zip(self.slots, values, strict=True)}

    def view(self) -> StateView:
        """A read-only view for building expressions over this model's state."""
        return StateView(self.cells)


@dataclass(kw_only=True)
class Reuse:
    """What a model built without a catalogue bug asked about bugs, so that a build of
    the same parameters with bug B reruns only the code that asked about B (or read the
    `bug` parameter itself). Model code is deterministic in its parameters, and while no
    bug is selected every `Model.bug()` answers False: code that never asked about B took
    the same path it takes with B selected, so its actions and conditions are the same."""

    params: dict[str, Any]                                   # the build's parameters, bug aside
    setup: set[str]                                          # asked by setup()
    decls: list[tuple[set[str], list[ActionInstance]]]       # per action declaration: asked, instances
    props: list[tuple[set[str], PropertyInstance]]           # per property declaration


@contextmanager
def _asking(recording: bool) -> Iterator[set[str]]:
    """The bugs the code run inside asks about (collected only when `recording`)."""
    asked: set[str] = set()
    if not recording:
        yield asked
        return
    bug_reads.append(asked)
    try:
        yield asked
    finally:
        bug_reads.pop()


def _reusable(asked: set[str], bug: Any) -> bool:
    return bug not in asked and ANY_BUG not in asked


def restricted(model: LoadedModel, keep: Callable[[ActionInstance], bool]) -> LoadedModel:
    """The model with only the actions `keep` accepts (renumbered; transition properties follow)."""
    kept = [a for a in model.actions if keep(a)]
    new = {a.index: i for i, a in enumerate(kept)}
    props = [replace(p, per_action={new[k]: e for k, e in p.per_action.items() if k in new})
             if p.kind == "transition" else p for p in model.properties]
    return replace(model, actions=[replace(a, index=i) for i, a in enumerate(kept)], properties=props, reuse=None)


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else "?"


def attr_where(cls: type, attr: str) -> str:
    """`file:line` of `attr = ...` in the body of `cls` or a base class (else the class line)."""
    for klass in cls.__mro__:
        if attr in vars(klass):
            try:
                lines, start = inspect.getsourcelines(klass)
            except (OSError, TypeError):
                break
            for k, text in enumerate(lines):
                if re.match(rf"\s+{attr}\s*[:=]", text):
                    return f"{inspect.getsourcefile(klass)}:{start + k}"
            break
    return class_where(cls)


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


def _expand_shape(shape: Sort | Array, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Sort]]:
    """(index path, sort) of every cell; `Model.var` has checked the shape."""
    if isinstance(shape, Array):
        out = []
        for idx in shape.index.values:
            out.extend(_expand_shape(shape.elem, path + (idx,)))
        return out
    return [(path, shape)]


def _init_values(where: str, var: str, path: tuple[Any, ...], sort: Sort, init: Any) -> tuple[int, ...]:
    """The allowed initial codes of one cell; `where` is the `self.var(...)` line."""
    cell = var + "".join(f"[{p}]" for p in path)
    try:
        value = init(*path) if callable(init) else init
        if isinstance(value, dict):
            value = value[path[0] if len(path) == 1 else path]
        options = value if isinstance(value, (list, set, frozenset)) else [value]
        return tuple(sort.encode(v) for v in options)
    except ModelDefinitionError as exc:
        raise ModelDefinitionError(f"{where}: setup(): initial value of {cell}: {exc}") from None
    except Exception as exc:
        raise ModelDefinitionError(f"{where}: setup(): initial value of {cell}: "
                                   f"{type(exc).__name__}: {exc}") from None


def _condition(where: str, what: str, value: Any, seen: set[int]) -> Expr:
    """What a property or end_state returned, as a condition; anything else names the
    definition (`where`) and what it returned (a missing `return` gives None)."""
    hint = "; did it forget `return`?" if value is None else ""
    try:
        cond = lift(value, BOOL)
    except ModelDefinitionError:
        cond = None
    if cond is None or cond.sort is not BOOL:
        raise ModelDefinitionError(f"{where}: {what} must return a condition (an expression or True/False), "
                                   f"got {value!r}{hint}")
    _check_tree(where, what, cond, seen)
    return cond


def _check_tree(where: str, what: str, expr: Expr, seen: set[int]) -> None:
    """Refuse a hand-built node every engine would choke on (the expression API never
    builds one): each node a Const, Slot or Op with a known operator and arity. `seen`:
    ids of nodes already checked in this build (models share subterms widely)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if id(node) in seen or isinstance(node, (Const, Slot)):
            continue
        if not isinstance(node, Op):
            raise ModelDefinitionError(f"{where}: {what}: {node!r} is not a model expression; "
                                       f"build expressions with the operators and If/And/Or/Not")
        arity = OPS[node.op]
        if (arity >= 0 and len(node.args) != arity) or not all(isinstance(a, Expr) for a in node.args):
            raise ModelDefinitionError(f"{where}: {what}: {node.op} node with arguments {node.args!r}; "
                                       f"build expressions with the operators and If/And/Or/Not")
        seen.add(id(node))
        stack.extend(node.args)


def build_model(cls: type[Model], given: Mapping[str, Any] | None = None, *,
                like: LoadedModel | None = None) -> LoadedModel:
    """Instantiate `cls` for the given parameters and unroll it into a `LoadedModel`.

    `like`: an earlier build of `cls` without a catalogue bug. When these parameters are its
    own with a bug selected, the actions and properties whose code never asked about that
    bug are taken from it instead of being built again (`Reuse`); the result is the same."""
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ModelDefinitionError(f"{cls!r} is not a Model subclass")
    name = cls.name or cls.__name__
    if cls.setup is Model.setup:
        raise ModelDefinitionError(f"{class_where(cls)}: model {name} must define setup() declaring its state variables")
    relaxations, presets = model_relaxations(cls)
    try:
        params = resolve_params(cls.declared_params(), given or {}, name, relaxations=relaxations, presets=presets)
    except ModelDefinitionError as exc:   # the class's relaxations or presets are written wrong
        raise ModelDefinitionError(f"{attr_where(cls, 'presets' if 'preset' in str(exc) else 'relaxations')}: "
                                   f"{exc}") from None
    model = cls(params)
    source = sys.modules[cls.__module__].__file__ or cls.__module__
    bug = params.values.get(BUG)
    recording = bug == "none" and bool(cls.bugs)
    reuse = like.reuse if like is not None and type(like.model) is cls else None
    if reuse is not None and (bug in (None, "none") or reuse.params != _without_bug(params)):
        reuse = None
    with _asking(recording) as setup_asked:
        _call("setup()", model.setup)
    if reuse is not None and not _reusable(reuse.setup, bug):
        reuse = None
    if not model._vars:
        raise ModelDefinitionError(f"{_where(model.setup)}: setup(): model {name} declares no state variables; "
                                   f"call self.var(...)")

    slots: list[SlotInfo] = []
    shapes: dict[str, Sort | Array] = {}
    for var, (shape, init) in model._vars.items():
        shapes[var] = shape
        for path, sort in _expand_shape(shape, ()):
            slots.append(SlotInfo(index=len(slots), name=var + "".join(f"[{p}]" for p in path), var=var,
                                  path=path, sort=sort, init=_init_values(model._var_sites[var], var, path, sort, init)))
    cells = _Cells(slots, shapes)

    decls_asked: list[tuple[set[str], list[ActionInstance]]] = []
    props_asked: list[tuple[set[str], PropertyInstance]] = []
    actions, origin = _build_actions(model, cells, source, reuse=reuse, bug=bug,
                                     record=decls_asked if recording else None)
    properties = _build_properties(model, cells, actions, source, reuse=reuse, bug=bug, origin=origin,
                                   record=props_asked if recording else None)
    end = _condition(_where(model.end_state), "end_state()", _call("end_state()", model.end_state, StateView(cells)),
                     set())
    initial = [tuple(v) for v in itertools.product(*(s.init for s in slots))]
    return LoadedModel(name=name, source=source, model=model, params=params, slots=slots, cells=cells,
                       index_sets=dict(model._index_sets), actions=actions, properties=properties,
                       end_state=end, initial=initial,
                       reuse=Reuse(params=_without_bug(params), setup=setup_asked, decls=decls_asked,
                                   props=props_asked) if recording else None)


def _without_bug(params: ParamValues) -> dict[str, Any]:
    return {k: v for k, v in params.values.items() if k != BUG}


def _domain(model: Model, decl: ActionDecl, pname: str, spec: Any) -> list[Any]:
    where = str(decl.site) if decl.site else _where(decl.func)
    if isinstance(spec, str):
        if spec not in model._index_sets:
            raise ModelDefinitionError(f"{where}: action {decl.name}: parameter {pname} ranges over index set "
                                       f"{spec!r}, which setup() did not declare")
        return list(model._index_sets[spec].values)
    if callable(spec):
        spec = _call(f"action {decl.name}: domain of {pname}", spec, model)
    try:
        values = list(spec)
    except TypeError:
        raise ModelDefinitionError(f"{where}: action {decl.name}: domain of {pname} must be an index-set name "
                                   f"or an iterable, got {spec!r}") from None
    return values


def _build_actions(model: Model, cells: _Cells, source: str, *, reuse: Reuse | None, bug: Any,
                   record: list[tuple[set[str], list[ActionInstance]]] | None
                   ) -> tuple[list[ActionInstance], dict[int, int]]:
    """The action instances, and for those taken from `reuse`: new index -> index there."""
    decls = type(model).action_decls()
    if not decls:
        raise ModelDefinitionError(f"{class_where(type(model))}: model {model.name} has no actions; "
                                   f"decorate a method with @action(...)")
    out: list[ActionInstance] = []
    origin: dict[int, int] = {}
    seen: set[int] = set()   # nodes checked by _check_tree (all stay reachable from `out`)
    for k, decl in enumerate(decls):
        if reuse is not None and _reusable(reuse.decls[k][0], bug):
            for inst in reuse.decls[k][1]:
                origin[len(out)] = inst.index
                out.append(replace(inst, index=len(out)))
            continue
        first = len(out)
        with _asking(record is not None) as asked:
            _instances(model, cells, source, decl, out, seen)
        if record is not None:
            record.append((asked, out[first:]))
    if not out:
        raise ModelDefinitionError(f"{class_where(type(model))}: every action of {model.name} is disabled "
                                   f"for these parameters")
    return out, origin


def _instances(model: Model, cells: _Cells, source: str, decl: ActionDecl, out: list[ActionInstance],
               seen: set[int]) -> None:
    """Append one instance per combination of `decl`'s parameters whose guard is not false."""
    domains = {k: _domain(model, decl, k, v) for k, v in decl.over.items()}
    for params in combos(domains):
        b = ActionBuilder(cells, source)
        label = f"action {decl.name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
        _call(label, decl.func, model, b, **params)
        guard = And(*(g.cond for g in b._guards))
        if guard is FALSE:
            continue  # switched off for these parameters (for example by a bug choice)
        assigns = {slot: e for slot, e in b._assigned.items() if not _is_same_slot(e, slot)}
        where = _where(decl.func)
        for e in (guard, *assigns.values()):
            _check_tree(where, label, e, seen)
        out.append(ActionInstance(index=len(out), name=decl.name, params=params, guard=guard,
                                  guards=tuple(b._guards), assigns=assigns, event=b._event,
                                  clauses=tuple(dict.fromkeys(b._clauses)), doc=decl.doc,
                                  sites=_group_sites(b._sites)))


def _group_sites(pairs: list[tuple[str, Site]]) -> dict[str, tuple[Site, ...]]:
    out: dict[str, dict[Site, None]] = {}
    for clause, site in pairs:
        out.setdefault(clause, {})[site] = None
    return {c: tuple(sites) for c, sites in out.items()}


def _is_same_slot(e: Expr, slot: int) -> bool:
    return isinstance(e, Slot) and e.index == slot


def _build_properties(model: Model, cells: _Cells, actions: list[ActionInstance], source: str, *,
                      reuse: Reuse | None, bug: Any, origin: Mapping[int, int],
                      record: list[tuple[set[str], PropertyInstance]] | None) -> list[PropertyInstance]:
    out: list[PropertyInstance] = []
    names: set[str] = set()
    seen: set[int] = set()
    labels = [act.label for act in actions]   # once, not once per transition property
    for k, decl in enumerate(type(model).property_decls()):
        if decl.name in names:
            raise ModelDefinitionError(f"{decl.site or _where(decl.func)}: property {decl.name} defined twice "
                                       f"(one function under two names?)")
        names.add(decl.name)
        if not decl.clauses:
            raise ModelDefinitionError(
                f"{_where(decl.func)}: property {decl.name} names no clause; write @{decl.kind if decl.kind != 'transition' else 'transition_property'}(\"D-DP-9\", ...)")
        what = f"property {decl.name}"
        where = _where(decl.func)
        # from the build without the bug: the property's conditions on the actions taken from it
        base = reuse.props[k][1] if reuse is not None and _reusable(reuse.props[k][0], bug) else None
        with _asking(record is not None) as asked:
            prop = _property(model, cells, actions, decl, what, where, labels, base, origin, seen)
        if record is not None:
            record.append((asked, prop))
        out.append(prop)
    return out


def _property(model: Model, cells: _Cells, actions: list[ActionInstance], decl: PropertyDecl, what: str, where: str,
              labels: list[str], base: PropertyInstance | None, origin: Mapping[int, int],
              seen: set[int]) -> PropertyInstance:
    if decl.kind != "transition":
        if base is not None:
            return base
        cond = _condition(where, what, _call(what, decl.func, model, StateView(cells)), seen)
        return PropertyInstance(name=decl.name, kind=decl.kind, clauses=decl.clauses, doc=decl.doc, expr=cond,
                                site=decl.site)
    per_action: dict[int, Expr] = {}
    for act in actions:
        was = origin.get(act.index) if base is not None else None
        if base is not None and was is not None:
            if was in base.per_action:
                per_action[act.index] = base.per_action[was]
            continue
        t = TransitionView(StateView(cells), AfterView(cells, act.assigns), act.name, act.params, act.event)
        cond = _condition(where, f"{what} (for action {labels[act.index]})", _call(what, decl.func, model, t), seen)
        if cond is not TRUE:
            per_action[act.index] = cond
    return PropertyInstance(name=decl.name, kind="transition", clauses=decl.clauses, doc=decl.doc,
                            per_action=per_action, site=decl.site)
