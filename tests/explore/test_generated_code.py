"""Generated code is inspectable (issue 16 item 4): `--dump-code DIR` writes it, a traceback
through it shows its lines, its locals say which slot they hold and who reads it, and
terms known before any state is seen are folded away without changing any verdict."""

from __future__ import annotations

import linecache
import re
import traceback
from pathlib import Path

import pytest

from mcheck.cli import main
from mcheck.errors import ModelRuntimeError
from mcheck.explore import gensource
from mcheck.explore.bfs import prepare
from mcheck.explore.check import check
from mcheck.explore.codegen import Layout, generate
from mcheck.explore.fold import Folder
from mcheck.model.evaluate import evaluate
from mcheck.model.expr import BOOL, FALSE, TRUE, BitVec, BitVecSort, Enum, If, Int, Slot
from mcheck.model.registry import load_model
from mcheck.replay.stepper import step_functions

REPLAYS = Path(__file__).resolve().parents[2] / "traces"

OVERFLOW = '''
from mcheck.model.definition import Model, action, invariant
from mcheck.model.expr import Int


class Overflow(Model):
    name = "overflow"

    def setup(self):
        self.var("n", Int(0, 2), init=0)

    @action()
    def bump(self, s):
        s.n = s.n + 1

    @invariant("C-1")
    def small(self, s):
        return s.n <= 2
'''

SELF_COMPARE = r'''(\(|\b)v(\d+) (==|<=|>=) v\2\b'''


@pytest.fixture
def overflow(tmp_path: Path) -> str:
    path = tmp_path / "overflow.py"
    path.write_text(OVERFLOW)
    return str(path)


@pytest.fixture
def no_dump():
    yield
    gensource.dump_to(None)


def _generated_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(gensource.PREFIX)]


# ---------------------------------------------------------------------- linecache


def test_a_traceback_through_the_explorer_shows_the_generated_line(overflow: str) -> None:
    model = load_model(overflow)
    with pytest.raises(ModelRuntimeError, match="sets n to 3, outside int") as info:
        check(model)
    frames = _generated_frames(info.value)
    assert frames, "no frame in generated code"
    text = "".join(traceback.format_exception(info.value))
    assert 'File "<mcheck-generated/explore-overflow-' in text
    # the line that called range_fail, with its text, as a traceback prints it
    assert frames[-1].line.startswith("if not 0 <= t0 <= 2: range_fail(0, 0, t0, x)")
    assert frames[-1].line in text


def test_a_traceback_through_a_replay_step_shows_the_generated_line(overflow: str) -> None:
    model = load_model(overflow)
    steps = step_functions(model, Layout.of(model))
    with pytest.raises(TypeError) as info:
        steps[0]("not a state")   # the unpacking of slot 0 fails
    (frame,) = _generated_frames(info.value)
    assert frame.filename.startswith("<mcheck-generated/replay-overflow-")
    assert frame.name == "step_0"
    assert frame.line.startswith("v0 = x & 3  # slot 0 n int[0..2]")
    assert frame.line in "".join(traceback.format_exception(info.value))


def test_a_traceback_through_the_canonicaliser_shows_the_generated_line(counter_model_path: str) -> None:
    search = prepare(load_model(counter_model_path, {"members": "3"}), symmetry=True)   # ids 2 and 3 permuted
    assert search.canon is not None
    with pytest.raises(TypeError) as info:
        search.canon("not a state")
    (frame,) = _generated_frames(info.value)
    assert frame.filename.startswith("<mcheck-generated/canon-counter-") and frame.name == "canon"
    assert re.match(r"b0 = \(y >> \d+\) & \d+  # id 2: slots \d+, \d+, \d+$", frame.line)


def test_the_pseudo_filename_is_stable_and_released_with_the_code(counter_model_path: str) -> None:
    model = load_model(counter_model_path)
    first = generate(model, record_edges=False)
    again = generate(load_model(counter_model_path), record_edges=False)
    assert first.filename == again.filename
    assert linecache.getline(first.filename, 1).startswith("# mcheck generated code: explorer")
    del first
    import gc
    gc.collect()
    assert linecache.getline(again.filename, 1), "dropped while a copy is alive"
    name = again.filename
    del again
    gc.collect()
    assert name not in linecache.cache


# ---------------------------------------------------------------------- --dump-code


