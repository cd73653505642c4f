"""Codec proofs over bit-vectors: context completeness at the byte level.

A `Codec` maps a migratable state record (named bit-vector fields) to a byte string: each
wire field puts one state field, truncated or zero-extended to its wire width, little
endian at a byte offset; constant fields (part headers, type numbers) are fixed bytes;
every other byte is zero. Because all fields are little endian, the whole buffer is one
little-endian integer: byte i is bits 8i..8i+7 of a Z3 bit-vector, and a field at offset
o of width b is simply `Extract(8o+b-1, 8o, buf)`.

Two properties are proved for *all* states (no sampling):

* round trip: decode(encode(s)) == s;
* injectivity: encode(a) == encode(b) implies a == b.

A codec that drops a field, or narrows one, fails both; the proof then returns a concrete
pair of states (for round trip: the state and what it decodes to).

The concrete codecs are derived from the protocol profiles (`mcheck.trace.profile`):
virtio 1.4 `vq_cfg` and the DEVICE_STATUS part, a whole device-parts buffer (parts with
their 16-byte headers), and the draft-v1 device context: the TLV entry header
`{le16 type; u8 reserved[2]; le32 length}` (every field a state field), each context entry
type of the profile with its header (FEATURES, DRIVER_FEATURES, DEVICE_STATUS,
DEVICE_CONFIG, VQ_SPLIT, and whatever else a profile defines), and a whole context, every
entry back to back, as a VF hands it to a software device and the software device hands
it back to a VF. Variable-length values are proved at a fixed size (`words` le64 feature
words, `config_len` configuration bytes); the byte order does not depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import z3

from mcheck.errors import ModelDefinitionError
from mcheck.trace.profile import INT_SIZES, Profile, load_profile
from mcheck.verdict import BOUNDED, PROVED, VIOLATED


@dataclass(frozen=True, kw_only=True)
class WireField:
    """`bits` bits little endian at byte `offset`: state field `name`, or the constant `const`."""

    name: str
    offset: int
    bits: int
    const: int | None = None


@dataclass(frozen=True, kw_only=True)
class Codec:
    name: str
    size: int                         # bytes
    fields: tuple[WireField, ...]
    state: Mapping[str, int]          # the migratable record: field -> width in bits

    def __post_init__(self) -> None:
        used: set[int] = set()
        for f in self.fields:
            if f.bits % 8 or f.bits <= 0 or f.offset < 0 or f.offset + f.bits // 8 > self.size:
                raise ModelDefinitionError(f"codec {self.name}: field {f.name} ({f.bits} bits at {f.offset}) "
                                           f"does not fit whole bytes of a {self.size}-byte buffer")
            span = set(range(f.offset, f.offset + f.bits // 8))
            if span & used:
                raise ModelDefinitionError(f"codec {self.name}: field {f.name} overlaps another field")
            used |= span
            if f.const is None and f.name not in self.state:
                raise ModelDefinitionError(f"codec {self.name}: field {f.name} is not in the state record")

    def without(self, name: str) -> Codec:
        """The same codec with field `name` dropped from the wire (a broken codec)."""
        return Codec(name=f"{self.name} without {name}", size=self.size, state=self.state,
                     fields=tuple(f for f in self.fields if f.name != name))

    def narrowed(self, name: str, bits: int) -> Codec:
        """The same codec with field `name` written in only `bits` bits (a broken codec)."""
        return Codec(name=f"{self.name} with {name} narrowed to {bits} bits", size=self.size, state=self.state,
                     fields=tuple(WireField(name=f.name, offset=f.offset, bits=bits, const=f.const)
                                  if f.name == name else f for f in self.fields))


def _fit(term: z3.BitVecRef, bits: int) -> z3.BitVecRef:
    have = term.size()
    if have == bits:
        return term
    return z3.Extract(bits - 1, 0, term) if have > bits else z3.ZeroExt(bits - have, term)


def encode(codec: Codec, state: Mapping[str, z3.BitVecRef]) -> z3.BitVecRef:
    """The buffer as one `8*size`-bit vector (byte i = bits 8i..8i+7)."""
    ctx = next(iter(state.values())).ctx
    pieces = []  # from the highest byte down
    pos = codec.size
    for f in sorted(codec.fields, key=lambda f: -f.offset):
        end = f.offset + f.bits // 8
        if end < pos:
            pieces.append(z3.BitVecVal(0, 8 * (pos - end), ctx))
        value = z3.BitVecVal(f.const, f.bits, ctx) if f.const is not None else _fit(state[f.name], f.bits)
        pieces.append(value)
        pos = f.offset
    if pos:
        pieces.append(z3.BitVecVal(0, 8 * pos, ctx))
    return pieces[0] if len(pieces) == 1 else z3.Concat(*pieces)


def decode(codec: Codec, buf: z3.BitVecRef) -> dict[str, z3.BitVecRef]:
    """The state record read back; a field the wire does not carry reads as zero."""
    out = {name: z3.BitVecVal(0, width, buf.ctx) for name, width in codec.state.items()}
    for f in codec.fields:
        if f.const is None:
            out[f.name] = _fit(z3.Extract(8 * f.offset + f.bits - 1, 8 * f.offset, buf), codec.state[f.name])
    return out


def encode_bytes(codec: Codec, values: Mapping[str, int]) -> bytes:
    """Concrete encoding (for cross-checking with `mcheck.trace.codec`)."""
    buf = bytearray(codec.size)
    for f in codec.fields:
        v = f.const if f.const is not None else values[f.name]
        buf[f.offset:f.offset + f.bits // 8] = (v & ((1 << f.bits) - 1)).to_bytes(f.bits // 8, "little")
    return bytes(buf)


@dataclass(kw_only=True)
class CodecProof:
    codec: str
    property: str            # "round-trip" | "injective"
    verdict: str             # proved | violated | bounded (solver gave up)
    pair: tuple[dict[str, int], dict[str, int]] | None = field(default=None)

    def describe(self) -> str:
        if self.pair is None:
            return f"{self.codec}: {self.property}: {self.verdict}"
        a, b = (", ".join(f"{k}={v:#x}" for k, v in side.items()) for side in self.pair)
        what = "decodes to" if self.property == "round-trip" else "encodes like"
        return f"{self.codec}: {self.property}: {self.verdict}\n  state  {a}\n  {what} {b}"


def _record(codec: Codec, ctx: z3.Context, tag: str) -> dict[str, z3.BitVecRef]:
    return {name: z3.BitVec(f"{name}.{tag}", width, ctx) for name, width in codec.state.items()}


def _differ(a: Mapping[str, z3.BitVecRef], b: Mapping[str, z3.BitVecRef]) -> z3.BoolRef:
    return z3.Or([a[k] != b[k] for k in a])


def _solve(codec: Codec, prop: str, goal: z3.BoolRef, a: Mapping[str, z3.ExprRef], b: Mapping[str, z3.ExprRef],
           ctx: z3.Context, timeout: float | None) -> CodecProof:
    solver = z3.Solver(ctx=ctx)
    if timeout is not None:
        solver.set(timeout=max(1, int(timeout * 1000)))
    solver.add(goal)
    result = solver.check()
    if result == z3.unsat:
        return CodecProof(codec=codec.name, property=prop, verdict=PROVED)
    if result != z3.sat:
        return CodecProof(codec=codec.name, property=prop, verdict=BOUNDED)
    m = solver.model()
    first, second = ({k: m.eval(t[k], model_completion=True).as_long() for k in codec.state} for t in (a, b))
    return CodecProof(codec=codec.name, property=prop, verdict=VIOLATED, pair=(first, second))


def prove_round_trip(codec: Codec, timeout: float | None = None) -> CodecProof:
    """decode(encode(s)) == s for every state s, or a state and what it decodes to."""
    ctx = z3.Context()
    s = _record(codec, ctx, "s")
    back = decode(codec, encode(codec, s))
    return _solve(codec, "round-trip", _differ(s, back), s, back, ctx, timeout)


def prove_injective(codec: Codec, timeout: float | None = None) -> CodecProof:
    """encode(a) == encode(b) implies a == b, or two different states with one encoding."""
    ctx = z3.Context()
    a, b = _record(codec, ctx, "a"), _record(codec, ctx, "b")
    return _solve(codec, "injective", z3.And(encode(codec, a) == encode(codec, b), _differ(a, b)), a, b, ctx, timeout)


# --------------------------------------------------------------------------- concrete codecs


def _struct_fields(profile: Profile, struct: str, base: int = 0, prefix: str = "") -> list[WireField]:
    """The integer fields of a profile struct; `reserved*` and raw-byte fields stay zero."""
    out = []
    for f in profile.structs[struct].fields:
        if f.type in INT_SIZES and not f.name.startswith("reserved"):
            out.append(WireField(name=prefix + f.name, offset=base + f.offset, bits=8 * INT_SIZES[f.type]))
    return out


def _struct_size(profile: Profile, struct: str) -> int:
    return profile.structs[struct].fixed_size


def _record_of(fields: list[WireField]) -> dict[str, int]:
    return {f.name: f.bits for f in fields if f.const is None}


def vq_cfg_codec(profile: Profile | None = None) -> Codec:
    """virtio 1.4 `struct virtio_dev_part_vq_cfg` (32 bytes), the VQ_CFG part value."""
    profile = profile or load_profile("virtio-1.4")
    fields = _struct_fields(profile, "vq_cfg")
    return Codec(name="virtio-1.4 VQ_CFG", size=_struct_size(profile, "vq_cfg"), fields=tuple(fields),
                 state=_record_of(fields))


def device_status_codec(profile: Profile | None = None) -> Codec:
    """virtio 1.4 DEVICE_STATUS part value: one u8."""
    profile = profile or load_profile("virtio-1.4")
    item = profile.parts[profile.part_numbers["DEVICE_STATUS"]]
    f = WireField(name="device_status", offset=0, bits=8 * INT_SIZES[item.value])
    return Codec(name="virtio-1.4 DEVICE_STATUS", size=f.bits // 8, fields=(f,), state=_record_of([f]))


PART_HEADER = 16  # struct virtio_dev_part_hdr


def _part_header(base: int, number: int, length: int, vq: int | None) -> list[WireField]:
    hdr = [WireField(name=f"@{base}.type", offset=base, bits=16, const=number),
           WireField(name=f"@{base}.length", offset=base + 12, bits=32, const=length)]
    if vq is not None:
        hdr.append(WireField(name=f"@{base}.index", offset=base + 4, bits=16, const=vq))
    return hdr


def device_parts_codec(queues: int = 2, profile: Profile | None = None) -> Codec:
    """A member's DEVICE_STATUS and VQ_CFG parts, back to back with their headers (a DEV_PARTS_GET payload)."""
    profile = profile or load_profile("virtio-1.4")
    fields = _part_header(0, profile.part_numbers["DEVICE_STATUS"], 1, None)
    fields.append(WireField(name="device_status", offset=PART_HEADER, bits=8))
    pos = PART_HEADER + 1
    size = _struct_size(profile, "vq_cfg")
    for q in range(queues):
        fields += _part_header(pos, profile.part_numbers["VQ_CFG"], size, q)
        fields += _struct_fields(profile, "vq_cfg", pos + PART_HEADER, f"vq{q}.")
        pos += PART_HEADER + size
    return Codec(name=f"virtio-1.4 device parts ({queues} queues)", size=pos, fields=tuple(fields),
                 state=_record_of(fields))


