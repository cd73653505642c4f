"""The kill matrix: each catalogue bug (both models), run as an emulator process, fails the
generated suite with a test that names a clause; the correct emulators pass every test (the
strict default the default suite, `--compat linux` the suite generated with -p compat=linux),
and the strict emulator fails the Linux suite. Bugs no suite can catch are listed, with the
reason, in killmatrix.UNCATCHABLE: they must pass the suite (else the list is stale)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.conformance.killmatrix import MULTI_MEMBER, UNCATCHABLE, catalogue, kill_row
from mcheck.device.spawn import start_emulator, stop_emulator

# the clause the first failure of each class that escaped an earlier suite must name (issue:
# "each caught by a test named after its clause"); the test ids carry it
ESCAPED = {
    "get-bad-part-length": "D-DP-6", "features-not-optional": "I-DP-8", "parts-missing-notify": "I-DP-8",
    "selected-returns-all": "I-DP-4", "list-query-omits": "D-DP-1", "destroy-other-member": "I-DP-2",
    "set-during-flr": "D-DP-17", "stop-no-used-index": "D-DP-10", "held-out-of-order": "D-AQ-6",
}


# draft-v1 bugs the example-flow walk cannot show (it never sends an orphan chunk, an undefined
# mode or a resume of a half-written context): the targeted test that catches each, and the
# clause its failure names
DRAFT_TARGETED = {
    "orphan-chunk-accepted": ("orphan-chunks", "DRAFT-CTX-5"),
    "resume-partial-context": ("resume-partial-context", "DRAFT-CTX-6"),
    "unknown-mode-accepted": ("unknown-mode", "DRAFT-MODE-3"),
    "frozen-accepts-access": ("frozen-access", "DRAFT-CTX-1"),
}


def _case(profile: str, bug: str):
    clause = ESCAPED.get(bug) if profile == "virtio-1.4" else None
    return pytest.param(profile, bug, id=f"{profile}-{clause}-{bug}" if clause else f"{profile}-{bug}")


CASES = [_case("virtio-1.4", b) for b in catalogue("virtio-1.4") if b not in UNCATCHABLE["virtio-1.4"]] + \
        [_case("draft-v1", b) for b in catalogue("draft-v1") if b not in UNCATCHABLE.get("draft-v1", {})]
MISSED = [(p, b) for p, bugs in UNCATCHABLE.items() for b in bugs]


def _documented() -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(profile, bug) -> (first failing test, clauses) as docs/kill-matrix.md records them: each
    bug must be caught by the same test for the same clauses (not by any test for any clause)."""
    out = {}
    doc = Path(__file__).resolve().parents[2] / "docs" / "kill-matrix.md"
    for line in doc.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 5 and cells[1].startswith("--bug ") and cells[2] == "yes":
            out[(cells[0], cells[1][len("--bug "):])] = (cells[3], cells[4].split(", "))
    return out


DOCUMENTED = _documented()


@pytest.fixture
def suites(suite14, suite_draft):
    return {"virtio-1.4": suite14, "draft-v1": suite_draft}


@pytest.fixture(scope="session")
def suite14_m2(tmp_path_factory):
    """The targeted virtio-1.4 tests at members=2 (gen-tests --classes-only): ownership across members."""
    from mcheck.conformance.gen import generate, write_suite
    out = tmp_path_factory.mktemp("suite14m2")
    suite = generate("virtio-1.4", {"members": 2}, classes_only=True)
    write_suite(suite, out)
    return out, suite


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
def test_bug_is_caught_naming_a_clause(suites, suite14_m2, tmp_path, profile, bug):
    members = 2 if bug in MULTI_MEMBER.get(profile, ()) else 1
    suite_dir, _ = suite14_m2 if members == 2 else suites[profile]
    row = kill_row(suite_dir, tmp_path / "bug.sock", profile, bug, members=members)
    assert row.caught, f"--bug {bug} passed the whole suite"
    assert row.clauses, f"--bug {bug}: failing test {row.test} names no clause ({row.message})"
    assert (row.test, row.clauses) == DOCUMENTED[(profile, bug)], \
        f"--bug {bug}: caught by {row.test} naming {row.clauses}, docs/kill-matrix.md says {DOCUMENTED[(profile, bug)]}"
    if profile == "virtio-1.4" and bug in ESCAPED:
        assert ESCAPED[bug] in row.clauses, f"--bug {bug}: {row.test} names {row.clauses} ({row.message})"
    if profile == "draft-v1" and bug in DRAFT_TARGETED:
        test, clause = DRAFT_TARGETED[bug]
        assert (row.test, clause in row.clauses) == (test, True), f"--bug {bug}: {row.test} {row.clauses} ({row.message})"


