"""virtio 1.4 migration end to end: a source member and a destination member per pair.

One index of this model is one *migration pair*: a source VF on one owner and a destination
VF on another, with the guest whose rings they serve and the hypervisor that moves it. It
asks whether a migration *worked*, which the single-member model (models/virtio_1_4.py)
cannot: the destination runs with the parts the source had, every buffer the guest posted
is used exactly once, nobody touches guest memory when they must not, the guest is told
about every used buffer, a cancelled migration leaves the source intact, and a destination
that cannot take the guest's features refuses them.

The admin commands' full answer sets (validation order, opcode sets, capabilities) are the
single-member model's job; here each command has the answers that matter to a migration
(success, a refusal where the spec requires or permits one, a transient EAGAIN/ENOMEM), and
the per-host captures of a pair are also replayed against virtio-1.4 (docs/migration.md).

Device parts, with small domains that still tell right from wrong (docs/migration.md):
- features: bit A (every device offers it) and bit B (the source offers it, the
  destination perhaps not: `dst_features`); the guest accepts A or A+B;
- device_status: reset, features_ok, driver_ok, needs_reset (device error), failed (the
  driver gave up), the byte values of §2.1's bits;
- PCI_COMMON_CFG: msix_config (no vector / the guest's vector);
- per queue VQ_CFG: size (device maximum / the guest's smaller size), enabled, the three
  ring addresses as symbols (0 unset, 1 descriptor area, 2 driver area, 3 device area) and
  the MSI-X vector; VQ_NOTIFY_CFG: the notify offset, a property of the device (source 1,
  destination 2 until a SET brings the source's).

Virtqueue run-time state (Q4): the guest's avail index (`posted`) and used index in guest
memory (`gused`), per device its consumption point (`la`, last_avail_idx) and the next used
slot it writes (`du`); in flight = la - du. Indices are bit-vectors that wrap
(`index_bits`: 2 for the explicit engine, 16 for the real split ring and Z3). No part carries
last_avail_idx, so at resume a device derives its position from the used index in guest
memory, which the stop wrote back for every buffer it had observed (D-DP-10/11).
Clause IDs: shared/reference/virtio-1.4-device-parts.md §10; MIG-* are this model's
end-to-end requirements (models/clauses/virtio-1.4-migration.toml), each with its basis.
"""

from __future__ import annotations

from typing import Any

from mcheck.errors import ModelDefinitionError
from mcheck.model.definition import Array, Model, action, invariant, sometimes, transition_property
from mcheck.model.expr import BOOL, And, BitVec, Enum, If, Implies, Int, Not, Or
from mcheck.model.params import Param
from mcheck.models.migration_observe import REPLAY_RULES

SIDES = ("src", "dst")
MODE = Enum("mode", "running", "stopped")
FAULT = Enum("fault", "none", "flr")
OBJ = Enum("obj", "none", "get", "set")
STATUS = Enum("device_status", "reset", "features_ok", "driver_ok", "needs_reset", "failed")
# the hypervisor's position (Linux flow, linux-qemu-flows.md §9): source and destination
SRC_PHASE = Enum("src_phase", "idle", "created", "precopy", "stopped", "final", "saved", "cancelled", "done",
                 "failed", "recover", "recover2")
DST_PHASE = Enum("dst_phase", "idle", "stopped", "loading", "loaded", "closed", "running", "torn", "wiped")
ANSWERS = ("ok", "refused", "transient")

FEAT_A, FEAT_AB = 1, 3           # accepted/offered feature sets: bit A, bits A and B
NOTIFY_OFF = {"src": 1, "dst": 2}  # each device's own queue_notify_off
# the guest driver's configuration of a queue and of the common config
CONFIGURED = {"size": 1, "en": True, "desc": 1, "drv": 2, "dev": 3, "vec": 1}
SCALARS = ("status", "feat", "msix")
QUEUE_FIELDS = ("size", "en", "desc", "drv", "dev", "vec", "notify")
ENV = "MIG-ENV-1"


