"""The requests a test sends a device: the one each driver-side event of the test stands
for (`request_of`), and powering the device on and sending them pipelined (`power_on`).
"""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Iterator

from mcheck.device.backend import DeviceError, batch_of
from mcheck.conformance.judging import INJECTED, Failure, Outcome


def request_of(ev: Any) -> tuple | None:
    """The request test event `ev` stands for: a workload step (`step {...}` annotation), an
    admin command, an injected event; None for anything the device is not sent."""
    kind = ev.KIND
    if kind == "annotation":
        if not ev.text.startswith("step "):
            return None
        req = json.loads(ev.text[5:])
        return ("work", req["op"], req["member"], req["queue"], req)
    if kind in ("admin", "submit"):
        return ("submit", ev.readable)
    if kind in INJECTED:
        return ("inject", kind, getattr(ev, "member", 0), getattr(ev, "queue", 0))
    return None


def power_on(backend: Any, plan: list[tuple[Any, tuple | None]], device_config: dict[str, Any],
             out: Outcome) -> Iterator[Any] | None:
    """Power the device on and send the test's requests (pipelined); their answers in
    order, or None (with the failure recorded in `out`) when the device cannot be reached."""
    try:
        backend.power_on(device_config)
        return iter(batch_of(backend, [r[:3] if r[0] == "control" else r[:4] for _, r in plan if r is not None]))
    except DeviceError as exc:
        out.failures.append(Failure(-1, str(exc), []))
        out.passed = False
        return None
