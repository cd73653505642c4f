"""Trace sub-commands: `mcheck convert`, `mcheck show`, `mcheck dissector`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from mcheck.errors import InputError
from mcheck.paths import check_output
from mcheck.trace.codec import CodecError
from mcheck.trace.describe import describe_event
from mcheck.trace.io import read_trace, trace_format, write_trace
from mcheck.trace.pyshark_reader import DISSECTOR_PATH


def register(subparsers: argparse._SubParsersAction) -> None:
    convert = subparsers.add_parser("convert", help="convert a trace between .jsonl and .pcapng (lossless)")
    convert.add_argument("input", metavar="IN", help="trace to read (.jsonl or .pcapng)")
    convert.add_argument("output", metavar="OUT", help="trace to write (.jsonl or .pcapng)")
    convert.add_argument("--profile", help="profile name or TOML file (default: the one the trace names)")
    convert.set_defaults(run=run_convert)

    show = subparsers.add_parser("show", help="print a trace, one decoded event per line")
    show.add_argument("trace", metavar="TRACE")
    show.add_argument("--profile", help="profile name or TOML file (default: the one the trace names)")
    show.add_argument("--join", action="store_true", help="pair submit/complete records into admin commands")
    show.set_defaults(run=run_show)

    dissector = subparsers.add_parser("dissector", help="where the Wireshark Lua dissector is, and how to use it")
    dissector.add_argument("--path", action="store_true", help="print only the path of dissector.lua")
    dissector.set_defaults(run=run_dissector)


def run_convert(args: argparse.Namespace) -> int:
    trace_format(args.output)
    check_output(args.output, "output")
    trace = read_trace(args.input, profile=args.profile)
    out = Path(args.output)
    # Write next to the target and rename, so a bad input never leaves half a file behind.
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".", suffix=out.suffix)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        count = write_trace(tmp, trace.header, trace.events, codec=trace.codec)
        os.replace(tmp, out)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"{args.input} -> {args.output}: {count} events")
    return 0


def run_show(args: argparse.Namespace) -> int:
    trace = read_trace(args.trace, profile=args.profile, join=args.join)
    header = trace.header
    params = "".join(f" {k}={v}" for k, v in header.params.items())
    print(f"# profile {header.profile}, members {list(header.members)}, queues {header.queues}" + (f", params{params}" if params else ""))
    if "title" in header.doc:
        print(f"# {header.doc['title']}")
    for event in trace.events:
        try:
            line = describe_event(event)
        except CodecError as exc:
            raise InputError(f"{args.trace}: event {event.index}: cannot decode: {exc}") from None
        print(line)
    sys.stdout.flush()
    return 0


def run_dissector(args: argparse.Namespace) -> int:
    if args.path:
        print(DISSECTOR_PATH)
    else:
        print(f"tshark -X lua_script:{DISSECTOR_PATH} -r TRACE.pcapng -V")
        print(f"wireshark -X lua_script:{DISSECTOR_PATH} TRACE.pcapng")
    return 0
