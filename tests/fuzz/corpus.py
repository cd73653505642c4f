"""The seeded mutator and the runner behind tests/fuzz (issue 15, "Done when").

Each case is a damaged file (capture, profile, checkpoint, result file) and a command
that reads it, run in this process through `mcheck.cli.main` under a deadline. A case
passes when mcheck answers: an exit code in 0..3, no "internal error", no traceback, at
most one error line, within the deadline; and, where the answer can be checked, it is
not silently wrong (a converted capture shows the same events as its source; a damaged
checkpoint is refused, never resumed).

    python -m tests.fuzz.corpus --cases 2000 --seed 7     # a longer run, locally
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "traces"
COUNTER = ROOT / "tests/models/counter.py"

#: Seed captures: small JSONL and pcapng files of both profiles, clean and diverging.
CAPTURES = [
    "spec/c07-invalid-members.jsonl", "spec/d05-ok-with-qualifier.jsonl", "faulty/list-use-ignored.jsonl",
    "faulty/list-use-ignored.pcapng", "faulty/parts-missing-vq.pcapng", "migration/m01-linux-migration.jsonl",
    "draft/d01-chunked-migration.jsonl",
]
PROFILES = ["virtio-1.4.toml", "draft-v1.toml"]

#: Values a hostile writer puts where a field goes (JSON-aware mutation).
HOSTILE_VALUES = [
    None, True, -1, -(2**63), 2**64, 2**70, 1e308, -1e308, 1.5, float("nan"), "", "x", "\ud800", "\ufffe",
    "<!--<script>", [], [1, [2, [3]]], {}, {"a": {"b": 1}}, "SRIOV", "OK", 0, 65535, 65536, "00" * 3, "zz",
    "deadbeef" * 64, 10**30, "__DEEP__", "__DEEP__", "\ud800", "\udfff x",
]
#: What "__DEEP__" becomes in the written line: arrays nested 5,000 deep (json.dumps cannot
#: write it, so it is spliced into the text).
DEEP = b"[" * 5000 + b"]" * 5000
#: Byte strings spliced into a file (byte-level mutation).
HOSTILE_BYTES = [
    b"[" * 3000, b"{" * 3000, b"\\ud800", b"\xed\xa0\x80", b"\x00", b"\xff\xfe", b"1e308", b"-1", b"NaN",
    b"\n", b'"', b"]", b"}", b",", b"\xff" * 8, b"\x00" * 16, b"bytes(10000000000)", b"= [",
    (0x7FFFFFFF).to_bytes(4, "little"), (0xFFFFFFFF).to_bytes(4, "little"), (12).to_bytes(4, "little"),
]


class Hang(BaseException):
    """The deadline passed (a BaseException, so mcheck's handler cannot swallow it)."""


@dataclass
class Outcome:
    case: str
    code: int | None
    out: str
    err: str
    seconds: float
    problems: list[str] = field(default_factory=list)


def run(argv: list[str], deadline: float) -> tuple[int | None, str, str, float]:
    """mcheck.cli.main(argv) with stdout and stderr captured, under a deadline (seconds)."""
    from mcheck.cli import main

    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):  # noqa: ANN001
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    start = time.monotonic()
    code: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:   # argparse
                code = exc.code if isinstance(exc.code, int) else 2
    except Hang:
        code = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return code, out.getvalue(), err.getvalue(), time.monotonic() - start


def judge(case: str, code: int | None, out: str, err: str, seconds: float) -> Outcome:
    o = Outcome(case, code, out, err, seconds)
    if code is None:
        o.problems.append("hang: no answer within the deadline")
    elif code not in (0, 1, 2, 3):
        o.problems.append(f"exit code {code}")
    if "internal error" in err:
        o.problems.append("internal error: " + err.strip().splitlines()[-1][:300])
    if "Traceback" in err or "Traceback" in out:
        o.problems.append("traceback")
    errors = [line for line in err.splitlines() if line.startswith("mcheck: error")]
    if len(errors) > 1:
        o.problems.append(f"{len(errors)} error lines")
    return o


# -- mutators ---------------------------------------------------------------------------

def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(7)
        pos = rng.randrange(len(b) + 1) if b else 0
        if op == 0 and b:                                       # flip a bit
            i = min(pos, len(b) - 1)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:                                     # an interesting byte
            b[min(pos, len(b) - 1)] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x0A, 0x22, 0x5B))
        elif op == 2:                                           # truncate
            del b[pos:]
        elif op == 3:                                           # splice hostile bytes
            b[pos:pos] = rng.choice(HOSTILE_BYTES)
        elif op == 4 and b:                                     # delete a run
            del b[pos:pos + rng.randrange(1, 64)]
        elif op == 5 and b:                                     # duplicate a run
            end = min(len(b), pos + rng.randrange(1, 256))
            b[pos:pos] = b[pos:end]
        elif op == 6 and len(b) >= 4:                           # a 32-bit field set to an edge value
            i = rng.randrange(0, len(b) - 3)
            b[i:i + 4] = rng.choice(HOSTILE_BYTES[-3:])
    return bytes(b)


