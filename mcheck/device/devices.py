"""Which emulated device speaks which profile: the one registration of the device side.

Each emulated-device module has the same face, so that nothing on the device or
conformance side asks which protocol it is dealing with:

    BUGS        frozenset of the catalogue bugs the device can show (`--bug`)
    AUTONOMOUS  whether it can act on its own like hardware (`--autonomous`)
    make(*, members, queues, objects, pages, bugs, compat, variants, options)
                the device; an option it does not take is a one-line InputError

A new protocol adds its module here (or calls `register` before `emulate` runs).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from mcheck.errors import InputError

#: profile name -> module of its emulated device
EMULATED: dict[str, str] = {
    "virtio-1.4": "mcheck.device.virtio14",
    "draft-v1": "mcheck.device.draftv1",
}


def register(profile: str, module: str) -> None:
    """Add (or replace) the emulated device of `profile`."""
    EMULATED[profile] = module


def profiles() -> tuple[str, ...]:
    """The profiles that have an emulated device, in registration order."""
    return tuple(EMULATED)


def device_module(profile: str) -> ModuleType:
    """The emulated-device module of `profile`; an unknown profile is a one-line error."""
    if profile not in EMULATED:
        raise InputError(f"unknown device profile {profile!r} (known: {', '.join(EMULATED)})")
    return import_module(EMULATED[profile])


def bugs_of(profile: str) -> frozenset[str]:
    """The catalogue bugs the emulated device of `profile` can show."""
    return frozenset(device_module(profile).BUGS)
