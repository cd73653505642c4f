"""SPIN cross-check: the Promela export reaches exactly mcheck's states and verdicts.

Each model configuration is exported, compiled once (gcc -O0: compiles fast, the state
spaces here are small) and run exhaustively; mcheck's count of distinct states and its
set of violated safety properties (invariants, transition properties, deadlock) must
equal SPIN's "states, stored" and the properties named in its assertion messages.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial, cache
from pathlib import Path

import pytest

from mcheck.errors import InputError
from mcheck.explore.check import check
from mcheck.export.promela import to_promela
from mcheck.export.spin import run_spin, spin_missing
from mcheck.model.registry import find_model_class, load_model
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
COUNTER = str(ROOT / "tests" / "models" / "counter.py")
EXOTIC = str(ROOT / "tests" / "export" / "exotic_model.py")


def _need_spin() -> None:
    reason = spin_missing()
    if reason:
        unavailable(reason)


def _bugs(spec: str) -> list[str]:
    """The model's bug catalogue."""
    return list(find_model_class(spec).bugs)


def _configs() -> list:
    out = []
    for members in (1, 2, 3):
        for bug in ("none", "dma-after-stop"):
            out.append(pytest.param(COUNTER, (("members", members), ("bug", bug)), id=f"counter-m{members}-{bug}"))
    for bug in ("none", *_bugs(EXOTIC)):
        out.append(pytest.param(EXOTIC, (("width", 3), ("bug", bug)), id=f"exotic-w3-{bug}"))
    # (model, size that every catalogue bug is checked at, extra correct sizes); draft-v1 has
    # 1.1 million states at members=2, too many for a unit test. The default run checks each
    # model's correct configurations and its first catalogue bug; the other bugs are slow
    # rows (the same export and comparison, one SPIN compile and run each)
    for spec, size, extra in (("virtio-1.4", {"members": 1}, ({"members": 1, "sets": "exact"},)), ("draft-v1", {"members": 1}, ()),
                              ("virtio-1.4-migration", {"buffers": 1, "faults": 0}, ())):
        bugs = _bugs(spec)
        for sz, bug in [*((e, "none") for e in extra), *((size, b) for b in ("none", *bugs))]:
            items = tuple(sorted({**sz, "bug": bug}.items()))
            size_id = "-".join(f"{k[0]}{v}" for k, v in sorted(sz.items()) if k not in ("sets",))
            slow = [pytest.mark.slow] if bug not in ("none", *bugs[:1]) else []
            out.append(pytest.param(spec, items, marks=slow,
                                    id=f"{spec}-{size_id}{'-exact' if sz.get('sets') else ''}-{bug}"))
    return out


CONFIGS = _configs()


@cache
def _compare(spec: str, items: tuple) -> tuple[int, set[str], int, set[str], list[str]]:
    model = load_model(spec, dict(items))
    result, _ = check(model)
    violated = {p.name for p in result.properties if p.verdict == "violated" and p.kind != "sometimes"}
    spin = run_spin(to_promela(model), states_hint=result.states, opt="-O0", timeout=120)
    assert spin.complete, spin.output
    return result.states, violated, spin.states, spin.violated, spin.other_errors


@pytest.fixture(scope="module", autouse=True)
def _warm(request: pytest.FixtureRequest) -> None:
    """Compile and run the selected configurations two at a time (gcc runs outside the GIL)."""
    if spin_missing():
        return
    selected = {item.callspec.id for item in request.session.items
                if getattr(item, "module", None) is request.module and hasattr(item, "callspec")}
    todo = [p.values for p in CONFIGS if p.id in selected]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda v: _safe(*v), todo))


def _safe(spec: str, items: tuple) -> None:
    try:
        _compare(spec, items)
    except Exception:  # reported by the test itself
        pass


@pytest.mark.parametrize(("spec", "items"), CONFIGS)
def test_spin_agrees_with_mcheck(spec: str, items: tuple | None) -> None:
    _need_spin()
    states, violated, spin_states, spin_violated, other = _compare(spec, items)
    assert spin_states == states, f"SPIN stored {spin_states} states, mcheck {states}"
    assert spin_violated == violated
    assert other == []


def test_catalogue_bugs_are_found() -> None:
    """Sanity of the comparison itself: every counter/exotic bug is a violation for both."""
    _need_spin()
    for p in CONFIGS:
        spec, items = p.values
        if spec in (COUNTER, EXOTIC) and items and dict(items)["bug"] != "none":
            _, violated, _, spin_violated, _ = _compare(spec, items)
            assert violated and violated == spin_violated, p.id


def test_wide_bitvector_is_refused(tmp_path: Path) -> None:
    model_file = tmp_path / "wide.py"
    model_file.write_text(
        "from mcheck.model.definition import Model, action\n"
        "from mcheck.model.expr import BitVec\n"
        "class Wide(Model):\n"
        "    name = 'wide'\n"
        "    def setup(self):\n"
        "        self.var('addr', BitVec(64), init=0)\n"
        "    @action()\n"
        "    def bump(self, s):\n"
        "        s.addr = s.addr + 1\n")
    with pytest.raises(InputError, match="width 64"):
        to_promela(load_model(str(model_file), {}))


def test_export_text_shape() -> None:
    export = to_promela(load_model(COUNTER, {"members": 2}))
    text = export.text
    assert "active proctype mcheck_model()" in text
    assert text.count(":: d_step") == 8 + 1  # 8 actions + the deadlock/end-state option
    assert "some_dma" in export.skipped
    assert set(export.prop_markers.values()) == {"no_dma_while_stopped", "deadlock_free"}


def _mcheck(argv: list[str]) -> int:
    """Run `mcheck` in-process with the export sub-command registered (whatever mcheck.cli lists)."""
    from mcheck import cli as main_cli
    from mcheck.export import cli as export_cli

    parser = main_cli._Parser(prog="mcheck")
    sub = parser.add_subparsers(dest="command", parser_class=main_cli._Parser)
    export_cli.register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as exc:
        print(f"mcheck: error: {exc}", file=sys.stderr)
        return 2


def test_cli_export_and_spin(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "counter.pml"
    argv = ["export", COUNTER, "-p", "members=1", "-p", "bug=dma-after-stop", "--promela", str(out)]
    assert _mcheck(argv) == 0
    assert out.read_text().startswith("/* mcheck export of model counter")
    assert "wrote" in capsys.readouterr().out
    assert _mcheck(["export", COUNTER, "-p", "members=99", "--promela", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "members" in err
    if spin_missing() is None:
        import mcheck.export.spin as spin_mod

        monkeypatch.setattr(spin_mod, "run_spin", partial(spin_mod.run_spin, opt="-O0"))
        assert _mcheck(argv + ["--spin"]) == 1
        text = capsys.readouterr().out
        assert "SPIN: 24 states stored" in text and "violated: no_dma_while_stopped" in text
