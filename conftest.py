"""Shared pytest setup: every async test runs under asyncio and trio (anyio's plugin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    import relaykit

# Shipped test helpers get pytest's assertion messages too.
pytest.register_assert_rewrite("relaykit.testing")

# Under CI=true a skipped test fails the run (it would check nothing, looking green).
pytest_plugins = ["relaykit.testing.no_skips_in_ci"]

# Property tests check values, not speed (speed is measured in bench/): on a
# loaded two-core CI machine hypothesis' default 200 ms deadline per example and
# its "too slow" health check fail tests that are right (seen on
# test_arguments_sent_as_json_come_back_as_they_were), so both are off.
settings.register_profile(
    "relaykit", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("relaykit")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per backend."""
    return str(request.param)


@pytest.fixture(scope="session", autouse=True)
def _http_stacks_imported() -> None:
    """Import both HTTP stacks, and make httpx's shared SSL context, once per test process.

    A client's first call does it (a third of a second cold, more on a loaded
    machine) and stops its clock meanwhile, but not a test's own: a test that
    cancels its first call after 0.05 s would pass or fail by whether an earlier
    test in its process had imported them (seen: test_cache_chaos, run alone).
    """
    import httpcore  # noqa: F401  (httpx leaves it to its first request)

    import relaykit.httpx_body
    import relaykit.httpx_client
    import relaykit_aiohttp.client  # noqa: F401  (aiohttp, for asyncio's "auto")

    relaykit.httpx_client.shared_ssl_context()


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keep the developer's own config, keys and plugin filters out of tests."""
    import os

    for name in list(os.environ):
        if name.startswith("RELAYKIT_") or name.endswith("_API_KEY") or name.endswith("_BASE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))


# -- a wall clock near a period's end, to show a test does not depend on the date --


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wall-clock-near",
        choices=("day", "month"),
        default=None,
        help="start each test with the wall clock relaykit reads --wall-clock-lead seconds"
        " before the next UTC day's (or month's) end: a test that depends on the date fails",
    )
    parser.addoption(
        "--wall-clock-lead",
        type=float,
        default=0.005,
        help="seconds before the period's end each test starts at (default 0.005)",
    )


@pytest.fixture(autouse=True)
def _wall_clock_near_a_period_end(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``--wall-clock-near``, shift every wall clock relaykit reads (off otherwise).

    It is a check to run by hand, not a way to write tests: ``time.time``, the
    limiters', catalog's, retention's and stored cache's clock defaults (bound
    when their modules load) and the CLI's ``datetime.now`` all run on from
    ``--wall-clock-lead`` seconds before the end of the current UTC day or
    month, so a test that runs longer crosses into the next one. Child
    processes, and servers such as Prometheus, keep the real clock.
    """
    period = request.config.getoption("--wall-clock-near")
    if period is None:
        return
    import datetime
    import importlib
    import time

    from relaykit.budgets import period_span

    real = time.time
    _, _, end = period_span(period, real())
    offset = end - request.config.getoption("--wall-clock-lead") - real()

    def shifted() -> float:
        return real() + offset

    class ShiftedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> ShiftedDatetime:
            return cls.fromtimestamp(shifted(), tz)

    monkeypatch.setattr(time, "time", shifted)
    for module, name in [
        ("relaykit.memory_limiter", "MemoryRateLimiter"),
        ("relaykit.model_catalog", "ModelCatalog"),
        ("relaykit.retention", "RetentionPolicy"),
        ("relaykit.response_cache", "StorageCache"),
        ("relaykit_redis.limiter", "RedisRateLimiter"),
    ]:
        init = getattr(importlib.import_module(module), name).__init__
        if init.__defaults__:
            defaults = tuple(shifted if d is real else d for d in init.__defaults__)
            monkeypatch.setattr(init, "__defaults__", defaults)
        if init.__kwdefaults__:
            kwdefaults = {k: shifted if d is real else d for k, d in init.__kwdefaults__.items()}
            monkeypatch.setattr(init, "__kwdefaults__", kwdefaults)
    for module in ("relaykit.cli.when", "relaykit.cli.logs"):
        monkeypatch.setattr(f"{module}.datetime", ShiftedDatetime)


@pytest.fixture
def closed_after() -> Iterator[Callable[[relaykit.Client], relaykit.Client]]:
    """``closed_after(relaykit.Client(...))``: for a synchronous test that builds a
    client only to look at it (never entered), closed once the test is over.

    Dropped open instead, the client is reported (a ResourceWarning, an error here)
    when collected, which may be during whichever test runs next.
    """
    import anyio

    made: list[relaykit.Client] = []

    def close_later(client: relaykit.Client) -> relaykit.Client:
        made.append(client)
        return client

    yield close_later
    for client in made:
        anyio.run(client.aclose)


# -- which test left a client open ---------------------------------------------------

#: the test running now (its node id), for the clients it makes
_running_test = ""


@pytest.fixture(autouse=True)
def _note_the_running_test(request: pytest.FixtureRequest) -> Iterator[None]:
    global _running_test
    _running_test = request.node.nodeid
    yield
    _running_test = ""


def pytest_configure(config: pytest.Config) -> None:
    """Name, in a dropped client's ResourceWarning, the test that made it.

    The warning comes when the client is collected, which may be during whichever
    test runs next, in the same worker: that test fails (warnings are errors here)
    and says nothing of the one at fault. Made by a test, a client keeps its node id
    and the warning says it.
    """
    import functools
    import warnings

    import relaykit

    made = relaykit.Client.__init__
    collected = relaykit.Client.__del__

    @functools.wraps(made)  # its signature stays the client's (test_sync_client.py)
    def __init__(self: relaykit.Client, *args: object, **kwargs: object) -> None:
        self._made_by_test = _running_test  # type: ignore[attr-defined]
        made(self, *args, **kwargs)  # type: ignore[arg-type]  # (the same arguments)

    def __del__(self: relaykit.Client) -> None:
        maker = getattr(self, "_made_by_test", "")

        def named(message: str, category: type[Warning], source: object = None) -> None:
            if maker:
                message = f"{message} (made by the test {maker})"
            warnings.warn(message, category, stacklevel=2, source=source)

        collected(self, named)

    relaykit.Client.__init__ = __init__  # type: ignore[method-assign]
    relaykit.Client.__del__ = __del__  # type: ignore[method-assign,assignment]
