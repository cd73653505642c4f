"""Read an mcheck pcapng through tshark and the Lua dissector (pyshark).

This path exists to prove the dissector right: it rebuilds every event from the fields
the dissector shows, never from the raw packet bytes, and must yield exactly what the
fast reader (`mcheck.trace.pcapng`) yields. It is about 100x slower; use it for checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Iterator

from mcheck.errors import InputError
from mcheck.trace.codec import Codec
from mcheck.trace.events import Event, Trace, TraceHeader
from mcheck.trace.safejson import loads
from mcheck.trace.io import trace_from_reader
from mcheck.trace.record import KIND_CODES, KIND_HEADER, RecordError, build_event

#: Kinds whose part A is UTF-8 text (shown as mcheck.text) or a PCI read's data (mcheck.pci.value).
_TEXT_KINDS = (KIND_HEADER, KIND_CODES["annotation"])
_PCI_READ = KIND_CODES["pci_read"]

DISSECTOR_PATH = Path(__file__).with_name("dissector.lua")


class PysharkReader:
    """Starts tshark once; the header is the first packet, `items` continues the stream."""

    unit = "frame"

    def __init__(self, path: str | Path) -> None:
        import pyshark  # imported here: tshark is optional for everything else

        self.path = str(path)
        self._capture = pyshark.FileCapture(
            self.path,
            custom_parameters=["-X", f"lua_script:{DISSECTOR_PATH}"],
            use_json=True,
            keep_packets=False,
        )
        self._packets = iter(self._capture)
        first = self._next("frame 1")
        fields = None if first is None else _record_fields(first)
        try:
            if fields is None or fields["kind"] != KIND_HEADER:
                raise ValueError("an mcheck capture starts with a trace-header record")
            self.header = TraceHeader.from_json(loads(fields["a"]))
        except ValueError as exc:
            self._close(None)
            raise InputError(f"{self.path}: frame 1: bad trace header record: {exc}") from None

    def items(self, codec: Codec) -> Iterator[tuple[Event, int]]:
        frame = 1
        next_index = 0
        finished = False
        try:
            while True:
                frame += 1
                packet = self._next(f"event {next_index} (frame {frame})")
                if packet is None:
                    finished = True
                    self._close(f"event {next_index} (frame {frame})")
                    return
                fields = _record_fields(packet)
                if fields is None:
                    raise InputError(f"{self.path}: event {next_index} (frame {frame}): not an mcheck record")
                try:
                    event = build_event(codec=codec, **fields)
                except RecordError as exc:
                    raise InputError(f"{self.path}: event {next_index} (frame {frame}): {exc}") from None
                next_index = event.index + 1
                yield event, frame
        finally:
            if not finished:
                self._close(None)

    def _next(self, where: str) -> Any:
        try:
            return next(self._packets, None)
        except Exception as exc:  # pyshark reports tshark failures with its own exception types
            self._close(None)
            raise InputError(f"{self.path}: {where}: tshark could not read the capture: {_tshark_error(exc)}") from None

    def _close(self, where: str | None) -> None:
        """Stop tshark; its exit status tells whether the file was damaged at the end.

        With `where`, a tshark failure becomes an InputError naming that place; without,
        it is dropped (we are already failing or the caller stopped early).
        """
        try:
            self._capture.close()
        except Exception as exc:  # TSharkCrashException: tshark exited non-zero
            # pyshark keeps the dead process and would retry (and raise) in __del__.
            self._capture._running_processes.clear()
            if where is not None:
                raise InputError(f"{self.path}: {where}: tshark could not read the capture: {_tshark_error(exc)}") from None


def read_trace_pyshark(path: str | Path, *, profile: str | Path | None = None, join: bool = False) -> Trace:
    """Like `mcheck.trace.io.read_trace` for pcapng, but decoded by tshark + dissector.lua."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such trace file")
    return trace_from_reader(PysharkReader(path), profile, join)


def _tshark_error(exc: Exception) -> str:
    """tshark's own complaint from a pyshark exception (its 'Last error line'), else the text."""
    for line in str(exc).splitlines():
        if line.startswith("Last error line: "):
            return line[len("Last error line: ") :]
    return str(exc)


def _record_fields(packet: Any) -> dict[str, Any] | None:
    """The record fields shown by the dissector, as build_event arguments (kind included)."""
    if "mcheck" not in packet:
        return None
    layer = packet.mcheck
    names = set(layer.field_names)

    def num(name: str) -> int:
        return int(str(layer.get_field(name)), 0)

    def raw(name: str, tree: str | None = None) -> bytes:
        holder = layer
        if tree is not None:
            if tree not in names:
                return b""
            holder = layer.get_field(tree)
        elif name not in names:
            return b""
        return bytes.fromhex(str(holder.get_field(name)).replace(":", ""))

    kind = num("kind")
    if kind in _TEXT_KINDS:
        a = raw("text_bytes", "text_tree")
    else:
        a = raw("pci.value" if kind == _PCI_READ else "readable")
    return {
        "kind": kind,
        "flags": num("flags"),
        "index": num("index"),
        "ts": num("timestamp"),
        "tag": num("tag"),
        "member": num("member"),
        "arg0": num("arg0"),
        "arg1": num("arg1"),
        "aq": num("aq"),
        "a": a,
        "b": raw("writable"),
    }
