"""The kill matrix: each catalogue bug (both models), run as an emulator process, fails the
generated suite with a test that names a clause; the correct emulators pass every test (the
strict default the default suite, `--compat linux` the suite generated with -p compat=linux),
and the strict emulator fails the Linux suite. Bugs no suite can catch are listed, with the
reason, in killmatrix.UNCATCHABLE: they must pass the suite (else the list is stale)."""

from __future__ import annotations

import pytest

from mcheck.device.killmatrix import UNCATCHABLE, catalogue, kill_row

CASES = [("virtio-1.4", b) for b in catalogue("virtio-1.4") if b not in UNCATCHABLE["virtio-1.4"]] + \
        [("draft-v1", b) for b in catalogue("draft-v1") if b not in UNCATCHABLE.get("draft-v1", {})]
MISSED = [(p, b) for p, bugs in UNCATCHABLE.items() for b in bugs]


@pytest.fixture
def suites(suite14, suite_draft):
    return {"virtio-1.4": suite14, "draft-v1": suite_draft}


@pytest.mark.parametrize("profile", ["virtio-1.4", "draft-v1"])
def test_generated_suite_covers_every_reachable_action_instance(suites, profile):
    _, suite = suites[profile]
    cov = suite.coverage
    assert cov["action_instances_covered"] == cov["action_instances_reachable"] > 0
    assert cov["action_instances_walked"] == cov["action_instances_reachable"]
    assert cov["tests"] == len(suite.tests) and cov["probes"] > 0


def test_linux_suite_covers_every_reachable_action_instance(suite14_linux):
    _, suite = suite14_linux
    cov = suite.coverage
    assert suite.model.params.as_dict()["compat"] == "linux"
    assert cov["action_instances_covered"] == cov["action_instances_reachable"] > 0


@pytest.mark.parametrize("profile", ["virtio-1.4", "draft-v1"])
def test_correct_emulator_passes_the_whole_suite(suites, tmp_path, profile):
    suite_dir, suite = suites[profile]
    row = kill_row(suite_dir, tmp_path / "ok.sock", profile, None)
    assert not row.caught, row.message
    assert row.tests_run == len(suite.tests)


def test_linux_emulator_passes_the_linux_suite(suite14_linux, tmp_path):
    suite_dir, suite = suite14_linux
    row = kill_row(suite_dir, tmp_path / "linux.sock", "virtio-1.4", None, extra=["--compat", "linux"])
    assert not row.caught, row.message
    assert row.tests_run == len(suite.tests)


def test_strict_emulator_fails_the_linux_suite(suite14_linux, tmp_path):
    """The Linux suite expects the T1a/T1b relaxations: Self capability commands served
    without a Self LIST_USE. The strict device refuses them (D-GA-9)."""
    suite_dir, _ = suite14_linux
    row = kill_row(suite_dir, tmp_path / "strict.sock", "virtio-1.4", None, fail_fast=True)
    assert row.caught
    assert "D-GA-9" in row.clauses, row.message


@pytest.mark.parametrize("profile,bug", CASES)
def test_bug_is_caught_naming_a_clause(suites, tmp_path, profile, bug):
    suite_dir, _ = suites[profile]
    row = kill_row(suite_dir, tmp_path / "bug.sock", profile, bug)
    assert row.caught, f"--bug {bug} passed the whole suite"
    assert row.clauses, f"--bug {bug}: failing test {row.test} names no clause ({row.message})"


@pytest.mark.parametrize("profile,bug", MISSED)
def test_uncatchable_bug_is_a_catalogue_bug_that_passes(suites, tmp_path, profile, bug):
    """A bug listed as uncatchable is in the catalogue, has a reason, and does pass the
    suite: once a suite catches it, it must leave the list (and docs/kill-matrix.md)."""
    assert bug in catalogue(profile)
    assert len(UNCATCHABLE[profile][bug]) > 40
    suite_dir, _ = suites[profile]
    row = kill_row(suite_dir, tmp_path / "miss.sock", profile, bug)
    assert not row.caught, f"--bug {bug} is caught now ({row.test}: {row.message}); drop it from UNCATCHABLE"
