"""The 2023 seed draft ("draft v1"): three device modes, a device context and write recording.

One *member* of this model is one migration pair: a source VF (`side = src`) and a
destination VF (`side = dst`) on the other host, both driven by the same hypervisor.
Commands are named only; their wire numbering lives in the `draft-v1` profile
(`models/profiles/draft-v1.toml`). Every rule the draft leaves open is a parameter
(`transitions` for P-TRANS, `flr_tracking` for P-FLR, `flow` for the hypervisor), and
every `DRAFT-*` clause is listed with its basis in `docs/draft-v1.md`.

State per member (see docs/draft-v1.md for the full list):
- per side: mode, and the device context (driver features, device status, device config,
  per split virtqueue: enabled, ring addresses, last_avail_idx, used_idx; in-flight
  buffers are the difference of the two indices);
- the hypervisor's copy of the context it read (`x_*`), its flow phase, its to-copy set;
- write recording (on/off, one written bit per page), and per page whether the
  destination's copy is stale;
- the guest's rings: buffers posted, consumed (ghost) and the used index in guest memory;
- FLR or member reset in progress, and how many faults may still happen.
"""

from __future__ import annotations

from mcheck.errors import ModelDefinitionError
from mcheck.model.definition import (
    Array,
    Model,
    action,
    invariant,
    sometimes,
    transition_property,
)
from mcheck.model.expr import BOOL, And, BitVec, Enum, If, Implies, Int, Not, Or
from mcheck.model.params import Param
from models.draft_observe import observe as observe_event

MODES = ("ACTIVE", "STOP", "FREEZE")
MODE = Enum("mode", *MODES)
STATUS = Enum("status", "RESET", "DRIVER_OK")
FAULT = Enum("fault", "none", "flr", "reset")
# the hypervisor's position in the migration flow (per member)
PHASES = ("PRE", "TRACK", "STOPPED", "FINAL", "FROZEN", "READ", "XFER", "WRITTEN", "DONE")
PHASE = Enum("phase", *PHASES)
SIDES = ("src", "dst")

# context fields: per member and side; per member, side and queue
CTX_SCALARS = ("feat", "status", "cfg")
CTX_QUEUE = ("q_en", "q_addr", "last_avail", "used_idx")
CTX_DEFAULT = {"feat": False, "status": "RESET", "cfg": 0, "q_en": False, "q_addr": False,
               "last_avail": 0, "used_idx": 0}
CTX_CONFIGURED = {"feat": True, "status": "DRIVER_OK", "q_en": True, "q_addr": True}

PAGE_SIZE = 4096
CTX_HEADER = 8
CTX_COMMON_BYTES = 2 * (CTX_HEADER + 8) + (CTX_HEADER + 1) + (CTX_HEADER + 4)  # features x2, status, config
CTX_VQ_BYTES = CTX_HEADER + 40
FIELD_TYPES = ("FEATURES", "DRIVER_FEATURES", "DEVICE_STATUS", "DEVICE_CONFIG", "VQ_SPLIT")

# P-TRANS: allowed DEV_MODE_SET transitions (self-loops always succeed)
TRANSITIONS = {
    "any": {(a, b) for a in MODES for b in MODES},
    "via-stop": {(a, b) for a in MODES for b in MODES} - {("ACTIVE", "FREEZE"), ("FREEZE", "ACTIVE")},
}

ENV = "DRAFT-ENV-1"


