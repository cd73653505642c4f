"""`mcheck migrate-demo` for virtio 1.4 end to end (issue 13, device side): correct devices pass
every scenario of the Linux flows; each seeded firmware bug of the migration catalogue, in
the source or the destination, fails the demo with the check that names it; the merged
two-host capture follows the pair numbering (source member 1 -> 1, destination member 1 -> 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcheck.conformance.migrate import PAIR_MODEL, SCENARIOS, replay_captures, run_demo
from mcheck.device.virtio14 import DEVICE_FEATURES, MIGRATION_BUGS, Virtio14Device
from mcheck.trace.io import read_trace

ROOT = Path(__file__).resolve().parents[2]


def _words(value: list[int]) -> int:
    return sum(w << (64 * i) for i, w in enumerate(value))


def _pair_replayed_or_noted(demo, replays) -> None:
    """The merged capture is replayed against the pair model, or the demo says visibly why not."""
    assert "pair" in replays or any(f"the pair model {PAIR_MODEL} is not available" in n for n in demo.notes), \
        (replays, demo.notes)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_correct_devices_pass_every_scenario(tmp_path, scenario):
    ok, demo, replays = run_demo("virtio-1.4", [], tmp_path, scenario=scenario)
    assert ok, (demo.problems, replays)
    assert not demo.problems
    assert set(replays.values()) == {"holds"}
    _pair_replayed_or_noted(demo, replays)
    assert (tmp_path / "merged.jsonl").is_file()
    # every buffer the guest posted was completed exactly once (buffers a reset abandoned aside)
    for seq in range(demo.posted):
        assert len(demo.completions.get(seq, [])) == (0 if seq in demo.abandoned else 1), seq
    log = "\n".join(demo.log)
    if scenario == "normal":
        assert "destination DEV_MODE_SET(resume)     -> OK" in log
        assert any("destination" in w for c in demo.completions.values() for w in c)
    if scenario in ("cancel-precopy", "cancel-after-switchover", "feature-mismatch"):
        # the guest stays on the source: nothing was ever completed by the destination
        assert all(w.startswith("source") for c in demo.completions.values() for w in c)
        assert "destination FLR" in log and "destination DEV_MODE_SET(resume)" not in log
    if scenario == "cancel-precopy":
        assert "source      DEV_MODE_SET" not in log                      # R3: the source is never stopped
    if scenario == "cancel-after-switchover":
        assert "source      DEV_MODE_SET(resume)     -> OK" in log
    if scenario == "flr-stop-copy":
        assert "source      FLR" in log and demo.abandoned
        after_flr = log.split("source      FLR", 1)[1]
        assert "DEV_MODE_SET(stop)       -> OK" in after_flr and "DEV_MODE_SET(resume)     -> OK" in after_flr
    if scenario == "feature-mismatch":
        offers = DEVICE_FEATURES & ~(1 << 40)
        assert f"the destination offers features {offers:#x}" in log
        assert "destination DEV_PARTS_SET            -> EINVAL" in log


# (bug, where it lives, scenario, phrases the FAIL line must hold)
BUG_CASES = [
    ("get-wrong-queue-address", "src", "normal",
     ["final DEV_PARTS_GET record misreports the parts the source device holds", "VQ_CFG 0 queue_driver", "D-DP-3"]),
    ("get-drops-feature", "src", "normal",
     ["misreports the parts the source device holds", "DRV_FEATURES", "D-DP-3"]),
    ("stop-no-used-index", "src", "normal", ["buffer seq 3 was completed 2 times", "MIG-VQ-1", "D-DP-11"]),
    ("dst-stale-position", "dst", "normal", ["guest's used index went back", "Q4", "D-DP-10/11"]),
    ("resume-no-notify", "dst", "normal", ["guest was left waiting on the destination", "D-DP-16"]),
    ("set-applied-early", "dst", "normal",
     ["destination device touched guest memory before its resume", "D-DP-9", "I-DP-5"]),
    ("accepts-unoffered-features", "dst", "feature-mismatch",
     ["destination runs with feature bit(s) 40 it does not offer", "D-DP-7"]),
    # the scenario checks catch bugs of the other flows too
    ("resume-no-notify", "src", "cancel-after-switchover", ["guest was left waiting on the source", "D-DP-16"]),
    ("flr-keeps-parts", "src", "flr-stop-copy", ["after the FLR the source's parts are not the defaults", "D-DP-22"]),
    ("get-wrong-queue-address", "src", "cancel-precopy",
     ["pre-copy DEV_PARTS_GET record misreports", "VQ_CFG 0 queue_driver"]),
]


@pytest.mark.parametrize("bug,side,scenario,phrases", BUG_CASES,
                         ids=[f"{b}-{side}-{sc}" for b, side, sc, _ in BUG_CASES])
def test_migration_bug_fails_the_demo_naming_why(tmp_path, bug, side, scenario, phrases):
    ok, demo, replays = run_demo("virtio-1.4", [bug] if side == "src" else [], tmp_path, scenario=scenario,
                                 dst_bugs=[bug] if side == "dst" else [])
    assert not ok
    assert any(all(p in line for p in phrases) for line in demo.problems), demo.problems
    if bug in PAIR_REPLAY_CATCHES and scenario in ("normal", "feature-mismatch"):
        assert replays["pair"] == "violated", replays


# bugs the pair capture alone shows (replay sees answers, DMA and notifications, and a SET's
# features against the member's DEV_FEATURES; part contents and ring positions it cannot see)
PAIR_REPLAY_CATCHES = {"set-applied-early", "accepts-unoffered-features"}


def test_pair_capture_of_the_correct_migration_holds(normal_run):
    _, _, replays = normal_run
    assert replays["pair"] == "holds", replays


def test_every_migration_bug_of_the_catalogue_has_a_case():
    assert set(MIGRATION_BUGS) == {b for b, _, sc, _ in BUG_CASES if sc in ("normal", "feature-mismatch")}
    assert all(len(why) > 30 for why in MIGRATION_BUGS.values())


def test_get_drops_feature_also_shows_on_the_destination(tmp_path):
    """Source and destination agree on the dropped bit; the guest's negotiated features do not."""
    ok, demo, _ = run_demo("virtio-1.4", ["get-drops-feature"], tmp_path)
    assert not ok
    assert any("the guest negotiated" in p and "bits 40 differ" in p for p in demo.problems), demo.problems


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pair")
    ok, demo, replays = run_demo("virtio-1.4", [], out)
    assert ok, demo.problems
    return out, demo, replays