def vq_split_codec(profile: Profile | None = None) -> Codec:
    """draft-v1 split-VQ context record (`vq_split` in models/profiles/draft-v1.toml).

    The state record keeps `enabled` at 1 bit (what the model tracks); the wire's u8 holds
    it without loss, so the proofs also cover the bool-to-byte widening.
    """
    profile = profile or load_profile("draft-v1")
    fields = _struct_fields(profile, "vq_split")
    state = _record_of(fields)
    state["enabled"] = 1
    return Codec(name="draft-v1 VQ_SPLIT context", size=_struct_size(profile, "vq_split"), fields=tuple(fields),
                 state=state)


CTX_HEADER = 8  # draft-v1 context entry header {le16 type; u8 reserved[2]; le32 length}


def ctx_entry_header_codec(profile: Profile | None = None) -> Codec:
    """draft-v1 context entry header: type, reserved and length are all carried (a
    non-zero reserved survives the trace codec too)."""
    profile = profile or load_profile("draft-v1")
    fields = [WireField(name="type", offset=0, bits=16), WireField(name="reserved", offset=2, bits=16),
              WireField(name="length", offset=4, bits=32)]
    return Codec(name=f"{profile.name} context entry header", size=CTX_HEADER, fields=tuple(fields),
                 state=_record_of(fields))


