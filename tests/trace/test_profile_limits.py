"""Issue 15 item 5: a profile cannot make mcheck allocate gigabytes: field sizes, layout
sizes, field and entry counts, nesting and file size are capped, each with a one-line
error naming the file and the key."""

from __future__ import annotations

import re
import resource
from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.trace import profile as prof
from mcheck.trace.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "models/profiles/virtio-1.4.toml").read_text()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def _big_reserved(n: int) -> str:
    """RESOURCE_OBJ_CREATE's reserved field made n bytes, the offsets after it moved along
    (a layout that is otherwise valid, so only the cap can refuse it)."""
    start = BASE.index("[commands.RESOURCE_OBJ_CREATE]")
    end = BASE.index("[commands.", start + 1)
    block = BASE[start:end]
    fields = re.findall(r"\{ name = \"(\w+)\", offset = (\d+), type = \"([^\"]+)\" \}", block.split("result")[0])
    out, offset = [], 0
    for name, _, ftype in fields:
        ftype = f"bytes({n})" if name == "reserved" else ftype
        out.append(f'{{ name = "{name}", offset = {offset}, type = "{ftype}" }}')
        offset += prof.field_size(ftype) or 0
    new_block = re.sub(r"data = \[.*?\]\n", "data = [" + ", ".join(out) + "]\n", block, count=1, flags=re.S)
    return BASE[:start] + new_block + BASE[end:]


def test_huge_bytes_field_refused_without_allocating(tmp_path: Path) -> None:
    text = _big_reserved(10_000_000_000)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (min(hard, 4 << 30) if hard != resource.RLIM_INFINITY else 4 << 30, hard))
    try:
        with pytest.raises(InputError, match=r"p\.toml: key 'commands\.RESOURCE_OBJ_CREATE\.data\[\d\]\.type': bytes\(10000000000\) is larger than 4096 bytes"):
            load_profile(_write(tmp_path, text))
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_field_at_the_cap_loads(tmp_path: Path) -> None:
    assert load_profile(_write(tmp_path, _big_reserved(prof.MAX_FIELD_BYTES))).name == "virtio-1.4"


def test_too_many_fields_and_too_big_a_layout(tmp_path: Path) -> None:
    many = ", ".join(f'{{ name = "f{i}", offset = {i}, type = "u8" }}' for i in range(prof.MAX_FIELDS + 1))
    text = BASE.replace('[commands.LIST_QUERY]\ndata = []', f"[commands.LIST_QUERY]\ndata = [{many}]")
    with pytest.raises(InputError, match=r"key 'commands\.LIST_QUERY\.data': has 257 fields, at most 256"):
        load_profile(_write(tmp_path, text))
    wide = ", ".join(f'{{ name = "f{i}", offset = {i * 4096}, type = "bytes(4096)" }}' for i in range(17))
    text = BASE.replace('[commands.LIST_QUERY]\ndata = []', f"[commands.LIST_QUERY]\ndata = [{wide}]")
    with pytest.raises(InputError, match=r"fixed part reaches 69,632 bytes, at most 65,536"):
        load_profile(_write(tmp_path, text))


def test_too_many_entries(tmp_path: Path) -> None:
    extra = "".join(f"X{i} = {i + 100}\n" for i in range(prof.MAX_ENTRIES + 1))
    text = BASE.replace("[status]\n", "[status]\n" + extra, 1)
    with pytest.raises(InputError, match=r"key 'status': has 4,\d{3} entries, at most 4,096"):
        load_profile(_write(tmp_path, text))


def test_deep_nesting_and_big_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nested too deep"):
        load_profile(_write(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n"))
    with pytest.raises(InputError, match="profile larger than 1,048,576 bytes"):
        load_profile(_write(tmp_path, BASE + "#" * (1 << 20) + "\n"))
    with pytest.raises(InputError, match=r"unknown type 'bytes\(9{20}\)'"):
        load_profile(_write(tmp_path, _big_reserved(4).replace("bytes(4)", "bytes(" + "9" * 20 + ")")))
