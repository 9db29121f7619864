"""Under CI=true a skipped test fails the run; elsewhere it stays a skip."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import pytest

def test_needs_a_service():
    pytest.skip("PostgreSQL is not running")

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False

def test_fine():
    pass
"""


@pytest.mark.parametrize(("ci", "skipped", "failed"), [("true", 0, 1), ("", 1, 0)])
def test_a_skip_fails_the_run_only_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, skipped: int, failed: int
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_inprocess(
        "-p", "relaykit.testing.no_skips_in_ci", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=1, skipped=skipped, failed=failed, xfailed=1)
    if failed:
        result.stdout.fnmatch_lines(["*skipped under CI=true (PostgreSQL is not running)*"])
