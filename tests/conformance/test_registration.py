"""A protocol supplies its own device and adapter: no profile-name switches on the device or
conformance side, and mcheck.replay loads no device code."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from mcheck.conformance import adaptdraft
from mcheck.conformance.gen import adapter_for, suite_params
from mcheck.device import devices
from mcheck.device.emulate import make_device
from mcheck.errors import InputError
from mcheck.model.registry import load_model


def test_unknown_device_profile_is_one_line_listing_the_known():
    with pytest.raises(InputError) as exc:
        devices.device_module("virtio-9")
    assert str(exc.value) == "unknown device profile 'virtio-9' (known: virtio-1.4, draft-v1)"


def test_a_registered_profile_gets_its_device_without_other_edits(monkeypatch):
    monkeypatch.setitem(devices.EMULATED, "toy", "mcheck.device.draftv1")
    dev = make_device("toy", members=2, pages=2, bugs=[sorted(devices.bugs_of("draft-v1"))[0]])
    assert type(dev).__name__ == "DraftV1Device" and dev.bugs
    with pytest.raises(InputError, match=r"unknown bug 'nope' for profile toy \(known: "):
        make_device("toy", members=2, bugs=["nope"])


def test_the_model_names_its_adapter():
    assert adapter_for(load_model("draft-v1", {"members": 1})) is adaptdraft
    bare = SimpleNamespace(model=type("Toy", (), {"conformance_adapter": None})(), name="toy")
    with pytest.raises(InputError, match=r"^model toy: no device adapter"):
        adapter_for(bare)


def test_suite_defaults_come_from_the_adapter():
    assert suite_params("virtio-1.4", {}) == {"members": 1}
    assert suite_params("draft-v1", {"members": 2}) == {"members": 2}


def test_replay_imports_no_device_code():
    code = ("import sys, mcheck.replay.cli, mcheck.replay.engine; "
            "bad = sorted(m for m in sys.modules if m.startswith(('mcheck.device', 'mcheck.conformance'))); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
