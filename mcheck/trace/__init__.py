"""Traces: profiles, the admin-command codec, events, and the JSONL / pcapng formats.

The flat public surface; see docs/trace-format.md for the formats.
"""

from mcheck.trace.codec import Codec, CodecError, DecodedCommand, DecodedResult
from mcheck.trace.events import (
    AdminCommand, AdminComplete, AdminSubmit, Annotation, ConfigNotify, Doorbell, DmaWrite, Event,
    FlrBegin, FlrEnd, MemberReset, OwnerReset, PciRead, PmBegin, PmEnd, Pme, Trace, TraceHeader, UsedNotify,
)
from mcheck.trace.io import read_trace, write_trace
from mcheck.trace.profile import Profile, load_profile
from mcheck.trace.pyshark_reader import DISSECTOR_PATH, read_trace_pyshark

__all__ = [
    "AdminCommand", "AdminComplete", "AdminSubmit", "Annotation", "Codec", "CodecError", "ConfigNotify",
    "DISSECTOR_PATH", "DecodedCommand", "DecodedResult", "Doorbell", "DmaWrite", "Event", "FlrBegin", "FlrEnd",
    "MemberReset", "OwnerReset", "PciRead", "PmBegin", "PmEnd", "Pme", "Profile", "Trace", "TraceHeader", "UsedNotify", "load_profile",
    "read_trace", "read_trace_pyshark", "write_trace",
]