def _mutate_value(rng: random.Random, obj):  # noqa: ANN001, ANN202
    """One JSON value somewhere inside obj replaced by a hostile one."""
    if isinstance(obj, dict) and obj:
        key = rng.choice(list(obj))
        if rng.random() < 0.4 or not isinstance(obj[key], (dict, list)):
            if rng.random() < 0.1:
                obj.pop(key)
            else:
                obj[key] = rng.choice(HOSTILE_VALUES)
        else:
            _mutate_value(rng, obj[key])
    elif isinstance(obj, list) and obj:
        i = rng.randrange(len(obj))
        if rng.random() < 0.4 or not isinstance(obj[i], (dict, list)):
            obj[i] = rng.choice(HOSTILE_VALUES)
        else:
            _mutate_value(rng, obj[i])
    return obj


def mutate_jsonl(rng: random.Random, data: bytes) -> bytes:
    """Structure-aware: a field of one line gets a hostile value; or a byte-level mutation."""
    if rng.random() < 0.35:
        return mutate_bytes(rng, data)
    lines = data.split(b"\n")
    i = rng.randrange(len(lines) - 1) if len(lines) > 1 else 0
    try:
        obj = json.loads(lines[i])
    except ValueError:
        return mutate_bytes(rng, data)
    obj = _mutate_value(rng, obj)
    lines[i] = json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass").replace(b'"__DEEP__"', DEEP)
    return b"\n".join(lines)


def mutate_toml(rng: random.Random, data: bytes) -> bytes:
    text = data.decode()
    if rng.random() < 0.5:
        return mutate_bytes(rng, data)
    import re

    numbers = list(re.finditer(r"(?<![\w(])\d+(?![\w)])|bytes\(\d+\)|\"[a-z0-9_]+\"", text))
    m = rng.choice(numbers)
    repl = rng.choice(["-1", "0", "65536", "10000000000", '"bytes(10000000000)"', "bytes(999999999)",
                       "[" * 2000 + "]" * 2000, "1.5", '""', "true", '"le64_words"', "{}", "bytes(0)"])
    return (text[:m.start()] + repl + text[m.end():]).encode()


# -- cases ------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    files: dict[str, bytes]                  # file name in the work dir -> content
    argv: Callable[[Path], list[str]]
    check: Callable[[Path, Outcome], None] | None = None


def capture_cases(rng: random.Random, n: int) -> list[Case]:
    out = []
    for k in range(n):
        seed = rng.choice(CAPTURES)
        data = (TRACES / seed).read_bytes()
        suffix = Path(seed).suffix
        data = mutate_jsonl(rng, data) if suffix == ".jsonl" else mutate_bytes(rng, data)
        name = f"t{suffix}"
        command = rng.choice(("show", "show-join", "convert", "convert", "replay", "replay-keep"))
        other = ".pcapng" if suffix == ".jsonl" else ".jsonl"

        def argv(d: Path, command=command, name=name, other=other) -> list[str]:
            return {"show": ["show", str(d / name)], "show-join": ["show", "--join", str(d / name)],
                    "convert": ["convert", str(d / name), str(d / f"out{other}")],
                    "replay": ["replay", str(d / name), "-q", "--json", str(d / "r.json")],
                    "replay-keep": ["replay", str(d / name), "--keep-going", "--junit", str(d / "j.xml")]}[command]

        out.append(Case(f"capture {seed} {command} #{k}", {name: data}, argv,
                        _lossless_convert if command == "convert" else None))
    return out


def _lossless_convert(d: Path, o: Outcome) -> None:
    """A converted capture shows the same events as the one it came from (no silent loss)."""
    if o.code != 0:
        return
    src = next(p for p in d.iterdir() if p.name.startswith("t."))
    dst = next(p for p in d.iterdir() if p.name.startswith("out."))
    a = run(["show", str(src)], 20)
    b = run(["show", str(dst)], 20)
    if a[0] != b[0] or a[1] != b[1]:
        o.problems.append(f"convert changed the capture: show exits {a[0]} vs {b[0]}, outputs differ: {a[1] != b[1]}")


def profile_cases(rng: random.Random, n: int) -> list[Case]:
    out = []
    for k in range(n):
        prof = rng.choice(PROFILES)
        data = mutate_toml(rng, (ROOT / "models/profiles" / prof).read_bytes())
        trace = "spec/c07-invalid-members.jsonl" if prof.startswith("virtio") else "draft/d01-chunked-migration.jsonl"
        out.append(Case(f"profile {prof} #{k}", {"p.toml": data},
                        lambda d, trace=trace: ["show", str(TRACES / trace), "--profile", str(d / "p.toml")]))
    return out


