"""`mcheck fleet-gen`: a synthetic fleet of captures with known ground truth.

Each capture is one of the emulator-generated templates of traces/ (traces/make_flows.py
drives mcheck's device emulator with the Linux driver's commands; traces/faulty/BUG is the
same kind of flow with the emulator's catalogue `--bug BUG` switched on), re-timed to a
random start within the fleet's days and given fleet metadata (host, device model,
firmware, migration id) in its header and in DIR/manifest.csv. Each simulated firmware
version has its own mix of bugs; a share of the files is made corrupt (truncated, not a
trace, or in an unknown profile). DIR/ground-truth.json lists what went into every file
and the counts a correct batch must report per firmware.

Default mix: bugs whose faulty capture the replayer attributes to that one catalogue bug
(some captures are consistent with two bugs, e.g. disabled-list-query with
list-use-ignored; a mix may name them, and then both groups show the captures).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from mcheck.errors import InputError
from mcheck.trace.events import Event, TraceHeader
from mcheck.trace.io import read_trace, write_trace

CLEAN = "none"
CORRUPT_KINDS = ("truncated", "garbage", "unknown-profile")
# what a batch reports for each kind of corrupt file (table.py error kinds)
CORRUPT_ERROR = {"truncated": "corrupt", "garbage": "corrupt", "unknown-profile": "unknown-profile"}
DEFAULT_FIRMWARE = (
    "vf100@1.0=none:85,dma-after-stop:10,notify-after-stop:5",
    "vf100@1.1=none:95,notify-after-stop:5",
    "vf200@2.0=none:80,mode-set-during-flr:10,ok-with-qualifier:10",
    "vf200@2.1=none:100",
)
START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
DAY_NS = 86_400 * 10**9


@dataclasses.dataclass(frozen=True)
class Firmware:
    device_model: str
    version: str
    mix: tuple[tuple[str, float], ...]   # (bug or "none", weight)

    @property
    def key(self) -> str:
        return f"{self.device_model}@{self.version}"


def parse_firmware(spec: str, known_bugs: set[str]) -> Firmware:
    """MODEL@VERSION=BUG:WEIGHT,... ('none' is a clean capture)."""
    head, sep, mix = spec.partition("=")
    model, at, version = head.partition("@")
    if not (sep and at and model and version and mix):
        raise InputError(f"--firmware {spec}: expected MODEL@VERSION=BUG:WEIGHT,... (e.g. vf100@1.0=none:90,dma-after-stop:10)")
    parts: list[tuple[str, float]] = []
    for item in mix.split(","):
        bug, colon, weight = item.strip().partition(":")
        if bug != CLEAN and bug not in known_bugs:
            raise InputError(f"--firmware {spec}: unknown bug {bug!r} (known: none, {', '.join(sorted(known_bugs))})")
        try:
            w = float(weight) if colon else 1.0
        except ValueError:
            raise InputError(f"--firmware {spec}: weight {weight!r} of {bug} is not a number") from None
        if w < 0:
            raise InputError(f"--firmware {spec}: weight of {bug} is negative")
        parts.append((bug, w))
    if sum(w for _, w in parts) <= 0:
        raise InputError(f"--firmware {spec}: the weights add up to nothing")
    return Firmware(model, version, tuple(parts))


@dataclasses.dataclass
class Templates:
    """Emulator-generated flows: clean ones, and one faulty capture per catalogue bug."""

    clean: list[tuple[TraceHeader, list[Event]]]
    faulty: dict[str, tuple[TraceHeader, list[Event]]]

    @classmethod
    def load(cls, directory: Path) -> Templates:
        linux, faulty = directory / "linux", directory / "faulty"
        if not linux.is_dir() or not faulty.is_dir():
            raise InputError(f"--templates {directory}: expected the linux/ and faulty/ traces of mcheck's traces/")

        def read(path: Path) -> tuple[TraceHeader, list[Event]]:
            trace = read_trace(path)
            return trace.header, list(trace.events)

        clean = [read(p) for p in sorted(linux.glob("*.jsonl"))]
        bugs = {p.stem: read(p) for p in sorted(faulty.glob("*.jsonl")) if p.stem != "two-divergences"}
        if not clean:
            raise InputError(f"--templates {directory}: no clean flows in {linux}")
        return cls(clean, bugs)


def default_templates() -> Path:
    return Path(__file__).resolve().parents[2] / "traces"


def _retimed(events: list[Event], start_ns: int) -> list[Event]:
    t0 = events[0].timestamp if events else 0
    return [dataclasses.replace(e, timestamp=start_ns + (e.timestamp - t0)) for e in events]


def _corrupt(path: Path, kind: str, rng: random.Random) -> None:
    """Damage a written capture in place."""
    data = path.read_bytes()
    if kind == "garbage":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(64)))
    elif kind == "truncated":
        cut = len(data) // 2 + rng.randrange(len(data) // 4)
        while cut > 1 and data[cut - 1:cut] == b"\n":   # never at a line end: a half-written line
            cut -= 1
        path.write_bytes(data[:cut])
    else:
        raise ValueError(kind)


def generate(out: Path, count: int, firmware: list[Firmware], *, corrupt: float = 0.01, days: float = 3.0,
             pcapng: float = 0.25, hosts: int = 40, seed: int = 0, templates: Templates | None = None) -> dict[str, Any]:
    """Write `count` captures, DIR/manifest.csv and DIR/ground-truth.json; return the truth."""
    if count < 1:
        raise InputError("--count must be at least 1")
    if not 0 <= corrupt <= 1 or not 0 <= pcapng <= 1:
        raise InputError("--corrupt and --pcapng are fractions between 0 and 1")
    templates = templates or Templates.load(default_templates())
    rng = random.Random(seed)
    try:
        (out / "captures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror}") from None
    captures: list[dict[str, Any]] = []
    for i in range(count):
        fw = firmware[i % len(firmware)]
        bug = rng.choices([b for b, _ in fw.mix], weights=[w for _, w in fw.mix])[0]
        damage = CORRUPT_KINDS[i % len(CORRUPT_KINDS)] if rng.random() < corrupt else None
        if bug == CLEAN or damage:
            header, events = rng.choice(templates.clean)
        else:
            header, events = templates.faulty[bug]
        meta = {"host": f"host-{rng.randrange(hosts):03d}", "device_model": fw.device_model,
                "firmware": fw.version, "migration_id": f"mig-{seed}-{i:06d}"}
        start = int(START.timestamp()) * 10**9 + int(rng.random() * days * DAY_NS)
        profile = "acme-proprietary-2" if damage == "unknown-profile" else header.profile
        ext = ".pcapng" if rng.random() < pcapng and damage != "unknown-profile" else ".jsonl"
        name = f"captures/{fw.device_model}-{fw.version}-{i:06d}{ext}"
        new_header = dataclasses.replace(header, profile=profile, doc={"title": f"fleet capture {i}", "fleet": meta})
        path = out / name
        if damage == "unknown-profile":   # no codec for it: the header is all a reader gets to
            path.write_text(json.dumps(new_header.to_json()) + "\n")
        else:
            write_trace(path, new_header, _retimed(events, start))
        if damage in ("truncated", "garbage"):
            _corrupt(path, damage, rng)
        captures.append({"path": name, **meta, "bug": None if damage or bug == CLEAN else bug, "corrupt": damage,
                         "expected": "error" if damage else ("conforming" if bug == CLEAN else "divergent"),
                         "error_kind": CORRUPT_ERROR[damage] if damage else None})
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "host", "device_model", "firmware", "migration_id"])
        for c in captures:
            writer.writerow([c["path"], c["host"], c["device_model"], c["firmware"], c["migration_id"]])
    truth = {"schema": "mcheck-fleet-truth/1", "count": count, "seed": seed,
             "firmware": {fw.key: dict(fw.mix) for fw in firmware}, "expected": expected_counts(captures),
             "captures": captures}
    (out / "ground-truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def expected_counts(captures: list[dict[str, Any]]) -> dict[str, Any]:
    """Per firmware (MODEL@VERSION): the verdict tally, captures per injected bug, errors per kind."""
    verdicts: dict[str, dict[str, int]] = defaultdict(lambda: {"conforming": 0, "divergent": 0, "error": 0})
    bugs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in captures:
        key = f"{c['device_model']}@{c['firmware']}"
        verdicts[key][c["expected"]] += 1
        if c["bug"]:
            bugs[c["bug"]][key] += 1
        if c["error_kind"]:
            errors[c["error_kind"]][key] += 1
    return {"by_firmware": dict(verdicts), "by_bug": {b: dict(v) for b, v in bugs.items()},
            "errors": {k: dict(v) for k, v in errors.items()}}
