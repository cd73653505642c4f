"""The device half of the fuzz (issue 15, "Done when"): emulator frames and conformance suites.

Emulator frames: the frames a real conformance run sends (recorded from `mcheck conform`
against an emulator process) are replayed to a fresh emulator process with one frame
damaged (body bytes, the type byte, a JSON field set to a hostile value, the length
prefix). Every request must get its answer frame within a deadline, or (only after a
damaged length prefix) one X frame and a closed connection; the emulator must outlive the
whole run, keep serving new clients, and never print a traceback or "request not handled"
(its catch-all for requests the device code did not expect, the emulator's "internal
error").

Suites: a generated suite, cut to a few tests, with suite.json or a test file damaged, run
by `mcheck conform DIR --backend model` in this process and judged like every other fuzz
case (tests/fuzz/corpus.py).
"""

from __future__ import annotations

import json
import random
import socket
import struct
import time
from pathlib import Path
from unittest import mock

from mcheck.device.backend import EmulatorBackend
from mcheck.device.spawn import start_emulator, stop_emulator
from mcheck.device.protocol import HELLO, TERMINAL, FrameReader, ProtocolError, frame

from .corpus import HOSTILE_VALUES, Case, Outcome, _mutate_value, mutate_bytes, mutate_jsonl

_LEN = struct.Struct("<I")
#: frame types whose body is JSON (the rest carry 68-byte trace records)
JSON_TYPES = {b"H", b"W", b"P"}
#: every frame type a client may send, and a few it may not
TYPE_BYTES = [b"H", b"S", b"I", b"W", b"P", b"E", b"C", b"A", b"X", b"\x00", b"\xff"]


def split_frames(data: bytes) -> list[tuple[bytes, bytes]]:
    """A client's byte stream -> its frames (type, body)."""
    out, pos = [], 0
    while pos < len(data):
        (length,) = _LEN.unpack_from(data, pos)
        out.append((data[pos + 4:pos + 5], data[pos + 5:pos + 4 + length]))
        pos += 4 + length
    return out


def record_session(sock: Path, suite: Path, names: list[str]) -> list[list[tuple[bytes, bytes]]]:
    """The frames `mcheck conform SUITE --only NAME...` sends to the emulator at `sock`,
    one list of frames per connection the run opens."""
    from mcheck.cli import main

    sessions: list[list[tuple[bytes, bytes]]] = []
    real_init, real_send = EmulatorBackend.__init__, EmulatorBackend._send

    def init(self, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        self._fuzz_frames = []      # before __init__, which sends HELLO
        sessions.append(self._fuzz_frames)
        real_init(self, *a, **kw)

    def send(self, data, what):  # noqa: ANN001, ANN202
        self._fuzz_frames.extend(split_frames(data))
        return real_send(self, data, what)

    only = [a for n in names for a in ("--only", n)]
    with mock.patch.object(EmulatorBackend, "__init__", init), mock.patch.object(EmulatorBackend, "_send", send):
        code = main(["conform", str(suite), "--backend", f"emulator:unix:{sock}", "-q", *only])
    assert code == 0, f"the recorded conformance run failed (exit {code})"
    return [s for s in sessions if s]


def damage(rng: random.Random, ftype: bytes, body: bytes) -> bytes:
    """One frame, damaged; returned as wire bytes."""
    what = rng.randrange(10)
    if what == 0:                                            # another type byte, same body
        return frame(rng.choice(TYPE_BYTES), body)
    if what == 1:                                            # a length prefix that lies
        wire = bytearray(frame(ftype, body))
        wire[:4] = _LEN.pack(rng.choice((0, 1, len(body), len(body) + 2, 0x7FFFFFFF, 0xFFFFFFFF, 17 << 20)))
        return bytes(wire)
    if ftype in JSON_TYPES and what < 7:                     # a hostile value in the JSON body
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            if rng.random() < 0.3:
                obj[rng.choice(("op", "member", "queue", "config", "version", "page", "data", "idle_ms"))] = \
                    rng.choice(HOSTILE_VALUES)
            else:
                _mutate_value(rng, obj)
            text = json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass")
            return frame(ftype, text.replace(b'"__DEEP__"', b"[" * 5000 + b"]" * 5000))
    return frame(ftype, mutate_bytes(rng, body))             # damaged body bytes (records too)


def answer(reader: FrameReader, deadline: float) -> tuple[bytes, bytes] | None:
    """The terminal frame of one request (device events skipped), None if the device closed."""
    while True:
        got = reader.read(time.monotonic() + deadline)
        if got is None or got[0] in TERMINAL or got[0] == HELLO:
            return got


def frame_session(sock: Path, frames: list[bytes], bad: int, deadline: float) -> list[str]:
    """Send `frames` one request at a time; what went wrong (frame `bad` is the damaged one)."""
    problems = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(sock))
        reader = FrameReader(conn)
        for i, data in enumerate(frames):
            (length,) = _LEN.unpack_from(data, 0)
            lying = length != len(data) - 4
            try:
                conn.sendall(data)
                if lying and length > len(data) - 4:
                    conn.shutdown(socket.SHUT_WR)     # the frame can never complete: the device sees the end
                got = answer(reader, deadline)
            except TimeoutError:
                problems.append(f"frame {i}{' (damaged)' if i == bad else ''}: no answer within {deadline:g} s")
                break
            except (ProtocolError, OSError) as exc:
                if not lying:
                    problems.append(f"frame {i}: connection broke: {exc}")
                break
            if got is None:
                if not lying:
                    problems.append(f"frame {i}{' (damaged)' if i == bad else ''}: the device closed the connection")
                break
            if lying:
                break    # the stream lost its framing: whatever came back, the connection is done
    return problems


