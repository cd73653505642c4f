"""A synthetic model for the Promela export: bit-vector wrap-around and shifts, swaps,
negative integers, several initial states, an invariant, deadlocks and end states."""

from mcheck.model.definition import Model, action, invariant, sometimes, transition_property
from mcheck.model.expr import BOOL, BitVec, Enum, Int
from mcheck.model.params import Param

PHASE = Enum("phase", "idle", "busy", "done")


class Exotic(Model):
    name = "exotic"
    params = (Param(name="width", kind="int", default=4, lo=2, hi=6, doc="bit-vector width"),)
    bugs = {
        "bad-invariant": "the invariant is too strong",
        "no-end-state": "the halted state is not declared an end state",
        "bad-swap": "swap loses a value",
    }

    def setup(self):
        w = self.p.width
        self.var("a", BitVec(w), init=[0, 5])
        self.var("b", BitVec(w), init=[1, 2])
        self.var("c", Int(-3, 3), init=0)
        self.var("halted", BOOL, init=False)
        self.var("phase", PHASE, init="idle")

    @action()
    def swap(self, s):
        s.require(~s.halted & (s.phase == "idle"))
        old_a, old_b = s.a, s.b  # effects read the state as they go: save both for a true swap
        s.a = old_b
        s.b = old_b if self.bug("bad-swap") else old_a
        s.phase = "busy"

    @action()
    def rotate(self, s):
        w = self.p.width
        s.require(~s.halted & (s.phase == "busy"))
        s.a = (s.a << 1) | (s.a >> (w - 1))
        s.b = ~s.b ^ s.a
        s.phase = "done"

    @action()
    def wrap(self, s):
        s.require(~s.halted & (s.phase == "done"))
        s.a = s.a + 3
        s.b = s.b - 1
        s.phase = "idle"

    @action()
    def shift_by(self, s):
        s.require(~s.halted & (s.c >= 0))
        s.a = s.a << s.b
        s.b = s.b >> s.a

    @action(up=[0, 1])
    def step_c(self, s, up):
        s.require(~s.halted)
        if up:
            s.require(s.c < 3)
            s.c = s.c + 1
        else:
            s.require(s.c > -3)
            s.c = s.c - 1

    @action()
    def halt(self, s):
        s.require(~s.halted & (s.c == -3) & (s.a == s.b))
        s.halted = True

    @invariant("X-1")
    def c_in_range(self, s):
        if self.bug("bad-invariant"):
            return s.c != -2
        return (s.c >= -3) & (s.c <= 3)

    @transition_property("X-2")
    def swap_keeps_values(self, t):
        if t.action != "swap":
            return True
        return (t.after.a == t.before.b) & (t.after.b == t.before.a)

    @sometimes("X-3")
    def halts(self, s):
        return s.halted

    def end_state(self, s):
        if self.bug("no-end-state"):
            return False
        return s.halted
