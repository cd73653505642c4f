"""`mcheck emulate`: run the software device on a socket until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from mcheck.device import devices
from mcheck.errors import InputError

def make_device(profile: str, *, members: int, queues: int = 1, objects: int = 1, pages: int = 8,
                bugs: list[str] | None = None, compat: str = "none", variants: list[str] | None = None,
                options: dict[str, Any] | None = None) -> Any:
    """The software device of `profile` (mcheck.device.devices). `bugs`: catalogue bugs it
    shows; `variants`: spec-permitted readings it takes instead of its default answers
    (virtio-1.4: mcheck.device.virtio14.VARIANTS); `options`: the readings of a draft's open
    points (draft-v1: mcheck.device.draftv1.OPTIONS, `chunk`). Unknown names and options
    the device does not take are one-line input errors."""
    bugs = list(bugs or [])
    options = {k: v for k, v in (options or {}).items() if v is not None}
    module = devices.device_module(profile)
    unknown = [b for b in bugs if b not in module.BUGS]
    if unknown:
        other = next((p for p in devices.profiles() if p != profile and unknown[0] in devices.bugs_of(p)), None)
        hint = f"; it is a {other} bug: add --profile {other}" if other else ""
        raise InputError(f"unknown bug {unknown[0]!r} for profile {profile} (known: {', '.join(sorted(module.BUGS))}){hint}")
    return module.make(members=members, queues=queues, objects=objects, pages=pages, bugs=set(bugs), compat=compat,
                       variants=list(variants or []), options=options)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", required=True, metavar="ADDR",
                   help="unix:PATH (created 0600; a live socket or a non-socket there is refused) or "
                        "tcp:127.0.0.1:PORT (loopback only unless --allow-remote)")
    p.add_argument("--allow-remote", action="store_true",
                   help="let a tcp: listener bind a non-loopback address (the protocol has no authentication)")
    p.add_argument("--profile", default="virtio-1.4", choices=devices.profiles(), help="protocol the device speaks")
    p.add_argument("--members", type=int, default=2, metavar="N", help="member devices (VFs) of the owner")
    p.add_argument("--queues", type=int, default=1, metavar="Q", help="split virtqueues per member")
    p.add_argument("--objects", type=int, default=1, metavar="K", help="resource-object ids (virtio-1.4)")
    p.add_argument("--pages", type=int, default=8, metavar="P", help="guest memory pages per member")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="misbehave like this catalogue bug of the profile's model (repeatable)")
    p.add_argument("--compat", default="none", choices=("none", "linux"),
                   help="virtio-1.4: linux = also the Linux driver's needs beyond the spec (T1a: capability commands "
                        "on the SR-IOV group; T1b: Self capabilities without a Self LIST_USE); default: the spec only")
    p.add_argument("--variant", action="append", default=[], metavar="NAME",
                   help="virtio-1.4: take this spec-permitted reading instead of the default answer (repeatable; "
                        "the names and the clauses that permit them: mcheck.device.virtio14.VARIANTS)")
    p.add_argument("--flr-mode", choices=("keep", "active"), default=None,
                   help="draft-v1, P-FLR: a member FLR/reset keeps the mode (default) or returns it to ACTIVE")
    p.add_argument("--flr-tracking", choices=("keep-recording", "stop-and-clear"), default=None,
                   help="draft-v1, P-FLR: a member FLR/reset keeps write recording (default) or stops and clears it")
    p.add_argument("--event-idx", choices=("off", "on"), default=None,
                   help="draft-v1: with on, fetching an avail entry writes avail_event into the used ring")
    p.add_argument("--transitions", choices=("any", "via-stop"), default=None,
                   help="draft-v1, P-TRANS: every mode transition (default) or ACTIVE<->FREEZE only via STOP")
    p.add_argument("--ctx-chunk", type=int, default=None, metavar="BYTES",
                   help="draft-v1: bytes per DEV_CTX_READ chunk (default 64: a one-queue context takes two)")
    p.add_argument("--wire-profile", default=None, metavar="FILE",
                   help="draft-v1: speak this profile file (the draft's commands in another numbering, or the "
                        "address-list write-report form) instead of the built-in models/profiles/draft-v1.toml")
    p.add_argument("--capture", metavar="FILE", help="write every exchange as a trace (.jsonl or .pcapng)")
    p.add_argument("--autonomous", action="store_true",
                   help="act on its own like hardware: fetch buffers at the doorbell, write them back and notify "
                        "after random delays (HELLO says autonomous; docs/device-protocol.md)")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="--autonomous: seed of the random delays (default 0)")
    p.add_argument("--max-delay-ms", type=float, default=None, metavar="D",
                   help="--autonomous: longest delay before each step the device takes on its own (default 5)")


def autonomous_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Emulator keywords of --autonomous, --seed, --max-delay-ms (one-line errors, exit 2)."""
    from mcheck.device.server import DEFAULT_MAX_DELAY_MS
    autonomous = getattr(args, "autonomous", False)
    seed, delay = getattr(args, "seed", None), getattr(args, "max_delay_ms", None)
    if not autonomous:
        if seed is not None:
            raise InputError("--seed: only with --autonomous (a device driven step by step has no random delays)")
        if delay is not None:
            raise InputError("--max-delay-ms: only with --autonomous")
        return {}
    if not devices.device_module(args.profile).AUTONOMOUS:
        able = [p for p in devices.profiles() if devices.device_module(p).AUTONOMOUS]
        raise InputError(f"--autonomous: only the {', '.join(able)} device acts on its own, not {args.profile}")
    delay = DEFAULT_MAX_DELAY_MS if delay is None else delay
    if not 0 <= delay <= 10_000:
        raise InputError(f"--max-delay-ms {delay:g}: must be 0..10000")
    return {"autonomous": True, "seed": 0 if seed is None else seed, "max_delay_ms": delay}


