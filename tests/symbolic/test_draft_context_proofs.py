"""A draft-v1 context migrates VF -> software device -> VF without loss.

Z3 proves every field of every context entry (the TLV header and each value type of the
profile, and a whole context) round-trips and is injective; broken codecs are refuted; the
proved layout is checked byte for byte against `mcheck.trace.codec`; and a software device
that keeps the decoded fields and composes its own context gives the VF's bytes back.
The VF contexts here are packed by hand (struct), never by mcheck's encoder or emulator.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcheck.symbolic.codec_proofs import (
    Codec,
    ctx_entry_codec,
    ctx_entry_header_codec,
    draft_context_codec,
    draft_context_codecs,
    encode_bytes,
    prove_injective,
    prove_round_trip,
    standard_codecs,
)
from mcheck.trace.codec import Codec as WireCodec
from mcheck.trace.profile import load_profile

PROFILE = load_profile("draft-v1")
WIRE = WireCodec(PROFILE)
VQ_FIELDS = ("index", "size", "enabled", "reserved", "msix_vector", "desc_addr", "driver_addr", "device_addr",
             "last_avail_idx", "used_idx", "inflight", "notify_off")
VQ_FORMAT = "<HHBBHQQQHHHH"       # docs/draft-v1-profile.md, VQ_SPLIT value (40 bytes)


@pytest.mark.parametrize("codec", draft_context_codecs(), ids=lambda c: c.name)
def test_every_context_entry_round_trips_and_is_injective(codec: Codec) -> None:
    assert prove_round_trip(codec).verdict == "proved"
    assert prove_injective(codec).verdict == "proved"


def test_the_proofs_cover_every_entry_and_are_listed() -> None:
    names = [c.name for c in draft_context_codecs()]
    assert names == ["draft-v1 context entry header"] + [f"draft-v1 {n} context entry" for n in
                                                          ("FEATURES", "DRIVER_FEATURES", "DEVICE_STATUS", "DEVICE_CONFIG", "VQ_SPLIT")] \
        + ["draft-v1 device context (2 queues)"]
    assert set(names) <= {c.name for c in standard_codecs()}
    header = ctx_entry_header_codec()
    assert header.state == {"type": 16, "reserved": 16, "length": 32}
    whole = draft_context_codec(2)
    assert {"FEATURES[0]", "FEATURES[1]", "DRIVER_FEATURES[0]", "DEVICE_STATUS", "DEVICE_CONFIG",
            "vq0.last_avail_idx", "vq1.used_idx", "vq1.inflight", "vq1.notify_off"} <= set(whole.state)
    assert whole.size == 24 + 24 + 9 + 16 + 2 * 48


BROKEN = [
    ctx_entry_header_codec().narrowed("length", 16),
    ctx_entry_header_codec().without("reserved"),
    ctx_entry_codec("FEATURES").narrowed("FEATURES[1]", 32),
    ctx_entry_codec("DEVICE_CONFIG").without("DEVICE_CONFIG"),
    draft_context_codec().without("DEVICE_STATUS"),
    draft_context_codec().without("vq1.used_idx"),
    draft_context_codec().narrowed("vq0.last_avail_idx", 8),
]


@pytest.mark.parametrize("codec", BROKEN, ids=lambda c: c.name)
def test_a_lossy_context_codec_is_refuted(codec: Codec) -> None:
    inj = prove_injective(codec)
    assert inj.verdict == "violated" and inj.pair is not None
    a, b = inj.pair
    assert a != b and encode_bytes(codec, a) == encode_bytes(codec, b)
    trip = prove_round_trip(codec)
    assert trip.verdict == "violated" and trip.pair is not None and trip.pair[0] != trip.pair[1]


# --------------------------------------------------------------------------- the proved layout is the codec's

U16 = st.integers(0, 0xFFFF)
U64 = st.integers(0, (1 << 64) - 1)


@st.composite
def context_values(draw: Any) -> dict[str, int]:
    """Values for every state field of draft_context_codec(2)."""
    codec = draft_context_codec(2)
    return {name: draw(st.integers(0, (1 << width) - 1)) for name, width in codec.state.items()}


@settings(max_examples=150, deadline=None)
@given(context_values())
def test_the_proved_layout_is_what_the_trace_codec_writes(values: dict[str, int]) -> None:
    codec = draft_context_codec(2)
    entries: list[dict[str, Any]] = [
        {"type": "FEATURES", "value": [values["FEATURES[0]"], values["FEATURES[1]"]]},
        {"type": "DRIVER_FEATURES", "value": [values["DRIVER_FEATURES[0]"], values["DRIVER_FEATURES[1]"]]},
        {"type": "DEVICE_STATUS", "value": values["DEVICE_STATUS"]},
        {"type": "DEVICE_CONFIG", "value": values["DEVICE_CONFIG"].to_bytes(8, "little")},
    ]
    for q in range(2):
        entries.append({"type": "VQ_SPLIT", "value": {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(f"vq{q}.")}})
    wire = WIRE.encode_context(entries)
    assert encode_bytes(codec, values) == wire
    back = WIRE.decode_context(wire)
    assert back[2]["value"] == values["DEVICE_STATUS"] and back[0]["value"] == entries[0]["value"]
    assert [{k: v for k, v in e["value"].items() if k != "reserved"} for e in back[4:]] == [e["value"] for e in entries[4:]]


@settings(max_examples=150, deadline=None)
@given(U16, U16, st.binary(max_size=48))
def test_the_proved_header_is_what_the_trace_codec_reads(number: int, reserved: int, value: bytes) -> None:
    head = encode_bytes(ctx_entry_header_codec(), {"type": number, "reserved": reserved, "length": len(value)})
    assert head == struct.pack("<HHI", number, reserved, len(value))
    (entry,) = WIRE.decode_context(head + value)
    item = PROFILE.context.get(number)
    assert entry["type"] == (item.name if item else number) and entry.get("reserved", 0) == reserved
    assert WIRE.encode_context([entry]) == head + value


# --------------------------------------------------------------------------- VF -> software device -> VF

VQS = st.tuples(U16, st.integers(0, 0xFF), st.integers(0, 0xFF), U16, U64, U64, U64, U16, U16, U16, U16)


@st.composite
def vf_context(draw: Any) -> bytes:
    """A VF's context, packed by hand: the profile's entries in order, 1-4 split queues,
    sometimes a vendor entry the profile does not define, sometimes a non-zero reserved."""
    def entry(number: int, value: bytes) -> bytes:
        return struct.pack("<HHI", number, draw(st.sampled_from([0, 0, 0, 1, 0xFFFF])), len(value)) + value

    out = entry(0x1, b"".join(struct.pack("<Q", w) for w in draw(st.lists(U64, min_size=1, max_size=3))))
    out += entry(0x2, b"".join(struct.pack("<Q", w) for w in draw(st.lists(U64, min_size=1, max_size=3))))
    out += entry(0x3, bytes([draw(st.integers(0, 0xFF))]))
    out += entry(0x4, draw(st.binary(max_size=32)))
    for q in range(draw(st.integers(1, 4))):
        out += entry(0x10, struct.pack(VQ_FORMAT, q, *draw(VQS)))
    if draw(st.booleans()):
        out += entry(draw(st.sampled_from([0x5, 0x20, 0x8000])), draw(st.binary(max_size=16)))
    return out


class SoftwareDevice:
    """A software virtio device that keeps the migrated fields in its own state (not the
    decoded entries) and composes a context from that state."""

    def __init__(self) -> None:
        self.features: list[int] = []
        self.driver_features: list[int] = []
        self.status = 0
        self.config = b""
        self.queues: dict[int, dict[str, int]] = {}
        self.opaque: list[tuple[int, bytes]] = []          # entries it does not understand, kept as they came
        self.reserved: dict[int, int] = {}                 # entry position -> non-zero header reserved
        self.order: list[tuple[str, int]] = []

    def load(self, ctx: bytes) -> None:
        for pos, e in enumerate(WIRE.decode_context(ctx)):
            if e.get("reserved"):
                self.reserved[pos] = e["reserved"]
            kind, value = e["type"], e["value"]
            if kind == "FEATURES":
                self.features = list(value)
            elif kind == "DRIVER_FEATURES":
                self.driver_features = list(value)
            elif kind == "DEVICE_STATUS":
                self.status = value
            elif kind == "DEVICE_CONFIG":
                self.config = bytes(value)
            elif kind == "VQ_SPLIT" and isinstance(value, dict):
                self.queues[value["index"]] = {k: value.get(k, 0) for k in VQ_FIELDS}
                self.order.append(("VQ_SPLIT", value["index"]))
                continue
            else:
                self.opaque.append((kind, bytes(value)))
                self.order.append(("opaque", len(self.opaque) - 1))
                continue
            self.order.append((kind, 0))

    def compose(self) -> bytes:
        entries: list[dict[str, Any]] = []
        for kind, key in self.order:
            if kind == "FEATURES":
                entry: dict[str, Any] = {"type": kind, "value": self.features}
            elif kind == "DRIVER_FEATURES":
                entry = {"type": kind, "value": self.driver_features}
            elif kind == "DEVICE_STATUS":
                entry = {"type": kind, "value": self.status}
            elif kind == "DEVICE_CONFIG":
                entry = {"type": kind, "value": self.config}
            elif kind == "VQ_SPLIT":
                entry = {"type": kind, "value": dict(self.queues[key])}
            else:
                number, raw = self.opaque[key]
                entry = {"type": number, "value": raw}
            if len(entries) in self.reserved:
                entry["reserved"] = self.reserved[len(entries)]
            entries.append(entry)
        return WIRE.encode_context(entries)


@settings(max_examples=200, deadline=None)
@given(vf_context())
def test_a_software_device_gives_the_vf_context_back(ctx: bytes) -> None:
    device = SoftwareDevice()
    device.load(ctx)
    composed = device.compose()
    assert composed == ctx                                  # software device -> VF: byte-identical
    again = SoftwareDevice()
    again.load(composed)                                    # and back: the same fields
    assert vars(again) == vars(device)
    assert WIRE.decode_context(composed) == WIRE.decode_context(ctx)


def test_a_hand_packed_context_through_the_software_device() -> None:
    vq = struct.pack(VQ_FORMAT, 0, 256, 1, 0, 3, 0x1000, 0x2000, 0x3000, 7, 5, 2, 1)
    ctx = (struct.pack("<HHI", 1, 0, 8) + struct.pack("<Q", 1 << 32) + struct.pack("<HHI", 2, 0, 8) + struct.pack("<Q", 1 << 32)
           + struct.pack("<HHI", 3, 0, 1) + b"\x0f" + struct.pack("<HHI", 4, 0, 4) + b"\xde\xad\xbe\xef"
           + struct.pack("<HHI", 0x10, 0, 40) + vq)
    device = SoftwareDevice()
    device.load(ctx)
    assert (device.status, device.config, device.features) == (0x0F, b"\xde\xad\xbe\xef", [1 << 32])
    assert device.queues[0] == {"index": 0, "size": 256, "enabled": 1, "reserved": 0, "msix_vector": 3, "desc_addr": 0x1000,
                                "driver_addr": 0x2000, "device_addr": 0x3000, "last_avail_idx": 7, "used_idx": 5,
                                "inflight": 2, "notify_off": 1}
    assert device.compose() == ctx