def result_cases(rng: random.Random, n: int, seed_result: bytes) -> list[Case]:
    out = []
    for k in range(n):
        data = mutate_jsonl(rng, seed_result) if rng.random() < 0.7 else mutate_bytes(rng, seed_result)
        data = data.replace(b'"__DEEP__"', DEEP)
        out.append(Case(f"result #{k}", {"r.json": data},
                        lambda d: ["report", str(d / "r.json"), "--junit", str(d / "j.xml"), "--html", str(d / "h"),
                                   "--sarif", str(d / "s.sarif")], _junit_parses))
    return out


def _junit_parses(d: Path, o: Outcome) -> None:
    import xml.etree.ElementTree as ET

    if o.code == 0 and (d / "j.xml").exists():
        try:
            ET.parse(d / "j.xml")
        except ET.ParseError as exc:
            o.problems.append(f"JUnit not well-formed: {exc}")


def checkpoint_cases(rng: random.Random, n: int, saved: Path) -> list[Case]:
    original = (saved / "search.ckpt").read_bytes()
    out = []
    for k in range(n):
        data = mutate_bytes(rng, original)
        if data == original:
            continue

        def check(d: Path, o: Outcome) -> None:
            if o.code != 2:
                o.problems.append(f"a damaged checkpoint was resumed (exit {o.code}): {o.out.strip()[:200]}")

        out.append(Case(f"checkpoint #{k}", {"ck/search.ckpt": data},
                        lambda d: ["check", str(COUNTER), "-p", "bug=dma-after-stop", "--resume", str(d / "ck"), "-q"], check))
    return out


def seed_files(work: Path) -> tuple[bytes, Path]:
    """A result file with a violation, and a checkpoint of a small search, to mutate."""
    rdir = work / "seed"
    rdir.mkdir(parents=True, exist_ok=True)
    code, _, err, _ = run(["check", str(COUNTER), "-p", "bug=dma-after-stop", "--json", str(rdir / "r.json"), "-q",
                           "--checkpoint", str(rdir / "ck"), "--checkpoint-every", "0.000001"], 60)
    assert code == 1 and (rdir / "ck" / "search.ckpt").exists(), err
    return (rdir / "r.json").read_bytes(), rdir / "ck"


def all_cases(seed: int, scale: float, work: Path) -> list[Case]:
    rng = random.Random(seed)
    result, ck = seed_files(work)
    n = lambda base: max(1, int(base * scale))  # noqa: E731
    return (capture_cases(rng, n(220)) + profile_cases(rng, n(60)) + result_cases(rng, n(60), result)
            + checkpoint_cases(rng, n(40), ck))


def run_case(case: Case, work: Path, deadline: float) -> Outcome:
    d = work / "case"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for name, data in case.files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    o = judge(case.name, *run(case.argv(d), deadline))
    if case.check is not None and o.code is not None:
        case.check(d, o)
    if o.problems:   # keep the input for the report
        keep = work / "failures" / case.name.replace(" ", "_").replace("/", "_")
        shutil.copytree(d, keep, dirs_exist_ok=True)
    return o


def fuzz(seed: int, scale: float, work: Path, deadline: float = 20.0, budget: float | None = None) -> list[Outcome]:
    """Run every case (or as many as fit in `budget` seconds); return the failing ones."""
    from mcheck.replay import engine

    # Explaining a divergence builds the model's catalogue-bug variants (about 30 s the first
    # time): that is the replayer's analysis, not input handling, so the fuzz skips it.
    saved = engine.Replayer._suspects, engine.Replayer._relaxed
    engine.Replayer._suspects = lambda self: []   # type: ignore[method-assign]  # patched for the run, restored below
    engine.Replayer._relaxed = lambda self: []    # type: ignore[method-assign]
    old_limit = sys.getrecursionlimit()
    failures: list[Outcome] = []
    start = time.monotonic()
    try:
        for case in all_cases(seed, scale, work):
            if budget is not None and time.monotonic() - start > budget:
                break
            o = run_case(case, work, deadline)
            assert sys.getrecursionlimit() == old_limit
            if o.problems:
                failures.append(o)
    finally:
        engine.Replayer._suspects, engine.Replayer._relaxed = saved
    return failures


def main() -> int:
    import argparse
    import tempfile

    p = argparse.ArgumentParser(description="mcheck hostile-input fuzz (tests/fuzz)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--scale", type=float, default=1.0, help="cases relative to the CI run (1.0: about 380)")
    p.add_argument("--deadline", type=float, default=20.0, help="seconds each case may take")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        failures = fuzz(args.seed, args.scale, Path(tmp), args.deadline)
        for f in failures:
            print(f"{f.case}: {'; '.join(f.problems)}")
        print(f"{len(failures)} failing case(s) in {time.monotonic() - start:.1f} s")
        if failures:
            keep = Path("fuzz-failures")
            shutil.copytree(Path(tmp) / "failures", keep, dirs_exist_ok=True)
            print(f"inputs kept in {keep}/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
