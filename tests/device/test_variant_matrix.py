"""The variant matrix: the virtio-1.4 emulator in each spec-permitted reading
(`mcheck emulate --variant NAME`, mcheck.device.virtio14.VARIANTS) must pass the same
default suite (members=1) the catalogue bugs fail: a suite generated once passes a device
of any permitted reading (issue 12, items 1 and 5). A variant the model rejects although
the spec permits it is listed in killmatrix.MODEL_GAPS with the divergence; its test is a
strict xfail, so it turns into a failure once the model is fixed and the list is stale.
Each test id carries the clause or question that permits the variant."""

from __future__ import annotations

import re

import pytest

from mcheck.conformance.killmatrix import MODEL_GAPS, variant_row, variants
from mcheck.device.virtio14 import VARIANTS

CLAUSE = re.compile(r"\b([DIRT]-[A-Z]+-\d+|Q\d+|T\d+)\b")


def _permitted_by(variant: str) -> str:
    """The first clause or question the variant's doc names (its permission)."""
    found = CLAUSE.search(VARIANTS[variant])
    return found.group(1) if found else "no-clause"


def _case(variant: str):
    marks = [pytest.mark.xfail(strict=True, reason=f"model gap: {MODEL_GAPS[variant]}")] if variant in MODEL_GAPS else []
    return pytest.param(variant, id=f"{_permitted_by(variant)}-{variant}", marks=marks)


def test_every_variant_names_the_clause_that_permits_it():
    assert len(VARIANTS) >= 12
    for name, doc in VARIANTS.items():
        assert CLAUSE.search(doc), f"variant {name}: its doc names no clause or question"
    assert set(MODEL_GAPS) <= set(VARIANTS)


# variants that answer the same question differently: the combined run takes the first
EXCLUSIVE = ("set-running-accepted",)   # vs set-running-einval (D-DP-4: which answer to a SET while running)


def test_all_compatible_variants_together_pass_the_suite(suite14, tmp_path):
    """The default run: one emulator in every compatible reading at once (each also passes
    alone: the slow per-variant rows, and docs/kill-matrix.md), plus the exclusive ones."""
    together = [v for v in variants() if v not in EXCLUSIVE and v not in MODEL_GAPS]
    suite_dir, suite = suite14
    from mcheck.conformance.killmatrix import kill_row
    extra = [arg for v in together for arg in ("--variant", v)]
    row = kill_row(suite_dir, tmp_path / "all.sock", "virtio-1.4", None, extra=extra, fail_fast=True)
    assert not row.caught, f"variants {together} failed {row.test} [{', '.join(row.clauses)}]: {row.message}"
    assert row.tests_run == len(suite.tests)
    for v in EXCLUSIVE:
        row = variant_row(suite_dir, tmp_path / "one.sock", v)
        assert not row.caught, f"--variant {v} failed {row.test} [{', '.join(row.clauses)}]: {row.message}"


@pytest.mark.slow
@pytest.mark.parametrize("variant", [_case(v) for v in variants()])
def test_variant_passes_the_suite(suite14, tmp_path, variant):
    suite_dir, suite = suite14
    row = variant_row(suite_dir, tmp_path / "variant.sock", variant)
    assert not row.caught, f"--variant {variant} failed {row.test} [{', '.join(row.clauses)}]: {row.message}"
    assert row.tests_run == len(suite.tests)


def test_hello_reports_the_variants(emulator):
    """HELLO lists the variants next to the bugs, so a report can say which reading ran."""
    from mcheck.device.backend import EmulatorBackend
    addr = emulator("hello", extra=["--variant", "pad-results", "--variant", "mode-kept-after-reset"])
    b = EmulatorBackend(addr)
    try:
        assert b.device_info["variants"] == ["mode-kept-after-reset", "pad-results"]
        assert b.device_info["bugs"] == []
    finally:
        b.close()


@pytest.mark.parametrize("argv,message", [
    (["--variant", "no-such-variant"], "mcheck: error: --variant no-such-variant: unknown variant for profile "
                                       "virtio-1.4 (known: "),
    (["--profile", "draft-v1", "--variant", "pad-results"], "mcheck: error: --variant pad-results: only the "
                                                            "virtio-1.4 device has variants"),
])
def test_bad_variant_is_a_one_line_error(tmp_path, argv, message):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "mcheck.device", "emulate", "--listen", f"unix:{tmp_path}/x.sock", *argv],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
