"""The client side of a batch: a Dask cluster, the captures submitted to it, rows back.

With no scheduler address it starts a local cluster of worker *processes* (replay is pure
Python: threads would share one interpreter lock), one single-threaded worker per CPU.
Work is partitioned by file: replay cannot start in the middle of a capture (the set of
model states consistent with its first k events is only known by replaying them), so a
large capture is one task, and the per-task overhead is paid once per file.

At most `window` tasks are in flight, so the client's memory and the scheduler's task
table do not grow with the number of captures. Each result is journalled the moment it
arrives. A worker that dies takes its task with it; the scheduler gives the task to
another worker, and after `distributed.scheduler.allowed-failures` deaths the task fails
with KilledWorker, which becomes the capture's `worker-died` error row: every input ends
up as exactly one row.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from mcheck.errors import InputError
from mcheck.fleet.judge import JudgeOptions, capture_report, judge
from mcheck.fleet.sources import Capture
from mcheck.fleet.table import (
    KIND_INTERNAL, KIND_UNREADABLE, KIND_WORKER_DIED, Journal, content_hash, error_row, tally,
)
from mcheck.report.progress import Progress, _clock

NO_WORKERS_GRACE = 60.0     # seconds a cluster may have no worker before the rest is given up
POLL = 0.05


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Cluster:
    """A connected client, and the local cluster it owns (None for --scheduler)."""

    client: Any
    local: Any = None

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()


def connect(scheduler: str | None, workers: int | None = None, *, quiet_logs: bool = True) -> Cluster:
    """A client of the cluster at `scheduler`, or of a new local one with `workers` processes."""
    from distributed import Client, LocalCluster
    if quiet_logs:
        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if scheduler is not None:
        if "://" not in scheduler:
            raise InputError(f"--scheduler {scheduler}: expected an address like tcp://HOST:PORT")
        try:
            return Cluster(Client(scheduler, timeout=10))
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
    n = workers or cpu_count()
    with warnings.catch_warnings():   # "port 8787 in use": the scheduler's HTTP routes move to another port
        warnings.simplefilter("ignore", UserWarning)
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                             silence_logs=logging.ERROR if quiet_logs else logging.WARNING)
    return Cluster(Client(local), local)


class BatchProgress(Progress):
    """The batch's progress bar with the running tally (on a terminal only)."""

    def batch(self, done: int, total: int, counts: dict[str, int], seconds: float, *, force: bool = False) -> None:
        if not self.enabled or not (force or self._due(seconds)):
            return
        width = 24
        filled = int(width * done / total) if total else width
        rate = done / seconds if seconds > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        self._draw([("", f"[{'#' * filled}{'.' * (width - filled)}]"), ("captures", f"{done:,}/{total:,}"),
                    ("conforming", f"{counts['conforming']:,}"), ("divergent", f"{counts['divergent']:,}"),
                    ("error", f"{counts['error']:,}"), ("captures/s", f"{rate:,.1f}"), ("eta", _clock(eta))])


def _failure_row(capture: Capture, digest: str, exc: BaseException) -> dict[str, Any]:
    from distributed import KilledWorker
    if isinstance(exc, KilledWorker):
        return error_row(capture.path, digest, capture.meta, KIND_WORKER_DIED,
                         f"a worker process died replaying it, on every retry: {exc}")
    return error_row(capture.path, digest, capture.meta, KIND_INTERNAL, f"task failed: {type(exc).__name__}: {exc}")


def run_batch(cluster: Cluster, captures: list[Capture], options: JudgeOptions, journal: Journal, *,
              done_rows: dict[str, dict[str, Any]] | None = None, progress: BatchProgress | None = None,
              window: int | None = None, on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """One row per capture, in input order. `done_rows` (content hash -> row) are the
    captures --resume skips; their rows are reused with this run's path and metadata."""
    from distributed import as_completed
    client = cluster.client
    start = time.monotonic()
    rows: list[dict[str, Any] | None] = [None] * len(captures)
    counts = tally([])
    done = 0

    def finish(i: int, row: dict[str, Any], *, fresh: bool = True) -> None:
        nonlocal done
        rows[i] = row
        counts[row["verdict"]] += 1
        done += 1
        if fresh:
            journal.write(row)
        if on_row is not None:
            on_row(row)
        if progress is not None:
            progress.batch(done, len(captures), counts, time.monotonic() - start)

    todo: list[tuple[int, str]] = []
    for i, capture in enumerate(captures):
        try:
            digest = content_hash(capture.path)
        except OSError as exc:
            finish(i, error_row(capture.path, "", capture.meta, KIND_UNREADABLE,
                                f"{capture.path}: {exc.strerror or exc}"))
            continue
        old = (done_rows or {}).get(digest)
        if old is not None:
            finish(i, {**old, "path": capture.path, **{k: v for k, v in capture.meta.items()}}, fresh=False)
        else:
            todo.append((i, digest))

    threads = sum(client.nthreads().values()) or cpu_count()
    window = window or max(64, 8 * threads)
    pending = iter(todo)
    ac = as_completed()
    meta_of: dict[str, tuple[int, str]] = {}

    def submit_more() -> None:
        while ac.count() < window:
            item = next(pending, None)
            if item is None:
                return
            i, digest = item
            capture = captures[i]
            fut = client.submit(judge, capture.path, capture.meta, digest, options, pure=False,
                                key=f"judge-{i}-{digest[:16]}")
            meta_of[fut.key] = item
            ac.add(fut)

    submit_more()
    idle_since: float | None = None
    while not ac.is_empty():
        batch = ac.next_batch(block=False)
        if not batch:
            time.sleep(POLL)
            idle_since = _check_workers(client, idle_since)
            if progress is not None:
                progress.batch(done, len(captures), counts, time.monotonic() - start)
            continue
        idle_since = None
        for fut in batch:
            i, digest = meta_of.pop(fut.key)
            try:
                row = fut.result()
            except Exception as exc:  # the task, not the capture, failed: KilledWorker and the like
                row = _failure_row(captures[i], digest, exc)
            fut.release()
            finish(i, row)
        submit_more()
    if progress is not None:
        progress.batch(done, len(captures), counts, time.monotonic() - start, force=True)
        progress.close()
    return [r for r in rows if r is not None]


def _check_workers(client: Any, idle_since: float | None) -> float | None:
    """Give up when the cluster has had no worker for NO_WORKERS_GRACE seconds."""
    if client.nthreads():
        return None
    now = time.monotonic()
    if idle_since is None:
        return now
    if now - idle_since > NO_WORKERS_GRACE:
        raise InputError(f"the cluster has had no worker for {NO_WORKERS_GRACE:.0f} s; the rows so far are in the "
                         f"journal: start workers and re-run with --resume")
    return idle_since


def representative_reports(cluster: Cluster, paths: list[str], options: JudgeOptions) -> Iterator[tuple[str, str | None]]:
    """(path, HTML text or None when it cannot be rendered) for each path, rendered on the cluster."""
    client = cluster.client
    futures = {client.submit(capture_report, p, options, pure=False, key=f"report-{k}"): p for k, p in enumerate(paths)}
    for fut, path in futures.items():
        try:
            yield path, fut.result()
        except Exception:
            yield path, None
        fut.release()

