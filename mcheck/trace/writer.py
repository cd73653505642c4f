"""A trace written as it happens: every record is on disk (flushed) once `append` returns.

The emulator captures a session this way, so a crash or SIGKILL keeps everything up to the
last exchange, and a path that cannot be written is reported before the session starts
instead of at exit. `restart` truncates the file and begins again with a new header (the
emulator's capture holds the exchange since the last power-on).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import IO, Any

from mcheck.errors import InputError
from mcheck.trace.codec import Codec
from mcheck.trace.events import Event, TraceHeader
from mcheck.trace.io import trace_format
from mcheck.trace.jsonl import event_to_json
from mcheck.trace.pcapng import BYTE_ORDER_MAGIC, IDB, LINKTYPE_USER0, SHB, _block, _epb, _options
from mcheck.trace.record import PROFILE_CODES, pack_event, pack_header


class TraceWriter:
    """Open `path` now (errors name the path), write `header`, then one record per `append`."""

    def __init__(self, path: str | Path, header: TraceHeader, codec: Codec) -> None:
        self.path = Path(path)
        self.pcapng = trace_format(self.path) == ".pcapng"
        self.codec = codec
        self.count = 0
        self._file: IO[Any] | None = None
        self.restart(header)

    def restart(self, header: TraceHeader) -> None:
        """Truncate the file and write `header`: the trace starts again."""
        self.close()
        try:
            self._file = open(self.path, "wb" if self.pcapng else "w", encoding=None if self.pcapng else "utf-8")
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write the capture: {exc.strerror or exc}") from None
        self.code = PROFILE_CODES.get(header.profile, 0)
        if self.pcapng:
            self._write(_block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options([(4, b"mcheck")]))
                        + _block(IDB, struct.pack("<HHI", LINKTYPE_USER0, 0, 0) + _options([(2, b"mcheck"), (9, b"\x09")]))
                        + _epb(0, pack_header(header)))
        else:
            self._write(json.dumps(header.to_json()) + "\n")
        self.count = 0

    def append(self, event: Event) -> None:
        if self.pcapng:
            self._write(_epb(event.timestamp, pack_event(event, self.code)))
        else:
            self._write(json.dumps(event_to_json(event, self.codec), separators=(",", ":")) + "\n")
        self.count += 1

    def _write(self, data: Any) -> None:
        assert self._file is not None
        self._file.write(data)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
