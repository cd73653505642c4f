"""Live progress on stderr for long runs: on a terminal only, never in CI logs.

A `Progress` is the callback the explorer takes (`progress(states, frontier, depth,
seconds)`); replays call `events(done, seconds)`. It redraws one line in place, at most
every `interval` seconds, and is silent when the stream is not a terminal or `--quiet`
is given, so piped and CI output stays clean. Colour is used only on a terminal, and
not when NO_COLOR is set (https://no-color.org) or TERM is "dumb".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Self, TextIO

BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, interval: float = 0.25,
                 env: Mapping[str, str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        env = os.environ if env is None else env
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = tty and not quiet
        self.colour = self.enabled and not env.get("NO_COLOR") and env.get("TERM") != "dumb"
        self.interval = interval
        self._last: float | None = None
        self._width = 0

    def __call__(self, states: int, frontier: int, depth: int, seconds: float) -> None:
        """The explorer's callback."""
        if self._due(seconds):
            rate = states / seconds if seconds > 0 else 0.0
            self._draw([("states", f"{states:,}"), ("states/s", f"{rate:,.0f}"), ("frontier", f"{frontier:,}"),
                        ("depth", str(depth)), ("time", _clock(seconds))])

    def events(self, done: int, seconds: float, total: int | None = None) -> None:
        """The replayer's callback: events replayed so far (of `total` when known)."""
        if self._due(seconds):
            count = f"{done:,}" + (f"/{total:,}" if total else "")
            rate = done / seconds if seconds > 0 else 0.0
            self._draw([("events", count), ("events/s", f"{rate:,.0f}"), ("time", _clock(seconds))])

    def close(self) -> None:
        """Erase the progress line so the report that follows starts on a clean line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _due(self, seconds: float) -> bool:
        if not self.enabled or (self._last is not None and seconds - self._last < self.interval):
            return False
        self._last = seconds
        return True

    def _draw(self, fields: list[tuple[str, str]]) -> None:
        plain = "  ".join(f"{name} {value}" for name, value in fields)
        text = ("  ".join(f"{DIM}{name}{RESET} {BOLD}{value}{RESET}" for name, value in fields)
                if self.colour else plain)
        pad = " " * max(0, self._width - len(plain))
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self._width = len(plain)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"


def progress_for(args: argparse.Namespace, stream: TextIO | None = None) -> Progress:
    """The progress display a command's options ask for (`--quiet` turns it off)."""
    return Progress(stream, quiet=bool(getattr(args, "quiet", False)))
