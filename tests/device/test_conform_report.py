"""What `mcheck conform` reports beyond pass/fail: per clause, the tests that exercised it
(their expected events' model actions cite it) with pass/fail counts, and which reading of
each open question (Q1, Q5, Q7, Q8, ...) the device's answers follow (issue 12, item 1)."""

from __future__ import annotations

import json


from mcheck.cli import main
from mcheck.conformance.conform import reading_line, render_conform, run_suite

from tests.result_schema import validate_result


def _rows(result):
    return {r["clause"]: r for r in result.coverage["clause_results"]}


def test_bug_row_fails_the_clause_it_breaks_and_the_counts_add_up(suite14, emulator):
    """--bug notify-after-stop sends a used-buffer notification while stopped (D-DP-16): the
    first failing test counts as failed, and blamed, under D-DP-16; every clause's passed
    and failed add up to its tests, each test is counted once per clause it exercised."""
    suite_dir, _ = suite14
    addr = emulator("bug", bugs=["notify-after-stop"])
    result, outcomes, _ = run_suite(str(suite_dir), f"emulator:{addr}", fail_fast=True)
    failed = [o for o in outcomes if not o.passed]
    assert len(failed) == 1 and "D-DP-16" in failed[0].failures[0].clauses
    rows = _rows(result)
    assert rows["D-DP-16"]["failed"] >= 1 and rows["D-DP-16"]["blamed"] >= 1
    assert failed[0].name in rows["D-DP-16"]["tests"]
    for r in rows.values():
        assert r["passed"] + r["failed"] == len(r["tests"]) == len(set(r["tests"])) > 0
        assert r["blamed"] <= r["failed"]
        assert result.coverage["clauses"][r["clause"]] == {"tests": len(r["tests"]), "passed": r["passed"],
                                                           "failed": r["failed"]}
    by_test: dict[str, int] = {}
    for r in rows.values():
        for name in r["tests"]:
            by_test[name] = by_test.get(name, 0) + 1
    assert set(by_test) == {o.name for o in outcomes}
    assert sum(r["failed"] for r in rows.values()) == by_test[failed[0].name]
    text = render_conform(result, outcomes, quiet=False)
    assert "clause        tests  passed  failed  blamed" in text
    assert any(line.split()[:1] == ["D-DP-16"] and line.split()[3] != "0" for line in text.splitlines())


def test_correct_device_passes_every_clause_and_json_carries_the_table(suite14, emulator, capsys):
    """`mcheck conform --json -` writes only the JSON result (valid against the schema), its
    per-clause results under coverage.clause_results; a correct device fails no clause. A
    test exercises the clauses its expected answers' model actions cite: an admin walk
    exercises D-GA-1 (the validation order)."""
    suite_dir, _ = suite14
    addr = emulator("ok")
    code = main(["conform", str(suite_dir), "--backend", f"emulator:{addr}", "--only", "walk-001", "--json", "-"])
    out = capsys.readouterr().out
    data = validate_result(json.loads(out), "conform")
    assert code == 0
    rows = {r["clause"]: r for r in data["coverage"]["clause_results"]}
    assert rows and all(r["failed"] == 0 and r["passed"] == len(r["tests"]) == 1 for r in rows.values())
    assert rows["D-GA-1"]["tests"] == ["walk-001"]
    assert set(rows["D-GA-1"]) == {"clause", "tests", "passed", "failed", "blamed"}


# The readings tests run two tests of each kind (suite14_sample): the detection re-judges every
# passing test once per reading, so on the whole suite each took as long as a full run.


def test_readings_default_device_follows_running_of_q1(suite14, suite14_sample, emulator):
    """The default emulator puts a member back to running after its FLR or reset (Q1
    reading running); the keep reading is ruled out by what the device did."""
    suite_dir, _ = suite14
    addr = emulator("default")
    result, _, _ = run_suite(str(suite_dir), f"emulator:{addr}", readings=["mode_after_reset"], only=suite14_sample)
    (q1,) = result.coverage["readings"]
    assert (q1["question"], q1["param"], q1["verdict"], q1["follows"]) == ("Q1", "mode_after_reset", "follows",
                                                                          ["running"])
    assert not q1["values"]["keep"]["consistent"] and q1["values"]["keep"]["test"]
    assert reading_line(q1).startswith("reading: follows reading running of Q1 (mode_after_reset)")


def test_readings_keep_variant_follows_keep_of_q1(suite14, suite14_sample, emulator):
    """--variant mode-kept-after-reset (Q1 reading keep) leaves a stopped member stopped
    after its FLR. A running member that declines every piece of work looks the same, but
    would then accept a DEV_PARTS_SET while running, departing from D-DP-4's SHOULD: the
    reading that needs no SHOULD departure is the one reported."""
    suite_dir, _ = suite14
    addr = emulator("keep", extra=["--variant", "mode-kept-after-reset"])
    result, _, _ = run_suite(str(suite_dir), f"emulator:{addr}", readings=["mode_after_reset"], only=suite14_sample)
    assert result.verdict == "holds"
    (q1,) = result.coverage["readings"]
    assert q1["verdict"] == "follows" and q1["follows"] == ["keep"], q1
    assert "D-DP-4" in q1["values"]["running"]["should"]
    assert not q1["values"]["keep"]["should"]
    assert "follows reading keep of Q1" in reading_line(q1)
