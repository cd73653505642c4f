"""Model-definition errors name file, line and the action or property (issue 16 item 5).

One case per raise site of a model-definition error (mcheck/model/*.py): a small model
file written wrong, checked through the command line. The error is one line
`mcheck: error: FILE:LINE: ...`, exit 2, no traceback; LINE is the line marked `# <-`.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from mcheck.cli import main

TEMPLATE = '''\
from mcheck.model.definition import Array, Model, Ref, action, invariant, sometimes, transition_property
from mcheck.model.expr import BOOL, And, BitVec, Enum, If, Int, Op
from mcheck.model.params import Param, Relaxation


class M(Model):
    name = "m"
{attrs}
    def setup(self):
        self.members = self.index_set("members", [1, 2])
        self.var("n", Int(0, 3), init=0)
        self.var("b", BOOL, init=False)
        self.var("e", Enum("mode", "on", "off"), init="on")
        self.var("v", BitVec(8), init=0)
        self.var("a", Array(self.members, Array(self.members, BOOL)), init=False)
{setup}
    @action({over}){mark_action}
    def step(self, s{params}):
{body}
    @invariant("C-1"){mark_prop}
    def ok(self, s):
{prop}
{extra}'''

DEFAULTS = {"attrs": "", "setup": "", "over": "", "params": "", "body": "s.n = If(s.n < 3, s.n + 1, 0)",
            "prop": "return s.n <= 3", "extra": "", "mark_action": "", "mark_prop": ""}
INDENT = {"attrs": 4, "setup": 8, "body": 8, "prop": 8, "extra": 4}

# id -> (parts of TEMPLATE to replace, the message after "FILE:LINE: ")
CASES: dict[str, tuple[dict[str, str], str]] = {
    # ---- mcheck/model/definition.py
    "Ref ids not ints": ({"setup": 'k = self.index_set("k", ["x", "y"])\nself.var("r", Ref(k), init=0)  # <-'},
                         r"setup\(\): Ref\(k\): the index set's ids must be ints"),
    "Ref none is an id": ({"setup": 'self.var("r", Ref(self.members, none=1), init=0)  # <-'},
                          r"setup\(\): Ref\(members, none=1\): 'none' must not be an id of members"),
    "index set twice": ({"setup": 'self.index_set("members", [3])  # <-'},
                        r"setup\(\): index set 'members' declared twice"),
    "index set empty": ({"setup": 'self.index_set("q", [])  # <-'}, r"setup\(\): index set 'q' is empty"),
    "variable twice": ({"setup": 'self.var("n", BOOL, init=False)  # <-'},
                       r"setup\(\): state variable 'n' declared twice"),
    "variable name": ({"setup": 'self.var("_x", BOOL, init=False)  # <-'},
                      r"setup\(\): state variable name '_x' must be an identifier not starting with '_'"),
    "variable shape": ({"setup": 'self.var("w", int, init=0)  # <-'},
                       r"setup\(\): variable w: shape must be a sort .* got <class 'int'>"),
    "array index not a set": ({"setup": 'self.var("w", Array([1, 2], BOOL), init=False)  # <-'},
                              r"setup\(\): variable w: Array needs an index set"),
    "setup calls the base": ({"setup": "super().setup()  # <-"},
                             r"setup\(\): model M must define setup\(\) declaring its state variables"),
    "bug not in catalogue": ({"body": 's.require(self.bug("nope"))  # <-'},
                             r"action step\(\): bug 'nope' is used but not in the catalogue of m"),
    "index by a model value": ({"body": "s.a[s.n][1] = True  # <-"},
                               r"action step\(\): a\[...\] indexed by a model value"),
    "index not in the set": ({"body": "s.a[7][1] = True  # <-"},
                             r"action step\(\): a: index 7 is not in members \[1, 2\]"),
    "assign a whole row": ({"body": "s.a[1] = True  # <-"}, r"action step\(\): a: assign one element at a time"),
    "read an unknown variable": ({"prop": "return s.nope == 1  # <-"},
                                 r"property ok: no state variable 'nope' \(declared: n, b, e, v, a\)"),
    "property assigns a scalar": ({"prop": "s.n = 1  # <-"},
                                  r"property ok: cannot assign 'n' here: properties only read the state"),
    "property assigns an element": ({"prop": "s.a[1][1] = True  # <-"},
                                    r"property ok: cannot assign a here: properties only read the state"),
    "action assigns an unknown variable": ({"body": "s.nope = 1  # <-"},
                                           r"action step\(\): no state variable 'nope' to assign"),
    "action assigns an array": ({"body": "s.a = 1  # <-"},
                                r"action step\(\): a is an array: assign elements, a\[i\] = ..."),
    "emits twice": ({"body": 's.emit("x")\ns.emit("y")  # <-'}, r"action step\(\): an action emits at most one event"),
    "event field not concrete": ({"body": 's.emit("x", value=s.n)  # <-'},
                                 r"action step\(\): event field value must be concrete"),
    "assign the wrong type": ({"body": "s.e = s.n  # <-"}, r"action step\(\): cannot assign n \(int\[0..3\]\) to e \(mode\)"),
    "require a number": ({"body": "s.require(s.n)  # <-"}, r"action step\(\): s.require\(n\): n is a int\[0..3\], not a condition"),
    "when a number": ({"body": "with s.when(s.v):  # <-\n    s.n = 1"}, r"action step\(\): s.when\(v\): v is a bv8, not a condition"),
    # ---- mcheck/model/build.py
    "action raises": ({"body": "{}['x']  # <-"}, r"action step\(\) raised KeyError: 'x'"),
    "property raises": ({"prop": "return 1 / 0  # <-"}, r"property ok raised ZeroDivisionError: division by zero"),
    "action exits": ({"body": "raise SystemExit(3)  # <-"},
                     r"action step\(\) called sys.exit\(3\); model code must return or raise, never exit"),
    "initial value not in the enum": ({"setup": 'self.var("f", Enum("g", "p", "q"), init="z")  # <-'},
                                      r"setup\(\): initial value of f: 'z' is not a value of enum g"),
    "initial value function raises": ({"setup": 'self.var("f", Array(self.members, BOOL), init=lambda m: 1 / 0)  # <-'},
                                      r"setup\(\): initial value of f\[1\]: ZeroDivisionError: division by zero"),
    "no action domain index set": ({"over": 'm="queues"', "mark_action": "  # <-", "params": ", m"},
                                   r"action step: parameter m ranges over index set 'queues', which setup\(\) did not declare"),
    "action domain not iterable": ({"over": "m=3", "mark_action": "  # <-", "params": ", m"},
                                   r"action step: domain of m must be an index-set name or an iterable, got 3"),
    "action domain function raises": ({"over": "m=lambda model: model.nope", "mark_action": "  # <-", "params": ", m"},
                                      r"action step: domain of m raised AttributeError"),
    "every action disabled": ({"body": "s.require(False)", "attrs": ""},
                              r"every action of m is disabled for these parameters"),
    "property twice": ({"extra": "again = ok", "mark_prop": "  # <-"}, r"property ok defined twice"),
    "property names no clause": ({"extra": '@invariant()  # <-\ndef bare(self, s):\n    return True'},
                                 r"property bare names no clause"),
    "property forgets return": ({"extra": '@invariant("C-2")  # <-\ndef forgot(self, s):\n    s.n == 1'},
                                r"property forgot must return a condition \(an expression or True/False\), got None; "
                                r"did it forget `return`\?"),
    "property returns a number": ({"extra": '@sometimes("C-2")  # <-\ndef num(self, s):\n    return s.n'},
                                  r"property num must return a condition .*, got n$"),
    "transition property forgets return": (
        {"extra": '@transition_property("C-2")  # <-\ndef step_ok(self, t):\n    t.after.n == 1'},
        r"property step_ok \(for action step\(\)\) must return a condition .*got None; did it forget `return`\?"),
    "end_state forgets return": ({"extra": "def end_state(self, s):  # <-\n    s.n == 0"},
                                 r"end_state\(\) must return a condition .*got None; did it forget `return`\?"),
    "hand-built node": ({"extra": '@invariant("C-2")  # <-\ndef raw(self, s):\n    return Op("eq", (s.n, 1), BOOL)'},
                        r"property raw: eq node with arguments \(n, 1\); build expressions with the operators"),
    # ---- mcheck/model/expr.py (raised in model code)
    "not a bool": ({"body": "s.b = 2  # <-"}, r"action step\(\): 2 is not a bool"),
    "not an enum value": ({"body": 's.e = "bogus"  # <-'}, r"action step\(\): 'bogus' is not a value of enum mode"),
    "outside an int": ({"setup": 'self.var("f", Int(0, 2), init=5)  # <-'}, r"setup\(\): initial value of f: 5 is outside int\[0..2\]"),
    "does not fit a bit-vector": ({"body": "s.v = s.v & 300  # <-"}, r"action step\(\): 300 does not fit bv8"),
    "enum values not distinct": ({"setup": 'Enum("g", "p", "p")  # <-'}, r"setup\(\): enum g needs distinct values"),
    "Int lo above hi": ({"setup": "Int(3, 1)  # <-"}, r"setup\(\): Int\(3, 1\): lo must not exceed hi"),
    "BitVec width": ({"setup": "BitVec(0)  # <-"}, r"setup\(\): BitVec\(0\): width must be 1..64"),
    "python if on a model value": ({"body": "if s.n == 1:  # <-\n    pass"},
                                   r"action step\(\): a model value was used in a Python 'if', 'and', 'or' or 'not'"),
    "unknown operator": ({"prop": 'return Op("frob", (s.n,), BOOL)  # <-'}, r"property ok: unknown operator 'frob'"),
    "type of a literal": ({"body": 's.require(If(s.b, "p", "q") == "p")  # <-'},
                          r"action step\(\): cannot tell the type of 'p'; compare it with a model value"),
    "ordering an enum": ({"prop": 'return s.e < "off"  # <-'}, r"property ok: cannot apply lt to e \(mode\) and 'off' \(mode\)"),
    "comparing two sorts": ({"prop": "return s.e == s.b  # <-"}, r"property ok: cannot compare e \(mode\) with b \(bool\)"),
    "adding to an enum": ({"body": "s.n = s.b + s.n  # <-"}, r"action step\(\): add needs numbers, got b and n"),
    "bit operation on ints": ({"body": "s.n = s.n ^ 1  # <-"}, r"action step\(\): bvxor needs a bit-vector operand, got n and 1"),
    "And of a number": ({"prop": "return And(s.n)  # <-"}, r"property ok: n is not a condition"),
    "If branches differ": ({"body": "s.n = If(s.b, s.n, s.e)  # <-"}, r"action step\(\): If branches differ in type"),
    # ---- mcheck/model/params.py
    "parameter kind": ({"attrs": 'params = (Param(name="k", kind="float", default=1, doc="k"),)  # <-'},
                       r"parameter k: kind must be int, bool or choice"),
    "parameter default": ({"attrs": 'params = (Param(name="k", kind="choice", default="z", choices=("a",), doc="k"),)  # <-'},
                          r"parameter k: default 'z' is not among \('a',\)"),
    "relaxation type": ({"attrs": 'relaxations = {"r1": "loose"}  # <-'},
                        r"model m: relaxation 'r1' must be a Relaxation\(doc, params\)"),
    "relaxation unknown parameter": ({"attrs": 'relaxations = {"r1": Relaxation("loose", {"k": 1})}  # <-'},
                                     r"model m: relaxation r1 sets unknown parameter 'k'"),
    "relaxation bad value": ({"attrs": 'params = (Param(name="k", kind="int", default=1, lo=0, hi=2, doc="k"),)\n'
                                       'relaxations = {"r1": Relaxation("loose", {"k": 9})}  # <-'},
                             r"model m: relaxation r1: parameter k=9 for model m: out of range 0..2"),
    "preset unknown relaxation": ({"attrs": 'presets = {"p": ("r9",)}  # <-'},
                                  r"model m: preset p names unknown relaxation\(s\) r9"),
    "presets without compat": ({"attrs": 'relaxations = {"r1": Relaxation("loose", {})}\npresets = {"p": ("r1",)}  # <-'},
                               r"model m: presets need a choice parameter 'compat'"),
    "compat choices": ({"attrs": 'params = (Param(name="compat", kind="choice", default="none", choices=("none",), doc="c"),)\n'
                                 'relaxations = {"r1": Relaxation("loose", {})}\npresets = {"p": ("r1",)}  # <-'},
                       r"model m: parameter compat must offer exactly none and the presets \(p\), not none"),
}


def _source(parts: dict[str, str]) -> tuple[str, int]:
    fields = dict(DEFAULTS, **parts)
    for key, width in INDENT.items():
        fields[key] = textwrap.indent(fields[key], " " * width) + ("\n" if fields[key] else "")
    fields["body"] = fields["body"].rstrip("\n")
    fields["prop"] = fields["prop"].rstrip("\n")
    text = TEMPLATE.format(**fields)
    marked = [n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith("# <-")]
    return text, marked[0] if marked else 0


def _class_line(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith("class M("))


def _one_error_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("mcheck: error: ")
    return err[len("mcheck: error: "):].rstrip("\n")


@pytest.mark.parametrize("case", list(CASES))
def test_error_names_file_line_and_what(case: str, tmp_path: Path, capsys) -> None:
    parts, message = CASES[case]
    text, line = _source(parts)
    if case == "every action disabled":
        line = _class_line(text)
    assert line, "the case marks no line"
    path = tmp_path / "bad.py"
    path.write_text(text)
    err = _one_error_line(capsys, ["check", str(path), "-q"])
    prefix = f"{path}:{line}: "
    assert err.startswith(prefix), (err, prefix)
    assert re.search(message, err[len(prefix):]), err


def test_a_model_without_setup(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from mcheck.model.definition import Model, action\n\n\nclass M(Model):  # line 4\n"
                    "    name = 'm'\n\n    @action()\n    def step(self, s):\n        pass\n")
    assert _one_error_line(capsys, ["check", str(path)]) == f"{path}:4: model m must define setup() declaring its state variables"


def test_a_model_without_state(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from mcheck.model.definition import Model, action\n\n\nclass M(Model):\n    name = 'm'\n\n"
                    "    def setup(self):  # line 7\n        pass\n")
    assert _one_error_line(capsys, ["check", str(path)]) == (
        f"{path}:7: setup(): model m declares no state variables; call self.var(...)")


def test_a_model_without_actions(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from mcheck.model.definition import Model\nfrom mcheck.model.expr import BOOL\n\n\n"
                    "class M(Model):  # line 5\n    name = 'm'\n\n    def setup(self):\n"
                    "        self.var('b', BOOL, init=False)\n")
    assert _one_error_line(capsys, ["check", str(path)]) == (
        f"{path}:5: model m has no actions; decorate a method with @action(...)")


def test_model_is_not_a_class(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text("X = 1\n\nMODEL = X  # line 3\n")
    assert _one_error_line(capsys, ["check", str(path)]) == f"{path}:3: MODEL must name a Model subclass, not 1"


def test_two_model_classes(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from mcheck.model.definition import Model\n\n\nclass A(Model):\n    pass\n\n\nclass B(Model):  # 8\n"
                    "    pass\n")
    assert _one_error_line(capsys, ["check", str(path)]) == (
        f"{path}:8: expected exactly one Model subclass in {path} (found: A, B); or set MODEL = TheClass")


def test_a_model_that_cannot_observe(tmp_path: Path, capsys) -> None:
    text, _ = _source({})
    path = tmp_path / "bad.py"
    path.write_text(text)
    trace = Path(__file__).resolve().parents[1] / "traces" / "linux" / "r0-pf-bringup.jsonl"
    err = _one_error_line(capsys, ["replay", str(trace), "--model", str(path), "-q"])
    assert err == f"{path}:{_class_line(text)}: model m cannot replay traces: it defines no observe(event)"


def test_auxiliary_names_no_invariant(tmp_path: Path, capsys) -> None:
    text, line = _source({"attrs": 'auxiliary = ("nope",)  # <-'})
    path = tmp_path / "bad.py"
    path.write_text(text)
    err = _one_error_line(capsys, ["check", str(path), "--engine", "prove", "-q"])
    assert err == f"{path}:{line}: auxiliary names 'nope', which is not an @invariant of m (invariants: ok)"


def test_every_case_model_parses() -> None:
    """The table's models are Python (a case that fails to import tests nothing)."""
    for case, (parts, _) in CASES.items():
        compile(_source(parts)[0], case, "exec")
