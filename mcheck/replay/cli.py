"""`mcheck replay TRACE`: replay a capture against the model, report divergences.

Replaying a trace *to a device* (`--backend`) is not this package's job: the command layer
above it (mcheck.conformance.replay_command) passes a `DeviceReplay` to `register`, which
adds the backend options and is called when --backend is given. Without one, `replay`
has no --backend option.
"""

from __future__ import annotations

import argparse
import sys
from typing import Protocol

from mcheck.errors import InputError
from mcheck.explore import gensource
from mcheck.model.params import parse_assignments
from mcheck.replay import model_for_trace, open_trace
from mcheck.replay.engine import DEFAULT_MAX_CANDIDATES, replay_events
from mcheck.options import declare, refuse_inapplicable
from mcheck.report.outputs import Outputs, add_output_arguments, emit
from mcheck.paths import check_output_dir
from mcheck.report.progress import progress_for
from mcheck.trace.events import EVENT_TYPES


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def hidden_kinds(given: list[str] | None) -> list[str] | None:
    """--hidden: event kinds of the trace format, 'none' alone, or None (the model's list)."""
    if given is None:
        return None
    if "none" in given:
        if given != ["none"]:
            raise InputError("--hidden none means no hidden kinds; it cannot be combined with kinds")
        return []
    unknown = [k for k in given if k not in EVENT_TYPES]
    if unknown:
        raise InputError(f"--hidden {unknown[0]}: not an event kind (known: {', '.join(EVENT_TYPES)}, or none)")
    return list(given)


class DeviceReplay(Protocol):
    """Replaying a trace to a device: adds its options to the parser, runs with them."""

    def add_arguments(self, p: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace, outputs: Outputs) -> int: ...


def register(sub: argparse._SubParsersAction, device: DeviceReplay | None = None) -> None:
    p = sub.add_parser("replay", help="replay a JSONL or pcapng trace against the model")
    p.add_argument("trace", metavar="TRACE", help="a .jsonl or .pcapng trace")
    p.add_argument("--model", metavar="M", help="model name or file (default: the one of the trace's profile)")
    p.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="model parameter (default members and queues come from the trace header)")
    p.add_argument("--profile", metavar="P", help="wire profile name or TOML file (default: the trace header's)")
    p.add_argument("--reader", choices=("fast", "pyshark"), default="fast",
                   help="how to read a pcapng: the built-in reader (default) or tshark + the Lua dissector")
    p.add_argument("--keep-going", action="store_true", help="resynchronise after a divergence and report every one")
    p.add_argument("--hidden", action="append", metavar="KIND",
                   help="an event kind the capture does not record, so the model may do it unseen "
                        "(repeatable; default: the model's list, e.g. doorbell; 'none': every emitting action must be seen)")
    p.add_argument("--max-candidates", type=_positive_int, default=DEFAULT_MAX_CANDIDATES, metavar="N",
                   help=f"bound on the set of model states consistent with the trace (default {DEFAULT_MAX_CANDIDATES:,})")
    p.add_argument("--dump-code", metavar="DIR", help="write the generated Python the replay runs into DIR")
    add_output_arguments(p)
    if device is not None:
        device.add_arguments(p)
    p.set_defaults(run=run_replay, device_replay=device)
    declare("replay", p)


def run_replay(args: argparse.Namespace) -> int:
    # before any work: every option given takes effect, every output can be written
    mode = refuse_inapplicable("replay", args)
    outputs = Outputs.from_args(args)
    hidden = hidden_kinds(args.hidden)  # None: the model's own list of unrecorded event kinds
    check_output_dir(args.dump_code, "--dump-code")
    gensource.dump_to(args.dump_code)
    if mode != "model":
        return int(args.device_replay.run(args, outputs))  # drive a device with the trace
    trace = open_trace(args.trace, profile=args.profile, reader=args.reader)
    model = model_for_trace(trace.header, args.model, parse_assignments(args.params))
    with progress_for(args) as progress:
        outcome = replay_events(model, trace.events, keep_going=args.keep_going, hidden_kinds=hidden,
                                max_candidates=args.max_candidates, source=args.trace,
                                progress=lambda n, s: progress.events(n, s))
    result = outcome.result
    if args.reader != "fast":
        result.notes.append(f"read with the {args.reader} reader")
    code = emit(result, outputs, args.trace)
    if outcome.error is not None:
        print(f"mcheck: error: {outcome.error}", file=sys.stderr)
    return code
