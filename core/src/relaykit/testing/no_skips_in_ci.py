"""A pytest plugin: under ``CI=true`` a skipped test fails the run.

A test that skips in CI checks nothing there while the run looks green: a
service that stopped, a binary not installed, a parametrized case that does
not apply. Where a test needs something the machine may lack, it skips with
a reason on a developer's machine and fails in CI; a case that never applies
belongs outside the parametrization. Load it with ``-p
relaykit.testing.no_skips_in_ci`` or ``pytest_plugins`` in a conftest
(relaykit's own root conftest does). Expected failures (``xfail``) are left as
they are.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

__all__ = ["pytest_runtest_makereport"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn a skip into a failure that names the skip's reason, under ``CI=true``."""
    report = yield
    if not report.skipped or hasattr(report, "wasxfail") or os.environ.get("CI") != "true":
        return report
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI=true ({reason}): a test must not skip in CI; give it what it"
        " needs there, or leave the case out of its parametrization"
    )
    return report
