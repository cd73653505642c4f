import io

from mcheck.report.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_shows_states_rate_frontier_depth():
    out = FakeTTY()
    p = Progress(out, env={})
    p(12_345, 678, 9, 0.5)
    text = out.getvalue()
    assert text.startswith("\r")
    for part in ("12,345", "24,690", "678", "9"):
        assert part in text
    assert "\x1b[" in text  # colour on a terminal


def test_no_color_and_dumb_terminals_get_plain_text():
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        out = FakeTTY()
        Progress(out, env=env)(10, 1, 1, 1.0)
        assert "states 10" in out.getvalue() and "\x1b[" not in out.getvalue()


def test_redraws_are_throttled_and_close_erases_the_line():
    out = FakeTTY()
    p = Progress(out, env={"NO_COLOR": "1"}, interval=1.0)
    p(1, 1, 1, 0.1)
    p(2, 1, 1, 0.5)   # within the interval: not drawn
    p(3, 1, 1, 1.2)
    assert out.getvalue().count("\r") == 2 and "states 2 " not in out.getvalue()
    p.close()
    assert out.getvalue().endswith("\r") and out.getvalue().rstrip("\r").endswith(" ")


def test_replay_events():
    out = FakeTTY()
    Progress(out, env={"NO_COLOR": "1"}).events(1500, 2.0, total=3000)
    assert "events 1,500/3,000" in out.getvalue() and "events/s 750" in out.getvalue()


def test_silent_when_not_a_terminal_or_quiet():
    for out, quiet in ((io.StringIO(), False), (FakeTTY(), True)):
        with Progress(out, quiet=quiet, env={}) as p:
            p(10, 1, 1, 1.0)
            p.events(5, 1.0)
        assert out.getvalue() == ""


def test_works_as_the_explorer_callback(counter_path):
    from mcheck.explore.bfs import Bounds
    from mcheck.explore.check import check
    from mcheck.model.registry import load_model

    out = FakeTTY()
    with Progress(out, env={}, interval=0.0) as p:
        check(load_model(counter_path, {"members": 4}), Bounds(max_states=30_000), progress=p)
    assert "states" in out.getvalue()
