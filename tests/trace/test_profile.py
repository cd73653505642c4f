"""Profile loading and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.trace.codec import Codec
from mcheck.trace.profile import load_profile

PROFILES = Path(__file__).resolve().parents[2] / "models" / "profiles"


def test_builtin_profiles_load() -> None:
    v14 = load_profile("virtio-1.4")
    assert v14.opcodes["DEV_MODE_SET"] == 0x11 and v14.opcode_names[0xE] == "DEV_PARTS_METADATA_GET"
    assert v14.status["EINVAL"] == 22 and v14.qualifier_names[5] == "INVALID_MEMBER"
    assert v14.part_numbers["VQ_NOTIFY_CFG"] == 0x105
    draft = load_profile("draft-v1")
    assert {n: draft.opcodes[n] for n in ("DEV_MODE_GET", "WR_REPORT")} == {"DEV_MODE_GET": 0x7F00, "WR_REPORT": 0x7F0B}
    assert draft.modes == {"ACTIVE": 0, "STOP": 1, "FREEZE": 2}
    assert draft.context_numbers["VQ_SPLIT"] == 0x10
    assert draft.structs["vq_split"].fixed_size == 40


def test_a_file_path_overrides_the_numbering(tmp_path: Path) -> None:
    text = (PROFILES / "draft-v1.toml").read_text().replace("DEV_MODE_SET = 0x7F01", "DEV_MODE_SET = 0x0042")
    path = tmp_path / "vendor.toml"
    path.write_text(text)
    profile = load_profile(str(path))
    assert profile.opcodes["DEV_MODE_SET"] == 0x42
    assert Codec(profile).encode_command("DEV_MODE_SET", "SRIOV", 1, {"mode": 2})[:2] == b"\x42\x00"


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROFILES / "virtio-1.4.toml").read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[profile]", "[profil]", r"key 'profil': unknown key"),
        ("DEV_MODE_SET = 0x11", "DEV_MODE_SET = 0x10", r"key 'opcodes.DEV_MODE_SET': duplicate number 0x10 \(also DEV_PARTS_SET\)"),
        ('{ name = "flags", offset = 0, type = "u8" }', '{ name = "flags", offset = 0, type = "u9" }', r"key 'commands.DEV_MODE_SET.data\[0\].type': unknown type 'u9'"),
        ('{ name = "flags", offset = 0, type = "u8" }', '{ name = "flags", offset = 0, type = "u8", size = 1 }', r"key 'commands.DEV_MODE_SET.data\[0\].size': unknown key"),
        ('{ name = "reserved", offset = 2, type = "bytes(6)" },\n]\nresult = [\n  { name = "get_parts_limit"', '{ name = "reserved", offset = 3, type = "bytes(6)" },\n]\nresult = [\n  { name = "get_parts_limit"', r"commands.DEVICE_CAP_GET.data\[1\].offset': is 3, expected 2"),
        ("DEV_MODE_SET = 0x11", "DEV_MODE_SET = 0x11\nDEV_MODE_GET = 0x12", r"key 'commands.DEV_MODE_GET': missing"),
        ("type = 0x105", "type = 0x104", r"key 'parts.VQ_NOTIFY_CFG.type': duplicate number 0x104"),
        ('value = "struct:vq_cfg"', 'value = "struct:nothing"', r"key 'parts.VQ_CFG.value': unknown value kind"),
        ("OK = 0\n", "OK = -1\n", r"key 'status.OK': must be an integer"),
        ('[{ name = "opcodes", offset = 0, type = "le64_words" }]\nresult = []', '[{ name = "opcodes", offset = 0, type = "le64_words" }, { name = "x", offset = 0, type = "u8" }]\nresult = []', r"follows the variable-length field 'opcodes'"),
        ('version = "1"', 'version = "1"\nversion = "2"', r"not valid TOML"),
    ],
)
def test_bad_profiles_name_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(InputError, match=message) as info:
        load_profile(str(path))
    assert str(path) in str(info.value)


def test_unknown_profile_name() -> None:
    with pytest.raises(InputError, match="not a built-in profile"):
        load_profile("virtio-9")