def test_draft_suite_has_the_targeted_tests_early(suite_draft):
    """The draft-v1 suite's targeted tests (refusals the example flow never asks for) come
    right after the first walk and the first held-command fault tests, so --fail-fast reaches
    them at once."""
    _, suite = suite_draft
    names = [t.name for t in suite.tests]
    targeted = [t.name for t in suite.tests if t.kind == "targeted"]
    assert {test for test, _ in DRAFT_TARGETED.values()} <= set(targeted)
    first = names.index(targeted[0])
    assert first <= 9 and names[first : first + len(targeted)] == targeted


def test_correct_emulator_passes_the_targeted_suite_at_two_members(suite14_m2, tmp_path):
    suite_dir, suite = suite14_m2
    assert any(t.name == "ownership" for t in suite.tests)
    row = kill_row(suite_dir, tmp_path / "ok2.sock", "virtio-1.4", None, members=2)
    assert not row.caught, row.message


def test_uncatchable_bugs_are_catalogue_bugs_with_a_reason():
    assert MISSED
    for profile, bug in MISSED:
        assert bug in catalogue(profile), (profile, bug)
        assert len(UNCATCHABLE[profile][bug]) > 40, (profile, bug)


# slow (a whole-suite run per listed bug, 6-13 s each): it keeps the list from going stale
# once a suite catches a listed bug, as test_autonomous.py's slow
# test_uncatchable_in_autonomous_mode_still_passes does for the autonomous list; the bug
# rows and the correct-device passes of the same runner are in the default run
@pytest.mark.slow
@pytest.mark.parametrize("profile,bug", MISSED)
def test_uncatchable_bug_is_a_catalogue_bug_that_passes(suites, tmp_path, profile, bug):
    """A bug listed as uncatchable is in the catalogue, has a reason, and does pass the
    suite: once a suite catches it, it must leave the list (and docs/kill-matrix.md)."""
    assert bug in catalogue(profile)
    assert len(UNCATCHABLE[profile][bug]) > 40
    suite_dir, _ = suites[profile]
    row = kill_row(suite_dir, tmp_path / "miss.sock", profile, bug)
    assert not row.caught, f"--bug {bug} is caught now ({row.test}: {row.message}); drop it from UNCATCHABLE"


def test_suite_too_large_for_the_walk_is_refused_early_with_the_alternative():
    """The covering walk keeps every transition in memory: past the cap the exploration
    stops at once (not after recording them all) and the error points at --classes-only."""
    from mcheck.conformance.gen import generate
    from mcheck.errors import InputError
    with pytest.raises(InputError, match=r"more than 1,000 transitions .*--classes-only"):
        generate("virtio-1.4", {"members": 1}, edge_cap=1000)


def test_classes_only_suite_needs_no_exploration(suite14_m2):
    _, suite = suite14_m2
    assert suite.coverage["classes_only"] and "states" not in suite.coverage
    assert {t.name for t in suite.tests} >= {"ownership", "sets-g1-bundle"}


@pytest.mark.parametrize("chunk", [32, 40, 4096])
def test_draft_device_chooses_its_context_chunks(suite_draft, tmp_path, chunk):
    """The chunks of a context read are the device's choice: the correct emulator passes the
    suite's targeted tests and its first walks and fault tests with any chunk size from
    adaptdraft.CTX_CHUNK up (each chunk is judged by where it falls in the whole context)."""
    from mcheck.conformance.conform import run_suite
    suite_dir, suite = suite_draft
    names = [t.name for t in suite.tests][:40] + [t.name for t in suite.tests if t.kind == "targeted"]
    proc = start_emulator(tmp_path / "c.sock", profile="draft-v1", members=2, extra=["--ctx-chunk", str(chunk)])
    try:
        _, outcomes, _ = run_suite(str(suite_dir), f"emulator:unix:{tmp_path / 'c.sock'}", only=names)
    finally:
        stop_emulator(proc)
    bad = [(o.name, o.failures[0].message) for o in outcomes if not o.passed]
    assert len(outcomes) == len(set(names)) and not bad, bad[:1]
