"""Issue 15 item 11: a checkpoint carries a format version and a SHA-256 per section (and
over its header); a damaged one is refused in one line naming the section or byte
offset, never resumed with wrong counts."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.errors import InputError
from mcheck.explore import checkpoint as ckpt
from mcheck.explore.bfs import Checkpointing, explore
from mcheck.model.registry import load_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "tests/models/counter.py")


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict]:
    store = tmp_path_factory.mktemp("ckpt-counter")
    model = load_model(MODEL, {"members": 2})
    explore(model, checkpoint=Checkpointing(directory=str(store), every=0))
    return store, ckpt.identity(model, False)


def _damaged(saved, tmp_path: Path, change) -> Path:
    store, _ = saved
    shutil.copytree(store, tmp_path / "c")
    path = tmp_path / "c" / ckpt.FILE
    path.write_bytes(change(path.read_bytes()))
    return tmp_path / "c"


def _refused(saved, directory: Path, *says: str) -> str:
    with pytest.raises(InputError) as err:
        ckpt.load(str(directory), saved[1])
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"--resume {directory}: ")
    for s in says:
        assert s in text, text
    return text


def _split(data: bytes) -> tuple[dict, bytes]:
    first, _, body = data.partition(b"\n")
    return json.loads(first), body


def _join(header: dict, body: bytes, *, resign: bool = True) -> bytes:
    if resign:
        header["header_sha256"] = ckpt._header_digest(header)
    return json.dumps(header).encode() + b"\n" + body


def test_the_file_names_its_format_and_checksums(saved) -> None:
    header, body = _split((saved[0] / ckpt.FILE).read_bytes())
    assert header["format"] == "mcheck-checkpoint/2" and len(header["header_sha256"]) == 64
    assert [s["name"] for s in header["sections"]] == ["states", "parent", "via", "frontier"]
    assert sum(s["size"] for s in header["sections"]) == len(body)
    assert ckpt.load(str(saved[0]), saved[1]).states


def test_every_sampled_bit_flip_is_refused(saved, tmp_path: Path) -> None:
    data = (saved[0] / ckpt.FILE).read_bytes()
    rng = random.Random(15)
    positions = sorted(rng.sample(range(len(data)), 60)) + [len(data) - 1, data.index(b"\n") + 1]
    for n, pos in enumerate(positions):
        bit = 1 << rng.randrange(8)
        d = tmp_path / f"f{n}"
        shutil.copytree(saved[0], d)
        flipped = bytearray(data)
        flipped[pos] ^= bit
        (d / ckpt.FILE).write_bytes(bytes(flipped))
        try:
            snap = ckpt.load(str(d), saved[1])
        except InputError as exc:
            assert "\n" not in str(exc)
            continue
        pytest.fail(f"a flip of bit {bit:#x} at byte {pos} was resumed ({len(snap.states)} states)")


def test_section_checksum_names_the_section(saved, tmp_path: Path) -> None:
    header, body = _split((saved[0] / ckpt.FILE).read_bytes())
    at = header["sections"][0]["size"] + 3     # inside 'parent'
    body = body[:at] + bytes([body[at] ^ 1]) + body[at + 1:]
    d = _damaged(saved, tmp_path, lambda _: _join(header, body, resign=False))
    _refused(saved, d, "damaged checkpoint: section parent (byte offset", "checksum does not match")


@pytest.mark.parametrize("size", [-8, -1])
def test_negative_section_size_is_refused(saved, tmp_path: Path, size: int) -> None:
    def change(data: bytes) -> bytes:
        header, body = _split(data)
        header["sections"][1]["size"] = size   # checksums re-signed: only the size check can refuse it
        return _join(header, body)
    _refused(saved, _damaged(saved, tmp_path, change), "section parent: size", "not a non-negative integer")


def test_truncated_and_trailing_bytes(saved, tmp_path: Path) -> None:
    _refused(saved, _damaged(saved, tmp_path / "a", lambda d: d[:-5]), "truncated")
    _refused(saved, _damaged(saved, tmp_path / "b", lambda d: d + b"\0" * 8), "8 bytes after the last section")


def test_state_ids_outside_the_store_are_refused(saved, tmp_path: Path) -> None:
    def change(data: bytes) -> bytes:
        header, body = _split(data)
        header["deadlock"] = header["count"] + 5
        return _join(header, body)
    _refused(saved, _damaged(saved, tmp_path, change), "outside the stored states")


def test_older_format_and_garbage(saved, tmp_path: Path) -> None:
    def v1(data: bytes) -> bytes:
        header, body = _split(data)
        header["format"] = "mcheck-checkpoint/1"
        return _join(header, body)
    _refused(saved, _damaged(saved, tmp_path / "a", v1), "format mcheck-checkpoint/1, this mcheck reads mcheck-checkpoint/2")
    _refused(saved, _damaged(saved, tmp_path / "b", lambda d: b"[" * 100000 + b"\n"), "nested too deep")
    _refused(saved, _damaged(saved, tmp_path / "c", lambda d: b"\xff\xfe\n" + d), "damaged checkpoint")


def test_cli_refuses_a_damaged_checkpoint_with_exit_2(saved, tmp_path: Path, capsys) -> None:
    d = _damaged(saved, tmp_path, lambda data: data[:-1] + bytes([data[-1] ^ 0x10]))
    code = main(["check", MODEL, "--resume", str(d), "-q"])
    out, err = capsys.readouterr()
    assert code == 2 and not out and err.count("\n") == 1 and "damaged checkpoint" in err
    assert "internal error" not in err
