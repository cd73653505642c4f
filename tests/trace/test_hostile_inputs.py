"""Issue 15 item 2: wrong-typed or extreme fields, deep JSON, short pcapng blocks and lone
surrogates are one-line errors naming the file and the line or byte offset (exit 2), and
show, convert and replay give the same answer."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
HEADER = '{"mcheck_trace": 1, "profile": "virtio-1.4", "members": [1], "queues": 2, "params": {"objects": 4, "compat": "linux"}}'
LQ = '"cmd":{"name":"LIST_QUERY","group_type":"SRIOV","member":0,"fields":{}}'
DEEP = "[" * 100_000 + "]" * 100_000

#: name -> (second line of the file, what the error must say)
EVENTS = {
    "kind-list": ('{"i":0,"t":0,"kind":["admin"]}', "line 2): unknown event kind ['admin']"),
    "kind-object": ('{"i":0,"t":0,"kind":{"a":1}}', "line 2): unknown event kind"),
    "status-1e308": ('{"i":0,"t":0,"kind":"admin",' + LQ + ',"result":{"status":1e308,"qualifier":0,"fields":{}}}', "line 2): status 1e+308"),
    "status-1.5": ('{"i":0,"t":0,"kind":"admin",' + LQ + ',"result":{"status":1.5,"qualifier":0,"fields":{}}}', "line 2): status 1.5"),
    "group-type-negative": ('{"i":0,"t":0,"kind":"admin","cmd":{"name":"LIST_QUERY","group_type":-1,"member":0,"fields":{}}}', "line 2): group type -1"),
    "group-type-list": ('{"i":0,"t":0,"kind":"admin","cmd":{"name":"LIST_QUERY","group_type":[1],"member":0,"fields":{}}}', "line 2): group type [1]"),
    "qualifier-object": ('{"i":0,"t":0,"kind":"admin",' + LQ + ',"result":{"status":0,"qualifier":{"a":1},"fields":{}}}', "line 2): qualifier {'a': 1}"),
    "deep-event": (DEEP, "line 2): JSON nested too deep"),
    "deep-field": ('{"i":0,"t":0,"kind":"admin","cmd":{"name":"LIST_USE","group_type":"SRIOV","member":0,"fields":{"opcodes":' + DEEP + '}}}', "line 2): JSON nested too deep"),
    "lone-surrogate": ('{"i":0,"t":0,"kind":"annotation","text":"x\\ud800y"}', "line 2): lone surrogate \\ud800 in key 'text' at character 1"),
    "raw-surrogate-bytes": ('{"i":0,"t":0,"kind":"annotation","text":"\udcff"}', "line 2): "),
    "time-nan": ('{"i":0,"t":NaN,"kind":"owner_reset"}', "line 2): key 't' must be an integer"),
}

HEADERS = {
    "deep-header": (DEEP, "line 1: bad trace header: JSON nested too deep"),
    "deep-params": (HEADER.replace('{"objects": 4, "compat": "linux"}', DEEP), "line 1: bad trace header: JSON nested too deep"),
    "surrogate-title": ('{"mcheck_trace": 1, "profile": "virtio-1.4", "title": "\\udc00"}', "line 1: bad trace header: lone surrogate \\udc00 in key 'title'"),
}


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    _, err = capsys.readouterr()
    return code, err


def _one_line_error(code: int, err: str, path: Path, says: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"mcheck: error: {path}"), err
    assert "internal error" not in err and "Traceback" not in err
    assert says in err, err


def _commands(path: Path, tmp_path: Path, other: str) -> list[list[str]]:
    return [["show", str(path)], ["convert", str(path), str(tmp_path / f"out{other}")],
            ["replay", str(path), "--json", str(tmp_path / "r.json")]]


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_hostile_event_line(capsys, tmp_path: Path, name: str) -> None:
    line, says = EVENTS[name]
    path = tmp_path / f"{name}.jsonl"
    text = HEADER + "\n" + line + "\n"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    for argv in _commands(path, tmp_path, ".pcapng"):
        code, err = _run(capsys, *argv)
        _one_line_error(code, err, path, says)
        if argv[0] == "replay":   # the result of the readable part (no event) is still written
            assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "error"
            (tmp_path / "r.json").unlink()


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_hostile_header_line(capsys, tmp_path: Path, name: str) -> None:
    line, says = HEADERS[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_text(line + "\n")
    for argv in _commands(path, tmp_path, ".pcapng"):
        _one_line_error(*_run(capsys, *argv), path, says)


def _pcapng_header_record(text: bytes) -> bytes:
    from mcheck.trace.pcapng import BYTE_ORDER_MAGIC, IDB, LINKTYPE_USER0, SHB, _block, _epb, _options
    from mcheck.trace.record import MAGIC, RECORD, VERSION

    record = RECORD.pack(MAGIC, VERSION, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(text), 0, 0, 0) + text
    return (_block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options([(4, b"mcheck")]))
            + _block(IDB, struct.pack("<HHI", LINKTYPE_USER0, 0, 0) + _options([(2, b"mcheck"), (9, b"\x09")]))
            + _epb(0, record))


GOOD = (ROOT / "traces/faulty/two-divergences.pcapng").read_bytes()
PCAPNG = {
    # a last block whose length field says 8, shorter than any block's 12-byte frame
    "last-block-shorter-than-its-header": (GOOD + struct.pack("<III", 6, 8, 0), f"event 38 (byte offset {len(GOOD)}): bad Enhanced Packet Block length 8"),
    "epb-shorter-than-its-fields": (GOOD + struct.pack("<IIII", 6, 16, 0, 16), f"event 38 (byte offset {len(GOOD)}): bad Enhanced Packet Block length 16"),
    "cut-in-a-block-header": (GOOD + struct.pack("<II", 6, 64), f"event 38 (byte offset {len(GOOD)}): truncated block header"),
    "deep-header-record": (_pcapng_header_record(b'{"mcheck_trace":1,"profile":"virtio-1.4","expect":' + DEEP.encode() + b"}"),
                           "byte offset 88 (before event 0): bad trace header record: JSON nested too deep"),
    "surrogate-header-record": (_pcapng_header_record(b'{"mcheck_trace":1,"profile":"virtio-1.4","title":"\\ud800"}'),
                                "bad trace header record: lone surrogate \\ud800"),
    "raw-surrogate-header-record": (_pcapng_header_record(b'{"mcheck_trace":1,"profile":"virtio-1.4","title":"\xed\xa0\x80"}'),
                                    "bad trace header record: lone surrogate \\ud800"),
}


@pytest.mark.parametrize("name", sorted(PCAPNG))
def test_hostile_pcapng(capsys, tmp_path: Path, name: str) -> None:
    data, says = PCAPNG[name]
    path = tmp_path / f"{name}.pcapng"
    path.write_bytes(data)
    for argv in _commands(path, tmp_path, ".jsonl")[:2]:   # replay: tests/replay (divergences first)
        _one_line_error(*_run(capsys, *argv), path, says)
