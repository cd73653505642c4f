"""The kill matrix: every catalogue bug, run as an emulator process, must fail the generated suite.

`kill_row` starts the emulator with one bug as a separate process
(mcheck.device.spawn.start_emulator) and runs a suite against it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcheck.device.devices import device_module, profiles
from mcheck.device.spawn import start_emulator, stop_emulator


@dataclass
class Row:
    profile: str
    bug: str | None
    caught: bool
    test: str | None
    clauses: list[str]
    message: str
    tests_run: int
    seconds: float


# catalogue bugs no generated suite can catch, and why (the spec-exact model permits what
# they do wherever a test can observe it)
UNCATCHABLE = {
    "virtio-1.4": {
        "einval-side-effect": "the member's mode is not observable to a driven run: every DEV_MODE_SET and "
                              "DEV_PARTS_SET answer the device gives is permitted in both modes (a real stop or "
                              "resume may be refused, D-DP-20/21; SET while running is only a SHOULD, D-DP-4), and a "
                              "stopped member only declines device work (fetch, DMA, notifications, PME) that a "
                              "running one may also decline at any moment; the autonomous runner catches it (test "
                              "refused-stop: the running member must use the buffer posted before the refused stop)",
        "doorbell-lost-while-stopped": "a driven device is asked to fetch; declining a fetch is never a failure "
                                       "(device work is not required at a given moment), so a device that lost the "
                                       "doorbell looks like one that has not got round to it yet; the autonomous "
                                       "runner catches it (after the resume the posted buffers must be processed)",
    },
}
# bugs that show only with more than one member (another member's object): their rows run
# the targeted suite (`gen-tests --classes-only`) at members=2
MULTI_MEMBER = {"virtio-1.4": ("destroy-other-member",)}


# catalogue bugs the generated suite does not catch when the device acts on its own
# (`mcheck emulate --autonomous`; the runner drives only what a host can), and why
UNCATCHABLE_AUTONOMOUS = {
    "virtio-1.4": {
        "pme-while-stopped": "a PME is the device's own signal of a wake event; no host request (admin command, "
                             "doorbell, FLR, reset, PM transition, memory access) asks for one, and the autonomous "
                             "emulator signals none on its own, so a stopped member's PME is never seen (D-DP-15 "
                             "is judged only for devices that send PMEs, or driven with W pme)",
    },
}


def kill_row(suite: str | Path, sock: str | Path, profile: str, bug: str | None, members: int = 1, *,
             extra: list[str] | None = None, fail_fast: bool | None = None, autonomous: bool = False,
             seed: int | None = None) -> Row:
    """One row of the matrix. `autonomous`: the emulator acts on its own and the runner
    drives only what a host can (mcheck.conformance.runner.run_test_autonomous)."""
    from mcheck.conformance.conform import run_suite
    proc = start_emulator(sock, profile=profile, members=members, bugs=[bug] if bug else [], extra=extra,
                          autonomous=autonomous, seed=seed)
    start = time.monotonic()
    try:
        result, outcomes, _ = run_suite(str(suite), f"emulator:unix:{sock}",
                                        fail_fast=bug is not None if fail_fast is None else fail_fast)
    finally:
        stop_emulator(proc)
    failed = next((o for o in outcomes if not o.passed), None)
    if failed is None:
        return Row(profile, bug, False, None, [], "all tests pass", len(outcomes), time.monotonic() - start)
    f = failed.failures[0]
    return Row(profile, bug, True, failed.name, f.clauses, f.message, len(outcomes), time.monotonic() - start)


# spec-permitted variants of the virtio-1.4 device (mcheck.device.virtio14.VARIANTS) that fail
# the suite because the MODEL rejects what the spec permits: variant -> why the spec permits
# it, and the divergence the model reports (for the model's owner; the variant row is
# expected to fail until the model is fixed, and the CI test xfails exactly these, strictly)
MODEL_GAPS: dict[str, str] = {}


def variants(profile: str = "virtio-1.4") -> list[str]:
    """The emulated device's spec-permitted variants (its module's VARIANTS, if any): each
    must pass the suite."""
    return list(getattr(device_module(profile), "VARIANTS", {}))


def variant_row(suite: str | Path, sock: str | Path, variant: str, members: int = 1, profile: str = "virtio-1.4") -> Row:
    """One variant row: the emulator with `--variant NAME` must pass every test (`caught`
    then means the suite, or the model judging it, failed a permitted device)."""
    row = kill_row(suite, sock, profile, None, members, extra=["--variant", variant], fail_fast=True)
    row.bug = f"--variant {variant}"
    return row


def markdown(rows: list[Row]) -> str:
    lines = ["| profile | emulator | caught | first failing test | clauses | tests run | failure |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        msg = r.message.replace("|", "\\|")
        if len(msg) > 140:
            msg = msg[:137] + "..."
        emulator = "correct" if not r.bug else (r.bug if r.bug.startswith(("--compat", "strict", "--variant"))
                                                else "--bug " + r.bug)
        caught = "yes" if r.caught else ("passes all" if not r.bug or r.bug.startswith(("--compat", "--variant"))
                                         else "no")
        if r.bug and r.bug.startswith("--variant") and r.caught:
            gap = r.bug.split(" ", 1)[1] in MODEL_GAPS
            caught = "FAILS: model gap (MODEL_GAPS)" if gap else "FAILS (must pass)"
        if r.bug and r.bug.startswith("strict") and r.caught:
            caught = "fails (as it must)"
        lines.append(f"| {r.profile} | {emulator} | "
                     f"{caught} | {r.test or '-'} | "
                     f"{', '.join(r.clauses) or '-'} | {r.tests_run} | {msg} |")
    return "\n".join(lines) + "\n"


def catalogue(profile: str) -> list[str]:
    """The catalogue bugs of the model of that name, then the emulated device's own (its
    module's DEVICE_ONLY_BUGS, which the runner judges by rules the model cannot state)."""
    from mcheck.model.registry import find_model_class
    return list(find_model_class(profile).bugs) + list(getattr(device_module(profile), "DEVICE_ONLY_BUGS", {}))


