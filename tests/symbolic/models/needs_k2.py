"""x cycles 0 <-> 1; from the unreachable 2 a step would reach 3.

`never_three` holds in every reachable state but is not 1-inductive (2 satisfies it and
steps to 3); it is 2-inductive, since no state steps into 2.
"""

from mcheck.model.definition import Model, action, invariant
from mcheck.model.expr import If, Int


class NeedsK2(Model):
    name = "needs-k2"

    def setup(self):
        self.var("x", Int(0, 3), init=0)

    @action()
    def tick(self, s):
        s.require(s.x <= 1)
        s.x = If(s.x == 0, 1, 0)

    @action()
    def go(self, s):
        s.require(s.x == 2)
        s.x = 3

    @invariant("T-1")
    def never_three(self, s):
        return s.x != 3
