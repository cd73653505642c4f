"""Issue 15, "Done when": a fuzz run over mutated captures (JSONL and pcapng), profiles,
result files and checkpoints shows no internal error, no traceback, no hang (each case
under a deadline) and no silent wrong result (conversion is lossless, a damaged
checkpoint is never resumed). Fixed seed; the default run takes about 30-40 s on two
cores. Longer: MCHECK_FUZZ_SCALE=10 (ten times the cases), MCHECK_FUZZ_SEED=N, or the
slow-marked test (pytest -m slow tests/fuzz), or `python -m tests.fuzz.corpus --scale 10`.

Emulator frames and conformance suites: tests/fuzz/device_corpus.py, same seed and scale."""

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


@pytest.fixture(scope="module")
def device_suites(tmp_path_factory) -> dict:
    """Per profile: a generated suite, and the shortest test of each kind in it (kinds whose
    shortest test is over 1,000 events, the virtio-1.4 walk, only for the frame fuzz)."""
    from mcheck.conformance.gen import generate, write_suite

    out = {}
    for profile in ("virtio-1.4", "draft-v1"):
        d = tmp_path_factory.mktemp(profile)
        suite = generate(profile, {"members": 1})
        write_suite(suite, d)
        shortest: dict[str, tuple[int, str]] = {}
        for t in suite.tests:
            shortest[t.kind] = min(shortest.get(t.kind, (len(t.events), t.name)), (len(t.events), t.name))
        out[profile] = (d, [n for _, n in shortest.values()], [n for k, n in shortest.values() if k <= 1000])
    return out


@pytest.mark.timeout(300)
def test_fuzz_emulator_frames(tmp_path: Path, device_suites) -> None:
    import random

    from .device_corpus import emulator_frame_outcomes

    suites = {p: (d, frames) for p, (d, frames, _) in device_suites.items()}
    failures = emulator_frame_outcomes(random.Random(SEED), max(1, int(150 * SCALE)), tmp_path, suites, deadline=10.0)
    assert not failures, f"{len(failures)} failing case(s):\n" + _report(failures)


@pytest.mark.timeout(300)
def test_fuzz_conformance_suites(tmp_path: Path, device_suites) -> None:
    import random

    from .corpus import run_case
    from .device_corpus import suite_cases

    suites = {p: (d, small) for p, (d, _, small) in device_suites.items()}
    cases = suite_cases(random.Random(SEED), max(1, int(25 * SCALE)), tmp_path, suites)
    failures = [o for o in (run_case(c, tmp_path, 20.0) for c in cases) if o.problems]
    assert not failures, f"{len(failures)} failing case(s), inputs in {tmp_path / 'failures'}:\n" + _report(failures)
