"""Building a catalogue-bug variant `like=` the build without the bug reruns only the code
that asked about that bug, and gives exactly the model a full build gives: the same
actions in the same order, the same generated step code, the same property conditions.
A model that reads the `bug` parameter itself, or asks about a bug in setup() or a
property, is rebuilt where it asked."""

from __future__ import annotations

import pytest

from mcheck.explore.codegen import Layout
from mcheck.model.build import LoadedModel, build_model
from mcheck.model.definition import Model, action, invariant, transition_property
from mcheck.model.expr import Int
from mcheck.model.registry import find_model_class
from mcheck.replay.stepper import step_source


def fingerprint(m: LoadedModel) -> tuple:
    return (step_source(m, Layout.of(m)),
            [(p.name, p.kind, repr(p.expr), sorted((k, repr(e)) for k, e in p.per_action.items()))
             for p in m.properties],
            [(a.index, a.label, a.clauses, dict(a.event or {}), a.sites) for a in m.actions],
            repr(m.end_state), m.initial)


@pytest.mark.parametrize("name,params", [
    ("virtio-1.4", {}), ("draft-v1", {"flow": "free"}), ("virtio-1.4-migration", {}),
    pytest.param("virtio-1.4", {"compat": "linux", "members": 2}, marks=pytest.mark.slow)])
def test_every_catalogue_variant_equals_its_full_build(name, params):
    cls = find_model_class(name)
    base = build_model(cls, params)
    assert base.reuse is not None
    for bug in cls.bugs:
        fast = build_model(cls, {**params, "bug": bug}, like=base)
        assert fingerprint(fast) == fingerprint(build_model(cls, {**params, "bug": bug})), bug
        assert fast.reuse is None   # a variant is not a base for others


class Tiny(Model):
    """Three actions: one asks bug("a") through Model.bug, one reads the parameter itself,
    one never looks at bugs; a transition property asks bug("b")."""
    name = "tiny-bugs"
    bugs = {"a": "step_a goes to 2", "b": "the property accepts anything", "c": "only read as p.bug"}

    def setup(self):
        self.var("x", Int(0, 3), init=0)

    @action()
    def step_a(self, s):
        s.x = 2 if self.bug("a") else 1

    @action()
    def step_p(self, s):
        s.x = 3 if self.p.bug == "c" else 0

    @action()
    def plain(self, s):
        s.require(s.x == 1)
        s.x = 0

    @invariant("T-1")
    def small(self, s):
        return s.x < 4

    @transition_property("T-2")
    def from_zero(self, t):
        return True if self.bug("b") else t.before.x <= t.after.x + 3


@pytest.mark.parametrize("bug", ["a", "b", "c"])
def test_code_that_asks_is_rebuilt(bug):
    base = build_model(Tiny)
    asked = [sorted(a) for a, _ in base.reuse.decls]
    assert asked == [["a"], ["*"], []]
    fast = build_model(Tiny, {"bug": bug}, like=base)
    assert fingerprint(fast) == fingerprint(build_model(Tiny, {"bug": bug}))
    plain = next(a for a in fast.actions if a.name == "plain")
    assert plain.guard is next(a for a in base.actions if a.name == "plain").guard   # taken, not rebuilt


def test_other_parameters_or_a_base_with_a_bug_are_not_reused():
    cls = find_model_class("virtio-1.4")
    base = build_model(cls, {})
    other = build_model(cls, {"members": 2, "bug": "dma-after-stop"}, like=base)
    assert fingerprint(other) == fingerprint(build_model(cls, {"members": 2, "bug": "dma-after-stop"}))
    assert build_model(cls, {"bug": "dma-after-stop"}).reuse is None
