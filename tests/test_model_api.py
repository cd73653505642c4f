"""The model API: definition-time errors say what to write instead; expressions refuse Python logic."""

from __future__ import annotations

import pytest

from mcheck.errors import InputError, ModelDefinitionError
from mcheck.model.build import build_model
from mcheck.model.definition import Array, Model, action, invariant
from mcheck.model.evaluate import evaluate
from mcheck.explore.codegen import py_expr
from mcheck.model.expr import BOOL, BitVec, Enum, If, Implies, Int, Not, Or, And
from mcheck.model.params import Param

MODE = Enum("mode", "a", "b")


def make(body, **extra):
    """A one-variable model class with `body` as its only action."""
    body.__name__ = "step"
    attrs = {"name": "tiny", "setup": lambda self: self.var("x", Int(0, 3), init=0), "step": action()(body)}
    attrs.update(extra)
    return type("Tiny", (Model,), attrs)


def test_python_if_on_a_model_value_is_refused():
    def body(self, s):
        if s.x > 1:
            s.x = 0
    with pytest.raises(ModelDefinitionError, match=r"Python 'if'.*If\(c, a, b\), s.when\(c\)"):
        build_model(make(body))


def test_model_without_actions_is_refused():
    cls = type("Empty", (Model,), {"name": "empty", "setup": lambda self: self.var("x", BOOL, init=False)})
    with pytest.raises(ModelDefinitionError, match=r"has no actions; decorate a method with @action"):
        build_model(cls)


def test_model_without_state_is_refused():
    cls = type("NoState", (Model,), {"name": "nostate", "setup": lambda self: None,
                                     "step": action()(lambda self, s: None)})
    with pytest.raises(ModelDefinitionError, match=r"declares no state variables; call self.var"):
        build_model(cls)


def test_property_without_clause_is_refused():
    cls = make(lambda self, s: None, p=invariant()(lambda self, s: s.x < 3))
    with pytest.raises(ModelDefinitionError, match=r"names no clause; write @invariant\(\"D-DP-9\""):
        build_model(cls)


def test_unknown_index_set_is_refused():
    cls = type("T", (Model,), {"name": "t", "setup": lambda self: self.var("x", BOOL, init=False),
                               "step": action(m="members")(lambda self, s, m: None)})
    with pytest.raises(ModelDefinitionError, match=r"ranges over index set 'members', which setup\(\) did not declare"):
        build_model(cls)


def test_symbolic_array_index_is_refused():
    def setup(self):
        self.index_set("m", range(2))
        self.var("y", Array(self._index_sets["m"], Int(0, 1)), init=0)
        self.var("i", Int(0, 1), init=0)
    cls = type("T", (Model,), {"name": "t", "setup": setup,
                               "step": action()(lambda self, s: s.y.__setitem__(s.i, 1))})
    with pytest.raises(ModelDefinitionError, match=r"indices must be concrete"):
        build_model(cls)


def test_wrong_type_assignment_is_refused():
    cls = make(lambda self, s: setattr(s, "x", MODE_VALUE()))
    with pytest.raises(ModelDefinitionError):
        build_model(cls)


def MODE_VALUE():
    from mcheck.model.expr import Const
    return Const(0, MODE)


def test_value_out_of_range_at_run_time_names_the_action():
    from mcheck.errors import ModelRuntimeError
    from mcheck.explore.check import check
    cls = make(lambda self, s: setattr(s, "x", s.x + 1))
    with pytest.raises(ModelRuntimeError, match=r"action step\(\) sets x to 4, outside int\[0..3\]"):
        check(build_model(cls))


def test_params_are_validated():
    cls = make(lambda self, s: None, params=(Param(name="n", kind="int", default=1, lo=1, hi=4, doc="n"),))
    assert build_model(cls, {"n": "3"}).params.n == 3
    with pytest.raises(InputError, match="out of range 1..4"):
        build_model(cls, {"n": "5"})
    with pytest.raises(InputError, match="unknown parameter 'm' for model tiny"):
        build_model(cls, {"m": "1"})


def test_bug_catalogue_adds_a_bug_parameter():
    cls = make(lambda self, s: None, bugs={"oops": "a mistake"})
    assert build_model(cls, {"bug": "oops"}).params.bug == "oops"
    with pytest.raises(InputError, match="unknown value"):
        build_model(cls, {"bug": "nope"})


def test_when_makes_effects_and_guards_conditional():
    def body(self, s):
        with s.when(s.x == 1):
            s.require(s.x < 3, "T-1")
            s.x = 2
    model = build_model(make(body))
    (act,) = model.actions
    assert [evaluate(act.assigns[0], (v,)) for v in range(4)] == [0, 2, 2, 3]
    assert [evaluate(act.guard, (v,)) for v in range(4)] == [1, 1, 1, 1]


# one table of expressions, evaluated by the reference interpreter and the generated code
from mcheck.model.expr import Slot  # noqa: E402

X = Slot(0, Int(0, 7), "x")
B = Slot(1, BitVec(4), "b")
F = Slot(2, BOOL, "f")
E = Slot(3, MODE, "e")
TABLE = [
    X + 3, X - 1, X == 2, X != 2, X < 4, X >= 5, B + 9, B - 3, B & 5, B | 8, B ^ 15, ~B, B << 1, B >> 2,
    And(F, X > 1), Or(F, X == 0), Not(F), Implies(F, X == 3), If(F, X, X + 1), E == "b", If(E == "a", B, B + 1),
]


@pytest.mark.parametrize("index", range(len(TABLE)))
def test_generated_code_agrees_with_the_reference_interpreter(index):
    expr = TABLE[index]
    source = py_expr(expr)
    for x in (0, 3, 7):
        for b in (0, 9, 15):
            for f in (0, 1):
                for e in (0, 1):
                    state = (x, b, f, e)
                    got = eval(source, {}, {"v0": x, "v1": b, "v2": f, "v3": e})
                    assert int(got) == evaluate(expr, state), (expr, state)
