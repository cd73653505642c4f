"""`ModelBackend`: the in-process reference device, answering from the model itself;
`open_backend`: the backend a `--backend` spec names (an emulator or this one).

It keeps one concrete model state. An admin command is decoded and observed like a trace
event; the enabled action whose event agrees with it is taken and its answer encoded
(mcheck.conformance.adapt14 / adaptdraft); with none enabled the command is held and retried
after every injected event (FLR end, reset end). Workload steps take the matching device
action if the model enables it. Steps the model takes with no driver input (a member
reset's end) are taken as soon as they are enabled.
"""

from __future__ import annotations

import time
from typing import Any

from mcheck.device.backend import DEFAULT_TIMEOUT, EmulatorBackend
from mcheck.errors import InputError
from mcheck.explore.codegen import Layout
from mcheck.model.registry import load_model
from mcheck.replay.stepper import step_functions
from mcheck.trace.codec import Codec
from mcheck.trace.events import (
    AdminCommand,
    AdminComplete,
    ConfigNotify,
    DmaWrite,
    UsedNotify,
)
from mcheck.trace.profile import load_profile
from mcheck.device.protocol import INJECT_TYPES



class ModelBackend:
    """`profile` names the model too (the built-in model of each profile has its name); its
    adapter must say the model's actions are device behaviour (ANSWERS_AS_DEVICE)."""

    def __init__(self, profile: str, params: dict[str, Any]) -> None:
        self.profile = profile
        self.params = {k: v for k, v in params.items() if k != "bug"}
        self._load(self.params)
        if not getattr(self.adapter, "ANSWERS_AS_DEVICE", False):
            why = getattr(self.adapter, "NOT_A_DEVICE", "its actions are not device behaviour")
            raise InputError(f"--backend model cannot answer for {profile} ({why}); use an emulator for {profile}")
        self.codec = Codec(load_profile(profile))
        self.tag = 0

    def _load(self, params: dict[str, Any]) -> None:
        from mcheck.conformance.gen import adapter_for
        self.model = load_model(self.profile, params)
        self.adapter = adapter_for(self.model)
        self.observe = self.adapter.observe_wrapper(self.model)
        self.layout = Layout.of(self.model)
        self.steps = step_functions(self.model, self.layout)
        self.queues = self.model.params.as_dict().get("queues", 1)
        self.x = self.layout.pack(self.model.initial[0])
        self.held: list[tuple[int, bytes]] = []
        self._events: list[Any] = []
        self.settle = [a.index for a in self.model.actions if a.name in self.adapter.SETTLE]

    def power_on(self, config: dict[str, Any]) -> None:
        params = dict(self.params)
        for k in ("members", "queues", "pages"):
            if k in config and k in self.model.params.as_dict():
                params[k] = config[k]
        if config.get("paired"):       # draft-v1: two wire members (source, destination) per model member
            params["members"] = max(1, config["members"] // 2)
        self._load(params)

    def _take(self, obs: dict[str, Any]) -> Any:
        """The model's answer to an observed input: of the permitted answers, the one a
        device gives when nothing goes wrong (success before failure, no EAGAIN, no SHOULD
        departure), as the suite's example answers are chosen."""
        from mcheck.conformance.gen import _preference
        found = []
        for act in self.model.actions:
            ev = act.event
            if ev is None or ev.get("kind") != obs.get("kind"):
                continue
            if all(ev[k] == v for k, v in obs.items() if k in ev):
                y = self.steps[act.index](self.x)
                if y is not None:
                    found.append((_preference(ev), act.index, act, y))
        if not found:
            return None
        _, _, act, y = min(found, key=lambda f: (f[0], f[1]))
        self.x = y
        self._settle()
        return act

    def _settle(self) -> None:
        moved = True
        while moved:
            moved = False
            for a in self.settle:
                y = self.steps[a](self.x)
                if y is not None and y != self.x:
                    self.x, moved = y, True

    def _answer(self, readable: bytes) -> bytes | None:
        obs = self.observe(AdminCommand(index=0, timestamp=0, readable=readable, writable=None, codec=self.codec))
        act = self._take(obs) if obs is not None else None
        if act is None:
            return None
        if getattr(self.adapter, "NEEDS_STATE", False):
            state = self.model.decode_state(self.layout.unpack(self.x))
            return self.adapter.result_bytes(self.codec, act.event, self.queues, state,
                                             self.model.params.as_dict().get("pages", 2))
        return self.adapter.result_bytes(self.codec, act.event, self.queues)

    def submit(self, readable: bytes) -> bytes | None:
        self.tag += 1
        writable = self._answer(readable)
        if writable is None:
            self.held.append((self.tag, readable))
        return writable

    def _retry(self) -> None:
        still = []
        for tag, readable in self.held:
            writable = self._answer(readable)
            if writable is None:
                still.append((tag, readable))
            else:
                self._events.append(AdminComplete(index=0, timestamp=time.time_ns(), tag=tag, writable=writable))
        self.held = still

    def inject(self, kind: str, member: int = 0, queue: int = 0) -> bool:
        fields: dict[str, Any] = {} if kind == "owner_reset" else {"member": member}
        if kind == "doorbell":
            fields["queue"] = queue
        obs = self.observe(INJECT_TYPES[kind](index=0, timestamp=0, **fields))
        done = obs is not None and self._take(obs) is not None
        self._retry()
        return done

    def workload(self, op: str, member: int, queue: int = 0) -> bool:
        names = self.adapter.WORK_ACTIONS.get(op, ())
        for name in names:
            for act in self.model.actions:
                if act.name != name or not self.adapter.work_matches(act, member, queue):
                    continue
                y = self.steps[act.index](self.x)
                if y is None:
                    continue
                self.x = y
                self._settle()
                ev = act.event
                if ev is not None:
                    ts = time.time_ns()
                    if ev["kind"] == "dma_write":
                        self._events.append(DmaWrite(index=0, timestamp=ts, member=member, address=0, length=0))
                    elif ev["kind"] == "used_notify":
                        self._events.append(UsedNotify(index=0, timestamp=ts, member=member, queue=queue))
                    elif ev["kind"] == "config_notify":
                        self._events.append(ConfigNotify(index=0, timestamp=ts, member=member))
                if op != "service" or name == "complete":
                    return True
        return op == "post"

    def events(self) -> list[Any]:
        out, self._events = self._events, []
        return out

    def close(self) -> None:
        pass


def open_backend(spec: str, *, timeout: float = DEFAULT_TIMEOUT, profile: str | None = None,
                 params: dict[str, Any] | None = None) -> Any:
    """`emulator:ADDR` (ADDR = unix:PATH or tcp:HOST:PORT) or `model`."""
    if spec.startswith("emulator:"):
        return EmulatorBackend(spec[len("emulator:"):], timeout=timeout)
    if spec == "model":
        if profile is None:
            raise InputError("--backend model needs the profile (taken from the trace or suite)")
        return ModelBackend(profile, params or {})
    raise InputError(f"bad backend {spec!r}: use emulator:unix:PATH, emulator:tcp:HOST:PORT or model")
