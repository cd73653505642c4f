"""Replay a trace against a model: the set of model states consistent with it so far.

Captures are incomplete: guest activity is not recorded, completions get lost, a field
can be unknown. So between two observed events the model may take *hidden* steps
(actions that emit nothing, or whose event kind the capture does not record), and an
observed event is explained by any enabled action whose emitted event agrees with it on
every field both know. The replayer keeps the set of candidate states (bounded); when it
becomes empty the event is a divergence: the report names the event, what the model
allowed instead, the clauses whose guards refused the observed event, the candidate
states just before, the catalogue bugs and the model's relaxations (or presets) under
which the events up to it replay clean. With `keep_going` it resynchronises (taking the
observed command with whatever answer the model allows, or skipping it) and carries on.

Two kinds of finding never change the verdict: a *warning* when every action that
explains an observed event marks its answer as departing from a SHOULD (an event field
`should` naming the clauses), and a *driver finding* from the model's driver rules
(`Model.driver_rules()`), which judge the driver's side of the capture.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast
from collections.abc import Callable, Iterable, Iterator, Mapping

from mcheck.explore.codegen import Layout
from mcheck.explore.check import coverage
from mcheck.model.build import LoadedModel, build_model
from mcheck.model.evaluate import evaluate
from mcheck.model.params import COMPAT, model_relaxations, relaxation_values
from mcheck.replay.rules import rules_of
from mcheck.replay.stepper import step_functions
from mcheck.report.text import format_event
from mcheck.errors import InputError
from mcheck.trace.codec import CodecError
from mcheck.verdict import (
    BOUNDED, ERROR, HOLDS, VIOLATED, Change, PropertyVerdict, ReplayCoverage, ReplayResult, Step, Violation,
    Witness,
)

DEFAULT_MAX_CANDIDATES = 100_000
WINDOW = 32          # events of history kept for a divergence's witness
UNEXPLAINED = "MCHECK-UNEXPLAINED"  # no action of the model can ever emit such an event
SHOULD = "should"    # event field: the answer is permitted but departs from these SHOULD clauses
FINDINGS_LIMIT = 100  # warnings or driver findings listed per clause set; the rest are only counted


@dataclass(kw_only=True)
class Divergence:
    index: int
    timestamp: int
    observed: dict[str, Any]
    expected: list[str]
    clauses: list[str]
    candidates: list[dict[str, Any]]
    path: list[tuple[int, int]]  # (action, event index or -1 for hidden) leading to a candidate
    root: int | None = None      # the packed state the path starts from
    suspects: list[Suspect] = field(default_factory=list)
    explained_by: list[str] = field(default_factory=list)  # relaxation ids, or preset names


class Findings:
    """Warnings or driver findings: each {index, clauses, message}. The first
    FINDINGS_LIMIT per clause set are kept, all are counted per clause, so memory does
    not grow with trace length."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self._listed: dict[tuple[str, ...], int] = {}
        self.unlisted = 0

    def add(self, index: int | None, clauses: tuple[str, ...], message: str) -> None:
        for c in clauses:
            self.counts[c] = self.counts.get(c, 0) + 1
        n = self._listed.get(clauses, 0)
        if n >= FINDINGS_LIMIT:
            self.unlisted += 1
            return
        self._listed[clauses] = n + 1
        self.items.append({"index": index, "clauses": list(clauses), "message": message})


def clause_ids(text: str) -> tuple[str, ...]:
    """ "D-RO-1, D-DP-4" -> ("D-RO-1", "D-DP-4")."""
    return tuple(c for c in (part.strip() for part in str(text).split(",")) if c)


@dataclass(kw_only=True)
class Suspect:
    """A catalogue bug under which the model explains the events up to the divergence, and
    the first property the bug's explanation breaks: where the fault itself shows."""

    bug: str
    event_index: int     # the observed event whose step (or the hidden steps just before it) breaks it
    property: str
    clauses: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"bug": self.bug, "event_index": self.event_index, "property": self.property, "clauses": self.clauses}


@dataclass
class _Links:
    """Back-links for one step of the candidate set: hidden steps form a forest rooted at
    the candidates the event started from (each state linked once), and the matched step
    links each new candidate to the closure state it came from. Shared by every event
    that takes the same candidate set through the same observed event (the step cache)."""

    hidden: dict[int, tuple[int, int]] = field(default_factory=dict)
    matched: dict[int, tuple[int, int]] = field(default_factory=dict)


