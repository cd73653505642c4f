"""--workers N: the same counts, verdicts and counterexample lengths as one worker."""

from __future__ import annotations

import pytest

from mcheck.errors import InputError
from mcheck.explore.bfs import Bounds
from mcheck.explore.check import check
from mcheck.model.registry import load_model
from tests.explore.conftest import replay_on_unreduced, verdicts


def _same(model, bounds=None, symmetry=False, workers=2, one=None):
    bounds = bounds or Bounds()
    if one is None:
        one, _ = check(model, bounds, symmetry=symmetry)
    many, exp = check(model, bounds, symmetry=symmetry, workers=workers)
    assert (many.states, many.transitions, many.depth, many.verdict) == \
           (one.states, one.transitions, one.depth, one.verdict)
    assert verdicts(many) == verdicts(one)
    # level-synchronous: still shortest
    assert {v.property: len(v.witness.steps) for v in many.violations} == \
           {v.property: len(v.witness.steps) for v in one.violations}
    assert many.coverage["actions"] == one.coverage["actions"]
    assert exp.workers == workers
    return many


# symmetry=True is a slow row: workers with the symmetry reduction are also run in the
# default test_pinned_count_with_three_workers, and the agreement itself by the row without
@pytest.mark.parametrize("symmetry", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("bug", ["dma-after-stop"])   # the whole 393,216-state space, with a violation
def test_virtio_two_workers_match_one(bug, symmetry, explored):
    params = {"members": 2, "bug": bug}
    model = load_model("virtio-1.4", params)
    many = _same(model, symmetry=symmetry, one=explored("virtio-1.4", params, symmetry=symmetry))
    replay_on_unreduced(model, many)


@pytest.mark.parametrize("workers", [2, 3])
def test_counter_workers_match_one(counter_model_path, workers):
    model = load_model(counter_model_path, {"members": "3", "bug": "dma-after-stop"})
    many = _same(model, workers=workers)
    replay_on_unreduced(model, many)


def test_depth_bound_matches_one_worker(counter_model_path):
    many = _same(load_model(counter_model_path, {"members": "3"}), Bounds(max_depth=4))
    assert many.verdict == "bounded" and many.bounds_hit == ["max-depth 4"]


def test_pinned_count_with_three_workers():
    result, _ = check(load_model("virtio-1.4", {"members": 2}), workers=3, symmetry=True)
    assert result.states == 197632 and result.verdict == "holds"


def test_workers_refuse_graph_and_checkpoint(counter_model_path, tmp_path):
    model = load_model(counter_model_path, {"members": "2"})
    with pytest.raises(InputError, match="--workers"):
        check(model, workers=2, record_edges=True)
    with pytest.raises(InputError, match="--workers"):
        check(model, workers=2, resume=str(tmp_path))