def test_check_dump_code_writes_the_source_it_runs(counter_model_path: str, tmp_path: Path, capsys, no_dump) -> None:
    out = tmp_path / "code"
    assert main(["check", counter_model_path, "-p", "members=3", "--symmetry", "-q", "--dump-code", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert [f.split("-")[0] for f in files] == ["canon", "explore"], files
    explore_file = next(out.glob("explore-counter-*.py"))
    compiled = prepare(load_model(counter_model_path, {"members": "3"}), symmetry=True).compiled
    assert explore_file.read_text() == compiled.source
    assert compiled.filename == f"<mcheck-generated/{explore_file.name}>"
    compile(explore_file.read_text(), str(explore_file), "exec")


def test_replay_dump_code_writes_the_step_functions(tmp_path: Path, capsys, no_dump) -> None:
    out = tmp_path / "code"
    code = main(["replay", str(REPLAYS / "linux" / "r0-pf-bringup.jsonl"), "-q", "--dump-code", str(out)])
    assert code == 0, capsys.readouterr()
    (step_file,) = out.glob("replay-virtio-1.4-*.py")
    text = step_file.read_text()
    assert text.startswith("# mcheck generated code: replayer step functions for model virtio-1.4")
    assert re.search(r"^def step_0\(x\):  # action 0: list_query\(group=0\)$", text, re.M)
    assert not re.search(SELF_COMPARE, text)


def test_dump_code_into_a_file_is_one_line_exit_2(counter_model_path: str, tmp_path: Path, capsys) -> None:
    f = tmp_path / "file"
    f.write_text("")
    assert main(["check", counter_model_path, "--dump-code", str(f)]) == 2
    err = capsys.readouterr().err
    assert err == f"mcheck: error: --dump-code {f}: exists and is not a directory\n"


# ---------------------------------------------------------------------- comments


def test_every_local_names_its_slot_and_its_readers(counter_model_path: str) -> None:
    model = load_model(counter_model_path)
    source = generate(model, record_edges=False).source
    unpacks = re.findall(r"^\s*v(\d+) = .*$", source, re.M)
    assert unpacks
    for line in re.findall(r"^\s*v\d+ = .*$", source, re.M):
        i = int(re.match(r"\s*v(\d+)", line).group(1))  # type: ignore[union-attr]
        assert f"# slot {i} {model.slots[i].name} " in line, line
    inflight = next(line for line in source.splitlines() if re.match(r"\s+v\d+ = .*# slot \d+ inflight\[1\]", line))
    assert inflight.endswith("int[0..2]: actions post, dma_write, mode_set")
    dma = next(line for line in source.splitlines() if re.match(r"\s+v\d+ = .*# slot \d+ dma\[1\]", line))
    assert dma.endswith("actions dma_write; properties some_dma")
    assert re.search(r"goal_hit\(\d+, pid\)  # sometimes some_dma$", source, re.M)
    assert re.search(r"tp_fail\(\d+, pid, \d+, y\)  # transition property no_dma_while_stopped$", source, re.M)
    assert re.search(r"^\s+t\d+ = .*  # new dma\[2\]$", source, re.M)
    assert "# action 0: post(m=1)" in source


def test_comments_cannot_break_out_of_their_line() -> None:
    assert gensource.comment("a\nb\r\u2028c\x0cd") == "a\\nb\\r\\u2028c\\x0cd"


# ---------------------------------------------------------------------- folding


def test_the_real_model_has_no_self_comparison_left() -> None:
    model = load_model("virtio-1.4", {"members": "2"})
    source = generate(model, record_edges=False).source
    assert not re.search(SELF_COMPARE, source)
    # folded away: a member's bool compared with both of its values
    assert not re.search(r"\(\(v(\d+) == 0\) or \(v\1 == 1\)\)", source)


def test_counter_invariant_that_is_always_true_costs_nothing(counter_model_path: str) -> None:
    source = generate(load_model(counter_model_path), record_edges=False).source
    assert "stopped_means_drained" not in source   # `return True`: no check is generated


X = Slot(0, Int(0, 3), "x")
Y = Slot(1, Int(0, 3), "y")
B = Slot(2, BOOL, "b")
V = Slot(3, BitVec(8), "v")
E = Slot(4, Enum("mode", "on", "off", "gone"), "e")


@pytest.mark.parametrize("expr, folded", [
    (X == X, TRUE), (X != X, FALSE), (X <= X, TRUE), (X < X, FALSE), ((X + 1) >= (X + 1), TRUE),
    (X <= 3, TRUE), (X > 3, FALSE), (X >= 0, TRUE), (X == 7, FALSE), (X < Y + 4, TRUE),
    (V <= 255, TRUE), ((V + 1) <= X + 255, TRUE),
    ((B == 0) | (B == 1), TRUE), ((E == "on") | (E == "off") | (E == "gone"), TRUE),
    (If(B, X, X) == X, TRUE), ((X == X) & (Y == Y), TRUE),
])
def test_folded_terms(expr, folded) -> None:
    assert Folder().fold(expr) is folded


@pytest.mark.parametrize("expr", [
    X == Y, X < 3, (E == "on") | (E == "off"), B == 1, V < 255,
    If(B, V, X + 297) == X + 297,   # typed bv8, but the int branch is not masked: may be 300
    If(B, X, Y + 0) == X,
])
def test_terms_that_depend_on_the_state_stay(expr) -> None:
    folded = Folder().fold(expr)
    assert folded is not TRUE and folded is not FALSE


def _reference_successors(model, layout: Layout, x: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(action, next state) and (action, broken transition property) by the reference
    interpreter on the model's unfolded expressions."""
    vals = layout.unpack(x)
    nxt, broken = [], []
    for act in model.actions:
        if not evaluate(act.guard, vals):
            continue
        new = list(vals)
        for slot, e in act.assigns.items():
            sort = model.slots[slot].sort
            v = evaluate(e, vals)
            new[slot] = v & sort.mask if isinstance(sort, BitVecSort) else v
        nxt.append((act.index, layout.pack(tuple(new))))
        for k, p in enumerate(model.properties):
            cond = p.per_action.get(act.index)
            if cond is not None and not evaluate(cond, vals):
                broken.append((act.index, k))
    return nxt, broken


@pytest.mark.parametrize("spec, params", [("counter", {}), ("virtio-1.4", {"members": "1"})])
def test_folded_code_steps_as_the_reference_interpreter(spec: str, params: dict, counter_model_path: str) -> None:
    """Every reachable state (the first 3,000 for the real model): the generated code's
    successors and broken transition properties are those of the unfolded model."""
    model = load_model(counter_model_path if spec == "counter" else spec, params)
    compiled = generate(model, record_edges=False)
    layout = compiled.layout
    seen = {layout.pack(v) for v in model.initial}
    todo = list(seen)
    while todo and len(seen) < 3000:
        x = todo.pop()
        want, broken = _reference_successors(model, layout, x)
        assert compiled.successors(x) == want
        assert compiled.transition_failures(x) == broken
        for _, y in want:
            if y not in seen:
                seen.add(y)
                todo.append(y)
    assert len(seen) > 50