class Virtio14Migration(Model):
    name = "virtio-1.4-migration"
    description = ("virtio 1.4 migration end to end: per pair a source and a destination member, device-part "
                   "contents, virtqueue positions, the Linux flows (pre-copy, stop-copy, cancel, FLR) or any command")
    profile = "virtio-1.4"
    conformance_adapter = "mcheck.conformance.adapt14"
    clause_catalogue = "virtio-1.4-migration"
    unobserved = ("doorbell",)
    replay_rules = REPLAY_RULES  # what the replayer needs beyond event fields (mcheck/replay/rules.py)
    params = (
        Param(name="pairs", kind="int", default=1, lo=1, hi=4,
              doc="migration pairs (a source VF and a destination VF each, on two owners), symmetric"),
        Param(name="queues", kind="int", default=1, lo=1, hi=2, doc="virtqueues per member"),
        Param(name="buffers", kind="int", default=2, lo=1, hi=3,
              doc="buffers the guest keeps outstanding per queue (posted and not yet used)"),
        Param(name="index_bits", kind="int", default=2, lo=2, hi=16,
              doc="width of the ring indices; they wrap modulo 2^bits (2: explicit engine; 16: the split ring, Z3)"),
        Param(name="index_start", kind="int", default=0, lo=0, hi=0xFFFF,
              doc="the guest's and the source's ring indices at the start (with 16 bits, 0xFFFE wraps after two)"),
        Param(name="faults", kind="int", default=1, lo=0, hi=2,
              doc="FLRs the hypervisor may see per member per run (source during stop-copy, destination while loading)"),
        Param(name="flow", kind="choice", default="linux", choices=("linux", "free"),
              doc="hypervisor: linux = the virtio_vfio_pci/QEMU flows (pre-copy reads while running, stop-copy, "
                  "destination SET and resume, cancel before and after switchover, FLR during stop-copy); "
                  "free = any command to either member at any time, the guest staying on the source "
                  "(device-side properties only)"),
        Param(name="dst_features", kind="choice", default="any", choices=("any", "same", "fewer"),
              doc="features the destination offers: the source's (A+B), fewer (A only), or any (both initial states)"),
        Param(name="features_mismatch", kind="choice", default="either", choices=("reject", "either"),
              doc="D-DP-7/D-DP-8: a SET whose DEV_FEATURES differ from the device's: refused, or either (the OPTIONAL "
                  "part may be ignored); accepted features the device does not offer are refused in both"),
        Param(name="mode_after_reset", kind="choice", default="either", choices=("either", "running", "keep"),
              doc="Q1: a member's mode after its FLR (spec silent: either)"),
        Param(name="objects_after_flr", kind="choice", default="either", choices=("either", "survive", "destroyed"),
              doc="T5: a member's resource object after its FLR (spec silent: either)"),
        Param(name="get_after_set", kind="choice", default="either", choices=("either", "set", "before"),
              doc="GET after SET and before the resume returns the SET parts or the parts in effect (silent: either)"),
        Param(name="resume_notify", kind="choice", default="device", choices=("device", "driver"),
              doc="Q21: used buffers written back at the stop (no notification allowed while stopped) are notified "
                  "by the device after resume (device), or the spec leaves it to the driver to look (driver)"),
    )
    bugs = {
        "get-wrong-queue-address": "DEV_PARTS_GET reports the driver area (avail ring) address with the descriptor area's",
        "get-drops-feature": "DEV_PARTS_GET's DRV_FEATURES leaves out accepted feature bit B",
        "stop-no-used-index": "DEV_MODE_SET(stop) writes the used elements of in-flight buffers but not the used index",
        "dst-stale-position": "at resume the device keeps its own consumption point instead of deriving it from the "
                              "used index in guest memory",
        "resume-no-notify": "after resume the device does not notify used buffers written back at the stop",
        "set-applied-early": "DEV_PARTS_SET changes the parts at once, not at the next resume",
        "accepts-unoffered-features": "DEV_PARTS_SET is accepted with an accepted feature the device does not offer",
    }

    # inductive strengthening for `mcheck check --engine prove` (docs/symbolic.md)
    auxiliary = ("rings_ordered", "quiet_sides", "positions_continuous", "phases_agree", "record_is_source",
                 "features_offered", "waiting_is_owed")

    @classmethod
    def topology_params(cls, members, queues):
        """Wire members 2m-1 and 2m are pair m (models/migration_observe.py)."""
        out = {"pairs": (max(members) + 1) // 2} if members else {}
        if queues:
            out["queues"] = queues
        return out

    # ------------------------------------------------------------------ state

    def setup(self) -> None:
        p = self.p
        self.P = self.index_set("pairs", range(1, p.pairs + 1), symmetric=True)
        self.D = self.index_set("side", SIDES)
        self.Q = self.index_set("queues", range(p.queues))
        self.B = p.buffers
        self.linux = p.flow == "linux"
        idx = BitVec(p.index_bits)
        if p.index_start >> p.index_bits:
            raise ModelDefinitionError(f"index_start {p.index_start:#x} does not fit index_bits={p.index_bits}")
        if p.buffers >= 1 << p.index_bits:
            raise ModelDefinitionError(f"buffers={p.buffers} needs index_bits > {p.buffers.bit_length()}")
        P, D, Q = self.P, self.D, self.Q
        start = p.index_start
        offers = {"any": [FEAT_AB, FEAT_A], "same": FEAT_AB, "fewer": FEAT_A}[p.dst_features]

        def on_src(value, other):
            return lambda pair, d, *q: value if d == "src" else other

        # devices
        self.var("mode", Array(P, Array(D, MODE)), init="running")
        self.var("fault", Array(P, Array(D, FAULT)), init="none")
        self.var("faults_left", Array(P, Array(D, Int(0, p.faults))), init=p.faults)
        self.var("obj", Array(P, Array(D, OBJ)), init="none")
        self.var("offer", Array(P, Array(D, Int(0, 3))), init=on_src(FEAT_AB, offers))  # DEV_FEATURES
        # device parts in effect
        self.var("status", Array(P, Array(D, STATUS)), init="reset")
        self.var("feat", Array(P, Array(D, Int(0, 3))), init=0)             # DRV_FEATURES
        self.var("msix", Array(P, Array(D, Int(0, 1))), init=0)             # PCI_COMMON_CFG msix_config
        self.var("size", Array(P, Array(D, Array(Q, Int(0, 1)))), init=0)
        self.var("en", Array(P, Array(D, Array(Q, BOOL))), init=False)
        self.var("desc", Array(P, Array(D, Array(Q, Int(0, 3)))), init=0)
        self.var("drv", Array(P, Array(D, Array(Q, Int(0, 3)))), init=0)
        self.var("dev", Array(P, Array(D, Array(Q, Int(0, 3)))), init=0)
        self.var("vec", Array(P, Array(D, Array(Q, Int(0, 1)))), init=0)
        self.var("notify", Array(P, Array(D, Array(Q, Int(0, 2)))), init=lambda pair, d, q: NOTIFY_OFF[d])
        # parts written by SET, applied at the next resume (I-DP-5)
        self.var("pend", Array(P, Array(D, BOOL)), init=False)
        for f in SCALARS:
            self.var("p_" + f, Array(P, Array(D, self._sort(f))), init=self._default(f, "src"))
        for f in QUEUE_FIELDS:
            self.var("p_" + f, Array(P, Array(D, Array(Q, self._sort(f)))),
                     init=lambda pair, d, q, f=f: self._default(f, d))
        # device-side queue state: consumption point, next used slot, a notification owed
        self.var("la", Array(P, Array(D, Array(Q, idx))), init=on_src(start, 0))
        self.var("du", Array(P, Array(D, Array(Q, idx))), init=on_src(start, 0))
        self.var("owed", Array(P, Array(D, Array(Q, BOOL))), init=False)
        # the record the hypervisor read last (the migration stream), per pair
        self.var("x_offer", Array(P, Int(0, 3)), init=0)
        for f in SCALARS:
            self.var("x_" + f, Array(P, self._sort(f)), init=self._default(f, "src"))
        for f in QUEUE_FIELDS:
            self.var("x_" + f, Array(P, Array(Q, self._sort(f))), init=lambda pair, q, f=f: self._default(f, "src"))
        # the guest: which host it runs on, its rings in guest memory, a ghost of buffers taken
        self.var("host", Array(P, Enum("host", *SIDES)), init="src")
        self.var("posted", Array(P, Array(Q, idx)), init=start)
        self.var("gused", Array(P, Array(Q, idx)), init=start)
        self.var("taken", Array(P, Array(Q, idx)), init=start)
        self.var("waiting", Array(P, Array(Q, BOOL)), init=False)   # used entries not yet notified
        # the hypervisor
        self.var("sp", Array(P, SRC_PHASE), init="idle")
        self.var("dp", Array(P, DST_PHASE), init="idle")

    @staticmethod
    def _sort(f: str):
        return {"status": STATUS, "feat": Int(0, 3), "msix": Int(0, 1), "size": Int(0, 1), "en": BOOL,
                "desc": Int(0, 3), "drv": Int(0, 3), "dev": Int(0, 3), "vec": Int(0, 1), "notify": Int(0, 2)}[f]

    @staticmethod
    def _default(f: str, d: str):
        return {"status": "reset", "feat": 0, "msix": 0, "size": 0, "en": False, "desc": 0, "drv": 0, "dev": 0,
                "vec": 0, "notify": NOTIFY_OFF[d]}[f]

    # ------------------------------------------------------------------ helpers

    def parts(self, s, p, d, prefix: str = "") -> list[tuple[str, Any]]:
        """(field, value) of every migrated part of member (p, d): in effect, or pending (`p_`)."""
        out = [(f, getattr(s, prefix + f)[p][d]) for f in SCALARS]
        for q in self.Q:
            out += [(f"{f}[{q}]", getattr(s, prefix + f)[p][d][q]) for f in QUEUE_FIELDS]
        return out

    def record(self, s, p) -> list[tuple[str, Any]]:
        out = [(f, getattr(s, "x_" + f)[p]) for f in SCALARS]
        for q in self.Q:
            out += [(f"{f}[{q}]", getattr(s, "x_" + f)[p][q]) for f in QUEUE_FIELDS]
        return out

    @staticmethod
    def same(a, b):
        return And(*(x == y for (_, x), (_, y) in zip(a, b, strict=True)))

    def _copy_parts(self, s, p, d, src_of) -> None:
        """Assign every part of (p, d) from `src_of(field, q)` (q None for scalars)."""
        for f in SCALARS:
            getattr(s, f)[p][d] = src_of(f, None)
        for q in self.Q:
            for f in QUEUE_FIELDS:
                getattr(s, f)[p][d][q] = src_of(f, q)

    def _reset_parts(self, s, p, d) -> None:
        """D-DP-22: every part back to its default; nothing held for a resume; queues idle."""
        self._copy_parts(s, p, d, lambda f, q: self._default(f, d))
        s.pend[p][d] = False
        for q in self.Q:
            s.la[p][d][q] = 0
            s.du[p][d][q] = 0
            s.owed[p][d][q] = False
        s.cite("D-DP-22")

    def _restart_rings(self, s, p, d) -> None:
        """The guest driver on this member starts its rings again after a reset."""
        for q in self.Q:
            with s.when(s.host[p] == d):
                s.posted[p][q] = 0
                s.gused[p][q] = 0
                s.taken[p][q] = 0
                s.waiting[p][q] = False

    def _readings(self, name: str) -> tuple[str, ...]:
        value = getattr(self.p, name)
        choices = next(x.choices for x in self.params if x.name == name)
        return tuple(c for c in choices if c != "either") if value == "either" else (value,)

    def guest_on(self, s, p, d):
        """The guest runs on this member: the source until the stop-copy (again after a cancel),
        the destination once resumed. The hypervisor pauses the guest from the source's stop
        to the destination's resume (VFIO STOP, linux-qemu-flows.md §9.2)."""
        if not self.linux:
            return And(s.host[p] == d, s.fault[p][d] == "none")
        if d == "src":
            return And(s.host[p] == "src", s.fault[p][d] == "none",
                       Or(*(s.sp[p] == ph for ph in ("idle", "created", "precopy"))))
        return And(s.host[p] == "dst", s.dp[p] == "running", s.fault[p][d] == "none")

    def sp_in(self, s, p, *names):
        return Or(*(s.sp[p] == n for n in names))

    def dp_in(self, s, p, *names):
        return Or(*(s.dp[p] == n for n in names))

    def _answer(self, s, answer: str, ok_cond, *, must_fail=None, may_fail=None, clauses=()) -> bool:
        """Guards of one answer: ok when `ok_cond` holds and nothing forces a failure; refused
        when something forces one (or permits one); transient (EAGAIN/ENOMEM) always (D-AQ-7).
        Returns whether the answer is a success."""
        if answer == "ok":
            s.require(ok_cond, *clauses)
            if must_fail is not None:
                s.require(Not(must_fail), *clauses)
            return True
        if answer == "refused":
            reasons = [Not(ok_cond)] + ([must_fail] if must_fail is not None else []) + \
                ([may_fail] if may_fail is not None else [])
            s.require(Or(*reasons), *clauses)
        return False

    def _emit_admin(self, s, cmd: str, p, d, answer: str, **fields) -> None:
        extra: dict[str, bool | str] = {"ok": answer == "ok", "transient": answer == "transient"}
        if answer == "ok":
            extra["status"] = "OK"
        s.emit("admin", cmd=cmd, member=p, side=d, **fields, **extra)

    # ------------------------------------------------------------------ guest driver

    @action(p="pairs", d="side", feat=(FEAT_A, FEAT_AB))
    def guest_features(self, s, p, d, feat):
        """The guest driver accepts features the device offers and sets FEATURES_OK."""
        s.require(self.guest_on(s, p, d), ENV)
        s.require(s.status[p][d] == "reset")
        s.require(Or(s.offer[p][d] == feat, s.offer[p][d] == FEAT_AB))
        if not self.linux:   # free hypervisor: one configuration with both bits (what the bugs need)
            s.require(feat == FEAT_AB)
        s.status[p][d] = "features_ok"
        s.feat[p][d] = feat

    @action(p="pairs", d="side")
    def guest_driver_ok(self, s, p, d):
        """The guest driver sets up its queues (size, ring addresses, vector), enables them and sets DRIVER_OK."""
        s.require(self.guest_on(s, p, d), ENV)
        s.require(s.status[p][d] == "features_ok")
        s.status[p][d] = "driver_ok"
        s.msix[p][d] = 1
        for q in self.Q:
            for f, v in CONFIGURED.items():
                getattr(s, f)[p][d][q] = v

    @action(p="pairs", d="side")
    def guest_fail(self, s, p, d):
        """The guest driver gives up during initialisation and sets FAILED."""
        s.require(self.linux)   # the free hypervisor's device checks need no failed drivers (fewer states)
        s.require(self.guest_on(s, p, d), ENV)
        s.require(s.status[p][d] == "features_ok")
        s.status[p][d] = "failed"

    @action(p="pairs", d="side")
    def guest_reset(self, s, p, d):
        """The guest driver writes device_status 0: a member reset (D-DP-22), then starts over."""
        s.require(self.guest_on(s, p, d), ENV)
        s.require(s.status[p][d] != "reset")
        self._reset_parts(s, p, d)
        self._restart_rings(s, p, d)
        s.emit("member_reset", member=p, side=d)

    @action(p="pairs", d="side", q="queues")
    def guest_post(self, s, p, d, q):
        """The guest makes a buffer available and rings the doorbell (accepted in any mode, D-DP-12)."""
        s.require(self.guest_on(s, p, d), ENV)
        s.require(And(s.status[p][d] == "driver_ok", s.en[p][d][q]))
        s.require(s.posted[p][q] - s.gused[p][q] < self.B)
        s.posted[p][q] = s.posted[p][q] + 1
        s.emit("doorbell", member=p, side=d, queue=q)

    # ------------------------------------------------------------------ device

    def _device_runs(self, s, p, d, q=None):
        """A device works on the guest's rings only while running, out of reset and with the guest's
        memory (D-DP-9, D-DP-16); the hypervisor gives it the guest only on its host (ENV)."""
        s.require(s.host[p] == d, ENV)
        s.require(s.fault[p][d] == "none")
        s.require(s.mode[p][d] == "running", "D-DP-9", "D-DP-16")
        s.require(s.status[p][d] == "driver_ok")
        if q is not None:
            s.require(s.en[p][d][q])

    @action(p="pairs", d="side", q="queues")
    def consume(self, s, p, d, q):
        """The device reads the next avail entry: the buffer is now in flight."""
        self._device_runs(s, p, d, q)
        s.require(s.la[p][d][q] != s.posted[p][q])
        s.la[p][d][q] = s.la[p][d][q] + 1
        if self.linux:
            s.taken[p][q] = s.taken[p][q] + 1

    @action(p="pairs", d="side", q="queues")
    def complete(self, s, p, d, q):
        """The device writes the buffer's data, its used element and the used index (DMA)."""
        self._device_runs(s, p, d, q)
        s.require(s.du[p][d][q] != s.la[p][d][q])
        s.gused[p][q] = s.du[p][d][q] + 1
        s.du[p][d][q] = s.du[p][d][q] + 1
        s.owed[p][d][q] = True
        s.waiting[p][q] = True
        s.emit("dma_write", member=p, side=d)

    @action(p="pairs", d="side", q="queues")
    def notify(self, s, p, d, q):
        """A used-buffer notification: the guest looks at the used ring. A device may notify without
        a new used buffer (drivers tolerate spurious notifications)."""
        self._device_runs(s, p, d, q)
        s.owed[p][d][q] = False
        s.waiting[p][q] = False
        s.emit("used_notify", member=p, side=d, queue=q)

    @action(p="pairs", d="side")
    def device_error(self, s, p, d):
        """The device hits an internal error and sets DEVICE_NEEDS_RESET; it stops using its queues."""
        s.require(self.linux)   # as guest_fail
        self._device_runs(s, p, d)
        s.status[p][d] = "needs_reset"

    # ------------------------------------------------------------------ admin commands

    def _flow_mode_set(self, s, p, d, stop: bool):
        """Linux flow: which DEV_MODE_SET the hypervisor sends now, and the phase after success."""
        if d == "src":
            if stop:   # switchover (PRE_COPY -> PRE_COPY_P2P); recovery after a failed stop-copy
                return Or(s.sp[p] == "precopy", s.sp[p] == "recover"), {"precopy": "stopped", "recover": "recover2"}
            # cancel after switchover (R4; the destination is not committed) and recovery (R5/R6)
            return Or(And(self.sp_in(s, p, "saved", "cancelled"), Not(self.dp_in(s, p, "closed", "running"))),
                      s.sp[p] == "recover2"), {"saved": "idle", "cancelled": "idle", "recover2": "idle"}
        if stop:       # load_setup: RUNNING -> RESUMING starts with a stop
            return And(s.dp[p] == "idle", s.sp[p] != "done"), {"idle": "stopped"}
        return And(s.dp[p] == "closed", self.sp_in(s, p, "final", "saved")), {"closed": "running"}

    @action(p="pairs", d="side", stop=(0, 1), answer=ANSWERS)
    def mode_set(self, s, p, d, stop, answer):
        """DEV_MODE_SET: stop (flags bit 0) or resume; held while an FLR is in progress (D-DP-17);
        the idempotent cases must succeed (D-DP-20/21), a real change may be refused (I-DP-7)."""
        s.require(s.fault[p][d] == "none", "D-DP-17")
        if self.linux:
            allowed, nxt = self._flow_mode_set(s, p, d, bool(stop))
            s.require(allowed)
        target = "stopped" if stop else "running"
        ok = self._answer(s, answer, True, may_fail=s.mode[p][d] != target,
                          clauses=("D-DP-20",) if stop else ("D-DP-21",))
        if ok:
            if self.linux and d == "dst" and not stop:   # the guest continues on the destination
                s.host[p] = "dst"
            if stop:
                self._stop(s, p, d)
            else:
                self._resume(s, p, d)
            if self.linux:
                for a, b in nxt.items():
                    if d == "src":
                        with s.when(s.sp[p] == a):
                            s.sp[p] = b
                    else:
                        with s.when(s.dp[p] == a):
                            s.dp[p] = b
                if d == "dst" and not stop:    # the switchover is done
                    s.sp[p] = "done"
                if d == "src" and not stop:    # the attempt is over: its stream is dropped
                    self._forget_record(s, p)
        self._emit_admin(s, "DEV_MODE_SET", p, d, answer, flags=stop)

    def _stop(self, s, p, d) -> None:
        """The stop completes only after every observed buffer is used in guest memory (D-DP-10/11, I-DP-6)."""
        s.mode[p][d] = "stopped"
        for q in self.Q:
            with s.when(And(s.host[p] == d, s.la[p][d][q] != s.du[p][d][q])):
                if not self.bug("stop-no-used-index"):
                    s.gused[p][q] = s.la[p][d][q]
                s.du[p][d][q] = s.la[p][d][q]
                s.owed[p][d][q] = True
                s.waiting[p][q] = True
        s.cite("D-DP-10", "D-DP-11")

    def _resume(self, s, p, d) -> None:
        """Parts written by SET take effect (I-DP-5); each queue continues from the used index in
        guest memory (Q4); an enabled queue gets one notification once running (resume_notify)."""
        held = "x_" if self.linux else "p_"
        with s.when(s.pend[p][d]):
            if self.linux:
                self._copy_parts(s, p, d, lambda f, q: getattr(s, held + f)[p] if q is None else getattr(s, held + f)[p][q])
            else:
                self._copy_parts(s, p, d, lambda f, q: getattr(s, held + f)[p][d] if q is None
                                 else getattr(s, held + f)[p][d][q])
        s.pend[p][d] = False
        s.mode[p][d] = "running"
        for q in self.Q:
            with s.when(s.host[p] == d):
                if not self.bug("dst-stale-position") or d == "src":
                    s.la[p][d][q] = s.gused[p][q]
                    s.du[p][d][q] = s.gused[p][q]
            if not (self.bug("resume-no-notify") and d == "dst"):
                s.owed[p][d][q] = Or(s.owed[p][d][q], s.en[p][d][q])
        s.cite("I-DP-5")

    def _flow_obj(self, s, p, d, kind: str):
        """Linux flow: an OBJ_CREATE the hypervisor sends now, and the phase after success."""
        if d == "src":
            # a new migration needs a fresh destination (idle, or stopped by load_setup)
            return (And(s.sp[p] == "idle", self.dp_in(s, p, "idle", "stopped")), "created") if kind == "get" \
                else (False, None)
        if kind == "set":
            return s.dp[p] == "stopped", "loading"
        # an inspection: of a destination before its migration (what it offers), or of the migrated one
        return self.dp_in(s, p, "idle", "running"), None

    @action(p="pairs", d="side", kind=("get", "set"), answer=ANSWERS)
    def obj_create(self, s, p, d, kind, answer):
        """RESOURCE_OBJ_CREATE of the member's DEV_PARTS object (one id per member here)."""
        if self.linux:
            allowed, nxt = self._flow_obj(s, p, d, kind)
            s.require(allowed)
        ok = self._answer(s, answer, s.obj[p][d] == "none", may_fail=True, clauses=("D-RO-1",))
        if ok:
            s.obj[p][d] = kind
            if self.linux and nxt:
                if d == "src":
                    s.sp[p] = nxt
                else:
                    s.dp[p] = nxt
        self._emit_admin(s, "RESOURCE_OBJ_CREATE", p, d, answer, subtype=kind)

    @action(p="pairs", d="side", answer=ANSWERS)
    def obj_destroy(self, s, p, d, answer):
        """RESOURCE_OBJ_DESTROY: ends a read stream (normal end, cancel) or a load."""
        if self.linux:
            if d == "src":   # after an FLR: once it completed (reset_done, R6)
                s.require(self.sp_in(s, p, "created", "precopy", "stopped", "final", "failed", "done"))
                s.require(s.fault[p][d] == "none")
            else:
                s.require(Or(self.dp_in(s, p, "loading", "loaded", "wiped"), s.obj[p][d] == "get"))
        ok = self._answer(s, answer, s.obj[p][d] != "none", clauses=("D-RO-2",))
        if self.linux and d == "src":
            # cancel before switchover; end of the stop-copy (or a cancel after it; or after the
            # destination already resumed: the hosts are not ordered); recovery after an FLR (R6),
            # where a device that destroyed the object answers ENXIO and Linux goes on
            moves = {"created": "idle", "precopy": "idle", "stopped": "cancelled", "final": "saved",
                     "failed": "recover"}
            for a, b in moves.items():
                if ok or (answer == "refused" and a == "failed"):
                    with s.when(s.sp[p] == a):
                        s.sp[p] = b
        elif self.linux and ok:
            # end of the load; a teardown (the destroy comes before or after the FLR that ends it)
            for a, b in {"loaded": "closed", "loading": "torn", "wiped": "idle"}.items():
                with s.when(And(s.dp[p] == a, s.fault[p][d] == "none")):
                    s.dp[p] = b
        if ok:
            s.obj[p][d] = "none"
        self._emit_admin(s, "RESOURCE_OBJ_DESTROY", p, d, answer)

    def _flow_get(self, s, p, d):
        if d == "src":
            return self.sp_in(s, p, "created", "precopy", "stopped", "final")
        return self.dp_in(s, p, "idle", "running")

    @action(p="pairs", d="side", answer=ANSWERS)
    def metadata_size(self, s, p, d, answer):
        """DEV_PARTS_METADATA_GET(SIZE) on the member's GET object (no state change)."""
        if self.linux:
            s.require(self._flow_get(s, p, d))
        self._answer(s, answer, s.obj[p][d] == "get", clauses=("I-DP-2",))
        self._emit_admin(s, "DEV_PARTS_METADATA_GET", p, d, answer, type="SIZE")

    @action(p="pairs", d="side", view=("effect", "pending"), answer=ANSWERS)
    def parts_get(self, s, p, d, view, answer):
        """DEV_PARTS_GET(ALL): every part of the member as it holds them (D-DP-2, D-DP-3, I-DP-8);
        after a SET and before the resume, the parts in effect or the SET ones (get_after_set)."""
        if self.linux:
            s.require(self._flow_get(s, p, d))
        readings = self._readings("get_after_set")
        if answer == "ok" and view == "pending":
            s.require(s.pend[p][d])
            if "set" not in readings:
                s.require(False)
        elif answer == "ok" and "before" not in readings:
            s.require(Not(s.pend[p][d]))
        elif answer != "ok" and view == "pending":
            s.require(False)   # one refusal instance
        ok = self._answer(s, answer, s.obj[p][d] == "get", clauses=("I-DP-2",))
        if ok:
            with s.when(self._keeps_record(s, p, d)):
                self._read_record(s, p, d, "p_" if view == "pending" else "")
            if self.linux and d == "src":
                with s.when(s.sp[p] == "created"):
                    s.sp[p] = "precopy"
                with s.when(s.sp[p] == "stopped"):
                    s.sp[p] = "final"
            s.cite("D-DP-2", "D-DP-3", "I-DP-8")
        self._emit_admin(s, "DEV_PARTS_GET", p, d, answer, type="ALL")

    def _forget_record(self, s, p) -> None:
        s.x_offer[p] = 0
        for f in SCALARS:
            getattr(s, "x_" + f)[p] = self._default(f, "src")
        for q in self.Q:
            for f in QUEUE_FIELDS:
                getattr(s, "x_" + f)[p][q] = self._default(f, "src")

    def _keeps_record(self, s, p, d):
        """Linux flow: only the final record reaches a resume (each SET replaces the last, and the
        destination resumes only after the final one), so a pre-copy read or a later inspection
        of the destination leaves the modelled record alone (fewer states, same verdicts)."""
        if not self.linux:
            return True
        return s.sp[p] == "stopped" if d == "src" else False

    def _read_record(self, s, p, d, prefix: str) -> None:
        """The hypervisor's copy of the parts a GET returned."""
        s.x_offer[p] = s.offer[p][d]
        for f in SCALARS:
            value = getattr(s, prefix + f)[p][d]
            if f == "feat" and self.bug("get-drops-feature"):
                value = If(value == FEAT_AB, FEAT_A, value)
            getattr(s, "x_" + f)[p] = value
        for q in self.Q:
            for f in QUEUE_FIELDS:
                src_f = "desc" if f == "drv" and self.bug("get-wrong-queue-address") else f
                getattr(s, "x_" + f)[p][q] = getattr(s, prefix + src_f)[p][d][q]

    @action(p="pairs", d="side", features=("fits", "unoffered"), answer=ANSWERS)
    def parts_set(self, s, p, d, features, answer):
        """DEV_PARTS_SET of the last record read: held for the next resume (I-DP-5). Accepted features
        the device does not offer are refused (D-DP-7); DEV_FEATURES that differ are refused or
        ignored (features_mismatch, D-DP-8); while running the device SHOULD refuse (D-DP-4)."""
        s.require(s.fault[p][d] == "none", "D-DP-17")
        if self.linux:
            s.require(d == "dst")
            s.require(And(self.dp_in(s, p, "loading", "loaded"),
                          self.sp_in(s, p, "precopy", "stopped", "final", "saved")))
        unoffered = And(s.x_feat[p] == FEAT_AB, s.offer[p][d] == FEAT_A)
        # the record accepts a feature this member does not offer, or not (replay can tell it
        # from the member's DEV_FEATURES and the record's DRV_FEATURES)
        s.require(unoffered if features == "unoffered" else Not(unoffered))
        must = None if self.bug("accepts-unoffered-features") else unoffered
        if self.p.features_mismatch == "reject":
            must = s.x_offer[p] != s.offer[p][d] if must is None else Or(must, s.x_offer[p] != s.offer[p][d])
            may = s.mode[p][d] == "running"
        else:
            may = Or(s.mode[p][d] == "running", s.x_offer[p] != s.offer[p][d])
        ok = self._answer(s, answer, s.obj[p][d] == "set", must_fail=must, may_fail=may,
                          clauses=("D-DP-7", "D-DP-8", "D-DP-4"))
        if ok:
            s.pend[p][d] = True
            if not self.linux:   # Linux flow: a resume applies the final record, the last one SET
                for f in SCALARS:
                    getattr(s, "p_" + f)[p][d] = getattr(s, "x_" + f)[p]
                for q in self.Q:
                    for f in QUEUE_FIELDS:
                        getattr(s, "p_" + f)[p][d][q] = getattr(s, "x_" + f)[p][q]
            if self.bug("set-applied-early"):
                self._copy_parts(s, p, d, lambda f, q: getattr(s, "x_" + f)[p] if q is None
                                 else getattr(s, "x_" + f)[p][q])
            if self.linux:
                with s.when(self.sp_in(s, p, "final", "saved")):
                    s.dp[p] = "loaded"
            s.cite("D-DP-5", "I-DP-5")
        self._emit_admin(s, "DEV_PARTS_SET", p, d, answer, features=features)

    # ------------------------------------------------------------------ faults and switchover

    def _flow_flr(self, s, p, d):
        if d == "src":   # R6: FLR of the source during stop-copy
            return self.sp_in(s, p, "stopped", "final", "saved")
        # the teardown of a load (close_device resets the function) or a reset while loading
        return self.dp_in(s, p, "stopped", "loading", "loaded", "closed", "torn")

    @action(p="pairs", d="side", mode=lambda m: m._readings("mode_after_reset"),
            objects=lambda m: m._readings("objects_after_flr"))
    def flr_begin(self, s, p, d, mode, objects):
        """A member FLR starts: every part back to its default (D-DP-22); MODE_SET and SET wait (D-DP-17);
        the mode (Q1) and the member's object (T5) per the readings allowed."""
        s.require(s.fault[p][d] == "none")
        budget = not self.linux or d == "src"   # a destination teardown's FLR is part of the flow
        if budget:
            s.require(s.faults_left[p][d] > 0)
            s.faults_left[p][d] = s.faults_left[p][d] - 1
        if self.linux:
            s.require(self._flow_flr(s, p, d))
            if d == "src":
                s.sp[p] = "failed"
            else:
                s.dp[p] = "wiped"
        s.fault[p][d] = "flr"
        self._reset_parts(s, p, d)
        self._restart_rings(s, p, d)
        if mode == "running":
            s.mode[p][d] = "running"
        if objects == "destroyed":
            s.obj[p][d] = "none"
        s.emit("flr_begin", member=p, side=d)

    @action(p="pairs", d="side")
    def flr_end(self, s, p, d):
        s.require(s.fault[p][d] == "flr")
        s.fault[p][d] = "none"
        if self.linux and d == "dst":
            with s.when(And(s.dp[p] == "wiped", s.obj[p][d] == "none")):
                s.dp[p] = "idle"
        s.emit("flr_end", member=p, side=d)

    # ------------------------------------------------------------------ observation

    def observe(self, event: Any) -> dict[str, Any] | None:
        """A decoded trace event in this model's terms (models/migration_observe.py)."""
        obs = self.__dict__.get("_obs")
        if obs is None:
            from mcheck.models.migration_observe import PairObserver
            obs = self.__dict__["_obs"] = PairObserver()
        return obs.observe(event)

    # ------------------------------------------------------------------ device-side properties (any flow)

    @transition_property("D-DP-9", "D-DP-10", "D-DP-16")
    def no_dma_while_stopped(self, t):
        """A stopped member (source after its stop completed, destination before its resume) reads no
        ring, writes no guest memory and sends no notification."""
        if t.action not in ("consume", "complete", "notify"):
            return True
        return t.before.mode[t.params["p"]][t.params["d"]] == "running"

    @transition_property("D-DP-2", "D-DP-3", "I-DP-8")
    def get_returns_parts(self, t):
        """A successful GET returns the parts the member holds (or, before the resume, the SET ones)."""
        if t.action != "parts_get" or t.params["answer"] != "ok":
            return True
        p, d = t.params["p"], t.params["d"]
        prefix = "p_" if t.params["view"] == "pending" else ""
        return Implies(self._keeps_record(t.before, p, d),
                       self.same(self.record(t.after, p), self.parts(t.before, p, d, prefix)))

    @transition_property("I-DP-5")
    def set_waits_for_resume(self, t):
        """A SET changes nothing in effect; the resume applies exactly what the last SET wrote."""
        if t.action == "parts_set":
            p, d = t.params["p"], t.params["d"]
            return self.same(self.parts(t.after, p, d), self.parts(t.before, p, d))
        if t.action == "mode_set" and t.params["stop"] == 0 and t.params["answer"] == "ok":
            p, d = t.params["p"], t.params["d"]
            held = self.record(t.before, p) if self.linux else self.parts(t.before, p, d, "p_")
            return Implies(t.before.pend[p][d], self.same(self.parts(t.after, p, d), held))
        return True

    @transition_property("D-DP-10", "D-DP-11", "I-DP-6")
    def stop_writes_back(self, t):
        """When a stop completes, every buffer the member took is used in guest memory."""
        if t.action != "mode_set" or t.params["stop"] != 1 or t.params["answer"] != "ok":
            return True
        p, d = t.params["p"], t.params["d"]
        return And(*(Implies(And(t.before.host[p] == d, t.before.la[p][d][q] != t.before.du[p][d][q]),
                             And(t.after.gused[p][q] == t.after.la[p][d][q], t.after.du[p][d][q] == t.after.la[p][d][q]))
                     for q in self.Q))

    @invariant("D-DP-7", "MIG-FEAT-1")
    def runs_offered_features(self, s):
        """No member runs a driver with a feature it does not offer."""
        return And(*(Implies(And(s.mode[p][d] == "running", s.status[p][d] == "driver_ok"),
                             Or(s.feat[p][d] != FEAT_AB, s.offer[p][d] == FEAT_AB))
                     for p in self.P for d in SIDES))

    @transition_property("D-DP-22")
    def flr_resets_parts(self, t):
        """A member FLR returns every part to its default."""
        if t.action != "flr_begin":
            return True
        p, d = t.params["p"], t.params["d"]
        return And(*(v == (self._default(f.split("[")[0], d)) for f, v in self.parts(t.after, p, d)))

    # ------------------------------------------------------------------ end to end (Linux flow)

    @transition_property("MIG-PARTS-1", "I-DP-5", "D-DP-2", "D-DP-7")
    def destination_has_source_parts(self, t):
        """When the destination resumes, its parts are the source's (features, status, common config,
        every queue's configuration and notify data); the source is stopped since its final GET."""
        if not self.linux or t.action != "mode_set" or t.params["d"] != "dst" or t.params["answer"] != "ok":
            return True
        if t.params["stop"] != 0:
            return True
        p = t.params["p"]
        return self.same(self.parts(t.after, p, "dst"), self.parts(t.before, p, "src"))

    @transition_property("MIG-VQ-1", "D-DP-10", "D-DP-11", "I-DP-6")
    def each_buffer_used_once(self, t):
        """Every buffer is taken once and used once across both devices: a device takes the next
        entry nobody took, and writes the next used slot in the guest's ring."""
        if not self.linux or t.action not in ("consume", "complete"):
            return True
        p, d, q = t.params["p"], t.params["d"], t.params["q"]
        if t.action == "consume":
            return t.before.la[p][d][q] == t.before.taken[p][q]
        return t.before.du[p][d][q] == t.before.gused[p][q]

    @invariant("MIG-VQ-2", "D-DP-11", "D-DP-16")
    def guest_not_left_waiting(self, s):
        """Whenever the guest's device has nothing left to do on a queue, the guest has been notified
        of every used buffer (resume_notify=device)."""
        if not self.linux or self.p.resume_notify != "device":
            return True
        conds = []
        for p in self.P:
            for d in SIDES:
                for q in self.Q:
                    idle = And(self.guest_on(s, p, d), s.mode[p][d] == "running", s.status[p][d] == "driver_ok",
                               s.la[p][d][q] == s.posted[p][q], s.du[p][d][q] == s.la[p][d][q], Not(s.owed[p][d][q]))
                    conds.append(Implies(idle, Not(s.waiting[p][q])))
        return And(*conds)

    @transition_property("MIG-CANCEL-1", "D-DP-21", "I-DP-6")
    def cancel_keeps_source(self, t):
        """A migration cancelled after switchover resumes the source with the parts it was stopped with."""
        if not self.linux or t.action != "mode_set" or t.params["d"] != "src" or t.params["answer"] != "ok":
            return True
        if t.params["stop"] != 0:
            return True
        p = t.params["p"]
        return Implies(self.sp_in(t.before, p, "saved", "cancelled"), self.same(self.parts(t.after, p, "src"), self.parts(t.before, p, "src")))

    # ------------------------------------------------------------------ auxiliary (k-induction)

    @invariant("MIG-VQ-1")
    def rings_ordered(self, s):
        """Per queue, modulo 2^bits: used <= taken <= posted, and at most `buffers` outstanding."""
        if not self.linux:
            return True
        out = []
        for p in self.P:
            for q in self.Q:
                posted, taken, gused = s.posted[p][q], s.taken[p][q], s.gused[p][q]
                out += [taken - gused <= posted - gused, posted - gused <= self.B]
        return And(*out)

    @invariant("D-DP-9", "MIG-ENV-1")
    def quiet_sides(self, s):
        """Only the member on the guest's host has its rings in use: the other one's positions are at rest."""
        if not self.linux:
            return True
        out = []
        for p in self.P:
            for d in SIDES:
                for q in self.Q:
                    out.append(Implies(s.host[p] != d, s.la[p][d][q] == s.du[p][d][q]))
                    # buffers in flight only on an enabled queue of a configured device
                    out.append(Implies(s.la[p][d][q] != s.du[p][d][q],
                                       And(s.en[p][d][q], Or(s.status[p][d] == "driver_ok",
                                                              s.status[p][d] == "needs_reset"))))
        return And(*out)

    @invariant("MIG-VQ-1", "D-DP-11")
    def positions_continuous(self, s):
        """The member on the guest's host is where the guest's rings say: its consumption point is the
        buffers taken, its used slot the used index in guest memory; stopped, it has nothing in flight."""
        if not self.linux:
            return True
        out = []
        for p in self.P:
            for d in SIDES:
                for q in self.Q:
                    out.append(Implies(s.host[p] == d, And(s.la[p][d][q] == s.taken[p][q],
                                                           s.du[p][d][q] == s.gused[p][q])))
                    out.append(Implies(And(s.host[p] == d, s.mode[p][d] == "stopped"), s.la[p][d][q] == s.du[p][d][q]))
        return And(*out)

    @invariant("MIG-ENV-1", "D-DP-9", "D-DP-17")
    def phases_agree(self, s):
        """The members' modes, faults, objects and the guest's host match the hypervisor's phases:
        the source runs until its switchover stop and is stopped (no FLR) from then until a cancel,
        the destination is stopped while it is loaded and runs once the guest is on it, an FLR is
        the phase's own (failed, wiped), nothing is ever held for the source's resume."""
        if not self.linux:
            return True
        out = []
        for p in self.P:
            src_run = self.sp_in(s, p, "idle", "created", "precopy")
            src_stop = self.sp_in(s, p, "stopped", "final", "saved", "cancelled", "done", "recover2")
            dst_load = self.dp_in(s, p, "stopped", "loading", "loaded", "closed")
            out += [
                Implies(src_run, And(s.mode[p]["src"] == "running", s.fault[p]["src"] == "none")),
                Implies(src_stop, And(s.mode[p]["src"] == "stopped", s.fault[p]["src"] == "none")),
                Implies(s.fault[p]["src"] == "flr", s.sp[p] == "failed"),
                Implies(s.sp[p] == "recover", s.fault[p]["src"] == "none"),
                Implies(self.sp_in(s, p, "idle", "saved", "cancelled", "recover", "recover2"),
                        s.obj[p]["src"] == "none"),
                Implies(s.sp[p] == "done", s.obj[p]["src"] != "set"),
                Implies(self.sp_in(s, p, "created", "precopy", "stopped", "final"), s.obj[p]["src"] == "get"),
                Not(s.pend[p]["src"]),
                s.offer[p]["src"] == FEAT_AB,
                Or(s.offer[p]["dst"] == FEAT_AB, s.offer[p]["dst"] == FEAT_A),
                Or(s.x_offer[p] == 0, s.x_offer[p] == FEAT_AB),
                *(Or(v == 0, v == FEAT_A, v == FEAT_AB) for v in (s.feat[p]["src"], s.feat[p]["dst"], s.x_feat[p])),
                Implies(dst_load, And(s.mode[p]["dst"] == "stopped", s.fault[p]["dst"] == "none")),
                Implies(self.dp_in(s, p, "loading", "loaded"), s.obj[p]["dst"] == "set"),
                Implies(self.dp_in(s, p, "loaded", "closed"), s.pend[p]["dst"]),
                Implies(self.dp_in(s, p, "loaded", "closed"), Not(self.sp_in(s, p, "created", "precopy", "stopped"))),
                Implies(s.dp[p] == "closed", s.obj[p]["dst"] == "none"),
                Implies(s.fault[p]["dst"] == "flr", s.dp[p] == "wiped"),
                (s.host[p] == "dst") == (s.sp[p] == "done"),
                (s.sp[p] == "done") == (s.dp[p] == "running"),
                Implies(s.dp[p] == "running", And(s.mode[p]["dst"] == "running", s.fault[p]["dst"] == "none")),
            ]
        return And(*out)

    @invariant("MIG-PARTS-1", "D-DP-2", "I-DP-6", "D-DP-7")
    def record_is_source(self, s):
        """From the final GET to the end of the stop-copy the record is what the stopped source holds
        (nothing changes a stopped source's parts here: the guest is paused, an FLR fails the
        migration), and a destination that took it offers every feature it accepts."""
        if not self.linux:
            return True
        out = []
        for p in self.P:
            out.append(Implies(self.sp_in(s, p, "final", "saved"),
                               And(self.same(self.record(s, p), self.parts(s, p, "src")),
                                   s.x_offer[p] == s.offer[p]["src"])))
            out.append(Implies(self.dp_in(s, p, "loaded", "closed"),
                               Not(And(s.x_feat[p] == FEAT_AB, s.offer[p]["dst"] == FEAT_A))))
        return And(*out)

    @invariant("MIG-FEAT-1", "D-DP-7")
    def features_offered(self, s):
        """A member's accepted features are features it offers, running or not."""
        return And(*(Implies(s.feat[p][d] == FEAT_AB, s.offer[p][d] == FEAT_AB) for p in self.P for d in SIDES))

    @invariant("MIG-VQ-2", "D-DP-11")
    def waiting_is_owed(self, s):
        """While the guest waits for a notification, the member on its host owes one on that queue
        and has the queue enabled."""
        if not self.linux or self.p.resume_notify != "device":
            return True
        out = []
        for p in self.P:
            for q in self.Q:
                owes = Or(*(And(s.host[p] == d, s.owed[p][d][q], s.en[p][d][q]) for d in SIDES))
                out.append(Implies(s.waiting[p][q], owes))
        return And(*out)

    # ------------------------------------------------------------------ goals

    @sometimes("MIG-PARTS-1")
    def migration_completes(self, s):
        """Some pair completes a migration with the guest's queues configured."""
        return Or(*(And(s.sp[p] == "done", s.status[p]["dst"] == "driver_ok") for p in self.P))

    @sometimes("MIG-VQ-2", "D-DP-11")
    def written_back_at_stop(self, s):
        """The stop wrote back a buffer the guest has not been told about."""
        return Or(*(And(s.mode[p]["src"] == "stopped", s.waiting[p][q]) for p in self.P for q in self.Q))

    @sometimes("MIG-CANCEL-1")
    def cancel_after_switchover(self, s):
        """A migration is cancelled after the final GET (the source will resume)."""
        if not self.linux:
            return True
        return Or(*(And(self.sp_in(s, p, "saved", "cancelled"), self.dp_in(s, p, "torn", "wiped")) for p in self.P))

    @sometimes("D-DP-7")
    def mismatch_refused_path(self, s):
        """The destination offers fewer features than the guest accepted on the source."""
        if self.p.dst_features == "same":
            return True
        return Or(*(And(s.x_feat[p] == FEAT_AB, s.offer[p]["dst"] == FEAT_A, s.dp[p] == "loading") for p in self.P))

    @sometimes("D-DP-22")
    def flr_during_stop_copy(self, s):
        """An FLR hits the source during stop-copy."""
        if self.p.faults == 0 or not self.linux:
            return True
        return Or(*(s.sp[p] == "failed" for p in self.P))
