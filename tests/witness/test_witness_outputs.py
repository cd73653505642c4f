"""`mcheck witness`: the command's files (trace header, replay, ITF structure) and its errors."""

from __future__ import annotations

import json

import jsonschema
import pytest

from mcheck.cli import main
from mcheck.replay import replay_file
from mcheck.trace.io import read_trace

# Apalache's Informal Trace Format (ADR-015), as far as mcheck writes it
VALUE = {"oneOf": [
    {"type": "boolean"}, {"type": "string"},
    {"type": "integer", "minimum": -(2 ** 53 - 1), "maximum": 2 ** 53 - 1},
    {"type": "object", "required": ["#bigint"], "additionalProperties": False,
     "properties": {"#bigint": {"type": "string", "pattern": "^-?[0-9]+$"}}},
    {"type": "object", "required": ["#tup"], "additionalProperties": False,
     "properties": {"#tup": {"type": "array", "items": {"$ref": "#/$defs/value"}}}},
    {"type": "object", "required": ["#set"], "additionalProperties": False,
     "properties": {"#set": {"type": "array", "items": {"$ref": "#/$defs/value"}}}},
    {"type": "object", "required": ["#map"], "additionalProperties": False,
     "properties": {"#map": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                                         "items": {"$ref": "#/$defs/value"}}}}},
]}
ITF_SCHEMA = {
    "$defs": {"value": VALUE},
    "type": "object", "required": ["#meta", "vars", "states"],
    "properties": {
        "#meta": {"type": "object"},
        "vars": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "states": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["#meta"],
            "properties": {"#meta": {"type": "object", "required": ["index"],
                                     "properties": {"index": {"type": "integer", "minimum": 0}}}},
            "additionalProperties": {"$ref": "#/$defs/value"}}},
    },
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("w")
    rc = main(["witness", "virtio-1.4", "-p", "bug=stop-not-idempotent", "--trace", str(out / "w.pcapng"),
               "--itf", str(out / "w.itf.json"), "-q"])
    assert rc == 0
    return out


def test_itf_is_valid_and_complete(written):
    data = json.loads((written / "w.itf.json").read_text())
    jsonschema.validate(data, ITF_SCHEMA)
    assert [s["#meta"]["index"] for s in data["states"]] == list(range(len(data["states"])))
    for s in data["states"]:                      # every variable in every state
        assert set(s) - {"#meta"} == set(data["vars"])
    assert data["#meta"]["property"] == "mode_set_is_idempotent"
    assert data["#meta"]["clauses"] == ["D-DP-20", "D-DP-21"]
    assert len(data["states"]) == 4               # initial + LIST_USE, stop, stop refused
    assert data["states"][3]["#meta"]["action"] == "mode_set(m=1, flags=1)"
    mode = dict((k, v) for k, v in data["states"][2]["mode"]["#map"])
    assert mode[1] == "stopped"


def test_bigint_and_tuples():
    from mcheck.witness.itf import state_vars
    got = state_vars({"x": 2 ** 60, "a[1][2]": True, "b[k]": -3})
    assert got == {"x": {"#bigint": str(2 ** 60)}, "a": {"#map": [[{"#tup": [1, 2]}, True]]},
                   "b": {"#map": [["k", -3]]}}
    jsonschema.validate({"#meta": {}, "vars": ["x"], "states": [{"#meta": {"index": 0}, **got}]}, ITF_SCHEMA)


@pytest.mark.slow      # the replay's suspect search takes about 20 s
def test_trace_header_names_the_correct_model_and_replay_diverges_there(written):
    trace = read_trace(written / "w.pcapng")
    h = trace.header
    assert h.profile == "virtio-1.4" and "bug" not in h.params and h.params["members"] == 2
    expect = h.doc["expect"]
    assert expect["bug"] == "stop-not-idempotent" and expect["verdict"] == "violated"
    result = replay_file(written / "w.pcapng")
    assert result.verdict == "violated"
    (v,) = result.violations
    assert v.event_index == expect["divergence_event"] == 5
    # the replay names the bug as the suspect, breaking the violated property with its clauses there
    suspects = result.coverage["suspects"]
    assert {"bug": "stop-not-idempotent", "property": "mode_set_is_idempotent", "clauses": ["D-DP-20", "D-DP-21"],
            "event_index": 5} in [{k: s[k] for k in ("bug", "property", "clauses", "event_index")} for s in suspects]
    assert set(v.clauses) >= {"D-DP-20", "D-DP-21"}


@pytest.mark.parametrize("argv,message", [
    (["virtio-1.4", "-p", "bug=ok-with-qualifier"], "nothing to write"),
    (["virtio-1.4", "-p", "bug=ok-with-qualifier", "--trace", "x.txt"], "unknown trace format"),
    (["virtio-1.4", "-p", "bug=ok-with-qualifier", "--itf", "/nonexistent/x.json"], "--itf"),
    (["virtio-1.4", "-p", "members=1", "--property", "nope", "--itf", "x.json"], "not a property of the model"),
    (["virtio-1.4", "-p", "members=1", "--property", "restore_reachable", "--itf", "x.json"], "sometimes goal"),
])
def test_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["witness", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mcheck: error:") and message in err, err
