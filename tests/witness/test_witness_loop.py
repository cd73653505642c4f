"""Issue 16 item 3: counterexamples are replayable data. For every catalogue bug of the
built-in device models: check (shortest violation) -> witness -> the capture replayed
against the correct model diverges at the step where the bug acts (or at the end of the
continuation that shows it) -> the emulator with that bug fails the witness's conformance
test and the correct emulator passes it. Bugs that cannot close a part of the loop are
listed below with the reason; the test fails if one of them starts closing it (the lists
cannot go stale quietly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.conformance.conform import run_suite
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.errors import InputError
from mcheck.model.registry import find_model_class, load_model
from mcheck.witness import capture, search, suite

# per model: the parameter sets tried in order until the bug's violation is found. virtio-1.4
# with its coarse enabled-set classes, then the exact ones (disabled-list-query needs them; a LIST_USE of
# their `other` class may be refused, which weakens the test); draft-v1 with
# its example hypervisor flow, then any command at any time (the flow never sends an orphan
# chunk, an unknown mode or a resume with half a context)
PARAMS = {"virtio-1.4": [{}, {"sets": "exact"}], "draft-v1": [{}, {"flow": "free"}]}
PROFILE = {"virtio-1.4": "virtio-1.4", "draft-v1": "draft-v1"}

# per bug, parameter sets tried instead of the model's. list-use-ignored: with the coarse
# enabled-set classes the observation cannot tell the set in force from the one a LIST_USE
# asked for (every non-base set is `other`), so no capture shows the bug; with the exact
# classes (-p sets=exact) the first LIST_USE is followed by a command it enabled
BUG_PARAMS = {("virtio-1.4", "list-use-ignored"): [{"sets": "exact"}]}

# the capture of the counterexample (and of every continuation within search.EXTEND_DEPTH
# steps, EXTEND_STATES states, EXTEND_SECONDS) does not diverge from the correct model
NOT_IN_CAPTURE = {
    ("virtio-1.4", "inflight-not-written-back"): "the stop's write-back happens inside the device; a capture "
        "shows the same DEV_MODE_SET either way (guest memory shows it: the conformance test's used-index check)",
    ("virtio-1.4", "stop-no-used-index"): "the used index in guest memory is not a trace event (the conformance "
        "test reads it)",
    ("virtio-1.4", "fetch-after-stop"): "a device's descriptor reads are not in a capture",
    ("virtio-1.4", "set-while-running"): "a SET accepted while running is permitted (a D-DP-4 SHOULD warning) and, "
        "with get_after_set=either, a GET before the resume may show the SET's parts, which the resume then "
        "applies: every GET answer of the bug is one the correct model allows",
    ("draft-v1", "context-changes-while-frozen"): "the change is in the context's contents, which the model's "
        "observation of DEV_CTX_READ does not decode (only `last`/`empty`; the conformance test compares the bytes)",
    ("draft-v1", "frozen-accepts-access"): "as context-changes-while-frozen: the changed context bytes are not "
        "observed",
    ("draft-v1", "ctx-missing-used-idx"): "the model's observation does not decode context contents (the "
        "conformance test compares the bytes)",
    ("draft-v1", "wr-stop-ignored"): "only the draft flow violates the property (flow=free: no violation), and its "
        "WR_STOP follows a cancel, after which the flow sends no command: nothing reads the record again",
}

# the emulator with the bug passes the witness's one conformance test
NOT_CAUGHT = {
    ("virtio-1.4", "einval-side-effect"): "a driven run cannot see a member's mode (docs/kill-matrix.md: every "
        "answer is permitted in both modes); principled",
}


def _catalogue() -> list[tuple[str, str]]:
    return [(name, bug) for name in PARAMS for bug in find_model_class(name).bugs]


_CORRECT: dict[tuple, object] = {}


def counterexample(name: str, bug: str) -> search.Counterexample:
    for params in BUG_PARAMS.get((name, bug), PARAMS[name]):
        key = (name, tuple(sorted(params.items())))
        if key not in _CORRECT:
            _CORRECT[key] = capture.divergence_judge(load_model(name, params))
        try:
            return search.find(load_model(name, {**params, "bug": bug}), name, shows=_CORRECT[key])
        except InputError:
            continue
    raise AssertionError(f"{name} bug {bug}: no violation under any of {BUG_PARAMS.get((name, bug), PARAMS[name])}")


@pytest.fixture(scope="module")
def correct_emulators(tmp_path_factory):
    root = tmp_path_factory.mktemp("emu")
    procs = {name: start_emulator(root / f"{name}.sock", profile=PROFILE[name]) for name in PARAMS}
    yield {name: f"emulator:unix:{root / name}.sock" for name in PARAMS}
    for p in procs.values():
        stop_emulator(p)


def close_loop(name: str, bug: str, tmp_path: Path, correct_backend: str) -> None:
    cx = counterexample(name, bug)
    assert cx.bug == bug and cx.departure is not None
    events, last = capture.capture(cx)
    at = capture.CorrectReplay(cx.correct).first_divergence(events)
    if (name, bug) in NOT_IN_CAPTURE:
        assert at is None, f"{bug} now shows in a capture: drop it from NOT_IN_CAPTURE"
    else:
        assert at is not None, f"{bug}: the capture replays clean against the correct model"
        step = next(i for i, e in enumerate(last) if at <= e)
        # at the violating step (or the last step of the continuation that shows the bug), which
        # is never before the step where the bug first changed the state
        assert step == len(cx.actions) - 1 and cx.departure <= step, (bug, step, cx.departure, len(cx.actions))
    out = suite.write_suite(cx, tmp_path / "suite").parent
    result, _, _ = run_suite(str(out), correct_backend)
    assert result.verdict == "holds", [v.message for v in result.violations]
    sock = tmp_path / "bug.sock"
    proc = start_emulator(sock, profile=PROFILE[name], bugs=[bug])
    try:
        result, _, _ = run_suite(str(out), f"emulator:unix:{sock}")
    finally:
        stop_emulator(proc)
    if (name, bug) in NOT_CAUGHT:
        assert result.verdict == "holds", f"{bug} is now caught: drop it from NOT_CAUGHT"
    else:
        assert result.verdict == "violated", f"the emulator with {bug} passes the witness's test"


# two bugs per model run by default (one visible at the bug's step, one needing a
# continuation); every catalogue bug in the slow run
QUICK = {("virtio-1.4", "stop-not-idempotent"), ("virtio-1.4", "dma-after-stop"),
         ("draft-v1", "flr-answers-early"), ("draft-v1", "report-not-cleared")}


@pytest.mark.parametrize("name,bug", sorted(QUICK))
def test_loop_closes(name, bug, tmp_path, correct_emulators):
    close_loop(name, bug, tmp_path, correct_emulators[name])


@pytest.mark.slow
@pytest.mark.parametrize("name,bug", [c for c in _catalogue() if c not in QUICK])
def test_loop_closes_every_catalogue_bug(name, bug, tmp_path, correct_emulators):
    close_loop(name, bug, tmp_path, correct_emulators[name])
