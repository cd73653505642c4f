"""A tiny model for `mcheck clauses` tests: one property-level clause a bug kills, one
guard-only clause, one clause of the catalogue never cited, and one typo (T-99)."""

from mcheck.model.definition import Array, Model, action, transition_property
from mcheck.model.expr import Enum, Int
from mcheck.model.params import Param

MODE = Enum("mode", "running", "stopped")


class Cited(Model):
    name = "cited"
    clause_catalogue = "cited-test"
    params = (Param(name="members", kind="int", default=2, lo=1, hi=3, doc="number of members"),)
    bugs = {"write-while-stopped": "the device writes while stopped"}

    def setup(self):
        m = self.index_set("members", range(1, self.p.members + 1), symmetric=True)
        self.var("mode", Array(m, MODE), init="running")
        self.var("writes", Array(m, Int(0, 2)), init=0)

    def end_state(self, s):
        return True

    @action(m="members")
    def write(self, s, m):
        s.require(s.writes[m] < 2)
        if not self.bug("write-while-stopped"):
            s.require(s.mode[m] == "running", "T-1")
        s.writes[m] = s.writes[m] + 1

    @action(m="members")
    def stop(self, s, m):
        s.require(s.mode[m] == "running", "T-2", "T-99")
        s.mode[m] = "stopped"

    @transition_property("T-1")
    def no_write_while_stopped(self, t):
        """A stopped member writes nothing."""
        if t.action != "write":
            return True
        return t.before.mode[t.params["m"]] == "running"
