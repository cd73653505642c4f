"""Issue 15, "Done when": a fuzz run over mutated captures (JSONL and pcapng), profiles,
result files and checkpoints shows no internal error, no traceback, no hang (each case
under a deadline) and no silent wrong result (conversion is lossless, a damaged
checkpoint is never resumed). Fixed seed; the default run takes about 30-40 s on two
cores. Longer: MCHECK_FUZZ_SCALE=10 (ten times the cases), MCHECK_FUZZ_SEED=N, or the
slow-marked test (pytest -m slow tests/fuzz), or `python -m tests.fuzz.corpus --scale 10`.

Emulator frames and conformance suites are fuzzed by the device tests (mcheck/device)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .corpus import fuzz

SEED = int(os.environ.get("MCHECK_FUZZ_SEED", "15"))
SCALE = float(os.environ.get("MCHECK_FUZZ_SCALE", "1"))


def _report(failures) -> str:  # noqa: ANN001
    return "\n".join(f"{f.case}: {'; '.join(f.problems)}\n    stderr: {f.err.strip()[:300]}" for f in failures[:20])


@pytest.mark.timeout(240)
def test_fuzz_hostile_inputs(tmp_path: Path) -> None:
    failures = fuzz(SEED, SCALE, tmp_path, deadline=20.0)
    assert not failures, f"{len(failures)} failing case(s), inputs in {tmp_path / 'failures'}:\n" + _report(failures)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_fuzz_hostile_inputs_long(tmp_path: Path) -> None:
    failures = fuzz(SEED + 1, 20.0, tmp_path, deadline=30.0)
    assert not failures, f"{len(failures)} failing case(s):\n" + _report(failures)