class DraftV1(Model):
    name = "draft-v1"
    description = ("the 2023 seed draft: ACTIVE/STOP/FREEZE modes, device context read and write, "
                   "write recording; one member = a source and a destination VF")
    profile = "draft-v1"
    # events a capture does not record: guest driver activity, and the end of a member reset
    unobserved = ("doorbell", "driver_cfg_write", "driver_init", "reset_end")
    params = (
        Param(name="members", kind="int", default=1, lo=1, hi=3,
              doc="migration pairs (a source VF and a destination VF each), migrated independently"),
        Param(name="pages", kind="int", default=2, lo=1, hi=4, doc="guest pages the device can write"),
        Param(name="queues", kind="int", default=1, lo=1, hi=2, doc="split virtqueues per device"),
        Param(name="buffers", kind="int", default=2, lo=1, hi=3,
              doc="buffers the guest posts per queue over a run (bounds the ring indices)"),
        Param(name="faults", kind="int", default=1, lo=0, hi=2,
              doc="FLRs or member resets that may hit each source member during its migration"),
        Param(name="flow", kind="choice", default="draft", choices=("draft", "skip-final-report", "free"),
              doc="hypervisor: 'draft' = the cover letter's example flow (track, report rounds, stop, final "
                  "report, freeze, read, transfer, destination write and resume); 'skip-final-report' = "
                  "the same without the report read after the stop (broken); 'free' = any command at "
                  "any time (device-side properties only)"),
        Param(name="transitions", kind="choice", default="any", choices=tuple(TRANSITIONS),
              doc="P-TRANS: 'any' = every mode transition incl. ACTIVE<->FREEZE; 'via-stop' = ACTIVE<->FREEZE "
                  "must pass through STOP (refused with EINVAL)"),
        Param(name="flr_tracking", kind="choice", default="stop-and-clear", choices=("stop-and-clear", "keep-recording"),
              doc="P-FLR: what member FLR/reset does to write recording ('stop-and-clear': recording off and "
                  "record cleared; 'keep-recording': left as it was). Mode -> ACTIVE and context -> defaults "
                  "in both"),
        Param(name="index_width", kind="choice", default="small", choices=("small", "16"),
              doc="ring indices (posted, taken, gused, last_avail, used_idx and their transferred copies): "
                  "'small' = Int(0..buffers), the guest posts at most `buffers` buffers per run (explicit "
                  "engine); '16' = the real 16-bit split-ring indices, modulo 2^16, the guest keeps at most "
                  "`buffers` buffers outstanding (symbolic engine; far too many states to enumerate)"),
        Param(name="index_start", kind="int", default=0, lo=0, hi=0xFFFF,
              doc="index_width=16 only: the source's and the guest's ring indices at the start (0xFFFE: they wrap after two "
                  "buffers); reset values stay 0"),
    )
    bugs = {
        "write-while-frozen": "the device keeps DMA-writing buffer data after it is frozen",
        "notify-while-stopped": "a device config change is signalled with a notification while stopped",
        "unreported-write": "a DMA write while recording is on is not recorded",
        "context-changes-while-frozen": "the device applies a deferred config change while frozen",
        "ctx-write-while-active": "DEV_CTX_WRITE is accepted (OK) while the member is ACTIVE",
        "ctx-missing-used-idx": "the context read does not carry the split queue's used_idx",
        "report-not-cleared": "WR_REPORT returns the record but does not clear it",
        "flr-keeps-freeze": "a member FLR or reset leaves a frozen member in FREEZE",
        "flr-answers-early": "DEV_MODE_SET is answered while a member FLR or reset is in progress",
    }

    # ------------------------------------------------------------------ state

    def setup(self):
        p = self.p
        self.B = p.buffers
        self.M = self.index_set("members", range(1, p.members + 1), symmetric=True)
        self.D = self.index_set("side", SIDES)
        self.Q = self.index_set("queues", range(p.queues))
        self.P = self.index_set("pages", range(p.pages))
        M, D, Q, P, B = self.M, self.D, self.Q, self.P, self.B
        self.allowed = TRANSITIONS[p.transitions]
        self.wide = p.index_width == "16"
        if p.index_start and not self.wide:
            raise ModelDefinitionError("draft-v1: index_start needs index_width=16")
        idx = BitVec(16) if self.wide else Int(0, B)

        def src_start(m, d, q):
            return p.index_start if d == "src" else 0

        self.var("mode", Array(M, Array(D, MODE)), init="ACTIVE")
        # device context (source configured by the guest driver, destination at reset defaults)
        self.var("feat", Array(M, Array(D, BOOL)), init=lambda m, d: d == "src")
        self.var("status", Array(M, Array(D, STATUS)), init=lambda m, d: "DRIVER_OK" if d == "src" else "RESET")
        self.var("cfg", Array(M, Array(D, Int(0, 1))), init=0)
        self.var("q_en", Array(M, Array(D, Array(Q, BOOL))), init=lambda m, d, q: d == "src")
        self.var("q_addr", Array(M, Array(D, Array(Q, BOOL))), init=lambda m, d, q: d == "src")
        self.var("last_avail", Array(M, Array(D, Array(Q, idx))), init=src_start)
        self.var("used_idx", Array(M, Array(D, Array(Q, idx))), init=src_start)
        # the context as the hypervisor last read it (transferred to the destination)
        self.var("x_feat", Array(M, BOOL), init=False)
        self.var("x_status", Array(M, STATUS), init="RESET")
        self.var("x_cfg", Array(M, Int(0, 1)), init=0)
        self.var("x_q_en", Array(M, Array(Q, BOOL)), init=False)
        self.var("x_q_addr", Array(M, Array(Q, BOOL)), init=False)
        self.var("x_last_avail", Array(M, Array(Q, idx)), init=0)
        self.var("x_used_idx", Array(M, Array(Q, idx)), init=0)
        # guest rings (guest memory): posted = avail idx, gused = used idx; taken is a ghost
        self.var("posted", Array(M, Array(Q, idx)), init=p.index_start)
        self.var("taken", Array(M, Array(Q, idx)), init=p.index_start)
        self.var("gused", Array(M, Array(Q, idx)), init=p.index_start)
        # write recording on the source, and guest memory on the destination
        self.var("rec", Array(M, BOOL), init=False)
        self.var("dirty", Array(M, Array(P, BOOL)), init=False)
        self.var("stale", Array(M, Array(P, BOOL)), init=True)     # destination copy differs
        # hypervisor flow and faults
        self.var("ph", Array(M, PHASE), init="PRE")
        self.var("fault", Array(M, FAULT), init="none")
        self.var("faults_left", Array(M, Int(0, p.faults)), init=p.faults)

    def end_state(self, s):
        return And(*(s.ph[m] == "DONE" for m in self.M))

    # ------------------------------------------------------------------ helpers

    @property
    def free(self) -> bool:
        return self.p.flow == "free"

    def ctx(self, s, m, d):
        """(field name, value) for every migratable field of one device context."""
        out = [(f, getattr(s, f)[m][d]) for f in CTX_SCALARS]
        for q in self.Q:
            out += [(f"{f}[{q}]", getattr(s, f)[m][d][q]) for f in CTX_QUEUE]
        return out

    def xctx(self, s, m):
        out = [(f, getattr(s, "x_" + f)[m]) for f in CTX_SCALARS]
        for q in self.Q:
            out += [(f"{f}[{q}]", getattr(s, "x_" + f)[m][q]) for f in CTX_QUEUE]
        return out

    def ctx_is_default(self, s, m, d):
        vals = dict(self.ctx(s, m, d))
        conds = [vals[f] == CTX_DEFAULT[f] for f in CTX_SCALARS]
        for q in self.Q:
            conds += [vals[f"{f}[{q}]"] == CTX_DEFAULT[f] for f in CTX_QUEUE]
        return And(*conds)

    def reset_ctx(self, s, m, d):
        for f in CTX_SCALARS:
            getattr(s, f)[m][d] = CTX_DEFAULT[f]
        for q in self.Q:
            for f in CTX_QUEUE:
                getattr(s, f)[m][d][q] = CTX_DEFAULT[f]

    def running(self, s, m, d):
        """The side the guest runs on: the source until switchover, then the destination."""
        return s.ph[m] != "DONE" if d == "src" else s.ph[m] == "DONE"

    def guest_on(self, s, m, d):
        """The guest driver (or a peer) can touch this device now.

        DRAFT-ENV-1: the hypervisor pauses the guest and every peer before it freezes a
        member, so nothing reaches a frozen device; a device under FLR is waited for."""
        if d == "src":
            return And(s.ph[m] != "DONE", s.mode[m][d] != "FREEZE", s.fault[m] == "none")
        return s.ph[m] == "DONE"

    def admin(self, s, m, d, *, deferrable=True):
        """Common guard of an admin command on member m, side d."""
        s.require(s.ph[m] != "DONE")  # the hypervisor sends nothing once the migration is over
        if d == "src" and deferrable:
            s.require(s.fault[m] == "none", "DRAFT-FLR-2", "D-DP-17", "D-DP-18")

    def before(self, a, b):
        """Ring index a has not caught up with b (a < b; with 16-bit indices a != b, which is the
        same on every reachable state: a trails b by at most `buffers`, modulo 2^16)."""
        return a != b if self.wide else a < b

    def phase(self, s, m, *names):
        return Or(*(s.ph[m] == n for n in names))

    def count_dirty(self, s, m):
        total = 0
        for p in self.P:
            total = If(s.dirty[m][p], 1, 0) + total
        return total

    # ------------------------------------------------------------------ guest driver

    @action(m="members", d="side", q="queues")
    def guest_post(self, s, m, d, q):
        """The guest driver posts a buffer on queue q and rings the doorbell."""
        s.require(self.guest_on(s, m, d), ENV)
        s.require(And(s.status[m][d] == "DRIVER_OK", s.q_en[m][d][q]))
        if self.wide:  # at most `buffers` outstanding (posted, not yet used), indices modulo 2^16
            s.require(s.posted[m][q] - s.gused[m][q] < self.B)
        else:
            s.require(s.posted[m][q] < self.B)
        s.posted[m][q] = s.posted[m][q] + 1
        s.emit("doorbell", member=m, side=d, queue=q)

    @action(m="members", d="side")
    def guest_cfg_write(self, s, m, d):
        """The guest driver writes a device config field; accepted while STOP (D-DP-12)."""
        s.require(self.guest_on(s, m, d), ENV)
        s.require(s.status[m][d] == "DRIVER_OK")
        s.cfg[m][d] = 1 - s.cfg[m][d]
        s.cite("DRAFT-MODE-4", "D-DP-12")
        s.emit("driver_cfg_write", member=m, side=d)

    @action(m="members", d="side")
    def guest_init(self, s, m, d):
        """After a reset the guest driver negotiates features, sets up its queues and sets DRIVER_OK."""
        s.require(self.guest_on(s, m, d), ENV)
        s.require(s.status[m][d] == "RESET")
        for f, v in CTX_CONFIGURED.items():
            if f in CTX_SCALARS:
                getattr(s, f)[m][d] = v
            else:
                for q in self.Q:
                    getattr(s, f)[m][d][q] = v
        s.emit("driver_init", member=m, side=d)

    # ------------------------------------------------------------------ device

    def device_may_run(self, s, m, d, *extra_modes):
        modes = ("ACTIVE",) + extra_modes
        s.require(self.running(s, m, d))
        s.require(Or(*(s.mode[m][d] == x for x in modes)), "DRAFT-MODE-1", "D-DP-9", "D-DP-16")
        s.require(s.status[m][d] == "DRIVER_OK")

    @action(m="members", d="side", q="queues")
    def consume(self, s, m, d, q):
        """The device reads the next avail entry (a buffer becomes in flight)."""
        self.device_may_run(s, m, d)
        s.require(s.q_en[m][d][q])
        s.require(self.before(s.last_avail[m][d][q], s.posted[m][q]))
        s.last_avail[m][d][q] = s.last_avail[m][d][q] + 1
        if not self.free:  # ghost for the continuity check (not kept for the free hypervisor)
            s.taken[m][q] = s.taken[m][q] + 1

    @action(m="members", d="side", p="pages")
    def dma_write(self, s, m, d, p):
        """The device writes data of an in-flight buffer into guest page p."""
        self.device_may_run(s, m, d, *(("FREEZE",) if self.bug("write-while-frozen") else ()))
        s.require(Or(*(self.before(s.used_idx[m][d][q], s.last_avail[m][d][q]) for q in self.Q)))
        if d == "src":
            if not self.free:
                s.stale[m][p] = True
            if not self.bug("unreported-write"):
                with s.when(s.rec[m]):
                    s.dirty[m][p] = True
                s.cite("DRAFT-WR-1")
        s.emit("dma_write", member=m, side=d, page=p)

    @action(m="members", d="side", q="queues")
    def complete(self, s, m, d, q):
        """The device writes the used ring (used_idx + 1) and sends a used-buffer notification."""
        self.device_may_run(s, m, d)
        s.require(self.before(s.used_idx[m][d][q], s.last_avail[m][d][q]))
        if not self.free:
            s.gused[m][q] = s.used_idx[m][d][q] + 1
        s.used_idx[m][d][q] = s.used_idx[m][d][q] + 1
        s.emit("used_notify", member=m, side=d, queue=q)

    @action(m="members", d="side")
    def device_cfg_change(self, s, m, d):
        """The device changes a config field on its own and sends a config-change notification."""
        extra = ("STOP",) if self.bug("notify-while-stopped") else ()
        s.require(self.running(s, m, d))
        s.require(Or(*(s.mode[m][d] == x for x in ("ACTIVE",) + extra)), "DRAFT-MODE-2", "D-DP-16")
        s.require(s.status[m][d] == "DRIVER_OK")
        s.cfg[m][d] = 1 - s.cfg[m][d]
        s.emit("config_notify", member=m, side=d)

    @action(m="members", d="side")
    def device_cfg_latch(self, s, m, d):
        """(bug context-changes-while-frozen only) a deferred config change is applied while frozen."""
        if not self.bug("context-changes-while-frozen"):
            s.require(False)
            return
        s.require(self.running(s, m, d))
        s.require(And(s.mode[m][d] == "FREEZE", s.status[m][d] == "DRIVER_OK"))
        s.cfg[m][d] = 1 - s.cfg[m][d]

    def observe(self, event):
        """A decoded trace event in this model's vocabulary (models/draft_observe.py)."""
        return observe_event(event)

    # ------------------------------------------------------------------ faults

    @action(m="members", kind=("flr", "reset"))
    def fault_begin(self, s, m, kind):
        """A member FLR (any time) or device reset (guest writes status 0) hits the source."""
        s.require(s.ph[m] != "DONE")
        s.require(s.fault[m] == "none")
        s.require(s.faults_left[m] > 0)
        if kind == "reset":
            s.require(s.mode[m]["src"] != "FREEZE", ENV)
        s.fault[m] = kind
        s.faults_left[m] = s.faults_left[m] - 1
        if self.bug("flr-keeps-freeze"):
            s.mode[m]["src"] = If(s.mode[m]["src"] == "FREEZE", s.mode[m]["src"], "ACTIVE")
        else:
            s.mode[m]["src"] = "ACTIVE"
        self.reset_ctx(s, m, "src")
        for q in self.Q:  # the guest driver's rings restart with the device
            s.posted[m][q] = 0
            s.taken[m][q] = 0
            s.gused[m][q] = 0
        if self.p.flr_tracking == "stop-and-clear":
            s.rec[m] = False
            for p in self.P:
                s.dirty[m][p] = False
        s.cite("DRAFT-FLR-1", "D-DP-22")
        s.emit(f"{kind}_begin", member=m, side="src")

    @action(m="members", kind=("flr", "reset"))
    def fault_end(self, s, m, kind):
        """The FLR or reset completes; the hypervisor (which traps it) restarts the migration."""
        s.require(s.fault[m] == kind)
        s.fault[m] = "none"
        s.cite("DRAFT-FLR-1")
        if not self.free:
            s.cite("DRAFT-FLOW-2")
            # stop-and-clear: the record is gone, so start again (tracking, full copy);
            # keep-recording: if recording is still on, go back to the pre-copy rounds
            if self.p.flr_tracking == "stop-and-clear":
                s.ph[m] = "PRE"
            else:
                s.ph[m] = If(s.rec[m], If(s.ph[m] == "PRE", s.ph[m], "TRACK"), "PRE")
            # the aborted attempt is thrown away: the context read so far is discarded and the
            # destination VF is reset, so the next attempt starts from a clean destination
            for f in CTX_SCALARS:
                getattr(s, "x_" + f)[m] = CTX_DEFAULT[f]
            for q in self.Q:
                for f in CTX_QUEUE:
                    getattr(s, "x_" + f)[m][q] = CTX_DEFAULT[f]
            self.reset_ctx(s, m, "dst")
            s.mode[m]["dst"] = "ACTIVE"
        s.emit(f"{kind}_end", member=m, side="src")

    # ------------------------------------------------------------------ admin: modes

    def flow_mode_set(self, s, m, d, frm, target):
        if self.free:
            return True
        if d == "src":
            if (frm, target) == ("ACTIVE", "STOP"):
                return s.ph[m] == "TRACK"
            if (frm, target) == ("STOP", "FREEZE"):
                return s.ph[m] == ("STOPPED" if self.p.flow == "skip-final-report" else "FINAL")
            return False
        if frm == target:
            return False
        if target in ("STOP", "FREEZE") and frm != "FREEZE":
            return s.ph[m] == "XFER"
        if target in ("STOP", "ACTIVE") and frm != "ACTIVE":
            return s.ph[m] == "WRITTEN"
        return False

    @action(m="members", d="side", frm=MODES, target=MODES)
    def dev_mode_set(self, s, m, d, frm, target):
        """DEV_MODE_SET(target) on a member currently in mode frm (P-TRANS decides the outcome)."""
        self.admin(s, m, d, deferrable=not self.bug("flr-answers-early"))
        s.require(self.flow_mode_set(s, m, d, frm, target))
        s.require(s.mode[m][d] == frm)
        ok = (frm, target) in self.allowed
        if ok:
            s.mode[m][d] = target
            if not self.free and d == "src":
                s.ph[m] = "STOPPED" if target == "STOP" else "FROZEN"
            s.cite("DRAFT-MODE-3")
        else:
            s.cite("DRAFT-MODE-3", "D-GA-3")
        s.emit("admin", cmd="DEV_MODE_SET", member=m, side=d, mode=target, status="OK" if ok else "EINVAL")

    @action(m="members", d="side", mode=MODES)
    def dev_mode_get(self, s, m, d, mode):
        """DEV_MODE_GET: reports the current mode."""
        self.admin(s, m, d)
        s.require(s.mode[m][d] == mode)
        if not self.free:
            s.require(s.ph[m] == ("FROZEN" if d == "src" else "WRITTEN"))
            if d == "src" and mode != "FREEZE":
                s.require(False)  # the flow asks only once the source is frozen
        s.emit("admin", cmd="DEV_MODE_GET", member=m, side=d, mode=mode, status="OK")

    # ------------------------------------------------------------------ admin: context

    def ctx_size(self) -> int:
        return CTX_COMMON_BYTES + CTX_VQ_BYTES * self.p.queues

    @action(m="members", d="side", freeze_mode=(0, 1))
    def dev_ctx_size_get(self, s, m, d, freeze_mode):
        """DEV_CTX_SIZE_GET: the (fixed) context size; freeze_mode=1 asks for the final size."""
        self.admin(s, m, d)
        if not self.free:
            # freeze_mode=0: the pre-copy estimate while tracking; freeze_mode=1: the final size
            s.require((s.ph[m] == ("FROZEN" if freeze_mode else "TRACK")) if d == "src" else False)
        s.emit("admin", cmd="DEV_CTX_SIZE_GET", member=m, side=d, freeze_mode=freeze_mode,
               size=self.ctx_size(), status="OK")

    @action(m="members", d="side")
    def dev_ctx_fields_query(self, s, m, d):
        """DEV_CTX_FIELDS_QUERY: the context's field types (fixed for this device)."""
        self.admin(s, m, d)
        if not self.free:
            s.require(s.ph[m] == "FROZEN" if d == "src" else False)
        fields = FIELD_TYPES[:-1] + (FIELD_TYPES[-1],) * self.p.queues
        s.emit("admin", cmd="DEV_CTX_FIELDS_QUERY", member=m, side=d, fields=",".join(fields), status="OK")

    @action(m="members", d="side", frm=MODES)
    def dev_ctx_read(self, s, m, d, frm):
        """DEV_CTX_READ: the whole context in one chunk; allowed in STOP and FREEZE (P-VALID)."""
        self.admin(s, m, d)
        if not self.free:
            s.require(s.ph[m] == "FROZEN" if (d == "src" and frm == "FREEZE") else False)
        s.require(s.mode[m][d] == frm)
        ok = frm != "ACTIVE"
        if ok:
            for f in CTX_SCALARS:
                getattr(s, "x_" + f)[m] = getattr(s, f)[m][d]
            for q in self.Q:
                for f in CTX_QUEUE:
                    if f == "used_idx" and self.bug("ctx-missing-used-idx"):
                        s.x_used_idx[m][q] = CTX_DEFAULT[f]
                    else:
                        getattr(s, "x_" + f)[m][q] = getattr(s, f)[m][d][q]
            if not self.free:
                s.ph[m] = "READ"
        s.cite("DRAFT-CTX-1", "DRAFT-CTX-2")
        s.emit("admin", cmd="DEV_CTX_READ", member=m, side=d, size=self.ctx_size() if ok else 0,
               remaining_ctx_size=0, status="OK" if ok else "EBUSY")

    @action(m="members", d="side", frm=MODES)
    def dev_ctx_write(self, s, m, d, frm):
        """DEV_CTX_WRITE: loads the transferred context; only in FREEZE (P-VALID), else EBUSY."""
        self.admin(s, m, d)
        if not self.free:
            # the cover letter does not say the destination is frozen first: the hypervisor
            # may try the write in any mode, and the device must refuse it unless FREEZE
            s.require(s.ph[m] == "XFER" if d == "dst" else False)
        s.require(s.mode[m][d] == frm)
        ok = frm == "FREEZE" or (frm == "ACTIVE" and self.bug("ctx-write-while-active"))
        if ok:
            for f in CTX_SCALARS:
                getattr(s, f)[m][d] = getattr(s, "x_" + f)[m]
            for q in self.Q:
                for f in CTX_QUEUE:
                    getattr(s, f)[m][d][q] = getattr(s, "x_" + f)[m][q]
            if not self.free:
                s.ph[m] = "WRITTEN"
        s.cite("DRAFT-CTX-3", "D-DP-4")
        s.emit("admin", cmd="DEV_CTX_WRITE", member=m, side=d, size=self.ctx_size(),
               status="OK" if ok else "EBUSY")

    @action(m="members", d="side")
    def dev_ctx_discard(self, s, m, d):
        """DEV_CTX_DISCARD: nothing partial to drop (reads and writes are one chunk here)."""
        self.admin(s, m, d)
        s.require(self.free)
        s.emit("admin", cmd="DEV_CTX_DISCARD", member=m, side=d, status="OK")

    # ------------------------------------------------------------------ admin: write recording (source)

    def range_fields(self):
        return {"range_addr": 0, "range_len": PAGE_SIZE * self.p.pages}

    @action(m="members")
    def wr_caps_query(self, s, m):
        """WR_CAPS_QUERY: one range, 4 KiB pages."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(s.ph[m] == "PRE")
        s.emit("admin", cmd="WR_CAPS_QUERY", member=m, side="src", max_ranges=1, page_size_mask=PAGE_SIZE,
               log2_max_pages=max(0, (self.p.pages - 1).bit_length()), status="OK")

    @action(m="members")
    def wr_start(self, s, m):
        """WR_START: recording on over every page, record cleared."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(s.ph[m] == "PRE")
            s.ph[m] = "TRACK"
        s.rec[m] = True
        for p in self.P:
            s.dirty[m][p] = False
            if not self.free:
                s.stale[m][p] = False  # the first, full copy round starts once recording is on
        s.emit("admin", cmd="WR_START", member=m, side="src", page_size=PAGE_SIZE, **self.range_fields(),
               status="OK")

    @action(m="members")
    def wr_stop(self, s, m):
        """WR_STOP: recording off; the record stays readable."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(s.ph[m] == "READ")
            s.ph[m] = "XFER"
        s.rec[m] = False
        s.emit("admin", cmd="WR_STOP", member=m, side="src", range_addr=0, status="OK")

    @action(m="members", n=lambda self: range(self.p.pages + 1))
    def wr_pending(self, s, m, n):
        """WR_PENDING: how many pages the record holds (reported as pending_bytes = pages)."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(s.ph[m] == "TRACK")
        s.require(self.count_dirty(s, m) == n)
        s.emit("admin", cmd="WR_PENDING", member=m, side="src", pending_bytes=n, status="OK")

    @action(m="members", bitmap=lambda self: range(1 << self.p.pages))
    def wr_report(self, s, m, bitmap):
        """WR_REPORT: read-and-clear of the written-page record (one bit per page)."""
        self.admin(s, m, "src")
        if self.p.flow == "draft":
            s.require(self.phase(s, m, "TRACK", "STOPPED"))
            s.ph[m] = If(s.ph[m] == "STOPPED", "FINAL", s.ph[m])
        elif self.p.flow == "skip-final-report":
            s.require(s.ph[m] == "TRACK")
        s.require(And(*(s.dirty[m][p] == bool(bitmap >> p & 1) for p in self.P)))
        for p in self.P:
            if bitmap >> p & 1:
                if not self.free:
                    s.stale[m][p] = False  # the hypervisor copies every reported page at once
                if not self.bug("report-not-cleared"):
                    s.dirty[m][p] = False
        s.cite("DRAFT-WR-2", "DRAFT-WR-3")
        s.emit("admin", cmd="WR_REPORT", member=m, side="src", **self.range_fields(), bitmap=bitmap, status="OK")

    # ------------------------------------------------------------------ hypervisor memory and switchover

    @action(m="members")
    def switchover(self, s, m):
        """The guest resumes on the destination host."""
        s.require(s.fault[m] == "none")
        s.require(s.mode[m]["dst"] == "ACTIVE")
        if self.free:
            s.require(s.ph[m] != "DONE")
            s.require(s.mode[m]["src"] == "FREEZE")
        else:
            s.require(s.ph[m] == "WRITTEN")
        s.ph[m] = "DONE"

    # ------------------------------------------------------------------ properties

    @transition_property("DRAFT-MODE-1", "D-DP-9", "D-DP-16")
    def no_dma_while_stopped(self, t):
        """A member in STOP or FREEZE reads no ring and writes no memory."""
        if t.action not in ("consume", "dma_write", "complete"):
            return True
        return t.before.mode[t.params["m"]][t.params["d"]] == "ACTIVE"

    @transition_property("DRAFT-MODE-2", "D-DP-16")
    def no_notify_while_stopped(self, t):
        """A member in STOP or FREEZE sends no used-buffer or config-change notification."""
        if not t.event or t.event["kind"] not in ("used_notify", "config_notify"):
            return True
        return t.before.mode[t.params["m"]][t.params["d"]] == "ACTIVE"

    @transition_property("DRAFT-FRZ-1")
    def context_frozen(self, t):
        """While a member is frozen its context does not change (two reads give the same bytes)."""
        if t.action in ("dev_ctx_write", "fault_begin", "fault_end"):
            return True  # a restore, a reset and the destination reset at a restart replace the context
        m = t.params["m"]
        conds = []
        for d in SIDES:
            same = And(*(a == b for (_, a), (_, b) in zip(self.ctx(t.before, m, d), self.ctx(t.after, m, d))))
            conds.append(Implies(t.before.mode[m][d] == "FREEZE", same))
        return And(*conds)

    @transition_property("DRAFT-WR-1")
    def writes_recorded(self, t):
        """A source DMA write while recording is on marks its page written."""
        if t.action != "dma_write" or t.params["d"] != "src":
            return True
        m, p = t.params["m"], t.params["p"]
        return Implies(t.before.rec[m], t.after.dirty[m][p])

    @transition_property("DRAFT-WR-3")
    def report_clears(self, t):
        """WR_REPORT is read-and-clear: afterwards the record is empty."""
        if t.action != "wr_report":
            return True
        m = t.params["m"]
        return And(*(Not(t.after.dirty[m][p]) for p in self.P))

    @transition_property("DRAFT-CTX-3", "D-DP-4")
    def ctx_write_only_in_freeze(self, t):
        """DEV_CTX_WRITE succeeds only on a frozen member."""
        if t.action != "dev_ctx_write" or t.event["status"] != "OK":
            return True
        return t.before.mode[t.params["m"]][t.params["d"]] == "FREEZE"

    @transition_property("DRAFT-CTX-1", "DRAFT-CTX-2")
    def read_returns_context(self, t):
        """A successful DEV_CTX_READ returns every migratable field as the device holds it."""
        if t.action != "dev_ctx_read" or t.event["status"] != "OK":
            return True
        m, d = t.params["m"], t.params["d"]
        return And(*(a == b for (_, a), (_, b) in zip(self.xctx(t.after, m), self.ctx(t.before, m, d))))

    @transition_property("DRAFT-CTX-4", "DRAFT-CTX-1")
    def context_complete(self, t):
        """At switchover the destination's context equals the frozen source's (features, status,
        config, every queue's enable, addresses and indices)."""
        if self.free or t.action != "switchover":
            return True
        m = t.params["m"]
        return And(*(a == b for (_, a), (_, b) in zip(self.ctx(t.before, m, "dst"), self.ctx(t.before, m, "src"))))

    @transition_property("DRAFT-FLOW-1", "DRAFT-WR-1", "DRAFT-WR-2")
    def no_lost_writes(self, t):
        """At switchover every page the source wrote has been copied: destination memory equals source memory."""
        if self.free or t.action != "switchover":
            return True
        m = t.params["m"]
        return And(*(Not(t.before.stale[m][p]) for p in self.P))

    @invariant("DRAFT-VQ-1", "DRAFT-CTX-1")
    def continuity(self, s):
        """The running device's ring indices match the guest's rings: after switchover the destination
        resumes each queue where the source stopped (no buffer lost, none completed twice)."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            for q in self.Q:
                for d in SIDES:
                    conds.append(Implies(self.running(s, m, d),
                                         And(s.last_avail[m][d][q] == s.taken[m][q],
                                             s.used_idx[m][d][q] == s.gused[m][q])))
        return And(*conds)

    # ------------------------------------------------------------------ strengthening (k-induction)
    #
    # Helper invariants for `mcheck check draft-v1 --engine prove` (docs/symbolic.md): each is
    # true in every reachable state of the draft and skip-final-report flows with a correct
    # device, and together with the properties above they are inductive. They say nothing
    # for the free hypervisor (no flow phases, no ghosts).

    auxiliary = ("fault_resets_source", "modes_follow_flow", "transfer_is_source", "written_is_transfer",
                 "recording_follows_flow", "copies_fresh", "rings_ordered")

    def _ctx_equal(self, a, b):
        return And(*(x == y for (_, x), (_, y) in zip(a, b)))

    @invariant("DRAFT-FLR-1", "DRAFT-FLR-2", "DRAFT-ENV-1")
    def fault_resets_source(self, s):
        """While an FLR or reset is in progress (never after switchover) the source is ACTIVE with a
        default context and the guest's rings are back at 0; with stop-and-clear recording is off and
        the record empty. Nothing can change this before the fault ends: the guest and the device wait
        for it (status RESET) and the source's admin commands are deferred."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            held = [s.ph[m] != "DONE", s.mode[m]["src"] == "ACTIVE", self.ctx_is_default(s, m, "src")]
            held += [And(s.posted[m][q] == 0, s.taken[m][q] == 0, s.gused[m][q] == 0) for q in self.Q]
            if self.p.flr_tracking == "stop-and-clear":
                held += [Not(s.rec[m])] + [Not(s.dirty[m][p]) for p in self.P]
            conds.append(Implies(s.fault[m] != "none", And(*held)))
        return And(*conds)

    @invariant("DRAFT-VQ-1")
    def rings_ordered(self, s):
        """Per queue the guest's indices are ordered: used <= consumed (ghost) <= posted <= buffers;
        with 16-bit indices modulo 2^16: consumed - used <= posted - used <= buffers, so across the
        wrap no buffer is completed before it is consumed or consumed before it is posted. Not needed
        to make the others inductive (continuity's equalities and the guards suffice); it is proved
        with them and states the wrap-safe ordering that continuity's equalities leave out."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            for q in self.Q:
                posted, taken, gused = s.posted[m][q], s.taken[m][q], s.gused[m][q]
                if self.wide:
                    conds += [taken - gused <= posted - gused, posted - gused <= self.B]
                else:
                    conds += [gused <= taken, taken <= posted]
        return And(*conds)

    @invariant("DRAFT-MODE-3", "DRAFT-FLOW-1")
    def modes_follow_flow(self, s):
        """The modes match the hypervisor's phase: with no fault in progress the source is ACTIVE in
        PRE/TRACK, STOP in STOPPED/FINAL and FREEZE from FROZEN on; the destination leaves ACTIVE only
        between the transfer and the switchover (XFER, WRITTEN), and is frozen only there."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            for names, mode in ((("PRE", "TRACK"), "ACTIVE"), (("STOPPED", "FINAL"), "STOP"),
                                (("FROZEN", "READ", "XFER", "WRITTEN", "DONE"), "FREEZE")):
                conds.append(Implies(And(s.fault[m] == "none", self.phase(s, m, *names)), s.mode[m]["src"] == mode))
            conds.append(Implies(Not(self.phase(s, m, "XFER", "WRITTEN")), s.mode[m]["dst"] == "ACTIVE"))
        return And(*conds)

    @invariant("DRAFT-CTX-1", "DRAFT-FRZ-1")
    def transfer_is_source(self, s):
        """From the read on (READ, XFER, WRITTEN, DONE), with no fault in progress, the transferred
        context equals the source's: it was read from the frozen source, which has not changed since."""
        if self.free:
            return True
        return And(*(Implies(And(s.fault[m] == "none", self.phase(s, m, "READ", "XFER", "WRITTEN", "DONE")),
                             self._ctx_equal(self.xctx(s, m), self.ctx(s, m, "src")))
                     for m in self.M))

    @invariant("DRAFT-CTX-4")
    def written_is_transfer(self, s):
        """In WRITTEN the destination's context is the transferred one: DEV_CTX_WRITE loaded it and
        the destination does not run before switchover."""
        if self.free:
            return True
        return And(*(Implies(s.ph[m] == "WRITTEN", self._ctx_equal(self.ctx(s, m, "dst"), self.xctx(s, m)))
                     for m in self.M))

    @invariant("DRAFT-WR-1", "DRAFT-FLOW-1")
    def recording_follows_flow(self, s):
        """Recording is on from WR_START to WR_STOP (TRACK to READ, no fault in progress) and off
        otherwise, and while it is on every stale destination page is in the record (a page goes stale
        only by a source write, which records it, and is copied exactly when it is reported)."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            on = self.phase(s, m, "TRACK", "STOPPED", "FINAL", "FROZEN", "READ")
            conds.append(Implies(s.fault[m] == "none", s.rec[m] == on))
            conds += [Implies(And(s.rec[m], s.stale[m][p]), s.dirty[m][p]) for p in self.P]
        return And(*conds)

    @invariant("DRAFT-FLOW-1", "DRAFT-WR-2")
    def copies_fresh(self, s):
        """Draft flow: after the final report (FINAL to DONE, no fault in progress) no destination
        page is stale: the final report copied every page written since the last one, and the source
        writes nothing once stopped."""
        if self.p.flow != "draft":
            return True
        late = ("FINAL", "FROZEN", "READ", "XFER", "WRITTEN", "DONE")
        return And(*(Implies(And(s.fault[m] == "none", self.phase(s, m, *late)), Not(s.stale[m][p]))
                     for m in self.M for p in self.P))

    @transition_property("DRAFT-FLR-1", "D-DP-22")
    def flr_resets_member(self, t):
        """When an FLR or reset completes the source is ACTIVE with a default context, and recording
        is as P-FLR says (stop-and-clear: off and empty)."""
        if t.action != "fault_end":
            return True
        m = t.params["m"]
        conds = [t.after.mode[m]["src"] == "ACTIVE", self.ctx_is_default(t.after, m, "src")]
        if self.p.flr_tracking == "stop-and-clear":
            conds.append(Not(t.after.rec[m]))
            conds += [Not(t.after.dirty[m][p]) for p in self.P]
        return And(*conds)

    @transition_property("DRAFT-FLR-2", "D-DP-17", "D-DP-18")
    def no_answer_during_flr(self, t):
        """A command to a member under FLR or reset is answered only after it completes."""
        if not t.event or t.event["kind"] != "admin" or t.event.get("side") != "src":
            return True
        return t.before.fault[t.params["m"]] == "none"

    # goals are stated for "some member", so they are symmetric in the member ids

    @sometimes("DRAFT-FLOW-1")
    def migration_completes(self, s):
        """Some member's migration reaches the switchover."""
        return Or(*(s.ph[m] == "DONE" for m in self.M))

    @sometimes("DRAFT-WR-1", "DRAFT-WR-2")
    def page_reported(self, s):
        """A page written during tracking is in the record when the final report is due
        (the report is enabled in that state, so the page is reported)."""
        out = []
        for m in self.M:
            written = Or(*(s.dirty[m][p] for p in self.P))
            due = s.mode[m]["src"] == "STOP" if self.free else s.ph[m] == "STOPPED"
            out.append(And(written, due))
        return Or(*out)

    @sometimes("DRAFT-FLR-1")
    def flr_mid_migration(self, s):
        """An FLR or reset is in progress after the source was stopped (free flow: while the
        destination is frozen)."""
        if self.p.faults == 0:
            return True
        out = []
        for m in self.M:
            if self.free:
                late = s.mode[m]["dst"] == "FREEZE"
            else:
                late = self.phase(s, m, "STOPPED", "FINAL", "FROZEN", "READ", "XFER", "WRITTEN")
            out.append(And(s.fault[m] != "none", late))
        return Or(*out)

    @sometimes("DRAFT-FLR-1", "DRAFT-FLOW-1")
    def completes_after_flr(self, s):
        """Some member completes its migration after using up its faults."""
        if self.p.faults == 0:
            return True
        return Or(*(And(s.ph[m] == "DONE", s.faults_left[m] == 0) for m in self.M))