def emulator_frame_outcomes(rng: random.Random, n: int, work: Path, suites: dict[str, tuple[Path, list[str]]],
                            deadline: float) -> list[Outcome]:
    """`n` damaged sessions per profile against one emulator process per profile."""
    out: list[Outcome] = []
    for profile, (suite, names) in suites.items():
        sock = work / f"fuzz-{profile}.sock"
        proc = start_emulator(sock, profile=profile)
        try:
            sessions = record_session(sock, suite, names)
            for k in range(n):
                session = rng.choice(sessions)
                start = rng.randrange(len(session))
                window = session[start:start + rng.randrange(2, 12)]
                bad = rng.randrange(len(window))
                frames = [damage(rng, *f) if i == bad else frame(*f) for i, f in enumerate(window)]
                if start > 0:     # every session opens with HELLO, as a client must
                    frames.insert(0, frame(*session[0]))
                    bad += 1
                o = Outcome(f"emulator {profile} frames #{k}", 0, "", "", 0.0)
                o.problems = frame_session(sock, frames, bad, deadline)
                if proc.poll() is not None:
                    o.problems.append(f"the emulator exited with {proc.returncode}")
                if o.problems:
                    o.err = repr([f.hex()[:120] for f in frames])
                    out.append(o)
                if proc.poll() is not None:
                    break
            alive = Outcome(f"emulator {profile} after the run", 0, "", "", 0.0)
            try:
                ping = frame_session(sock, [frame(*sessions[0][0]), frame(b"P", b'{"op":"ping"}')], -1, deadline)
                alive.problems += ping
            except OSError as exc:
                alive.problems.append(f"a new client is not served: {exc}")
        finally:
            proc.terminate()
            try:
                err = proc.communicate(timeout=10)[1] or ""
            finally:
                stop_emulator(proc)
        for phrase in ("Traceback", "request not handled"):
            if phrase in err:
                line = next(x for x in err.splitlines() if phrase in x or x.startswith("  File"))
                alive.problems.append(f"emulator stderr has {phrase!r}: {line.strip()[:300]}")
        alive.err = err[-2000:]
        if alive.problems:
            out.append(alive)
    return out


def small_suite(src: Path, dst: Path, names: list[str]) -> bytes:
    """suite.json of `src` cut to the tests `names` (their files copied to `dst`)."""
    data = json.loads((src / "suite.json").read_text())
    data["tests"] = [t for t in data["tests"] if t["name"] in names]
    for t in data["tests"]:
        target = dst / t["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((src / t["file"]).read_bytes())
    return json.dumps(data, indent=1).encode()


def suite_cases(rng: random.Random, n: int, work: Path, suites: dict[str, tuple[Path, list[str]]]) -> list[Case]:
    """Damaged suites (suite.json or one test file), run with the model as the device."""
    out = []
    for profile, (src, names) in suites.items():
        base = work / f"suite-{profile}"
        index = small_suite(src, base, names)
        files = {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}
        for k in range(n):
            case_files = {f"s/{name}": data for name, data in files.items()}
            if rng.random() < 0.5:
                case_files["s/suite.json"] = mutate_jsonl(rng, index.replace(b"\n", b" "))
            else:
                case_files["s/suite.json"] = index
                victim = rng.choice(sorted(files))
                data = files[victim]
                case_files[f"s/{victim}"] = mutate_jsonl(rng, data) if victim.endswith(".jsonl") else mutate_bytes(rng, data)
            out.append(Case(f"suite {profile} #{k}", case_files,
                            lambda d: ["conform", str(d / "s"), "--backend", "model", "-q", "--json", str(d / "r.json")]))
    return out

