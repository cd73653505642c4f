"""Codec proofs: the real encodings round-trip and are injective; broken ones are refuted."""

from __future__ import annotations

import pytest

from mcheck.errors import ModelDefinitionError
from mcheck.symbolic.codec_proofs import (
    Codec,
    WireField,
    device_parts_codec,
    encode_bytes,
    prove_injective,
    prove_round_trip,
    standard_codecs,
    vq_cfg_codec,
    vq_split_codec,
)
from mcheck.trace.codec import Codec as WireCodec
from mcheck.trace.profile import load_profile


@pytest.mark.parametrize("codec", standard_codecs(), ids=lambda c: c.name)
def test_real_codecs_round_trip_and_are_injective(codec: Codec) -> None:
    assert prove_round_trip(codec).verdict == "proved"
    assert prove_injective(codec).verdict == "proved"


BROKEN = [
    vq_split_codec().without("used_idx"),
    vq_split_codec().narrowed("last_avail_idx", 8),
    vq_cfg_codec().narrowed("queue_size", 8),
    vq_cfg_codec().without("queue_desc"),
    device_parts_codec().without("vq1.queue_device"),
]


@pytest.mark.parametrize("codec", BROKEN, ids=lambda c: c.name)
def test_broken_codec_is_refuted_with_a_concrete_pair(codec: Codec) -> None:
    inj = prove_injective(codec)
    assert inj.verdict == "violated" and inj.pair is not None
    a, b = inj.pair
    assert a != b and encode_bytes(codec, a) == encode_bytes(codec, b)  # checked concretely
    trip = prove_round_trip(codec)
    assert trip.verdict == "violated" and trip.pair is not None and trip.pair[0] != trip.pair[1]
    assert "\n  state  " in trip.describe() and "decodes to" in trip.describe()


def test_symbolic_layout_matches_the_trace_codec() -> None:
    """The proved encoding is the bytes mcheck.trace writes for a DEV_PARTS_GET payload."""
    values = {"device_status": 0x0F}
    for q in range(2):
        values.update({f"vq{q}.queue_size": 256 + q, f"vq{q}.vector": q, f"vq{q}.enabled": 1,
                       f"vq{q}.queue_desc": 0x1122_3344_5566_7788 + q, f"vq{q}.queue_driver": 0xAB00 + q,
                       f"vq{q}.queue_device": 0xFFFF_FFFF_FFFF_F000 + q})
    parts = [{"type": "DEVICE_STATUS", "value": 0x0F}]
    for q in range(2):
        fields = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(f"vq{q}.")}
        parts.append({"type": "VQ_CFG", "index": q, "value": {**fields, "reserved": 0}})
    wire = WireCodec(load_profile("virtio-1.4")).encode_parts(parts)
    assert encode_bytes(device_parts_codec(), values) == wire


def test_overlapping_fields_are_refused() -> None:
    with pytest.raises(ModelDefinitionError, match="overlaps"):
        Codec(name="bad", size=4, fields=(WireField(name="a", offset=0, bits=16), WireField(name="b", offset=1, bits=16)),
              state={"a": 16, "b": 16})
