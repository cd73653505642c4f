"""A model whose Int variable can leave its range: both engines must stop with the model's error."""

from mcheck.model.definition import Model, action, invariant
from mcheck.model.expr import Int


class Overflow(Model):
    name = "overflow"

    def setup(self):
        self.var("n", Int(0, 2), init=0)

    @action()
    def bump(self, s):
        s.n = s.n + 1

    @invariant("T-1")
    def small(self, s):
        return s.n <= 2