class _Layer:
    """The links of one observed event, with its index."""

    __slots__ = ("event", "links")

    def __init__(self, event: int, links: _Links) -> None:
        self.event = event
        self.links = links

    def back(self, state: int, out: list[tuple[int, int]], hidden_event: int = -1) -> int:
        """Append (action, event index) steps that reach `state` within this layer, newest
        first; return the candidate the layer started from."""
        matched, hidden = self.links.matched, self.links.hidden
        if state in matched:
            state, a = matched[state]
            out.append((a, self.event))
        while state in hidden:
            state, a = hidden[state]
            out.append((a, hidden_event))
        return state


@dataclass
class _Closure:
    """A candidate set closed under hidden steps, and the links that built it."""

    states: frozenset[int]
    hidden: dict[int, tuple[int, int]]
    bound_hit: bool


@dataclass
class _Step:
    """The cached result of one (candidate set, observed event) pair."""

    closure: _Closure
    nxt: frozenset[int]              # empty: a divergence
    links: _Links
    fired: list[tuple[int, int]]     # (action, transitions) for coverage
    hits: int = 0
    should: tuple[str, ...] = ()     # every explaining action departs from these SHOULDs: warn


def _key(ev: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (ev.get("kind"), ev.get("cmd"), ev.get("member"))


def _agrees(model_event: Mapping[str, Any], observed: dict[str, Any]) -> bool:
    """Equal on every field both know; `should` is the model's remark, never matched."""
    return all(model_event[k] == v for k, v in observed.items() if k in model_event and k != SHOULD)


def _frozen(observed: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable form of an observed event (its values are scalars). Not sorted: an
    observer builds the same kind of event in the same key order, and two orders of
    one event only cost a second cache entry."""
    return tuple(observed.items())


# variants (bug, relaxation, preset) built for one model configuration, shared by every
# replay in the process: building a model is the slow part of explaining a divergence
_VARIANTS: dict[tuple[Any, ...], Any] = {}
VARIANT_LIMIT = 128

CACHE_LIMIT = 50_000       # cached (candidate set, observed event) steps; cleared when full
CACHE_WEIGHT = 2_000_000   # ... or when they hold this many states in all


# per-action tables (hidden actions, actions by event key, SHOULD clauses) shared by every
# Replayer over the same action list: explaining one divergence makes a Replayer per
# catalogue bug, and a batch of captures (mcheck.fleet) one per capture. Each entry holds
# its action list, so the id in its key is not reused while it is cached.
_TABLES: dict[tuple[int, tuple[str, ...]], tuple[Any, ...]] = {}
# step functions that refuse property-breaking steps, per variant's step list (likewise)
_SAFE: dict[tuple[int, Layout], tuple[list[Any], list[Any]]] = {}


def _action_tables(actions: list[Any], hidden_kinds: tuple[str, ...]) -> tuple[list[int], dict[tuple[Any, Any, Any], list[int]], list[tuple[str, ...]]]:
    found = _TABLES.get((id(actions), hidden_kinds))
    if found is not None and found[0] is actions:
        return found[1], found[2], found[3]
    hidden_set = set(hidden_kinds)
    hidden = [a.index for a in actions if a.event is None or a.event["kind"] in hidden_set]
    by_key: dict[tuple[Any, Any, Any], list[int]] = {}
    for a in actions:
        if a.event is not None:
            by_key.setdefault(_key(a.event), []).append(a.index)
    should = [clause_ids(a.event[SHOULD]) if a.event is not None and SHOULD in a.event else () for a in actions]
    if len(_TABLES) >= VARIANT_LIMIT:
        _TABLES.clear()
    _TABLES[(id(actions), hidden_kinds)] = (actions, hidden, by_key, should)
    return hidden, by_key, should


class Replayer:
    """Walks observed events through one loaded model.

    The candidate set is a frozenset of packed states. Its hidden-step closure and the
    result of each observed event are cached by (candidate set, observed event): a long
    capture cycles through few distinct candidate sets, so most events cost one dict
    lookup. The cache is bounded (CACHE_LIMIT entries, cleared when full) so memory does
    not grow with trace length."""

    def __init__(self, model: LoadedModel, *, hidden_kinds: Iterable[str] | None = None,
                 max_candidates: int = DEFAULT_MAX_CANDIDATES, initial: Iterable[int] | None = None,
                 steps: list[Any] | None = None, layout: Layout | None = None, cache: bool = True) -> None:
        self.model = model
        self.layout = layout or Layout.of(model)
        self.steps = steps if steps is not None else step_functions(model, self.layout)
        self.max_candidates = max_candidates
        # default: what the model says captures do not record (Model.unobserved)
        self.hidden_kinds = tuple(model.model.unobserved if hidden_kinds is None else hidden_kinds)
        self.history: deque[tuple[frozenset[int], dict[str, Any], int]] = deque(maxlen=WINDOW)
        self._variants: dict[str, tuple[LoadedModel, list[Any]] | None] = {}
        self._safe: dict[str, list[Any]] = {}
        self.hidden, self.by_key, self._should = _action_tables(model.actions, self.hidden_kinds)
        self.rules = rules_of(model.model)
        self.warnings = Findings()
        self.candidates: frozenset[int] = frozenset(
            initial if initial is not None else (self.layout.pack(v) for v in model.initial))
        self.layers: deque[_Layer] = deque(maxlen=WINDOW)
        self._fired = [0] * len(model.actions)
        self._cached_steps: list[_Step] = []      # retired cache entries still owed to coverage
        self.max_seen = len(self.candidates)
        self.bound_hit = False
        self.bound_hit_at: int | None = None   # the event at which hidden steps were first cut
        self.use_cache = cache
        self._closures: dict[frozenset[int], _Closure] = {}
        self._step_cache: dict[tuple[frozenset[int], tuple[tuple[str, Any], ...]], _Step] = {}
        self._match_cache: dict[tuple[tuple[str, Any], ...], list[int]] = {}
        self._pending: tuple[frozenset[int], _Layer] | None = None
        self._cache_weight = 0   # states held by the caches

    @property
    def fired(self) -> list[int]:
        """Transitions taken per action (coverage), cached steps counted once per hit."""
        out = list(self._fired)
        for st in [*self._cached_steps, *self._step_cache.values()]:
            for a, n in st.fired:
                out[a] += n * st.hits
        return out

    # -- the candidate set
    def _close(self, states: frozenset[int]) -> _Closure:
        """Every state reachable from `states` by hidden steps (bounded)."""
        if self.use_cache:
            found = self._closures.get(states)
            if found is not None:
                return found
        seen = set(states)
        todo = list(states)
        links: dict[int, tuple[int, int]] = {}
        steps, hidden, bound = self.steps, self.hidden, self.max_candidates
        hit = False
        while todo and not hit:
            x = todo.pop()
            for a in hidden:
                y = steps[a](x)
                if y is not None and y not in seen:
                    seen.add(y)
                    links[y] = (x, a)
                    todo.append(y)
                    if len(seen) > bound:
                        hit = True
                        break
        closure = _Closure(states=frozenset(seen), hidden=links, bound_hit=hit)
        if self.use_cache:
            if len(self._closures) >= CACHE_LIMIT:
                self._closures.clear()
            self._closures[states] = closure
        return closure

    def _matching(self, observed: dict[str, Any], frozen: tuple[tuple[str, Any], ...] | None = None) -> list[int]:
        frozen = frozen if frozen is not None else _frozen(observed)
        found = self._match_cache.get(frozen)
        if found is None:
            acts = self.model.actions   # by_key holds only actions that emit an event
            found = [a for a in self.by_key.get(_key(observed), ()) if _agrees(acts[a].event or {}, observed)]
            if len(self._match_cache) >= CACHE_LIMIT:
                self._match_cache.clear()
            self._match_cache[frozen] = found
        return found

    def _compute(self, observed: dict[str, Any], frozen: tuple[tuple[str, Any], ...]) -> _Step:
        closure = self._close(self.candidates)
        nxt: set[int] = set()
        matched: dict[int, tuple[int, int]] = {}
        fired: list[tuple[int, int]] = []
        closed = closure.states
        unanswered = self.rules.unanswered(observed)
        if unanswered:
            # the completion is missing: the device may have answered anything, or never
            # taken the command at all
            nxt.update(closed)
        for a in self._matching(observed, frozen):
            step = self.steps[a]
            n = 0
            for x in closed:
                y = step(x)
                if y is not None:
                    n += 1
                    if y not in matched:
                        matched[y] = (x, a)
                    nxt.add(y)
            if n:
                fired.append((a, n))
        should: tuple[str, ...] = ()
        if fired and not unanswered and all(self._should[a] for a, _ in fired):
            should = tuple(dict.fromkeys(c for a, _ in fired for c in self._should[a]))
        return _Step(closure=closure, nxt=frozenset(nxt), links=_Links(hidden=closure.hidden, matched=matched),
                     fired=fired, should=should)

    def advance(self, observed: dict[str, Any], index: int) -> bool:
        """Take one observed event; False when no candidate explains it (the set is kept)."""
        cands = self.candidates
        self.history.append((cands, observed, index))
        frozen = tuple(observed.items())   # _frozen, inlined: the hot path
        if self.use_cache:
            key = (cands, frozen)
            st = self._step_cache.get(key)
            if st is None:
                st = self._compute(observed, frozen)
                self._cache_weight += len(st.closure.states) + len(st.nxt)
                if len(self._step_cache) >= CACHE_LIMIT or self._cache_weight > CACHE_WEIGHT:
                    self._cached_steps.extend(self._step_cache.values())
                    self._cached_steps = [_fold(self._cached_steps)]
                    self._step_cache.clear()
                    self._closures.clear()
                    self._cache_weight = 0
                self._step_cache[key] = st
            st.hits += 1
        else:
            st = self._compute(observed, frozen)
            for a, n in st.fired:
                self._fired[a] += n
        if st.closure.bound_hit and not self.bound_hit:
            self.bound_hit = True
            self.bound_hit_at = index
        size = len(st.closure.states)
        if size > self.max_seen:
            self.max_seen = size
        layer = _Layer(index, st.links)
        if not st.nxt:
            self._pending = (st.closure.states, layer)
            return False
        self.layers.append(layer)
        self.candidates = st.nxt
        if st.should:
            self.warnings.add(index, st.should, f"event {index}: {format_event(observed)} departs from SHOULD "
                                                f"{', '.join(st.should)} (permitted, not a divergence)")
        return True

    # -- explaining a divergence
    def explain(self, observed: dict[str, Any], index: int, timestamp: int) -> Divergence:
        assert self._pending is not None
        closed, layer = self._pending
        alternatives = self._alternatives(observed, closed)
        clauses = self._refusing_clauses(observed, closed)
        sample = sorted(closed)[:3]
        candidates = [self.model.decode_state(self.layout.unpack(x)) for x in sample]
        root, path = self._path(sample[0], layer) if sample else (None, [])
        self.layers.append(layer)
        suspects = self._suspects()
        known = [c for c in clauses if c != UNEXPLAINED]
        for s in suspects:
            known += [c for c in s.clauses if c not in known]
        return Divergence(index=index, timestamp=timestamp, observed=observed, expected=alternatives,
                          clauses=known or [UNEXPLAINED], candidates=candidates, path=path, root=root,
                          suspects=suspects, explained_by=self._relaxed())

    # -- variants of the model: a catalogue bug, a relaxation, a preset
    def _built(self, key: str, extra: dict[str, Any]) -> tuple[LoadedModel, list[Any]] | None:
        """The model rebuilt with `extra` on top of the current parameters (cached under
        `key`) and its steps; None when it cannot be built or its state layout differs."""
        if key not in self._variants:
            shared = (type(self.model.model), tuple(sorted(self.model.params.as_dict().items())), key)
            if shared in _VARIANTS:
                self._variants[key] = _VARIANTS[shared]
                return self._variants[key]
            current = self.model.params.as_dict()
            compat = next((p for p in type(self.model.model).declared_params() if p.name == COMPAT), None)
            if compat is not None and current.get(COMPAT) not in compat.choices:
                # a preset file's name: its values are all explicit in `current` already
                del current[COMPAT]
            try:
                loaded = build_model(type(self.model.model), {**current, **extra}, like=self.model)
            except Exception:  # a variant that cannot be built explains nothing
                loaded = None
            if loaded is None or [(s.name, s.sort.name) for s in loaded.slots] != [
                    (s.name, s.sort.name) for s in self.model.slots]:
                self._variants[key] = None
            else:
                self._variants[key] = (loaded, step_functions(loaded, self.layout))
            if len(_VARIANTS) >= VARIANT_LIMIT:
                _VARIANTS.clear()
            _VARIANTS[shared] = self._variants[key]
        return self._variants[key]

    def _variant(self, bug: str) -> tuple[LoadedModel, list[Any], list[Any]] | None:
        """The model with `bug` switched on (same state layout), its steps, and its steps
        restricted to those that break no property of the model."""
        built = self._built(f"bug:{bug}", {"bug": bug})
        if built is None:
            return None
        if bug not in self._safe:
            loaded, steps = built
            shared = _SAFE.get((id(steps), self.layout))
            if shared is None or shared[0] is not steps:
                if len(_SAFE) >= VARIANT_LIMIT:
                    _SAFE.clear()
                shared = _SAFE[(id(steps), self.layout)] = (steps, _safe_steps(loaded, self.layout, steps))
            self._safe[bug] = shared[1]
        return built[0], built[1], self._safe[bug]

    def _relaxed(self) -> list[str]:
        """The relaxations not in force under which the history window (ending with the
        divergent event) replays clean; when none alone does, the presets that do as a whole."""
        cls = type(self.model.model)
        relaxations, presets = model_relaxations(cls)
        if not relaxations or not self.history:
            return []
        current = self.model.params.as_dict()
        declared = cls.declared_params()
        values = {rid: relaxation_values(r, declared, self.model.name) for rid, r in relaxations.items()}
        in_force = {rid for rid, v in values.items() if all(current.get(k) == x for k, x in v.items())}
        found = [rid for rid in relaxations if rid not in in_force and self._explains(f"relax:{rid}", values[rid])]
        if found:
            return found
        for name, ids in presets.items():
            missing = [rid for rid in ids if rid not in in_force]
            if len(missing) < 2:   # in force, or the one missing relaxation was tried alone
                continue
            merged: dict[str, Any] = {}
            for rid in missing:
                merged.update(values[rid])
            if self._explains(f"preset:{name}", merged):
                found.append(name)
        return found

    def _explains(self, key: str, extra: dict[str, Any]) -> bool:
        """Whether the history window replays clean under the variant with `extra`."""
        built = self._built(key, extra)
        if built is None:
            return False
        loaded, steps = built
        history = list(self.history)
        r = Replayer(loaded, hidden_kinds=self.hidden_kinds, max_candidates=self.max_candidates,
                     initial=history[0][0], steps=steps, layout=self.layout, cache=False)
        return all(r.advance(obs, idx) for _, obs, idx in history)

    def _suspects(self) -> list[Suspect]:
        """Catalogue bugs that explain the history window (which ends with the divergent
        event). For each, the latest observed event from which on the bug's steps must
        break a property of the model to explain the window: that is where the fault
        shows, with the property and its clauses."""
        bugs = getattr(self.model.model, "bugs", None) or {}
        if self.model.params.as_dict().get("bug", "none") != "none" or not self.history:
            return []
        history = list(self.history)
        start = history[0][0]
        out: list[Suspect] = []
        for bug in sorted(bugs):
            variant = self._variant(bug)
            if variant is None:
                continue
            loaded, steps, safe = variant

            def run(j: int, loaded: LoadedModel = loaded, steps: list[Any] = steps,
                    safe: list[Any] = safe) -> Replayer | None:
                r = Replayer(loaded, hidden_kinds=self.hidden_kinds, max_candidates=self.max_candidates,
                             initial=start, steps=steps, layout=self.layout, cache=False)
                for _, obs, idx in history:
                    r.steps = safe if idx < j else steps
                    if not r.advance(obs, idx):
                        return None
                r.steps = steps
                return r

            if run(-1) is None:
                continue
            for j in reversed([idx for _, _, idx in history]):
                r = run(j)
                if r is None:
                    continue
                found = r._first_broken_property(min(r.candidates))
                if found is not None:
                    out.append(Suspect(bug=bug, event_index=found[0], property=found[1], clauses=list(found[2])))
                break
        return out

    def _first_broken_property(self, final: int) -> tuple[int, str, tuple[str, ...]] | None:
        out: list[tuple[int, int]] = []
        state = final
        for layer in reversed(self.layers):
            state = layer.back(state, out)
        out.reverse()
        # a hidden step counts against the next observed event
        indices, nxt = [], self.layers[-1].event if self.layers else -1
        for _, ev in reversed(out):
            nxt = ev if ev >= 0 else nxt
            indices.append(nxt)
        indices.reverse()
        x = state
        for (a, _), ev in zip(out, indices, strict=True):
            y = self.steps[a](x)
            assert y is not None, "a step of the replayed path is enabled"
            broken = _broken(self.model, a, self.layout.unpack(x), self.layout.unpack(y))
            if broken is not None:
                return ev, broken.name, broken.clauses
            x = y
        return None

    def _alternatives(self, observed: dict[str, Any], closed: frozenset[int]) -> list[str]:
        """Observable events the model allowed here: same command and member first, else any."""
        def allowed(pool: Iterable[int]) -> list[str]:
            return sorted({format_event(dict(self.model.actions[a].event or {})) for a in pool
                           if any(self.steps[a](x) is not None for x in closed)})
        same = allowed(self.by_key.get(_key(observed), []))
        if same:
            return same[:12]
        # nothing of this kind for this member: which events of the same kind (any member),
        # else which events at all
        kind = observed.get("kind")
        commands = self.rules.command_kinds
        of_kind = allowed(a for k, acts in self.by_key.items() if k[0] == kind and kind not in commands for a in acts)
        return (of_kind or allowed(a for acts in self.by_key.values() for a in acts))[:12]

    def _refusing_clauses(self, observed: dict[str, Any], closed: frozenset[int]) -> list[str]:
        """Clauses of the guards that refused every action emitting the observed event."""
        acts = self._matching(observed)
        if not acts:
            # no action ever answers this way: the rules of the answers the model allowed for
            # the same command and member here
            loose = {k: v for k, v in observed.items() if k in self.rules.command_fields}
            near = [a for a in self._matching(loose) if any(self.steps[a](x) is not None for x in closed)]
            return list(dict.fromkeys(c for a in near for c in self.model.actions[a].clauses)) or [UNEXPLAINED]
        clauses: dict[str, None] = {}
        unpack = self.layout.unpack
        for a in acts:
            for x in closed:
                values = unpack(x)
                for g in self.model.actions[a].guards:
                    if not evaluate(g.cond, values):
                        clauses.update(dict.fromkeys(g.clauses))
        return list(clauses) or [UNEXPLAINED]

    def resync(self, observed: dict[str, Any]) -> None:
        """After a divergence: take the command with any answer the model allows, else skip it."""
        assert self._pending is not None
        closed, layer = self._pending
        loose = {k: v for k, v in observed.items() if k in self.rules.command_fields}
        nxt = {y for a in self._matching(loose) for x in closed if (y := self.steps[a](x)) is not None}
        self.candidates = frozenset(nxt or closed)
        self.history.clear()   # the next divergence is explained from here on
        self._pending = None

    def _path(self, state: int, current: _Layer) -> tuple[int, list[tuple[int, int]]]:
        """The oldest state within the history window and the (action, event index or -1
        when hidden) steps from it to `state`, a closure state of the `current` layer."""
        out: list[tuple[int, int]] = []
        state = current.back(state, out)
        for layer in reversed(self.layers):
            state = layer.back(state, out)
        out.reverse()
        return state, out


def _fold(steps: list[_Step]) -> _Step:
    """Retired cache entries folded into one coverage record (hits 1)."""
    total: dict[int, int] = {}
    for st in steps:
        for a, n in st.fired:
            total[a] = total.get(a, 0) + n * st.hits
    dummy = _Closure(states=frozenset(), hidden={}, bound_hit=False)
    return _Step(closure=dummy, nxt=frozenset(), links=_Links(), fired=sorted(total.items()), hits=1)


def _broken(model: LoadedModel, a: int, before: tuple, after: tuple | None) -> Any:
    """The first property of `model` that the step of action `a` from `before` to `after` breaks."""
    for p in model.properties:
        if p.kind == "transition":
            cond = p.per_action.get(a)
            if cond is not None and not evaluate(cond, before):
                return p
        elif p.kind == "invariant" and after is not None and p.expr is not None and not evaluate(p.expr, after):
            return p
    return None


def _safe_steps(model: LoadedModel, layout: Layout, steps: list[Any]) -> list[Any]:
    """Step functions that refuse any step breaking a property of the model."""
    def make(a: int, step: Any) -> Any:
        def safe(x: int) -> int | None:
            y = step(x)
            if y is None or _broken(model, a, layout.unpack(x), layout.unpack(y)) is not None:
                return None
            return y
        return safe
    return [make(a, st) for a, st in enumerate(steps)]


def divergence_violation(model: LoadedModel, r: Replayer, d: Divergence) -> Violation:
    """The divergence as a violation whose witness is the model's explanation of the
    events just before it (within the history window), with the state changes."""
    steps = []
    x = d.root
    before = r.layout.unpack(x) if x is not None else ()
    for number, (a, ev_index) in enumerate(d.path, 1):
        act = model.actions[a]
        event = dict(act.event) if act.event else None
        if event is not None and ev_index >= 0:
            event["index"] = ev_index
        x = r.steps[a](x) if x is not None else None
        assert x is not None, "a divergence's path starts at its root and each step is enabled"
        after = r.layout.unpack(x)
        changes = [Change(field=s.name, before=s.sort.decode(b), after=s.sort.decode(c))
                   for s, b, c in zip(model.slots, before, after, strict=True) if b != c]
        steps.append(Step(number=number, action=act.name, params=dict(act.params), label=act.label, event=event,
                          clauses=list(act.clauses), changes=changes))
        before = after
    initial = model.decode_state(r.layout.unpack(d.root)) if d.root is not None else {}
    observed = format_event({k: v for k, v in d.observed.items()})
    cmd = d.observed.get("cmd")
    if cmd is not None and not any((a.event or {}).get("cmd") == cmd for a in model.actions):
        observed = f"{observed} (not modelled: {cmd})"
    message = (f"event {d.index} (t={d.timestamp} ns): observed {observed}; the model allowed "
               f"{', '.join(d.expected) if d.expected else 'no such event here'}")
    if d.suspects:
        message += "; consistent with catalogue bug " + "; ".join(
            f"{s.bug} (breaks {s.property} [{', '.join(s.clauses)}] at event {s.event_index})" for s in d.suspects)
    explained = explanations(model, d.explained_by)
    if explained:
        message += "; conforms under " + " or ".join(_under(e) for e in explained)
    return Violation(property="divergence", kind="divergence", clauses=d.clauses, message=message,
                     witness=Witness(initial=initial, steps=steps), event_index=d.index, candidates=d.candidates,
                     expected=d.expected, explained_by=explained)


def explanations(model: LoadedModel, ids: list[str]) -> list[dict[str, Any]]:
    """Relaxation ids or preset names as {id, doc, preset, params}: `preset` is the (first)
    preset holding the relaxation, or the preset itself; `params` what -p would set."""
    relaxations, presets = model_relaxations(type(model.model))
    out = []
    for rid in ids:
        if rid in relaxations:
            holder = next((name for name, members in presets.items() if rid in members), None)
            out.append({"id": rid, "doc": relaxations[rid].doc, "preset": holder,
                        "params": dict(relaxations[rid].params)})
        else:
            members = presets.get(rid, ())
            params = {k: v for m in members for k, v in relaxations[m].params.items()}
            out.append({"id": rid, "doc": "; ".join(f"{m}: {relaxations[m].doc}" for m in members), "preset": rid,
                        "params": params})
    return out


def _under(e: dict[str, Any]) -> str:
    if e["preset"] == e["id"]:
        return f"compat={e['preset']} ({e['doc']})"
    if e["preset"] is not None:
        return f"compat={e['preset']} ({e['id']}: {e['doc']})"
    return " ".join(f"-p {k}={v}" for k, v in e["params"].items()) + f" ({e['id']}: {e['doc']})"


@dataclass(kw_only=True)
class ReplayOutcome:
    result: ReplayResult
    events: int
    error: InputError | None = None  # the trace was damaged after `events` events


def replay_events(model: LoadedModel, events: Iterator[Any], *, keep_going: bool = False,
                  hidden_kinds: Iterable[str] | None = None, max_candidates: int = DEFAULT_MAX_CANDIDATES,
                  progress: Callable[[int, float], None] | None = None, source: str = "trace",
                  steps: list[Any] | None = None) -> ReplayOutcome:
    """Replay decoded trace events; damage ends the replay with verdict `error`, keeping
    everything found in the events before it.

    Damage is a reader's InputError (eager decoding) or a record the model's `observe` or
    the driver rules cannot decode (lazy decoding, a CodecError): that one is reported as
    `source: event N: cannot decode: ...`.

    When the model defines `driver_rules()`, every event (also those after a divergence
    that stopped the replay) goes through them too, and their findings become
    `driver_findings`; they never change the verdict.

    `steps` are the model's step functions (`step_functions(model, Layout.of(model))`) when
    the caller already has them: generating them costs more than replaying a short capture."""
    r = Replayer(model, hidden_kinds=hidden_kinds, max_candidates=max_candidates, steps=steps)
    start = time.monotonic()
    divergences: list[Divergence] = []
    count = 0
    error: InputError | None = None
    observe, advance = model.model.observe, r.advance
    make_rules = getattr(model.model, "driver_rules", None)
    rules = make_rules() if callable(make_rules) else None
    driver = Findings()

    def judge(event: Any, observed: dict[str, Any] | None) -> None:
        assert rules is not None
        for clause, text in rules.step(event, observed):
            driver.add(event.index, clause_ids(clause), f"event {event.index}: {text}")

    at = -1  # the event being looked at, for a record that cannot be decoded
    try:
        for event in events:
            at = event.index
            observed = observe(event)
            count += 1
            if rules is not None:
                judge(event, observed)
            if progress is not None and count % 4096 == 0:
                progress(count, time.monotonic() - start)
            if observed is None:
                continue
            if advance(observed, event.index):
                continue
            divergences.append(r.explain(observed, event.index, event.timestamp))
            if not keep_going:
                break
            r.resync(observed)
        else:
            events = iter(())
        # stopped at the first divergence: read on, so damage further in is still bad input
        for event in events:
            at = event.index
            if rules is not None:
                judge(event, observe(event))
        if rules is not None:
            for clause, text in rules.finish():
                driver.add(None, clause_ids(clause), f"end of trace: {text}")
    except InputError as exc:
        error = exc
    except CodecError as exc:
        error = InputError(f"{source}: event {at}: cannot decode: {exc}")
    seconds = time.monotonic() - start
    violations = [divergence_violation(model, r, d) for d in divergences]
    # a divergence at or after the event where hidden steps were cut may be an artefact
    # of the bound: it is reported, but proves nothing
    real = [d for d in divergences if r.bound_hit_at is None or d.index < r.bound_hit_at]
    if error is not None:
        verdict = ERROR
    elif real:
        verdict = VIOLATED
    elif r.bound_hit:
        verdict = BOUNDED
    else:
        verdict = HOLDS
    clauses = sorted({c for d in divergences for c in d.clauses})
    prop = PropertyVerdict(name="conforms", kind="divergence", clauses=clauses or list(r.rules.default_clauses),
                           verdict=VIOLATED if real else (BOUNDED if error or r.bound_hit else HOLDS),
                           description="every observed event is one the model allows at that point")
    cov = cast(ReplayCoverage, coverage(model, r.fired))
    cov["divergences"] = len(divergences)
    cov["suspects"] = [{"divergence": d.index, **s.to_json()} for d in divergences for s in d.suspects]
    cov["warnings"] = dict(r.warnings.counts)
    cov["driver_findings"] = dict(driver.counts)
    notes = [f"{count:,} events replayed, at most {r.max_seen:,} candidate states"]
    for found, what in ((r.warnings, "SHOULD warning(s)"), (driver, "driver finding(s)")):
        if found.unlisted:
            notes.append(f"{found.unlisted:,} more {what} not listed (at most {FINDINGS_LIMIT} per clause set; "
                         f"counts per clause in coverage)")
    if error is not None:
        notes.append(f"trace damaged after {count:,} events: {error}")
    if r.bound_hit:
        notes.append(f"candidate set exceeded {max_candidates:,} states at event {r.bound_hit_at}; hidden steps "
                     f"were cut from there on, so a divergence at or after it may be an artefact (verdict bounded); "
                     f"raise --max-candidates")
    result = ReplayResult(model=model.name, params=model.params.as_dict(), engine="replay", verdict=verdict,
                          events=count, max_candidates=r.max_seen, model_steps=sum(r.fired),
                          hidden_kinds=list(r.hidden_kinds), seconds=round(seconds, 6),
                          bounds_hit=["max-candidates"] if r.bound_hit else [], properties=[prop],
                          violations=violations, coverage=cov, notes=notes, warnings=r.warnings.items,
                          driver_findings=driver.items)
    return ReplayOutcome(result=result, events=count, error=error)