def test_merged_capture_numbers_the_destination_as_member_2(normal_run):
    out, _, _ = normal_run
    merged = read_trace(out / "merged.jsonl")
    src, dst = read_trace(out / "source.jsonl"), read_trace(out / "destination.jsonl")
    events = list(merged.events)
    assert len(events) == len(list(src.events)) + len(list(dst.events))
    assert merged.header.members == (1, 2)
    assert [e.index for e in events] == list(range(len(events)))
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    admin = [e for e in events if e.KIND == "admin"]
    members = {e.command.name: set() for e in admin}
    for e in admin:
        members[e.command.name].add(e.command.member)
    assert members["LIST_QUERY"] == {0} and members["DRIVER_CAP_SET"] == {0}   # owner level: member 0
    assert members["DEV_PARTS_SET"] == {2}                                     # only the destination sets
    assert members["DEV_PARTS_METADATA_GET"] == {1}                            # only the source reads sizes
    assert members["DEV_MODE_SET"] == {1, 2}
    # device events: the source's DMA before the stop is member 1, the destination's after its resume member 2
    assert {e.member for e in events if e.KIND == "dma_write"} == {1, 2}
    assert all(e.member in (1, 2) for e in events if e.KIND in ("doorbell", "used_notify"))


def test_pair_replay_is_skipped_with_a_note_when_the_model_is_missing(normal_run, monkeypatch, tmp_path):
    import mcheck.model.registry as registry
    from mcheck.errors import InputError
    out, _, _ = normal_run
    real = registry.load_model

    def only_builtin(spec, params=None):
        if spec == PAIR_MODEL:
            raise InputError(f"unknown model {spec!r}")
        return real(spec, params)
    monkeypatch.setattr(registry, "load_model", only_builtin)
    caps = {"source": out / "source.jsonl", "destination": out / "destination.jsonl"}
    notes: list[str] = []
    verdicts = replay_captures("virtio-1.4", caps, tmp_path, 3, notes=notes)
    assert "pair" not in verdicts and set(verdicts) == {"source", "destination"}
    assert any("merged.jsonl not replayed" in n and PAIR_MODEL in n for n in notes), notes
    assert (tmp_path / "merged.jsonl").is_file()


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mcheck.cli", "migrate-demo", "--out", str(tmp_path / "o"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_unknown_dst_bug_is_one_line_exit_2(tmp_path):
    r = _cli("--dst-bug", "no-such-bug", tmp_path=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("mcheck: error: --dst-bug no-such-bug: unknown bug for profile virtio-1.4")
    assert not (tmp_path / "o").exists()


def test_scenario_of_the_draft_flow_is_one_line_exit_2(tmp_path):
    r = _cli("--profile", "draft-v1", "--scenario", "cancel-precopy", tmp_path=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == "mcheck: error: --scenario cancel-precopy: only the virtio-1.4 flow has scenarios"


def test_cli_dst_bug_prints_the_fail_line(tmp_path):
    r = _cli("--dst-bug", "resume-no-notify", tmp_path=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "with destination --dst-bug resume-no-notify" in r.stdout
    assert "FAIL: the guest was left waiting on the destination" in r.stdout
    assert r.stdout.rstrip().endswith("verdict: FAIL")


# the emulator's feature handling (D-DP-7), in-process

def _set(dev: Virtio14Device, parts: list[dict]) -> str:
    cmd = dev.codec.encode_command("DEV_PARTS_SET", "SRIOV", 1, {"obj_id": 0, "parts": parts})
    writable, _ = dev.admin(1, cmd)
    return dev.codec.decode_result("DEV_PARTS_SET", writable).status_name


def _stopped_with_set_object(dev: Virtio14Device) -> None:
    for group in ("SELF", "SRIOV"):
        ops = dev.codec.decode_result("LIST_QUERY", dev.admin(1, dev.codec.encode_command(
            "LIST_QUERY", group, 0, {}))[0]).fields["opcodes"]
        dev.admin(1, dev.codec.encode_command("LIST_USE", group, 0, {"opcodes": ops}))
    dev.admin(1, dev.codec.encode_command("DRIVER_CAP_SET", "SELF", 0, {"id": 0, "get_parts_limit": 1,
                                                                         "set_parts_limit": 1}))
    dev.admin(1, dev.codec.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 1}))
    writable, _ = dev.admin(1, dev.codec.encode_command("RESOURCE_OBJ_CREATE", "SRIOV", 1,
                                                        {"obj_id": 0, "parts_type": 1}))
    assert dev.codec.decode_result("RESOURCE_OBJ_CREATE", writable).status_name == "OK"


@pytest.mark.parametrize("bug", [None, "accepts-unoffered-features"])
def test_set_with_accepted_features_the_device_does_not_offer(bug):
    fewer = DEVICE_FEATURES & ~(1 << 40)
    dev = Virtio14Device(features=fewer, bugs={bug} if bug else set())
    _stopped_with_set_object(dev)
    record = [{"type": "DEV_FEATURES", "flags": 1, "value": [fewer]},
              {"type": "DRV_FEATURES", "flags": 0, "value": [DEVICE_FEATURES]},
              {"type": "DEVICE_STATUS", "flags": 0, "value": 0x0F}]
    assert _set(dev, record) == ("OK" if bug else "EINVAL")
    dev.admin(2, dev.codec.encode_command("DEV_MODE_SET", "SRIOV", 1, {"flags": 0}))
    held = {p["type"]: p["value"] for p in dev.state()["members"]["1"]["parts"]}
    assert _words(held["DEV_FEATURES"]) == fewer
    assert _words(held["DRV_FEATURES"]) == (DEVICE_FEATURES if bug else 0)    # refused: nothing applied


def test_offered_features_are_a_power_on_option():
    dev = Virtio14Device()
    assert dev.features == DEVICE_FEATURES
    dev.configure(members=1, queues=1, objects=1, features=1 << 32)
    assert dev.features == 1 << 32 and dev.state()["features"] == 1 << 32
    dev.configure(members=1, queues=1, objects=1)
    assert dev.features == DEVICE_FEATURES
    with pytest.raises(ValueError, match="features"):
        dev.configure(members=1, queues=1, objects=1, features=-1)
