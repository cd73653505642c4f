"""The kill matrix: each catalogue bug (both models), run as an emulator process, fails the
generated suite with a test that names a clause; the correct emulator passes every test."""

from __future__ import annotations

import pytest

from mcheck.device.killmatrix import catalogue, kill_row

CASES = [("virtio-1.4", b) for b in catalogue("virtio-1.4")] + [("draft-v1", b) for b in catalogue("draft-v1")]


@pytest.fixture
def suites(suite14, suite_draft):
    return {"virtio-1.4": suite14, "draft-v1": suite_draft}


@pytest.mark.parametrize("profile", ["virtio-1.4", "draft-v1"])
def test_generated_suite_covers_every_transition(suites, profile):
    _, suite = suites[profile]
    cov = suite.coverage
    assert cov["transitions_covered"] == cov["transitions_distinct"] == cov["transitions"] > 0
    assert cov["action_instances_covered"] == cov["action_instances_reachable"]


@pytest.mark.parametrize("profile", ["virtio-1.4", "draft-v1"])
def test_correct_emulator_passes_the_whole_suite(suites, tmp_path, profile):
    suite_dir, suite = suites[profile]
    row = kill_row(suite_dir, tmp_path / "ok.sock", profile, None)
    assert not row.caught, row.message
    assert row.tests_run == len(suite.tests)


@pytest.mark.parametrize("profile,bug", CASES)
def test_bug_is_caught_naming_a_clause(suites, tmp_path, profile, bug):
    suite_dir, _ = suites[profile]
    row = kill_row(suite_dir, tmp_path / "bug.sock", profile, bug)
    assert row.caught, f"--bug {bug} passed the whole suite"
    assert row.clauses, f"--bug {bug}: failing test {row.test} names no clause ({row.message})"