def draft_options(args: argparse.Namespace) -> dict[str, Any]:
    """The draft-v1 readings given on the command line (None: the device's default)."""
    return {"flr_mode": getattr(args, "flr_mode", None), "flr_tracking": getattr(args, "flr_tracking", None),
            "event_idx": getattr(args, "event_idx", None), "transitions": getattr(args, "transitions", None),
            "chunk": getattr(args, "ctx_chunk", None), "wire_profile": getattr(args, "wire_profile", None)}


def run_emulate(args: argparse.Namespace) -> int:
    from mcheck.device.protocol import parse_address
    from mcheck.device.server import Emulator, serve
    from mcheck.trace.io import trace_format

    parse_address(args.listen)
    if args.capture:
        trace_format(args.capture)
    from mcheck.device.server import MAX_GUEST_PAGES, SIZE_LIMITS
    for key, (lo, hi) in SIZE_LIMITS.items():
        if not lo <= getattr(args, key) <= hi:
            raise InputError(f"--{key} {getattr(args, key)}: must be {lo}..{hi}")
    if args.members * args.pages > MAX_GUEST_PAGES:
        raise InputError(f"--members {args.members} x --pages {args.pages}: at most {MAX_GUEST_PAGES} guest pages")
    autonomy = autonomous_options(args)
    device = make_device(args.profile, members=args.members, queues=args.queues, objects=args.objects,
                         pages=args.pages, bugs=args.bug, compat=args.compat, variants=args.variant,
                         options=draft_options(args))
    emu = Emulator(device, args.capture, **autonomy)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)

    def ready(name: Any) -> None:
        bugs = f", bugs {', '.join(args.bug)}" if args.bug else ""
        bugs += f", compat {args.compat}" if args.compat != "none" else ""
        bugs += f", variants {', '.join(args.variant)}" if args.variant else ""
        if autonomy:
            bugs += f", autonomous (seed {autonomy['seed']}, delays up to {autonomy['max_delay_ms']:g} ms)"
        print(f"mcheck emulate: {args.profile} device, {args.members} member(s){bugs}, listening on {args.listen}", flush=True)

    try:
        serve(emu, args.listen, ready=ready, allow_remote=args.allow_remote)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise InputError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    finally:
        sys.stdout.flush()
    return 0