HEAD = """# Kill matrix

Every bug of both model catalogues (`models/virtio_1_4.py` `Virtio14.bugs`, `models/draft_v1.py`
`DraftV1.bugs`) as a misbehaving device: an `mcheck emulate --bug NAME` process on a Unix
socket, run against the suite `mcheck gen-tests` derives from the correct model at the
default size. A bug is *caught* when a test fails; the table shows the first failing test
(`mcheck conform --fail-fast`), the clauses the failure names and the failure itself. The
correct emulators must pass every test: the strict default against the default suite, and
`--compat linux` against the suite generated with `-p compat=linux`; the strict emulator
must fail the Linux suite (it refuses what T1a/T1b relax). The *variant rows* run the
emulator in each spec-permitted reading (`mcheck emulate --variant NAME`, one at a time;
`mcheck.device.virtio14.VARIANTS` names the clause or question that permits each): every
one must pass the same default suite the bug rows fail, so a suite generated once passes
a device of any permitted reading. `tests/device/test_variant_matrix.py` asserts them. The virtio-1.4 runner judges
every answer and every piece of device work by replaying it against the model, so a
device is never failed for an answer or a step the spec permits.
`tests/device/test_device_killmatrix.py` asserts the same matrix on every run. The *pair rows*
(`virtio-1.4 pair`) run `mcheck migrate-demo` between two emulator processes: the correct
devices pass every scenario, and each migration bug (docs/migration.md), in the source or
the destination, fails the scenario that shows it (tests/device/test_migrate_pair.py).

Generated by `python -m mcheck.conformance.killmatrix --out docs/kill-matrix.md` ({when}).

{suites}

{table}
{uncatchable}"""


SUITES: tuple[tuple[str, dict[str, Any], str], ...] = (("virtio-1.4", {}, "virtio-1.4"), ("virtio-1.4", {"compat": "linux"}, "virtio-1.4 -p compat=linux"),
          ("draft-v1", {}, "draft-v1"))


