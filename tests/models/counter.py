"""A tiny model for engine tests: a device that stops and resumes and does DMA."""

from mcheck.model.definition import Array, Model, action, sometimes, transition_property
from mcheck.model.expr import Enum, If, Int
from mcheck.model.params import Param

MODE = Enum("mode", "running", "stopped")


class Counter(Model):
    name = "counter"
    params = (Param(name="members", kind="int", default=2, lo=1, hi=6, doc="number of members"),)
    bugs = {"dma-after-stop": "the device keeps doing DMA while stopped"}

    def setup(self):
        m = self.index_set("members", range(1, self.p.members + 1), symmetric=True)
        self.var("mode", Array(m, MODE), init="running")
        self.var("inflight", Array(m, Int(0, 2)), init=0)
        self.var("dma", Array(m, Int(0, 3)), init=0)

    @action(m="members")
    def post(self, s, m):
        s.require(s.inflight[m] < 2)
        s.inflight[m] = s.inflight[m] + 1

    @action(m="members")
    def dma_write(self, s, m):
        s.require(s.inflight[m] > 0)
        if not self.bug("dma-after-stop"):
            s.require(s.mode[m] == "running", "D-DP-9")
        s.inflight[m] = s.inflight[m] - 1
        s.dma[m] = If(s.dma[m] < 3, s.dma[m] + 1, 3)
        s.emit("dma_write", member=m)

    @action(m="members", flags=[0, 1])
    def mode_set(self, s, m, flags):
        if flags:
            s.require(s.inflight[m] == 0, "D-DP-10")
            s.mode[m] = "stopped"
        else:
            s.mode[m] = "running"
        s.emit("admin", cmd="DEV_MODE_SET", member=m, flags=flags, status="OK")

    @transition_property("D-DP-9", "D-DP-16")
    def no_dma_while_stopped(self, t):
        """A stopped member starts no DMA."""
        if t.action != "dma_write":
            return True
        return t.before.mode[t.params["m"]] == "running"

    @sometimes("D-DP-9")
    def some_dma(self, s):
        return s.dma[1] == 3
