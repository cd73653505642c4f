"""Issue 16 item 8: a test gives up for want of a tool only through tests.conftest.unavailable
(fail under CI=true, skip elsewhere); no other test skips or reads CI on its own."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: pytest.skip / importorskip / skipif, or a test reading the CI variable itself
FORBIDDEN = re.compile(r"pytest\.skip\(|pytest\.importorskip\(|mark\.skip(?:if)?\(|environ(?:\.get)?\(?\[?[\"']CI[\"']")


def test_only_conftest_decides_skip_or_fail() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == TESTS / "conftest.py" or path == Path(__file__):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{path.relative_to(TESTS)}:{n}: {line.strip()}")
    assert not found, "use tests.conftest.unavailable / require_tool instead:\n" + "\n".join(found)
