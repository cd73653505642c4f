"""k-induction on the built-in models (skipped while a model file is missing).

virtio-1.4 declares one strengthening invariant (buffers are conserved per queue) as
`auxiliary`; with it every safety property is proved, without it induction fails with a
counterexample to induction. Whatever a model's state, an unproved property must
come with a counterexample to induction, never a silent `bounded`.
"""

from __future__ import annotations

import pytest

from mcheck.errors import InputError
from mcheck.model.build import build_model
from mcheck.model.registry import find_model_class, load_model
from mcheck.symbolic.induction import prove


def _class(name: str):  # type: ignore[no-untyped-def]
    try:
        return find_model_class(name)
    except InputError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("name", ["virtio-1.4", pytest.param("draft-v1", marks=pytest.mark.slow)])
def test_every_unproved_property_has_a_counterexample_to_induction(name: str) -> None:
    _class(name)
    result = prove(load_model(name))
    assert result.verdict in ("proved", "bounded")
    unproved = {p.name for p in result.properties if p.kind != "sometimes" and p.verdict != "proved"}
    explained = {v.property for v in result.violations if v.kind == "induction"}
    if "value_ranges" in explained:  # then nothing is claimed, but each failure is still explained
        unproved -= {p.name for p in result.properties}
    assert unproved <= explained


def test_virtio_1_4_is_proved() -> None:
    result = prove(load_model("virtio-1.4", {"members": 2}))
    assert result.verdict == "proved", result.notes
    assert all(p.verdict == "proved" for p in result.properties if p.kind != "sometimes")


@pytest.mark.slow
def test_virtio_1_4_is_proved_at_64_members() -> None:
    result = prove(load_model("virtio-1.4", {"members": 64}))
    assert result.verdict == "proved", result.notes


def test_without_its_strengthening_invariant_induction_fails_with_a_counterexample() -> None:
    base = _class("virtio-1.4")

    class Unstrengthened(base):  # type: ignore[misc, valid-type]
        auxiliary = ()

        def buffers_conserved(self, s):  # type: ignore[no-untyped-def]  # not decorated: removed
            return None

    result = prove(build_model(Unstrengthened, {"members": 2}))
    assert result.verdict == "bounded"
    assert any(v.kind == "induction" for v in result.violations)
