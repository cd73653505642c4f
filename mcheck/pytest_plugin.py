"""pytest plugin: protocol checks and trace replays as ordinary tests.

Registered through the `pytest11` entry point, it offers:

* the `mcheck` fixture: `mcheck.check("virtio-1.4", members=3).assert_holds()` fails
  with the counterexample as `mcheck check` prints it, not with a Python traceback;
* the `mcheck_property` fixture with the `mcheck_model` marker: one test per property
  of a model, named with the property's clause IDs;
* with `--mcheck-replay` (or `mcheck_replay = true` in the ini file), every `*.jsonl` and
  `*.pcapng` file under the given paths is a test that replays the trace and fails with
  its divergence. Collection is opt-in because trace files are also test data, which a
  plain `pytest` run must not try to replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcheck.explore.bfs import Bounds
from mcheck.explore.check import DEADLOCK, check
from mcheck.model.registry import BUILTIN, load_model
from mcheck.report.junit import case_name
from mcheck.report.text import format_violation, render
from mcheck.verdict import BOUNDED, HOLDS, PROVED, VIOLATED, CheckResult, ReplayResult

TRACE_SUFFIXES = (".jsonl", ".pcapng")


class CheckOutcome:
    """A finished check, with assertions whose failure message is the counterexample."""

    def __init__(self, result: CheckResult) -> None:
        self.result = result

    def assert_holds(self, *, allow_bounded: bool = False) -> CheckOutcome:
        """Every property holds (or is proved); a bounded run fails unless `allow_bounded`."""
        accepted = {HOLDS, PROVED} | ({BOUNDED} if allow_bounded else set())
        if self.result.verdict not in accepted:
            pytest.fail(f"mcheck: {self.result.model} is {self.result.verdict}, expected it to hold\n\n"
                        + render(self.result), pytrace=False)
        return self

    def assert_violated(self, prop: str | None = None) -> CheckOutcome:
        """The run found a violation (of property `prop`, when given): for bug-catalogue tests."""
        found = [v.property for v in self.result.violations]
        if not found or (prop is not None and prop not in found):
            wanted = f"property {prop}" if prop else "a property"
            pytest.fail(f"mcheck: expected {wanted} of {self.result.model} to be violated, found "
                        f"{', '.join(found) or 'no violation'}\n\n" + render(self.result), pytrace=False)
        return self

    def assert_property(self, name: str) -> CheckOutcome:
        """One property holds; a failure shows that property's counterexample only."""
        verdicts = {p.name: p.verdict for p in self.result.properties}
        if name not in verdicts:
            pytest.fail(f"mcheck: {self.result.model} has no property {name!r} (it has {', '.join(verdicts)})",
                        pytrace=False)
        if verdicts[name] not in (HOLDS, PROVED):
            lines = [line for v in self.result.violations if v.property == name
                     for line in format_violation(v, show_initial=True)]
            bounds = ", ".join(self.result.bounds_hit)
            pytest.fail(f"mcheck: {name} is {verdicts[name]}" + (f" (bounds hit: {bounds})" if bounds else "")
                        + ("\n\n" + "\n".join(lines) if lines else ""), pytrace=False)
        return self


class Mcheck:
    """The `mcheck` fixture: runs checks; relative model paths resolve from the test's folder."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def model_spec(self, model: str) -> str:
        if model in BUILTIN or Path(model).exists():
            return model
        beside = self.base / model
        return str(beside) if beside.exists() else model

    def check(self, model: str, *, max_states: int | None = None, max_depth: int | None = None,
              timeout: float | None = None, **params: Any) -> CheckOutcome:
        """Explore `model` (built-in name or file) with `params`, within the optional bounds."""
        loaded = load_model(self.model_spec(model), params)
        result, _ = check(loaded, Bounds(max_states=max_states, max_depth=max_depth, timeout=timeout))
        return CheckOutcome(result)


@pytest.fixture
def mcheck(request: pytest.FixtureRequest) -> Mcheck:
    return Mcheck(Path(request.path).parent)


_CACHE = pytest.StashKey[dict[str, CheckOutcome]]()


class PropertyCheck:
    """One property of a checked model: what the `mcheck_property` fixture gives a test."""

    def __init__(self, outcome: CheckOutcome, name: str) -> None:
        self.outcome = outcome
        self.name = name

    def assert_holds(self) -> None:
        self.outcome.assert_property(self.name)


@pytest.fixture
def mcheck_property(request: pytest.FixtureRequest) -> PropertyCheck:
    """Parametrized by `pytest_generate_tests`, one test per property of the marked model.

    The model is checked once per model and parameters and shared by its property tests.
    """
    spec, params, name = request.param
    cache = request.config.stash.setdefault(_CACHE, {})
    key = repr((spec, sorted(params.items())))
    if key not in cache:
        cache[key] = Mcheck(Path(request.path).parent).check(spec, **params)
    return PropertyCheck(cache[key], name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mcheck_model(model, **params): the model whose properties "
                                       "`mcheck_property` enumerates, one test each")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mcheck_property" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("mcheck_model")
    if marker is None or len(marker.args) != 1:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: a test using mcheck_property needs "
                                '@pytest.mark.mcheck_model("MODEL", param=value, ...)')
    spec = Mcheck(Path(metafunc.definition.path).parent).model_spec(marker.args[0])
    model = load_model(spec, marker.kwargs)
    named = [(p.name, list(p.clauses)) for p in model.properties] + [(DEADLOCK, [])]
    metafunc.parametrize("mcheck_property", [(spec, dict(marker.kwargs), n) for n, _ in named],
                         ids=[case_name(n, c) for n, c in named], indirect=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mcheck")
    group.addoption("--mcheck-replay", action="store_true", default=None,
                    help="collect *.jsonl and *.pcapng trace files as tests that replay them")
    parser.addini("mcheck_replay", "collect trace files as replay tests", type="bool", default=False)


def _replay_enabled(config: pytest.Config) -> bool:
    option = config.getoption("mcheck_replay")
    return bool(option) if option is not None else bool(config.getini("mcheck_replay"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in TRACE_SUFFIXES and _replay_enabled(parent.config):
        return TraceFile.from_parent(parent, path=file_path)
    return None


class ReplayUnavailable(Exception):
    """This mcheck has no trace replayer (`mcheck.replay.replay_file`)."""


def replayer() -> Callable[[str], ReplayResult]:
    try:
        from mcheck.replay import replay_file
    except ImportError as exc:
        if exc.name != "mcheck.replay":
            raise
        raise ReplayUnavailable("trace replay is unavailable: this mcheck has no mcheck.replay.replay_file; "
                                "install an mcheck with the replayer or drop --mcheck-replay") from None
    return replay_file


class TraceFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield TraceItem.from_parent(self, name=self.path.name)


class TraceFailure(Exception):
    def __init__(self, result: ReplayResult) -> None:
        super().__init__(result.verdict)
        self.result = result


class TraceItem(pytest.Item):
    """One trace file: replayed through its model; passes when it conforms."""

    def runtest(self) -> None:
        result = replayer()(str(self.path))
        if result.verdict not in (HOLDS, PROVED):
            raise TraceFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TraceFailure):
            result = excinfo.value.result
            head = "diverges" if result.verdict == VIOLATED else f"is {result.verdict}"
            return f"trace {self.path.name} {head}\n\n" + render(result)
        if isinstance(excinfo.value, ReplayUnavailable):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"replay {self.path.name}"