def build(out: str | Path | None = None, only: str | None = None) -> tuple[str, list[Row]]:
    """Generate the suites, run every row, and return (and write) docs/kill-matrix.md.
    `only` (a profile): run that profile's rows only and put them, with its suite line, in
    place of the old ones in `out` (which must exist)."""
    import tempfile

    from mcheck.conformance.gen import generate, suite_params, write_suite
    rows: list[Row] = []
    suites = []
    with tempfile.TemporaryDirectory() as tmp:
        for profile, extra_params, label in SUITES:
            if only is not None and profile != only:
                continue
            params = suite_params(profile, extra_params)
            suite = generate(profile, params)
            sdir = Path(tmp) / label.replace(" ", "_").replace("=", "_")
            write_suite(suite, sdir)
            cov = suite.coverage
            p = " ".join(f"{k}={v}" for k, v in suite.model.params.as_dict().items())
            suites.append(f"- **{label}** ({p}): {cov['states']:,} states, {cov['transitions']:,} transitions; "
                          f"{cov['action_instances_covered']}/{cov['action_instances_reachable']} reachable action "
                          f"instances covered by {cov['tests']} tests ({cov['walk_steps']:,} walk steps, "
                          f"{cov['probes']:,} probes); clause coverage {cov['clauses_covered']}/{cov['clauses_model']}; "
                          f"generated in {suite.seconds:.1f} s")
            sock = Path(tmp) / "dev.sock"
            if extra_params.get("compat") == "linux":
                rows.append(_labelled(kill_row(sdir, sock, profile, None, extra=["--compat", "linux"]),
                                      "virtio-1.4 (compat=linux suite)", "--compat linux"))
                rows.append(_labelled(kill_row(sdir, sock, profile, None, fail_fast=True),
                                      "virtio-1.4 (compat=linux suite)", "strict (must fail)"))
                continue
            rows.append(kill_row(sdir, sock, profile, None))
            multi = MULTI_MEMBER.get(profile, ())
            if multi:     # bugs that need a second member: the targeted suite at members=2
                sdir2 = Path(tmp) / f"{sdir.name}_members2"
                write_suite(generate(profile, {**params, "members": 2}, classes_only=True), sdir2)
            for bug in catalogue(profile):
                rows.append(kill_row(sdir2, sock, profile, bug, members=2) if bug in multi
                            else kill_row(sdir, sock, profile, bug))
            for variant in variants(profile):
                rows.append(variant_row(sdir, sock, variant, profile=profile))
    if only is not None:
        return _splice(out, only, suites, rows), rows
    rows += pair_rows()
    skipped = [f"- `{bug}` ({profile}): {why}" for profile, bugs in UNCATCHABLE.items() for bug, why in bugs.items()]
    readings = "".join(
        f"\nThe variants ({profile}), each a reading the spec permits:\n\n"
        + "\n".join(f"- `{name}`: {doc}" for name, doc in device_module(profile).VARIANTS.items()) + "\n"
        for profile in profiles() if getattr(device_module(profile), "VARIANTS", None))
    if MODEL_GAPS:
        readings += "\nVariants the model rejects although the spec permits them (model gaps):\n\n" + "\n".join(
            f"- `{name}`: {why}" for name, why in MODEL_GAPS.items()) + "\n"
    text = HEAD.format(when=time.strftime("%Y-%m-%d"), suites="\n".join(suites), table=markdown(rows),
                       uncatchable=("\nBugs no suite can catch, and why:\n\n" + "\n".join(skipped) + "\n"
                                    if skipped else "") + readings)
    if out is not None:
        Path(out).write_text(text)
    return text, rows


# migration bugs (virtio-1.4 pair): which end misbehaves and the migrate-demo scenario that
# shows it; the single-member suite is not where they show (their effect is end to end)
PAIR_BUGS = {
    "get-wrong-queue-address": ("src", "normal"),
    "get-drops-feature": ("src", "normal"),
    "stop-no-used-index": ("src", "normal"),
    "dst-stale-position": ("dst", "normal"),
    "resume-no-notify": ("dst", "normal"),
    "set-applied-early": ("dst", "normal"),
    "accepts-unoffered-features": ("dst", "feature-mismatch"),
}
PAIR_LABEL = "virtio-1.4 pair (migrate-demo)"
CLAUSE_ID = re.compile(r"\b(?:[DRI]-[A-Z]+-\d+|MIG-[A-Z]+-\d+|Q\d+)\b")