def _ctx_value(profile: Profile, kind: str, base: int, prefix: str, words: int, config_len: int) -> tuple[list[WireField], int]:
    """The wire fields of a context value of `kind` at byte `base` and its size in bytes."""
    if kind in INT_SIZES:
        return [WireField(name=prefix, offset=base, bits=8 * INT_SIZES[kind])], INT_SIZES[kind]
    if kind == "le64_words":
        return [WireField(name=f"{prefix}[{i}]", offset=base + 8 * i, bits=64) for i in range(words)], 8 * words
    if kind == "tail":
        return [WireField(name=prefix, offset=base, bits=8 * config_len)], config_len
    if kind.startswith("struct:"):
        return _struct_fields(profile, kind[7:], base, f"{prefix}."), _struct_size(profile, kind[7:])
    raise ModelDefinitionError(f"{profile.source}: context value kind {kind!r} has no codec proof")


def _ctx_entry(profile: Profile, name: str, base: int, prefix: str, words: int, config_len: int) -> tuple[list[WireField], int]:
    item = profile.context[profile.context_numbers[name]]
    value, size = _ctx_value(profile, item.value, base + CTX_HEADER, prefix, words, config_len)
    header = [WireField(name=f"@{base}.type", offset=base, bits=16, const=item.number),
              WireField(name=f"@{base}.length", offset=base + 4, bits=32, const=size)]
    return header + value, CTX_HEADER + size


