"""A cache store that stalls cannot stall a call: the core bounds every operation of it.

The stores here are plugins' (``[cache] backend = "shelf"``) that never answer,
or answer only after ignoring a cancellation for a while. Each call must return
the provider's answer, the store's operations counted as cache errors. The
``fail_after`` bounds are backstops against a hang, far above the bounds the
client should keep (it has no business being timed here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import cache_store
from relaykit.cache_store import GuardedCacheStore
from relaykit.testing import FakePlugin, mock_vector

from .conftest import Shelf, StorePlugin

#: what a test waits at most before calling the client stalled
HANG = 10


class Hanging(Shelf):
    """A store whose operations wait until cancelled (``hanging``) or answer."""

    def __init__(self, *, gets: bool = True, puts: bool = True) -> None:
        super().__init__()
        self.gets, self.puts = gets, puts

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        await self._maybe_hang(self.gets)
        return await super().cached_response(key)

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        await self._maybe_hang(self.puts)
        await super().cache_response(key, expires_at, response)

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        await self._maybe_hang(self.gets)
        return await super().cached_responses(keys)

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        await self._maybe_hang(self.puts)
        await super().cache_responses(entries)

    async def _maybe_hang(self, hangs: bool) -> None:
        if hangs:
            self.calls += 1  # (Shelf counts those that go on)
            await anyio.sleep_forever()


class Stubborn(Shelf):
    """A store that finishes each wait of ``delay`` seconds before it notices a
    cancellation: as one whose driver shields its I/O, or waits on a worker thread
    (``anyio.to_thread.run_sync`` without ``abandon_on_cancel``). Shelf counts calls."""

    delay = 0.0

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(self.delay)
        return await super().cached_response(key)

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(self.delay)
        await super().cache_response(key, expires_at, response)


def settings(**cache: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "cache": {"enabled": True, "backend": "shelf", "timeout": 0.05, **cache},
    }


@pytest.fixture
def short_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's first operation bounded by 0.2 s, not 5 (the test need not wait)."""
    monkeypatch.setattr(cache_store, "OPEN_TIMEOUT", 0.2)


@pytest.mark.anyio
@pytest.mark.usefixtures("short_open")
async def test_a_plugin_store_that_never_answers_cannot_stall_a_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, fake = Hanging(), FakePlugin()
    caplog.set_level(logging.INFO, logger="relaykit.cache")
    with anyio.fail_after(HANG):
        async with relaykit.Client(
            settings(retry_after=0), plugins=[fake, StorePlugin(store)]
        ) as client:
            answers = [await client.chat("fake/m", f"q{i}", temperature=0) for i in range(3)]
            async with client.stream("fake/m", "s", temperature=0) as s:
                streamed = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
            vectors = await client.embed("fake/emb-1", ["one"])
            errors = client.cache_errors
    assert [a.text for a in answers] == ["echo: q0", "echo: q1", "echo: q2"]
    assert not any(a.cache_hit for a in answers)
    assert streamed == "echo: s" and vectors.vectors == (mock_vector("one"),)
    # every lookup and write was tried (retry_after = 0) and timed out
    assert errors == store.calls == 10
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    expected = "store (shelf) failed: TimeoutError: no answer within 0.2s of its first use"
    assert expected in warnings[0]


@pytest.mark.anyio
@pytest.mark.usefixtures("short_open")
async def test_a_write_that_never_ends_is_skipped_though_it_runs_shielded() -> None:
    # lookups answer (a miss), writes hang: the write after an answer is shielded
    # from the caller's cancellation, so only the core's bound can end it
    store = Hanging(gets=False)
    plugins = [FakePlugin(), StorePlugin(store)]
    async with relaykit.Client(settings(retry_after=0), plugins=plugins) as client:
        with anyio.fail_after(HANG):
            answer = await client.chat("fake/m", "q", temperature=0)
            async with client.stream("fake/m", "s", temperature=0) as s:
                async for _ in s:
                    pass
        assert client.cache_errors == 2  # the two writes
    assert answer.text == "echo: q" and s.response.text == "echo: s"
    assert not store.responses


@pytest.mark.anyio
async def test_a_store_that_answers_after_its_bound_counts_as_failed_and_is_left_alone() -> None:
    # The core cannot end a wait the store will not leave: the call waits that one
    # out, but the late answer is a failure, so the calls after it do not wait too.
    store = Stubborn()
    plugins = [FakePlugin(), StorePlugin(store)]
    async with relaykit.Client(settings(retry_after=3600), plugins=plugins) as client:
        await client.chat("fake/m", "opens the store", temperature=0)
        store.calls, store.delay = 0, 0.3
        with anyio.fail_after(HANG):
            answers = [await client.chat("fake/m", f"q{i}", temperature=0) for i in range(3)]
        errors = client.cache_errors
    assert [a.text for a in answers] == ["echo: q0", "echo: q1", "echo: q2"]
    assert store.calls == 1  # the first lookup; then the store rested
    assert errors == 6  # that lookup, and each lookup and write skipped after it


@pytest.mark.anyio
@pytest.mark.usefixtures("short_open")
async def test_a_first_operation_that_times_out_spends_the_longer_bound() -> None:
    store = Hanging()
    guard = GuardedCacheStore(store, "hanging", retry_after=0, timeout=0.01)
    assert guard._bounded().deadline - anyio.current_time() > 0.1  # the longer bound
    with anyio.fail_after(HANG):
        started = anyio.current_time()
        assert await guard.cached_response("k") is None
        assert anyio.current_time() - started >= 0.2  # it waited for the store to open
        # ...but the next waits the timeout alone, though the store never answered
        assert guard._bounded().deadline - anyio.current_time() <= 0.01
        await guard.cache_response("k", 2e9, "{}")
    assert guard.errors == 2


@pytest.mark.anyio
async def test_the_first_operation_may_take_longer_than_the_timeout_but_not_for_ever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Opening(Shelf):
        """Slow once, as a store that connects on its first operation."""

        async def cached_response(self, key: str) -> tuple[float, str] | None:
            if not self.calls:
                await anyio.sleep(0.1)
            self.calls += 1
            return await super().cached_response(key)

    store = Opening()
    guard = GuardedCacheStore(store, "opening", timeout=0.01, open_timeout=5)
    assert await guard.cached_response("k") is None
    assert guard.errors == 0  # 0.1 s is more than the timeout, but it opened the store
    monkeypatch.setattr(cache_store, "OPEN_TIMEOUT", 0.2)
    assert GuardedCacheStore(store, "s", timeout=1)._open_timeout == 1  # never below timeout
    assert GuardedCacheStore(store, "s", timeout=0.1)._open_timeout == 0.2


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
@pytest.mark.parametrize("backend", ["shelf", "storage"])
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(
    timeout: float, backend: str
) -> None:
    with pytest.raises(relaykit.ConfigError, match=r"cache\.timeout must be a positive number"):
        relaykit.Client(settings(timeout=timeout, backend=backend), plugins=[StorePlugin(Shelf())])
