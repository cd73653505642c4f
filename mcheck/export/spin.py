"""Run SPIN on a Promela export and read its answer.

`spin -a` generates pan.c, gcc compiles it with breadth-first search and no partial-order
reduction (`-DBFS -DNOREDUCE -DSAFETY`, exact state storage: no bit-state, no hash
compaction), and `pan -c0` explores every reachable state without stopping at the first
error. The answer read back is the "states, stored" figure, the error count, and the
set of properties whose marker appears in an "assertion violated" message.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from mcheck.errors import InputError
from mcheck.export.promela import PromelaExport

# pan is started through this probe so that its peak RSS is its own: a process forked from
# Python inherits Python's resident size as the floor of its ru_maxrss, even across exec.
_MEMRUN_C = r"""
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    pid_t pid = fork();
    if (pid == 0) { execv(argv[2], argv + 2); _exit(127); }
    int status; struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return 2;
    FILE *f = fopen(argv[1], "w");
    if (f) { fprintf(f, "%ld\n", ru.ru_maxrss); fclose(f); }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
"""

GCC_FLAGS = ("-O2", "-DBFS", "-DNOREDUCE", "-DSAFETY")

_STORED = re.compile(r"^\s*(\d+) states, stored", re.M)
_TRANS = re.compile(r"^\s*(\d+) transitions \(= stored\+matched\)", re.M)
_ERRORS = re.compile(r"errors: (\d+)")
_DEPTH = re.compile(r"depth reached (\d+)")
_ASSERT = re.compile(r"assertion violated \(*(P_[A-Za-z0-9_]+)")
_OTHER = re.compile(r"^pan:\d+: (.*?)(?: \(at depth \d+\))?$")


@dataclass
class SpinResult:
    states: int
    transitions: int
    errors: int
    depth: int
    violated: set[str]                 # property names (markers found in SPIN's messages)
    other_errors: list[str]            # errors that name no property (for example a range check)
    complete: bool                     # SPIN finished the full state space
    compile_seconds: float
    run_seconds: float
    peak_rss_kb: int                   # pan's own peak resident memory
    output: str = field(repr=False, default="")


def spin_missing() -> str | None:
    """Why SPIN cannot run here, or None when `spin` and `gcc` are both on PATH."""
    missing = [tool for tool in ("spin", "gcc") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian: apt-get install -y spin gcc)"
    return None


def build_memrun(workdir: str) -> str:
    """Compile the peak-memory probe into `workdir` (once) and return its path."""
    path = os.path.join(workdir, "memrun")
    if os.path.exists(path):
        return path
    with open(os.path.join(workdir, "memrun.c"), "w", encoding="utf-8") as f:
        f.write(_MEMRUN_C)
    done = subprocess.run(["gcc", "-O2", "-o", "memrun", "memrun.c"], cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0:
        raise InputError(f"gcc failed on the memory probe: {(done.stderr.strip().splitlines() or ['?'])[0]}")
    return path


def measured_run(argv: list[str], workdir: str, stdout, *, timeout: float | None = None) -> tuple[int, float, int, bool]:
    """Run `argv` through the memory probe: (exit code, wall seconds, peak RSS in KiB, timed out)."""
    memrun = build_memrun(workdir)
    rss_path = os.path.join(workdir, f"maxrss.{os.getpid()}.{time.monotonic_ns()}")
    start = time.monotonic()
    proc = subprocess.Popen([memrun, rss_path, *argv], cwd=workdir, stdout=stdout, stderr=subprocess.STDOUT,
                            start_new_session=True)
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, 9)  # the probe and the process it started, nothing else
        proc.wait()
    seconds = time.monotonic() - start
    try:
        with open(rss_path, encoding="ascii") as f:
            peak = int(f.read().strip() or 0)
        os.unlink(rss_path)
    except (OSError, ValueError):
        peak = 0
    return proc.returncode, seconds, peak, timed_out


def compile_pan(export: PromelaExport, workdir: str, *, opt: str = "-O2",
                extra_flags: tuple[str, ...] = ()) -> tuple[str, float]:
    """Write model.pml into `workdir`, build ./pan; return (pan path, seconds spent).

    `opt` is gcc's optimisation flag: -O2 for speed; tests use -O0, which compiles about
    five times faster and changes nothing but pan's speed.
    """
    reason = spin_missing()
    if reason:
        raise InputError(f"cannot run SPIN: {reason}")
    pml = os.path.join(workdir, "model.pml")
    with open(pml, "w", encoding="utf-8") as f:
        f.write(export.text)
    flags = [opt, *GCC_FLAGS[1:]]
    vector = export.vector_bytes + 64
    if vector > 1024:
        flags.append(f"-DVECTORSZ={1 << math.ceil(math.log2(vector))}")
    flags.extend(extra_flags)
    build_memrun(workdir)
    start = time.monotonic()
    for cmd in (["spin", "-a", "model.pml"], ["gcc", *flags, "-o", "pan", "pan.c"]):
        done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        if done.returncode != 0:
            text = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise InputError(f"{cmd[0]} failed on the Promela export: {text[0] if text else 'exit ' + str(done.returncode)}")
    return os.path.join(workdir, "pan"), time.monotonic() - start


def run_pan(pan: str, export: PromelaExport, *, hash_bits: int = 22, timeout: float | None = None,
            compile_seconds: float = 0.0) -> SpinResult:
    """Run a compiled pan exhaustively (`-c0`: go on after errors) and parse what it prints."""
    workdir = os.path.dirname(pan) or "."
    out_path = os.path.join(workdir, "pan.out")
    with open(out_path, "w+", encoding="utf-8") as out:
        rc, seconds, peak, timed_out = measured_run([os.path.abspath(pan), "-c0", "-n", f"-w{hash_bits}"],
                                                    workdir, out, timeout=timeout)
        out.seek(0)
        violated: set[str] = set()
        other: list[str] = []
        tail: list[str] = []
        for line in out:
            if line.startswith("pan:") and "violated" in line:
                m = _ASSERT.search(line)
                if m and m.group(1) in export.prop_markers:
                    violated.add(export.prop_markers[m.group(1)])
                    continue
                o = _OTHER.match(line.rstrip("\n"))
                if o and len(other) < 20 and o.group(1) not in other:
                    other.append(o.group(1))
                continue
            tail.append(line)
    text = "".join(tail)
    stored = _STORED.search(text)
    complete = bool(stored) and "out of memory" not in text and "max search depth too small" not in text
    if stored is None:
        first = next((l.strip() for l in tail if l.strip()), f"exit {rc}")
        progress = re.findall(r"States=\s*([0-9.e+]+)", text)
        so_far = f" ({float(progress[-1]):,.0f} states stored so far)" if progress else ""
        why = f"timed out after {timeout:g} s{so_far}" if timed_out else first
        raise InputError(f"SPIN did not finish: {why}")
    trans = _TRANS.search(text)
    errors = _ERRORS.search(text)
    depth = _DEPTH.search(text)
    return SpinResult(states=int(stored.group(1)), transitions=int(trans.group(1)) if trans else 0,
                      errors=int(errors.group(1)) if errors else 0, depth=int(depth.group(1)) if depth else 0,
                      violated=violated, other_errors=other, complete=complete,
                      compile_seconds=compile_seconds, run_seconds=seconds, peak_rss_kb=peak,
                      output=text)


def hash_bits_for(states_hint: int | None) -> int:
    """A hash-table size (-wN) for about `states_hint` states: SPIN's default is 2**24 slots."""
    if not states_hint:
        return 22
    return max(16, min(30, math.ceil(math.log2(states_hint)) + 1))


def run_spin(export: PromelaExport, *, workdir: str | None = None, states_hint: int | None = None,
             timeout: float | None = None, opt: str = "-O2") -> SpinResult:
    """Compile and run SPIN on `export` in `workdir` (a fresh temporary directory if None)."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="mcheck-spin-") as tmp:
            return run_spin(export, workdir=tmp, states_hint=states_hint, timeout=timeout, opt=opt)
    pan, compile_seconds = compile_pan(export, workdir, opt=opt)
    return run_pan(pan, export, hash_bits=hash_bits_for(states_hint), timeout=timeout,
                   compile_seconds=compile_seconds)
