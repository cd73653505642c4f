"""The 2023 seed draft ("draft v1"): three device modes, a device context and write recording.

One *member* of this model is one migration pair: a source VF (`side = src`) and a
destination VF (`side = dst`) on the other host, both driven by the same hypervisor.
Commands are named only; their wire numbering lives in the `draft-v1` profile
(`models/profiles/draft-v1.toml`). Every rule the draft leaves open is a parameter
(`transitions` for P-TRANS; `flr_mode` and `flr_tracking` for P-FLR; `flr_visible` for what
the hypervisor can see; `flow` for the hypervisor), and every `DRAFT-*` clause is listed with
its basis in `docs/draft-v1.md`.

The hypervisor is blind by default (cover letter U6/U7: it traps no virtio interface of the
member): a guest device reset is never seen, an FLR only with `flr_visible=yes`. A fault it
does not see does not stop the migration, so the end-to-end properties say which P-FLR
readings keep a migration transparent (docs/draft-v1.md, "Findings for the draft").

State per member (see docs/draft-v1.md for the full list):
- per side: mode, the device context (driver features, device status, device config, per
  split virtqueue: enabled, ring addresses, last_avail_idx, used_idx), the context read and
  write cursors (chunked transfer), FLR or reset in progress;
- the hypervisor's copy of the context it read (`x_*`), its flow phase;
- write recording (on/off, one written bit per recorded page: the data pages, then the
  used-ring page the device writes used elements, the used index and avail_event into),
  and per page whether the destination's copy is stale;
- the guest's rings: buffers posted, consumed (ghost) and the used index in guest memory;
- how many faults may still happen.
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
from mcheck.model.expr import BOOL, And, BitVec, Enum, If, Implies, Int, Not, Or, Value
from mcheck.model.params import Param
from mcheck.models.draft_observe import REPLAY_RULES

MODES = ("ACTIVE", "STOP", "FREEZE")
MODE = Enum("mode", *MODES)
UNKNOWN_MODE = "UNKNOWN"   # a mode value the profile does not define (DEV_MODE_SET only)
STATUS = Enum("status", "RESET", "DRIVER_OK")
FAULT = Enum("fault", "none", "flr", "reset")
# the hypervisor's position in the migration flow (per member)
PHASES = ("PRE", "TRACK", "STOPPED", "FINAL", "FROZEN", "READ", "XFER", "WRITTEN", "DONE", "CANCEL", "CANCELLED")
PHASE = Enum("phase", *PHASES)
SIDES = ("src", "dst")
# chunked context transfer: no stream / a stream partly read or written / the whole context
CURSOR = Int(0, 2)
NONE, PARTIAL, WHOLE = 0, 1, 2

# context fields: per member and side; per member, side and queue
CTX_SCALARS = ("feat", "status", "cfg")
CTX_QUEUE = ("q_en", "q_addr", "last_avail", "used_idx")
CTX_DEFAULT = {"feat": False, "status": "RESET", "cfg": 0, "q_en": False, "q_addr": False,
               "last_avail": 0, "used_idx": 0}
CTX_CONFIGURED = {"feat": True, "status": "DRIVER_OK", "q_en": True, "q_addr": True}

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
LATE = ("FROZEN", "READ", "XFER", "WRITTEN")   # the source is frozen (draft flow, no cancel)
MIGRATING = ("TRACK", "STOPPED", "FINAL") + LATE


class DraftV1(Model):
    name = "draft-v1"
    description = ("the 2023 seed draft: ACTIVE/STOP/FREEZE modes, chunked device context read and write, "
                   "write recording; one member = a source and a destination VF")
    profile = "draft-v1"
    conformance_adapter = "mcheck.conformance.adaptdraft"
    # events a capture does not record: guest driver activity, and the end of a member reset
    unobserved = ("doorbell", "driver_cfg_write", "driver_init", "reset_end")
    replay_rules = REPLAY_RULES  # what the replayer needs beyond event fields (mcheck/replay/rules.py)
    params = (
        Param(name="members", kind="int", default=1, lo=1, hi=3,
              doc="migration pairs (a source VF and a destination VF each), migrated independently"),
        Param(name="pages", kind="int", default=2, lo=1, hi=4,
              doc="guest data pages the device can write (the recorded range also holds the used-ring page)"),
        Param(name="queues", kind="int", default=1, lo=1, hi=2, doc="split virtqueues per device"),
        Param(name="buffers", kind="int", default=2, lo=1, hi=3,
              doc="buffers the guest posts per queue over a run (bounds the ring indices)"),
        Param(name="faults", kind="int", default=1, lo=0, hi=2,
              doc="FLRs or resets that may hit each member (its source while the guest runs there, its "
                  "destination while the hypervisor restores it)"),
        Param(name="flow", kind="choice", default="draft", choices=("draft", "skip-final-report", "free"),
              doc="hypervisor: 'draft' = the cover letter's example flow (track, report rounds, stop, final "
                  "report, freeze, chunked read, transfer, chunked destination write and resume; cancel at "
                  "any time); 'skip-final-report' = the same without the report read after the stop "
                  "(broken); 'free' = any command at any time (device-side properties only)"),
        Param(name="transitions", kind="choice", default="any", choices=tuple(TRANSITIONS),
              doc="P-TRANS: 'any' = every mode transition incl. ACTIVE<->FREEZE; 'via-stop' = ACTIVE<->FREEZE "
                  "must pass through STOP (refused with EINVAL)"),
        Param(name="flr_tracking", kind="choice", default="keep-recording",
              choices=("keep-recording", "stop-and-clear"),
              doc="P-FLR: what a member FLR/reset does to write recording ('keep-recording': left as it was; "
                  "'stop-and-clear': recording off and record cleared)"),
        Param(name="flr_mode", kind="choice", default="keep", choices=("keep", "active"),
              doc="P-FLR: what a member FLR/reset does to the mode ('keep': unchanged, a stopped member stays "
                  "stopped; 'active': back to ACTIVE). The context returns to its defaults and the context "
                  "cursors are cleared in both"),
        Param(name="flr_visible", kind="choice", default="no", choices=("no", "yes"),
              doc="whether the hypervisor traps config space and so sees an FLR of the source (it then "
                  "restarts what the FLR undid); a guest device reset is never seen (U6, U7)"),
        Param(name="event_idx", kind="choice", default="off", choices=("off", "on"),
              doc="VIRTIO_F_EVENT_IDX: consuming an avail entry also writes avail_event into the used-ring page"),
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
        "unreported-write": "a DMA write of buffer data while recording is on is not recorded",
        "unreported-ring-write": "the device's writes to the used-ring page (used element, used index, avail_event) "
                                 "are not recorded",
        "context-changes-while-frozen": "the device applies a deferred config change while frozen",
        "frozen-accepts-access": "a peer's or the guest's write to a frozen member changes its context",
        "ctx-write-while-active": "DEV_CTX_WRITE is accepted (OK) while the member is ACTIVE",
        "ctx-missing-used-idx": "the context read does not carry the split queue's used_idx",
        "orphan-chunk-accepted": "a DEV_CTX_WRITE chunk that continues no stream (none open, or after DISCARD "
                                 "or an FLR) is accepted as the rest of a context",
        "resume-partial-context": "DEV_MODE_SET out of FREEZE succeeds while the written context is incomplete",
        "unknown-mode-accepted": "DEV_MODE_SET with a mode value the profile does not define answers OK",
        "report-not-cleared": "WR_REPORT returns the record but does not clear it",
        "report-drops-concurrent-write": "WR_REPORT is not atomic: a page written while the report is built is "
                                         "cleared without being reported",
        "flr-wrong-mode": "a member FLR or reset sets the mode against P-FLR (flr_mode=keep: the member becomes "
                          "ACTIVE; flr_mode=active: a stopped or frozen member keeps its mode)",
        "flr-clears-record": "a member FLR or reset turns recording off and clears the record although "
                             "flr_tracking=keep-recording",
        "flr-answers-early": "DEV_MODE_SET is answered while a member FLR or reset is in progress",
        "wr-stop-ignored": "WR_STOP answers OK but recording stays on (after a cancel the device keeps recording)",
    }

    @classmethod
    def topology_params(cls, members, queues):
        """Wire members 2m-1 and 2m are pair m (models/draft_observe.py)."""
        out = {"members": (max(members) + 1) // 2} if members else {}
        if queues:
            out["queues"] = queues
        return out

    # ------------------------------------------------------------------ state

    def setup(self):
        p = self.p
        self.B = p.buffers
        self.M = self.index_set("members", range(1, p.members + 1), symmetric=True)
        self.D = self.index_set("side", SIDES)
        self.Q = self.index_set("queues", range(p.queues))
        self.P = self.index_set("pages", range(p.pages))
        self.R = self.index_set("recorded", range(p.pages + 1))   # data pages, then the used-ring page
        self.ring = p.pages
        M, D, Q, R = self.M, self.D, self.Q, self.R
        self.allowed = TRANSITIONS[p.transitions]
        self.wide = p.index_width == "16"
        if p.index_start and not self.wide:
            raise ModelDefinitionError("draft-v1: index_start needs index_width=16")
        idx = BitVec(16) if self.wide else Int(0, self.B)

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
        # chunked context transfer: the device's read and write cursors (P-READ, P-WRITE)
        self.var("rd", Array(M, Array(D, CURSOR)), init=NONE)
        self.var("wr", Array(M, Array(D, CURSOR)), init=NONE)
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
        self.var("dirty", Array(M, Array(R, BOOL)), init=False)
        self.var("stale", Array(M, Array(R, BOOL)), init=True)     # destination copy differs
        # hypervisor flow and faults
        self.var("ph", Array(M, PHASE), init="PRE")
        self.var("fault", Array(M, Array(D, FAULT)), init="none")
        self.var("faults_left", Array(M, Int(0, p.faults)), init=p.faults)

    def end_state(self, s):
        return And(*(self.phase(s, m, "DONE", "CANCELLED") for m in self.M))

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

    def read_chunk(self, s, m, d, part):
        """Copy one part of the context into the hypervisor's copy: 'head' = features, status and
        config (the first chunk), 'tail' = the virtqueues (the chunk that ends the context)."""
        if part == "head":
            for f in CTX_SCALARS:
                getattr(s, "x_" + f)[m] = getattr(s, f)[m][d]
            return
        for q in self.Q:
            for f in CTX_QUEUE:
                if f == "used_idx" and self.bug("ctx-missing-used-idx"):
                    s.x_used_idx[m][q] = CTX_DEFAULT[f]
                else:
                    getattr(s, "x_" + f)[m][q] = getattr(s, f)[m][d][q]

    def write_chunk(self, s, m, d, part):
        """Load one part of the transferred context into the device (see read_chunk)."""
        if part == "head":
            for f in CTX_SCALARS:
                getattr(s, f)[m][d] = getattr(s, "x_" + f)[m]
            return
        for q in self.Q:
            for f in CTX_QUEUE:
                getattr(s, f)[m][d][q] = getattr(s, "x_" + f)[m][q]

    def running(self, s, m, d):
        """The side the guest runs on: the source until switchover (and after a cancel), then the destination."""
        return s.ph[m] != "DONE" if d == "src" else s.ph[m] == "DONE"

    def guest_on(self, s, m, d):
        """The guest driver can drive this device now.

        DRAFT-ENV-1: the hypervisor pauses the guest before it freezes the source, so the guest
        posts no buffer, resets nothing and initialises nothing on a frozen source; a device
        under FLR or reset is waited for."""
        return And(self.running(s, m, d), s.mode[m][d] != "FREEZE", s.fault[m][d] == "none")

    def admin(self, s, m, d, *, deferrable=True):
        """Common guard of an admin command on member m, side d."""
        # the hypervisor sends nothing once the migration is over (switched over or cancelled)
        s.require(Not(self.phase(s, m, "DONE", "CANCELLED")))
        if deferrable:
            s.require(s.fault[m][d] == "none", "DRAFT-FLR-2", "D-DP-17", "D-DP-18")

    def before(self, a, b):
        """Ring index a has not caught up with b (a < b; with 16-bit indices a != b, which is the
        same on every reachable state: a trails b by at most `buffers`, modulo 2^16)."""
        return a != b if self.wide else a < b

    def phase(self, s, m, *names):
        return Or(*(s.ph[m] == n for n in names))

    def count_dirty(self, s, m):
        total: Value = 0
        for r in self.R:
            total = If(s.dirty[m][r], 1, 0) + total
        return total

    def device_writes(self, s, m, d, r, *, recorded=True):
        """The device DMA-writes recorded page r of the side's guest memory: on the source the
        destination's copy becomes stale and, while recording is on, the page is recorded."""
        if d != "src":
            return
        if not self.free:
            with s.when(Not(self.phase(s, m, "CANCEL", "CANCELLED"))):
                s.stale[m][r] = True
        if recorded:
            with s.when(s.rec[m]):
                s.dirty[m][r] = True
            s.cite("DRAFT-WR-1")

    # ------------------------------------------------------------------ guest driver and peers

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

    def incoming_access(self, s, m, d):
        """A config write reaching the member: it changes the context in ACTIVE and STOP
        (DRAFT-MODE-4, D-DP-12) and nothing in FREEZE (DRAFT-FRZ-1)."""
        takes = s.mode[m][d] != "FREEZE"
        if self.bug("frozen-accepts-access"):
            takes = True
        with s.when(takes):
            s.cfg[m][d] = 1 - s.cfg[m][d]
        s.cite("DRAFT-MODE-4", "D-DP-12", "DRAFT-FRZ-1")

    @action(m="members", d="side")
    def guest_cfg_write(self, s, m, d):
        """The guest driver writes a device config field. It may try while the source is frozen (a
        vCPU the hypervisor has not paused yet): the device must not change then."""
        s.require(And(self.running(s, m, d), s.fault[m][d] == "none"))
        s.require(s.status[m][d] == "DRIVER_OK")
        self.incoming_access(s, m, d)
        s.emit("driver_cfg_write", member=m, side=d)

    @action(m="members", d="side")
    def peer_access(self, s, m, d):
        """A peer passthrough device writes into this member (P2P, cover letter U3); peers of the
        guest live where the guest runs, and a peer the hypervisor has not quiesced may still
        write while the member is frozen."""
        s.require(And(self.running(s, m, d), s.fault[m][d] == "none"))
        s.require(s.status[m][d] == "DRIVER_OK")
        self.incoming_access(s, m, d)

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
        s.require(s.fault[m][d] == "none")
        s.require(Or(*(s.mode[m][d] == x for x in modes)), "DRAFT-MODE-1", "D-DP-9", "D-DP-16")
        s.require(s.status[m][d] == "DRIVER_OK")

    @action(m="members", d="side", q="queues")
    def consume(self, s, m, d, q):
        """The device reads the next avail entry (a buffer becomes in flight); with EVENT_IDX it
        writes avail_event into the used-ring page."""
        self.device_may_run(s, m, d)
        s.require(s.q_en[m][d][q])
        s.require(self.before(s.last_avail[m][d][q], s.posted[m][q]))
        s.last_avail[m][d][q] = s.last_avail[m][d][q] + 1
        if not self.free:  # ghost for the continuity check (not kept for the free hypervisor)
            s.taken[m][q] = s.taken[m][q] + 1
        if self.p.event_idx == "on":
            self.device_writes(s, m, d, self.ring, recorded=not self.bug("unreported-ring-write"))
            s.cite("DRAFT-WR-4")

    @action(m="members", d="side", p="pages")
    def dma_write(self, s, m, d, p):
        """The device writes data of an in-flight buffer into guest page p."""
        self.device_may_run(s, m, d, *(("FREEZE",) if self.bug("write-while-frozen") else ()))
        s.require(Or(*(self.before(s.used_idx[m][d][q], s.last_avail[m][d][q]) for q in self.Q)))
        self.device_writes(s, m, d, p, recorded=not self.bug("unreported-write"))
        s.emit("dma_write", member=m, side=d, page=p)

    @action(m="members", d="side", q="queues")
    def complete(self, s, m, d, q):
        """The device writes the used ring (a used element and used_idx + 1, in the used-ring page)
        and sends a used-buffer notification."""
        self.device_may_run(s, m, d)
        s.require(self.before(s.used_idx[m][d][q], s.last_avail[m][d][q]))
        if not self.free:
            s.gused[m][q] = s.used_idx[m][d][q] + 1
        s.used_idx[m][d][q] = s.used_idx[m][d][q] + 1
        self.device_writes(s, m, d, self.ring, recorded=not self.bug("unreported-ring-write"))
        s.cite("DRAFT-WR-4")
        s.emit("used_notify", member=m, side=d, queue=q)

    @action(m="members", d="side")
    def device_cfg_change(self, s, m, d):
        """The device changes a config field on its own and sends a config-change notification."""
        extra = ("STOP",) if self.bug("notify-while-stopped") else ()
        s.require(self.running(s, m, d))
        s.require(s.fault[m][d] == "none")
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
        """A decoded trace event in this model's vocabulary (models/draft_observe.py; the
        observer keeps per-member state: recorded ranges, context write streams)."""
        obs = self.__dict__.get("_obs")
        if obs is None:
            from mcheck.models.draft_observe import DraftObserver
            obs = self.__dict__["_obs"] = DraftObserver()
        return obs.observe(event)

    # ------------------------------------------------------------------ faults

    def fault_allowed(self, s, m, d):
        """When a fault can hit this side. Free flow: any time before the end. Otherwise the
        source's faults come from the guest (a reset through the VF's BAR, an FLR through its
        config space), so only while the guest drives it; the destination's come from the
        hypervisor while it restores the member."""
        if self.free:
            return Not(self.phase(s, m, "DONE", "CANCELLED"))
        if d == "src":
            return And(self.guest_on(s, m, d), s.ph[m] != "CANCELLED")
        return self.phase(s, m, "XFER", "WRITTEN")

    @action(m="members", d="side", kind=("flr", "reset"))
    def fault_begin(self, s, m, d, kind):
        """A member FLR or device reset: the context returns to its defaults and the context
        cursors are cleared; mode and write recording as P-FLR says."""
        s.require(self.fault_allowed(s, m, d))
        s.require(s.fault[m][d] == "none")
        s.require(s.faults_left[m] > 0)
        s.fault[m][d] = kind
        s.faults_left[m] = s.faults_left[m] - 1
        to_active = (self.p.flr_mode == "active") != self.bug("flr-wrong-mode")
        if to_active:
            s.mode[m][d] = "ACTIVE"
        self.reset_ctx(s, m, d)
        s.rd[m][d] = NONE
        s.wr[m][d] = NONE
        if d == "src":
            for q in self.Q:  # the guest driver's rings restart with the device
                s.posted[m][q] = 0
                s.taken[m][q] = 0
                s.gused[m][q] = 0
            if self.p.flr_tracking == "stop-and-clear" or self.bug("flr-clears-record"):
                s.rec[m] = False
                for r in self.R:
                    s.dirty[m][r] = False
        s.cite("DRAFT-FLR-1", "D-DP-22")
        s.emit(f"{kind}_begin", member=m, side=d)

    @action(m="members", d="side", kind=("flr", "reset"))
    def fault_end(self, s, m, d, kind):
        """The FLR or reset completes. The hypervisor restarts what it undid only if it saw it
        (DRAFT-FLOW-2): always on the destination (it reset it), on the source only for an FLR
        with flr_visible=yes. A fault it did not see leaves its flow where it was."""
        s.require(s.fault[m][d] == kind)
        s.fault[m][d] = "none"
        s.cite("DRAFT-FLR-1")
        if not self.free:
            if d == "dst":
                s.cite("DRAFT-FLOW-2")
                with s.when(s.ph[m] == "WRITTEN"):
                    s.ph[m] = "XFER"       # write the context again
            elif kind == "flr" and self.p.flr_visible == "yes":
                s.cite("DRAFT-FLOW-2")
                # recording lost: start again with a full copy; the source running again after
                # the stop: back to the pre-copy rounds (it will be stopped again)
                lost = Not(s.rec[m])
                rerun = And(s.rec[m], s.mode[m]["src"] == "ACTIVE", self.phase(s, m, "STOPPED", "FINAL"))
                s.ph[m] = If(And(lost, s.ph[m] != "CANCEL"), "PRE", If(rerun, "TRACK", s.ph[m]))
        s.emit(f"{kind}_end", member=m, side=d)

    # ------------------------------------------------------------------ admin: modes

    def flow_mode_set(self, s, m, d, frm, target):
        """Which DEV_MODE_SET the hypervisor sends now. It decides by its phase, not by the
        device's mode: a blind hypervisor does not know a fault changed it."""
        if self.free:
            return True
        if d == "src":
            if target == "STOP":
                return Or(s.ph[m] == "TRACK", And(s.ph[m] == "CANCEL", frm == "FREEZE"))
            if target == "FREEZE":
                return s.ph[m] == ("STOPPED" if self.p.flow == "skip-final-report" else "FINAL")
            if target == "ACTIVE":   # cancel: resume the source
                return And(s.ph[m] == "CANCEL", frm != "ACTIVE")
            return False
        if frm == target or target == UNKNOWN_MODE:
            return False
        if target in ("STOP", "FREEZE") and frm != "FREEZE":
            return s.ph[m] == "XFER"
        if target in ("STOP", "ACTIVE") and frm != "ACTIVE":
            return s.ph[m] == "WRITTEN"
        return False

    @action(m="members", d="side", frm=MODES, target=MODES + (UNKNOWN_MODE,))
    def dev_mode_set(self, s, m, d, frm, target):
        """DEV_MODE_SET(target) on a member currently in mode frm (P-TRANS decides the outcome; a
        mode value the profile does not define and leaving FREEZE with a half-written context are
        refused)."""
        self.admin(s, m, d, deferrable=not self.bug("flr-answers-early"))
        if target == UNKNOWN_MODE:
            s.require(self.free)   # only the free hypervisor sends garbage
        s.require(self.flow_mode_set(s, m, d, frm, target))
        s.require(s.mode[m][d] == frm)
        if target == UNKNOWN_MODE:
            ok = self.bug("unknown-mode-accepted")
            s.cite("DRAFT-MODE-3", "D-GA-3")
            s.emit("admin", cmd="DEV_MODE_SET", member=m, side=d, mode=target, status="OK" if ok else "EINVAL")
            return
        ok = (frm, target) in self.allowed
        leaving_freeze = frm == "FREEZE" and target != "FREEZE"
        if ok and leaving_freeze and not self.bug("resume-partial-context"):
            # DRAFT-CTX-6: a half-written context is never resumed; the outcome is split on it
            s.require(s.wr[m][d] != PARTIAL, "DRAFT-CTX-6")
        if ok:
            s.mode[m][d] = target
            if frm != target:
                s.rd[m][d] = NONE      # a mode change restarts the read stream (DRAFT-CTX-5)
            if not self.free and d == "src":
                with s.when(s.ph[m] != "CANCEL"):
                    s.ph[m] = "STOPPED" if target == "STOP" else "FROZEN"
            s.cite("DRAFT-MODE-3")
        else:
            s.cite("DRAFT-MODE-3", "D-GA-3")
        s.emit("admin", cmd="DEV_MODE_SET", member=m, side=d, mode=target, status="OK" if ok else "EINVAL")

    @action(m="members", d="side", target=("ACTIVE", "STOP"))
    def dev_mode_set_partial(self, s, m, d, target):
        """DEV_MODE_SET out of FREEZE while the written context is incomplete: EINVAL, no side
        effect (DRAFT-CTX-6). The free hypervisor only (the draft flow resumes a whole context)."""
        self.admin(s, m, d)
        s.require(d == "dst")
        s.require(self.free and not self.bug("resume-partial-context"))
        s.require(And(s.mode[m][d] == "FREEZE", s.wr[m][d] == PARTIAL))
        s.cite("DRAFT-CTX-6")
        s.emit("admin", cmd="DEV_MODE_SET", member=m, side=d, mode=target, status="EINVAL")

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
        """DEV_CTX_SIZE_GET: the whole context's size (the read cursor does not move);
        freeze_mode=1 asks for the final size."""
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

    @action(m="members", d="side", frm=MODES, last=(False, True))
    def dev_ctx_read(self, s, m, d, frm, last):
        """DEV_CTX_READ: the next chunk of the context (P-READ); allowed in STOP and FREEZE
        (P-VALID). The device chooses the chunk size: `last` says the chunk ends the context
        (remaining_ctx_size 0). The first chunk carries features, status and config, the last
        one the virtqueues; a read after the end is empty."""
        self.admin(s, m, d)
        s.require(d == "src")   # the context is read on the source (every flow)
        if not self.free:
            s.require(s.ph[m] == "FROZEN" if (d == "src" and frm == "FREEZE") else False)
        s.require(s.mode[m][d] == frm)
        s.cite("DRAFT-CTX-1", "DRAFT-CTX-2", "DRAFT-CTX-5")
        if frm == "ACTIVE":
            s.require(not last)   # one EBUSY answer, whatever the chunking
            s.emit("admin", cmd="DEV_CTX_READ", member=m, side=d, status="EBUSY")
            return
        s.require(s.rd[m][d] != WHOLE)
        with s.when(s.rd[m][d] == NONE):
            self.read_chunk(s, m, d, "head")
        if last:
            self.read_chunk(s, m, d, "tail")
            s.rd[m][d] = WHOLE
            if not self.free:
                s.ph[m] = "READ"
        else:
            s.rd[m][d] = PARTIAL
        s.emit("admin", cmd="DEV_CTX_READ", member=m, side=d, last=last, empty=False, status="OK")

    @action(m="members", d="side", frm=("STOP", "FREEZE"))
    def dev_ctx_read_end(self, s, m, d, frm):
        """DEV_CTX_READ after the last chunk: an empty chunk (size 0, remaining 0) (DRAFT-CTX-5)."""
        self.admin(s, m, d)
        s.require(d == "src")
        s.require(self.free)
        s.require(And(s.mode[m][d] == frm, s.rd[m][d] == WHOLE))
        s.cite("DRAFT-CTX-5")
        s.emit("admin", cmd="DEV_CTX_READ", member=m, side=d, last=True, empty=True, status="OK")

    @action(m="members", d="side", frm=MODES, part=("first", "next"), last=(False, True))
    def dev_ctx_write(self, s, m, d, frm, part, last):
        """DEV_CTX_WRITE: one chunk of the transferred context (P-WRITE), only in FREEZE (P-VALID),
        else EBUSY. `part` is first (a new stream: a write after a whole context starts a new
        one) or next (continues the open stream); `last` says the hypervisor's chunk ends the
        context. A next chunk with no open stream is refused with EINVAL (DRAFT-CTX-5)."""
        self.admin(s, m, d)
        s.require(d == "dst")   # and written on the destination (every flow)
        if not self.free:
            # the cover letter does not say the destination is frozen first: the hypervisor
            # may try the write in any mode, and the device must refuse it unless FREEZE; it
            # opens a stream with a first chunk and continues it with next chunks
            s.require(s.ph[m] == "XFER" if d == "dst" else False)
            s.require(s.wr[m][d] == PARTIAL if part == "next" else s.wr[m][d] != PARTIAL)
        s.require(s.mode[m][d] == frm)
        s.cite("DRAFT-CTX-3", "D-DP-4", "DRAFT-CTX-5")
        ok = frm == "FREEZE" or (frm == "ACTIVE" and self.bug("ctx-write-while-active"))
        if not ok:
            s.emit("admin", cmd="DEV_CTX_WRITE", member=m, side=d, part=part, last=last, size=self.ctx_size(),
                   status="EBUSY")
            return
        if part == "next" and not self.bug("orphan-chunk-accepted"):
            # the outcome is split on the device's cursor: an orphan chunk is the other action
            s.require(s.wr[m][d] == PARTIAL, "DRAFT-CTX-5")
        s.rd[m][d] = NONE      # a context write restarts the read stream (DRAFT-CTX-5)
        if part == "first":
            self.write_chunk(s, m, d, "head")
        if last:
            self.write_chunk(s, m, d, "tail")
            s.wr[m][d] = WHOLE
            if not self.free:
                s.ph[m] = "WRITTEN"
        else:
            s.wr[m][d] = PARTIAL
        s.emit("admin", cmd="DEV_CTX_WRITE", member=m, side=d, part=part, last=last, size=self.ctx_size(), status="OK")

    @action(m="members", d="side", last=(False, True))
    def dev_ctx_write_orphan(self, s, m, d, last):
        """A next chunk with no open stream on a frozen member: EINVAL, nothing changes (DRAFT-CTX-5).
        The free hypervisor only: the draft flow always opens a stream first."""
        self.admin(s, m, d)
        s.require(d == "dst")
        s.require(self.free and not self.bug("orphan-chunk-accepted"))
        s.require(And(s.mode[m][d] == "FREEZE", s.wr[m][d] != PARTIAL))
        s.cite("DRAFT-CTX-5")
        s.emit("admin", cmd="DEV_CTX_WRITE", member=m, side=d, part="next", last=last, size=self.ctx_size(),
               status="EINVAL")

    @action(m="members", d="side")
    def dev_ctx_discard(self, s, m, d):
        """DEV_CTX_DISCARD: drops a partial read and a partial write (the half-written context
        returns to its defaults); a whole written context is not partial and stays."""
        self.admin(s, m, d)
        s.require(self.free)
        s.rd[m][d] = NONE
        with s.when(s.wr[m][d] == PARTIAL):
            s.wr[m][d] = NONE
            self.reset_ctx(s, m, d)
        s.cite("DRAFT-CTX-5")
        s.emit("admin", cmd="DEV_CTX_DISCARD", member=m, side=d, status="OK")

    # ------------------------------------------------------------------ admin: write recording (source)

    @action(m="members")
    def wr_caps_query(self, s, m):
        """WR_CAPS_QUERY: the device's recording capabilities (its own choice: not compared)."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(s.ph[m] == "PRE")
        s.emit("admin", cmd="WR_CAPS_QUERY", member=m, side="src", status="OK")

    @action(m="members")
    def wr_start(self, s, m):
        """WR_START: recording on over every recorded page, record cleared."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(s.ph[m] == "PRE")
            s.ph[m] = "TRACK"
        s.rec[m] = True
        for r in self.R:
            s.dirty[m][r] = False
            if not self.free:
                s.stale[m][r] = False  # the first, full copy round starts once recording is on
        s.emit("admin", cmd="WR_START", member=m, side="src", range_pages=len(self.R), status="OK")

    @action(m="members")
    def wr_stop(self, s, m):
        """WR_STOP: recording off; the record stays readable."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(self.phase(s, m, "READ", "CANCEL"))
            # cancel: the source runs again before tracking stops (as Linux cancels)
            s.require(Implies(s.ph[m] == "CANCEL", s.mode[m]["src"] == "ACTIVE"))
            with s.when(s.ph[m] == "CANCEL"):
                s.ph[m] = "CANCELLED"
                for r in self.R:   # nobody reads the record again: it is left out of the state
                    s.dirty[m][r] = False
            with s.when(s.ph[m] == "READ"):
                s.ph[m] = "XFER"
        if not self.bug("wr-stop-ignored"):
            s.rec[m] = False
        s.cite("DRAFT-FLOW-3")
        s.emit("admin", cmd="WR_STOP", member=m, side="src", status="OK")

    @action(m="members", n=lambda self: range(self.p.pages + 2))
    def wr_pending(self, s, m, n):
        """WR_PENDING: how much report data is pending (n recorded pages; bytes on the wire, by
        the profile's report form: the observer turns them into pages or 'any')."""
        self.admin(s, m, "src")
        if not self.free:
            s.require(s.ph[m] == "TRACK")
        s.require(self.count_dirty(s, m) == n, "DRAFT-WR-2")
        s.emit("admin", cmd="WR_PENDING", member=m, side="src", pending_pages=n, pending_any=n > 0, status="OK")

    @action(m="members", bitmap=lambda self: range(1 << (self.p.pages + 1)))
    def wr_report(self, s, m, bitmap):
        """WR_REPORT: read-and-clear of the record (bit r = recorded page r), atomic: a page is either
        reported or stays recorded."""
        self.admin(s, m, "src")
        if self.p.flow == "draft":
            s.require(self.phase(s, m, "TRACK", "STOPPED"))
            s.ph[m] = If(s.ph[m] == "STOPPED", "FINAL", s.ph[m])
        elif self.p.flow == "skip-final-report":
            s.require(s.ph[m] == "TRACK")
        if self.bug("report-drops-concurrent-write"):
            # a page written while the report was built is missing from it, and cleared
            s.require(And(*(Implies(bool(bitmap >> r & 1), s.dirty[m][r]) for r in self.R)), "DRAFT-WR-2")
            for r in self.R:
                s.dirty[m][r] = False
        else:
            s.require(And(*(s.dirty[m][r] == bool(bitmap >> r & 1) for r in self.R)), "DRAFT-WR-2", "DRAFT-WR-1",
                      "DRAFT-WR-4")
        for r in self.R:
            if bitmap >> r & 1:
                if not self.free:
                    s.stale[m][r] = False  # the hypervisor copies every reported page at once
                if not self.bug("report-not-cleared"):
                    s.dirty[m][r] = False
        s.cite("DRAFT-WR-2", "DRAFT-WR-3")
        s.emit("admin", cmd="WR_REPORT", member=m, side="src", range_pages=len(self.R), bitmap=bitmap, status="OK")

    # ------------------------------------------------------------------ hypervisor: switchover, cancel

    @action(m="members")
    def switchover(self, s, m):
        """The guest resumes on the destination host."""
        s.require(s.fault[m]["dst"] == "none")
        s.require(s.mode[m]["dst"] == "ACTIVE")
        if self.free:
            s.require(Not(self.phase(s, m, "DONE", "CANCELLED")))
            s.require(s.mode[m]["src"] == "FREEZE")
        else:
            s.require(s.ph[m] == "WRITTEN")
        s.ph[m] = "DONE"

    @action(m="members")
    def cancel(self, s, m):
        """The hypervisor gives the migration up before switchover: it resumes the source
        (DEV_MODE_SET ACTIVE, via STOP if P-TRANS needs it), stops recording, and the guest
        continues on the source (DRAFT-FLOW-3)."""
        s.require(not self.free)
        s.require(self.phase(s, m, *MIGRATING))
        s.require(s.fault[m]["dst"] == "none")   # it waits for the destination reset it started
        s.ph[m] = "CANCEL"
        # the destination VF and the copy in transit are thrown away: the hypervisor resets the
        # destination; destination memory no longer matters
        for f in CTX_SCALARS:
            getattr(s, "x_" + f)[m] = CTX_DEFAULT[f]
        for q in self.Q:
            for f in CTX_QUEUE:
                getattr(s, "x_" + f)[m][q] = CTX_DEFAULT[f]
        self.reset_ctx(s, m, "dst")
        s.mode[m]["dst"] = "ACTIVE"
        s.rd[m]["dst"] = NONE
        s.wr[m]["dst"] = NONE
        for r in self.R:
            s.stale[m][r] = False
        s.cite("DRAFT-FLOW-3")

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
        """While a member is frozen its context does not change, whatever reaches it (two reads give
        the same bytes). Only a context write, a DISCARD of a half-written one, or a reset replaces it."""
        if t.action in ("dev_ctx_write", "dev_ctx_discard", "fault_begin", "fault_end", "cancel"):
            return True
        m = t.params["m"]
        conds = []
        for d in SIDES:
            same = And(*(a == b for (_, a), (_, b) in zip(self.ctx(t.before, m, d), self.ctx(t.after, m, d), strict=True)))
            conds.append(Implies(t.before.mode[m][d] == "FREEZE", same))
        return And(*conds)

    @transition_property("DRAFT-WR-1", "DRAFT-WR-4")
    def writes_recorded(self, t):
        """A source DMA write while recording is on marks its page written: buffer data, and the
        used-ring page for used elements, the used index and (EVENT_IDX) avail_event."""
        if t.params.get("d") != "src":
            return True
        m = t.params["m"]
        if t.action == "dma_write":
            page = t.params["p"]
        elif t.action == "complete" or (t.action == "consume" and self.p.event_idx == "on"):
            page = self.ring
        else:
            return True
        return Implies(t.before.rec[m], t.after.dirty[m][page])

    @transition_property("DRAFT-WR-3")
    def report_clears(self, t):
        """WR_REPORT is read-and-clear: afterwards the record is empty."""
        if t.action != "wr_report":
            return True
        m = t.params["m"]
        return And(*(Not(t.after.dirty[m][r]) for r in self.R))

    @transition_property("DRAFT-WR-2", "DRAFT-WR-3")
    def report_atomic(self, t):
        """WR_REPORT loses nothing: a page recorded when the report is taken is in it or stays
        recorded (a write racing with the report is reported now or next time)."""
        if t.action != "wr_report":
            return True
        m, bitmap = t.params["m"], t.params["bitmap"]
        return And(*(Implies(t.before.dirty[m][r], t.after.dirty[m][r]) for r in self.R if not bitmap >> r & 1))

    @transition_property("DRAFT-CTX-3", "D-DP-4")
    def ctx_write_only_in_freeze(self, t):
        """DEV_CTX_WRITE succeeds only on a frozen member."""
        if t.action != "dev_ctx_write" or t.event["status"] != "OK":
            return True
        return t.before.mode[t.params["m"]][t.params["d"]] == "FREEZE"

    @transition_property("DRAFT-CTX-5")
    def orphan_chunk_refused(self, t):
        """A DEV_CTX_WRITE chunk that continues no open stream is refused (EINVAL, nothing changes)."""
        if t.action != "dev_ctx_write" or t.params["part"] != "next" or t.event["status"] != "OK":
            return True
        return t.before.wr[t.params["m"]][t.params["d"]] == PARTIAL

    @transition_property("DRAFT-CTX-6")
    def resume_needs_whole_context(self, t):
        """A member leaves FREEZE only with no context or a whole one written, never a half-written one."""
        if t.action != "dev_mode_set" or t.event["status"] != "OK":
            return True
        if t.params["frm"] != "FREEZE" or t.params["target"] in ("FREEZE", UNKNOWN_MODE):
            return True
        return t.before.wr[t.params["m"]][t.params["d"]] != PARTIAL

    @transition_property("DRAFT-MODE-3", "D-GA-3")
    def unknown_mode_refused(self, t):
        """DEV_MODE_SET with a mode value the profile does not define is EINVAL."""
        if t.action != "dev_mode_set" or t.params["target"] != UNKNOWN_MODE:
            return True
        return t.event["status"] == "EINVAL"

    @transition_property("DRAFT-CTX-1", "DRAFT-CTX-2", "DRAFT-CTX-5")
    def read_returns_context(self, t):
        """A read in FREEZE that ends the context has returned every migratable field as the device
        holds it (the chunks of one stream fit together)."""
        if t.action != "dev_ctx_read" or t.event["status"] != "OK" or not t.params["last"] or t.params["frm"] != "FREEZE":
            return True
        m, d = t.params["m"], t.params["d"]
        return And(*(a == b for (_, a), (_, b) in zip(self.xctx(t.after, m), self.ctx(t.before, m, d), strict=True)))

    def _at_switchover(self, t):
        return not self.free and t.action == "switchover"

    @transition_property("DRAFT-CTX-4", "DRAFT-CTX-1")
    def context_complete(self, t):
        """At switchover the destination's context equals the frozen source's (features, status,
        config, every queue's enable, addresses and indices)."""
        if not self._at_switchover(t):
            return True
        m = t.params["m"]
        return self._ctx_equal(self.ctx(t.before, m, "dst"), self.ctx(t.before, m, "src"))

    @transition_property("DRAFT-FRZ-2", "DRAFT-CTX-4")
    def frozen_context_migrates(self, t):
        """At switchover the context the hypervisor read in FREEZE is both the source's (nothing
        changed it since) and the one the destination resumed with."""
        if not self._at_switchover(t):
            return True
        m = t.params["m"]
        x = self.xctx(t.before, m)
        return And(self._ctx_equal(x, self.ctx(t.before, m, "src")), self._ctx_equal(x, self.ctx(t.before, m, "dst")))

    @transition_property("DRAFT-FLOW-1", "DRAFT-WR-1", "DRAFT-WR-2")
    def no_lost_writes(self, t):
        """At switchover every page the source device wrote (data and used ring) has been copied:
        destination memory equals source memory."""
        if not self._at_switchover(t):
            return True
        m = t.params["m"]
        return And(*(Not(t.before.stale[m][r]) for r in self.R))

    @transition_property("DRAFT-FLR-3", "DRAFT-FLOW-1", "DRAFT-CTX-4")
    def transparent_migration(self, t):
        """The end-to-end promise of U5: a migration that went on through any FLRs and resets the
        hypervisor did not see ends with no lost write and the source's whole context on the
        destination."""
        if not self._at_switchover(t):
            return True
        m = t.params["m"]
        return And(*(Not(t.before.stale[m][r]) for r in self.R),
                   self._ctx_equal(self.ctx(t.before, m, "dst"), self.ctx(t.before, m, "src")))

    @invariant("DRAFT-VQ-1", "DRAFT-CTX-1")
    def continuity(self, s):
        """The running device's ring indices match the guest's rings: after switchover the destination
        resumes each queue where the source stopped, and after a cancel the source goes on where it
        stopped (no buffer lost, none completed twice)."""
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

    @invariant("DRAFT-FLOW-3")
    def cancel_restores_source(self, s):
        """After a cancel the source is ACTIVE again and recording is off."""
        if self.free:
            return True
        return And(*(Implies(s.ph[m] == "CANCELLED", And(s.mode[m]["src"] == "ACTIVE", Not(s.rec[m])))
                     for m in self.M))

    @transition_property("DRAFT-FLR-1", "D-DP-22")
    def flr_resets_member(self, t):
        """An FLR or reset returns the member's context to its defaults and clears its context
        cursors; the mode and write recording are as P-FLR says."""
        if t.action != "fault_begin":
            return True
        m, d = t.params["m"], t.params["d"]
        b, a = t.before, t.after
        mode = "ACTIVE" if self.p.flr_mode == "active" else b.mode[m][d]
        conds = [a.mode[m][d] == mode, self.ctx_is_default(a, m, d), a.rd[m][d] == NONE, a.wr[m][d] == NONE]
        if d == "src":
            if self.p.flr_tracking == "stop-and-clear":
                conds += [Not(a.rec[m])] + [Not(a.dirty[m][r]) for r in self.R]
            else:
                conds += [a.rec[m] == b.rec[m]] + [a.dirty[m][r] == b.dirty[m][r] for r in self.R]
        return And(*conds)

    @transition_property("DRAFT-FLR-2", "D-DP-17", "D-DP-18")
    def no_answer_during_flr(self, t):
        """A command to a member under FLR or reset is answered only after it completes."""
        if not t.event or t.event["kind"] != "admin":
            return True
        return t.before.fault[t.params["m"]][t.event["side"]] == "none"

    # ------------------------------------------------------------------ strengthening (k-induction)
    #
    # Helper invariants for `mcheck check draft-v1 --engine prove` (docs/symbolic.md): each is
    # true in every reachable state of the draft and skip-final-report flows with a correct
    # device and the default P-FLR reading (flr_mode=keep, flr_tracking=keep-recording), and
    # together with the properties above they are inductive. They say nothing for the free
    # hypervisor (no flow phases, no ghosts); the parts that depend on P-FLR say nothing for
    # the other readings (whose end-to-end properties are violated: docs/draft-v1.md, Findings).

    auxiliary = ("fault_resets_member", "modes_follow_flow", "cursors_follow_flow", "transfer_is_source", "written_is_transfer",
                 "recording_follows_flow", "copies_fresh", "rings_ordered")

    def _ctx_equal(self, a, b):
        return And(*(x == y for (_, x), (_, y) in zip(a, b, strict=True)))

    def _head_equal(self, a, b):
        return And(*(x == y for (f, x), (_, y) in zip(a, b, strict=True) if f in CTX_SCALARS))

    @property
    def keeps(self) -> bool:
        """The P-FLR reading the draft needs (docs/draft-v1.md, Findings): faults keep the mode and
        the record."""
        return self.p.flr_mode == "keep" and self.p.flr_tracking == "keep-recording"

    @invariant("DRAFT-FLR-1", "DRAFT-FLR-2", "DRAFT-ENV-1")
    def fault_resets_member(self, s):
        """While an FLR or reset is in progress the member's context is at its defaults with no
        cursor; on the source the guest's rings are back at 0 and the migration is still under
        way (with stop-and-clear recording is off and the record empty); on the destination the
        hypervisor is restoring it. Nothing can change this before the fault ends: the guest
        and the device wait for it and the member's admin commands are deferred."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            for d in SIDES:
                held = [self.ctx_is_default(s, m, d), s.rd[m][d] == NONE, s.wr[m][d] == NONE]
                if d == "src":
                    held += [self.phase(s, m, "PRE", "TRACK", "STOPPED", "FINAL", "CANCEL"), s.mode[m][d] != "FREEZE"]
                    held += [And(s.posted[m][q] == 0, s.taken[m][q] == 0, s.gused[m][q] == 0) for q in self.Q]
                    if self.p.flr_tracking == "stop-and-clear":
                        held += [Not(s.rec[m])] + [Not(s.dirty[m][r]) for r in self.R]
                else:
                    held += [self.phase(s, m, "XFER", "WRITTEN")]
                conds.append(Implies(s.fault[m][d] != "none", And(*held)))
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

    @invariant("DRAFT-MODE-3", "DRAFT-FLOW-1", "DRAFT-FLOW-3")
    def modes_follow_flow(self, s):
        """The modes match the hypervisor's phase: the source is ACTIVE in PRE/TRACK and after a
        cancel, STOP in STOPPED/FINAL and FREEZE from FROZEN on (faults keep the mode, so this holds
        through them; with flr_mode=active nothing is claimed for the source); the destination leaves
        ACTIVE only between the transfer and the switchover (XFER, WRITTEN) or in a cancelled attempt."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            if self.keeps:
                for names, mode in ((("PRE", "TRACK", "CANCELLED"), "ACTIVE"), (("STOPPED", "FINAL"), "STOP"),
                                    (LATE + ("DONE",), "FREEZE")):
                    conds.append(Implies(self.phase(s, m, *names), s.mode[m]["src"] == mode))
            conds.append(Implies(Not(self.phase(s, m, "XFER", "WRITTEN", "CANCEL", "CANCELLED")),
                                 s.mode[m]["dst"] == "ACTIVE"))
        return And(*conds)

    @invariant("DRAFT-CTX-5", "DRAFT-FLOW-1")
    def cursors_follow_flow(self, s):
        """The context streams follow the phase: the source is read and the destination written,
        never the other way; no read stream before the freeze, a whole one from the end of the
        read to the switchover; no write stream before the transfer, a whole one in WRITTEN (no
        destination fault in progress)."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            conds += [s.wr[m]["src"] == NONE, s.rd[m]["dst"] == NONE]
            conds.append(Implies(self.phase(s, m, "PRE", "TRACK", "STOPPED", "FINAL"), s.rd[m]["src"] == NONE))
            conds.append(Implies(self.phase(s, m, "READ", "XFER", "WRITTEN", "DONE"), s.rd[m]["src"] == WHOLE))
            conds.append(Implies(self.phase(s, m, "PRE", "TRACK", "STOPPED", "FINAL", "FROZEN", "READ"),
                                 s.wr[m]["dst"] == NONE))
            conds.append(Implies(And(s.ph[m] == "WRITTEN", s.fault[m]["dst"] == "none"), s.wr[m]["dst"] == WHOLE))
        return And(*conds)

    @invariant("DRAFT-CTX-1", "DRAFT-FRZ-1", "DRAFT-CTX-5")
    def transfer_is_source(self, s):
        """The hypervisor's copy is the frozen source's context: its first part once a read stream is
        open (FROZEN, cursor partial), all of it from the end of the read on (READ to DONE)."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            x, src = self.xctx(s, m), self.ctx(s, m, "src")
            conds.append(Implies(self.phase(s, m, "READ", "XFER", "WRITTEN", "DONE"), self._ctx_equal(x, src)))
            conds.append(Implies(And(s.ph[m] == "FROZEN", s.rd[m]["src"] == PARTIAL), self._head_equal(x, src)))
        return And(*conds)

    @invariant("DRAFT-CTX-4", "DRAFT-CTX-5")
    def written_is_transfer(self, s):
        """The destination holds what was written: the first part while a write stream is open
        (XFER, cursor partial), the whole transferred context in WRITTEN (no fault in progress);
        it does not run before switchover."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            x, dst = self.xctx(s, m), self.ctx(s, m, "dst")
            conds.append(Implies(And(s.ph[m] == "WRITTEN", s.fault[m]["dst"] == "none"), self._ctx_equal(dst, x)))
            conds.append(Implies(And(s.ph[m] == "XFER", s.wr[m]["dst"] == PARTIAL), self._head_equal(dst, x)))
        return And(*conds)

    @invariant("DRAFT-WR-1", "DRAFT-FLOW-1")
    def recording_follows_flow(self, s):
        """Recording is on from WR_START to WR_STOP (TRACK to READ) and off before and after (faults
        keep it with keep-recording), and while it is on every stale destination page is in the
        record (a page goes stale only by a source write, which records it, and is copied exactly
        when it is reported)."""
        if self.free:
            return True
        conds = []
        for m in self.M:
            if self.p.flr_tracking == "keep-recording":
                conds.append(Implies(self.phase(s, m, "TRACK", "STOPPED", "FINAL", "FROZEN", "READ"), s.rec[m]))
            conds.append(Implies(self.phase(s, m, "PRE", "XFER", "WRITTEN", "DONE", "CANCELLED"), Not(s.rec[m])))
            conds += [Implies(And(s.rec[m], s.stale[m][r]), s.dirty[m][r]) for r in self.R]
        return And(*conds)

    @invariant("DRAFT-FLOW-1", "DRAFT-WR-2")
    def copies_fresh(self, s):
        """Draft flow: after the final report (FINAL to DONE) no destination page is stale: the final
        report copied every page written since the last one, and the source writes nothing once
        stopped (a fault keeps it stopped; with flr_mode=active nothing is claimed)."""
        if self.p.flow != "draft" or not self.keeps:
            return True
        late = ("FINAL",) + LATE + ("DONE",)
        return And(*(Implies(self.phase(s, m, *late), Not(s.stale[m][r])) for m in self.M for r in self.R))

    # goals are stated for "some member", so they are symmetric in the member ids

    @sometimes("DRAFT-FLOW-1")
    def migration_completes(self, s):
        """Some member's migration reaches the switchover."""
        return Or(*(s.ph[m] == "DONE" for m in self.M))

    @sometimes("DRAFT-FLOW-3")
    def migration_cancelled(self, s):
        """Some member's migration is cancelled and the guest goes on on the source."""
        if self.free:
            return True
        return Or(*(s.ph[m] == "CANCELLED" for m in self.M))

    @sometimes("DRAFT-WR-1", "DRAFT-WR-2", "DRAFT-WR-4")
    def page_reported(self, s):
        """A data page and the used-ring page written during tracking are in the record when the
        final report is due (the report is enabled in that state, so they are reported)."""
        out = []
        for m in self.M:
            written = And(Or(*(s.dirty[m][p] for p in self.P)), s.dirty[m][self.ring])
            due = s.mode[m]["src"] == "STOP" if self.free else s.ph[m] == "STOPPED"
            out.append(And(written, due))
        return Or(*out)

    @sometimes("DRAFT-CTX-5")
    def chunked_transfer(self, s):
        """Some member's context is read or written in more than one chunk."""
        return Or(*(Or(s.rd[m]["src"] == PARTIAL, s.wr[m]["dst"] == PARTIAL) for m in self.M))

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
                late = self.phase(s, m, "STOPPED", "FINAL", "XFER", "WRITTEN")
            out.append(And(Or(*(s.fault[m][d] != "none" for d in SIDES)), late))
        return Or(*out)

    @sometimes("DRAFT-FLR-1", "DRAFT-FLOW-1")
    def completes_after_flr(self, s):
        """Some member completes its migration after using up its faults."""
        if self.p.faults == 0:
            return True
        return Or(*(And(s.ph[m] == "DONE", s.faults_left[m] == 0) for m in self.M))
