"""Fixtures for the device tests: a generated virtio-1.4 suite and emulator processes."""

from __future__ import annotations

import pytest

from mcheck.device.spawn import start_emulator, stop_emulator


@pytest.fixture(scope="session")
def suite14(tmp_path_factory):
    """The virtio-1.4 conformance suite at the default size (members=1), generated once."""
    from mcheck.conformance.gen import generate, write_suite
    out = tmp_path_factory.mktemp("suite14")
    suite = generate("virtio-1.4", {"members": 1})
    write_suite(suite, out)
    return out, suite


@pytest.fixture(scope="session")
def suite14_sample(suite14) -> list[str]:
    """The first two tests of each kind of suite14 (walk, flr, pm, sets, owner, reset, modes,
    order): every kind of test in about a tenth of the suite's run time."""
    _, suite = suite14
    names: dict[str, list[str]] = {}
    for t in suite.tests:
        names.setdefault(t.kind, []).append(t.name)
    assert len(names) >= 8, sorted(names)
    return [n for kind in names.values() for n in kind[:2]]


@pytest.fixture(scope="session")
def suite14_linux(tmp_path_factory):
    """The virtio-1.4 suite generated with the Linux preset (-p compat=linux), generated once."""
    from mcheck.conformance.gen import generate, write_suite
    out = tmp_path_factory.mktemp("suite14linux")
    suite = generate("virtio-1.4", {"members": 1, "compat": "linux"})
    write_suite(suite, out)
    return out, suite


@pytest.fixture
def emulator(tmp_path):
    """Start emulators as real processes on Unix sockets in tmp_path; stopped at the end."""
    procs = []

    def start(name: str = "dev", **kw):
        sock = tmp_path / f"{name}.sock"
        procs.append(start_emulator(sock, **kw))
        return f"unix:{sock}"
    yield start
    for p in procs:
        stop_emulator(p)


@pytest.fixture(scope="session")
def suite_draft(tmp_path_factory):
    """The draft-v1 conformance suite at the default size, generated once."""
    from mcheck.conformance.gen import generate, write_suite
    out = tmp_path_factory.mktemp("suitedraft")
    suite = generate("draft-v1", {"members": 1})
    write_suite(suite, out)
    return out, suite
