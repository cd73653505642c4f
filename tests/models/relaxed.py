"""A tiny model for the oracle machinery: relaxations, a preset, SHOULD outcomes, driver rules.

A member starts work (seen as a doorbell) and finishes it (a DMA write). DEV_MODE_SET
flags=1 stops it, flags=0 resumes it (observed as admin STOP / RESUME). The "spec" here:
- a stop is answered OK only when no work is in flight (D-X-1); relaxation R1 accepts it anyway;
- a resume is answered OK; relaxation R2 lets it answer EBUSY;
- a stop of a stopped member SHOULD answer OK, and MAY answer EBUSY (D-X-2): a warning;
- a PING (LIST_QUERY) is answered OK by two rules; only one of them departs from a SHOULD
  (D-X-3), and only that one is enabled while stopped;
- a QUIRK (LIST_USE) is answered only when R1 and R2 are both in force.
"""

from mcheck.model.definition import Array, Model, action
from mcheck.model.expr import BOOL, FALSE, TRUE, Enum
from mcheck.model.params import Param, Relaxation

MODE = Enum("mode", "running", "stopped")


class Relaxed(Model):
    name = "relaxed"
    params = (
        Param(name="members", kind="int", default=1, lo=1, hi=2, doc="number of members"),
        Param(name="stop_busy", kind="choice", choices=("refuse", "accept"), default="refuse",
              doc="R1: a stop while work is in flight"),
        Param(name="resume_busy", kind="choice", choices=("never", "may"), default="never",
              doc="R2: a resume answered EBUSY"),
        Param(name="compat", kind="choice", choices=("none", "linux"), default="none", doc="compatibility preset"),
    )
    relaxations = {
        "R1": Relaxation("a stop while work is in flight answered OK", {"stop_busy": "accept"}),
        "R2": Relaxation("a resume answered EBUSY", {"resume_busy": "may"}),
    }
    presets = {"linux": ("R1", "R2")}

    def setup(self):
        m = self.index_set("members", range(1, self.p.members + 1))
        self.var("mode", Array(m, MODE), init="running")
        self.var("busy", Array(m, BOOL), init=False)

    @action(m="members")
    def start(self, s, m):
        s.require(s.mode[m] == "running")
        s.require(~s.busy[m])
        s.busy[m] = True
        s.emit("doorbell", member=m)

    @action(m="members")
    def finish(self, s, m):
        s.require(s.busy[m])
        s.busy[m] = False
        s.emit("dma_write", member=m)

    @action(m="members")
    def stop(self, s, m):
        if self.p.stop_busy == "refuse":
            s.require(~s.busy[m], "D-X-1")
        s.mode[m] = "stopped"
        s.busy[m] = False
        s.emit("admin", cmd="STOP", member=m, status="OK")

    @action(m="members")
    def stop_again_busy(self, s, m):
        s.require(s.mode[m] == "stopped", "D-X-2")
        s.emit("admin", cmd="STOP", member=m, status="EBUSY", should="D-X-2")

    @action(m="members", status=["OK", "EBUSY"])
    def resume(self, s, m, status):
        if status == "EBUSY":
            s.require(FALSE if self.p.resume_busy == "never" else s.mode[m] == "stopped", "D-X-4")
        else:
            s.mode[m] = "running"
        s.emit("admin", cmd="RESUME", member=m, status=status)

    @action()
    def ping_any(self, s):
        s.emit("admin", cmd="PING", status="OK", should="D-X-3")

    @action(m="members")
    def ping_running(self, s, m):
        s.require(s.mode[m] == "running")
        s.emit("admin", cmd="PING", status="OK")

    @action()
    def quirk(self, s):
        both = self.p.stop_busy == "accept" and self.p.resume_busy == "may"
        s.require(TRUE if both else FALSE)
        s.emit("admin", cmd="QUIRK", status="OK")

    def observe(self, event):
        """Trace events in this model's words: DEV_MODE_SET is STOP/RESUME, LIST_QUERY is
        PING, LIST_USE is QUIRK."""
        if event.KIND in ("doorbell", "dma_write"):
            return {"kind": event.KIND, "member": event.member}
        if event.KIND != "admin":
            return None
        cmd = event.command
        names = {"LIST_QUERY": "PING", "LIST_USE": "QUIRK"}
        if cmd.name == "DEV_MODE_SET":
            out = {"kind": "admin", "cmd": "STOP" if cmd.fields.get("flags", 0) & 1 else "RESUME",
                   "member": cmd.member}
        elif cmd.name in names:
            out = {"kind": "admin", "cmd": names[cmd.name]}
        else:
            return None
        if event.result is not None:
            out["status"] = event.result.status_name
        return out

    def driver_rules(self):
        from mcheck.models.virtio_driver_rules import DriverRules
        return DriverRules(self.p)