def ctx_entry_codec(name: str, profile: Profile | None = None, *, words: int = 2, config_len: int = 8) -> Codec:
    """One draft-v1 context entry of type `name`, header (type and length constants, reserved
    zero) and value."""
    profile = profile or load_profile("draft-v1")
    if name not in profile.context_numbers:
        raise ModelDefinitionError(f"{profile.source}: no context type {name!r}")
    fields, size = _ctx_entry(profile, name, 0, name, words, config_len)
    state = _record_of(fields)
    if f"{name}.enabled" in state:
        state[f"{name}.enabled"] = 1      # the model's bool, widened to the wire's u8
    return Codec(name=f"{profile.name} {name} context entry", size=size, fields=tuple(fields), state=state)


def draft_context_codec(queues: int = 2, profile: Profile | None = None, *, words: int = 2, config_len: int = 8) -> Codec:
    """A whole draft-v1 context, as DEV_CTX_READ returns it and DEV_CTX_WRITE takes it: every
    context type of the profile once, in profile order, VQ_SPLIT once per queue (state
    fields `vq<q>.<field>`)."""
    profile = profile or load_profile("draft-v1")
    fields: list[WireField] = []
    pos = 0
    for item in profile.context.values():
        for q in range(queues if item.name == "VQ_SPLIT" else 1):
            prefix = f"vq{q}" if item.name == "VQ_SPLIT" else item.name
            more, size = _ctx_entry(profile, item.name, pos, prefix, words, config_len)
            fields += more
            pos += size
    state = _record_of(fields)
    for q in range(queues):
        if f"vq{q}.enabled" in state:
            state[f"vq{q}.enabled"] = 1
    return Codec(name=f"{profile.name} device context ({queues} queues)", size=pos, fields=tuple(fields), state=state)


def draft_context_codecs(profile: Profile | None = None) -> list[Codec]:
    """The draft-v1 context proofs: the entry header, each entry type, a whole context."""
    profile = profile or load_profile("draft-v1")
    return ([ctx_entry_header_codec(profile)] + [ctx_entry_codec(name, profile) for name in profile.context_numbers]
            + [draft_context_codec(2, profile)])


def standard_codecs() -> list[Codec]:
    """Every codec mcheck proves: the 1.4 device parts, and the draft-v1 device context
    (the VQ_SPLIT record, the entry header, every entry type, a whole context)."""
    return [vq_cfg_codec(), device_status_codec(), device_parts_codec(), vq_split_codec()] + draft_context_codecs()
