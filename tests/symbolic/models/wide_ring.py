"""A wide-domain ring model for the symbolic engine: 16-bit indices that wrap, 64-bit addresses.

Per member: the driver's avail index, the device's last_avail index, the used index
(all 16-bit, wrapping), the mode and a 64-bit descriptor-ring address that moves in 4 KiB
steps (wrapping at 2**64). The explicit engine cannot enumerate this; k-induction proves
index continuity for every index value; `inflight_bounded` needs the auxiliary invariant
`inflight_matches_indices`.
"""

from mcheck.model.definition import (
    Array,
    Model,
    action,
    invariant,
    sometimes,
    transition_property,
)
from mcheck.model.expr import And, BitVec, Enum, Implies
from mcheck.model.params import Param

MODE = Enum("mode", "running", "stopped")
IDX = BitVec(16)
ADDR = BitVec(64)


class WideRing(Model):
    name = "wide-ring"
    params = (
        Param(name="members", kind="int", default=2, lo=1, hi=128, doc="number of members"),
        Param(name="queue_size", kind="int", default=256, lo=1, hi=32768, doc="ring size"),
        Param(name="inflight_max", kind="int", default=4, lo=1, hi=32768, doc="buffers the device may hold"),
        Param(name="start", kind="int", default=0xFFFE, lo=0, hi=0xFFFF, doc="initial value of every index"),
    )
    bugs = {
        "complete-unfetched": "the device completes a buffer it never fetched",
        "fetch-past-avail": "the device fetches beyond the driver's avail index",
    }
    auxiliary = ("inflight_matches_indices",)

    def setup(self):
        m = self.index_set("members", range(1, self.p.members + 1), symmetric=True)
        self.var("mode", Array(m, MODE), init="running")
        self.var("avail_idx", Array(m, IDX), init=self.p.start)
        self.var("last_avail_idx", Array(m, IDX), init=self.p.start)
        self.var("used_idx", Array(m, IDX), init=self.p.start)
        self.var("inflight", Array(m, IDX), init=0)
        self.var("desc_addr", Array(m, ADDR), init=0xFFFF_FFFF_FFFF_F000)

    @action(m="members")
    def post(self, s, m):
        s.require(s.avail_idx[m] - s.used_idx[m] < self.p.queue_size)
        s.avail_idx[m] = s.avail_idx[m] + 1

    @action(m="members")
    def fetch(self, s, m):
        s.require(s.mode[m] == "running", "D-DP-9")
        if not self.bug("fetch-past-avail"):
            s.require(s.last_avail_idx[m] != s.avail_idx[m])
        s.require(s.last_avail_idx[m] - s.used_idx[m] < self.p.inflight_max)
        s.last_avail_idx[m] = s.last_avail_idx[m] + 1
        s.inflight[m] = s.inflight[m] + 1

    @action(m="members")
    def complete(self, s, m):
        if not self.bug("complete-unfetched"):
            s.require(s.used_idx[m] != s.last_avail_idx[m])
        s.used_idx[m] = s.used_idx[m] + 1
        s.inflight[m] = s.inflight[m] - 1

    @action(m="members")
    def stop(self, s, m):
        s.require(s.used_idx[m] == s.last_avail_idx[m], "D-DP-10")
        s.mode[m] = "stopped"

    @action(m="members")
    def resume(self, s, m):
        s.mode[m] = "running"

    @action(m="members")
    def relocate(self, s, m):
        s.require(s.mode[m] == "stopped")
        s.desc_addr[m] = s.desc_addr[m] + 0x1000

    @invariant("D-DP-10")
    def index_continuity(self, s):
        """last_avail_idx - used_idx (mod 2**16) never exceeds the in-flight bound."""
        return And(s.last_avail_idx[m] - s.used_idx[m] <= self.p.inflight_max for m in self.members())

    @invariant("D-DP-10")
    def inflight_bounded(self, s):
        """The device never holds more buffers than the bound (the fetch guard reads indices, not this)."""
        return And(s.inflight[m] <= self.p.inflight_max for m in self.members())

    @invariant("D-DP-10")
    def inflight_matches_indices(self, s):
        """Helper: the in-flight count is exactly last_avail_idx - used_idx (mod 2**16)."""
        return And(s.last_avail_idx[m] - s.used_idx[m] == s.inflight[m] for m in self.members())

    @invariant("D-DP-10")
    def device_behind_driver(self, s):
        """avail_idx - last_avail_idx (mod 2**16) never exceeds the ring size."""
        return And(s.avail_idx[m] - s.last_avail_idx[m] <= self.p.queue_size for m in self.members())

    @invariant("D-DP-10")
    def stopped_is_drained(self, s):
        """A stopped member has nothing in flight."""
        return And(Implies(s.mode[m] == "stopped", s.used_idx[m] == s.last_avail_idx[m]) for m in self.members())

    @invariant("D-DP-19")
    def ring_page_aligned(self, s):
        """The 64-bit ring address stays 4 KiB aligned across wrap-around."""
        return And(s.desc_addr[m] & 0xFFF == 0 for m in self.members())

    @transition_property("D-DP-9")
    def no_fetch_while_stopped(self, t):
        """A stopped member fetches nothing."""
        if t.action != "fetch":
            return True
        return t.before.mode[t.params["m"]] == "running"

    @sometimes("D-DP-10")
    def used_index_wraps(self, s):
        return s.used_idx[1] == 0

    @sometimes("D-DP-19")
    def address_wraps(self, s):
        return s.desc_addr[1] == 0

    def members(self):
        return range(1, self.p.members + 1)