def pair_rows() -> list[Row]:
    """The migration rows: correct devices pass every migrate-demo scenario; each pair bug
    fails its scenario (docs/migration.md)."""
    import tempfile

    from mcheck.conformance.migrate import SCENARIOS, run_demo
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(None, "src", sc) for sc in SCENARIOS] + [(b, side, sc) for b, (side, sc) in PAIR_BUGS.items()]
        for i, (bug, side, scenario) in enumerate(cases):
            start = time.monotonic()
            ok, demo, replays = run_demo("virtio-1.4", [bug] if bug and side == "src" else [], Path(tmp) / str(i),
                                         scenario=scenario, dst_bugs=[bug] if bug and side == "dst" else [])
            problems = list(demo.problems) + [f"capture {k} replays {v}" for k, v in replays.items() if v != "holds"]
            message = problems[0] if problems else "every check passes, every capture replays clean"
            label = None if bug is None else (bug if side == "src" else f"{bug} (destination)")
            rows.append(Row(PAIR_LABEL, label, not ok, f"scenario {scenario}",
                            sorted(set(CLAUSE_ID.findall(message))), message, 1, time.monotonic() - start))
    return rows


def _splice(out: str | Path | None, profile: str, suites: list[str], rows: list[Row]) -> str:
    """The existing matrix with `profile`'s suite line and table rows replaced by new ones."""
    if out is None or not Path(out).is_file():
        raise FileNotFoundError(f"--only {profile}: {out} must exist (its other rows are kept)")
    lines = Path(out).read_text().splitlines()
    table = markdown(rows).splitlines()[2:]
    suite_at = [i for i, ln in enumerate(lines) if ln.startswith(f"- **{profile}**")]
    row_at = [i for i, ln in enumerate(lines) if ln.startswith(f"| {profile} |")]
    if not suite_at or not row_at:
        raise ValueError(f"--only {profile}: {out} has no {profile} suite line or rows to replace")
    new: list[str] = []
    for i, ln in enumerate(lines):
        if i == suite_at[0]:
            new += suites
        elif i == row_at[0]:
            new += table
        elif i in suite_at or i in row_at:
            continue
        else:
            new.append(ln)
    text = "\n".join(new) + "\n"
    Path(out).write_text(text)
    return text


def _labelled(row: Row, profile: str, emulator: str) -> Row:
    row.profile = profile
    row.bug = emulator
    return row


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m mcheck.conformance.killmatrix", description="build docs/kill-matrix.md")
    ap.add_argument("--out", default="docs/kill-matrix.md", metavar="FILE")
    ap.add_argument("--only", choices=sorted({p for p, _, _ in SUITES}), default=None,
                    help="rebuild this profile's suite line and rows only, keeping the rest of FILE")
    args = ap.parse_args(argv)
    _text, rows = build(args.out, only=args.only)
    expected_miss = {(p, b) for p, bugs in UNCATCHABLE.items() for b in bugs}
    bad = [r for r in rows if (r.bug is None or r.bug == "--compat linux") and r.caught]
    bad += [r for r in rows if r.bug == "strict (must fail)" and not r.caught]
    bad += [r for r in rows if r.bug not in (None, "--compat linux", "strict (must fail)") and not r.caught
            and not r.bug.startswith("--variant") and (r.profile, r.bug) not in expected_miss]
    # a variant row must pass, except a model gap, which must still fail (else the list is stale)
    bad += [r for r in rows if r.bug and r.bug.startswith("--variant")
            and r.caught != (r.bug.split(" ", 1)[1] in MODEL_GAPS)]
    print(f"wrote {args.out}: {len(rows)} rows, {len(bad)} unexpected")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
