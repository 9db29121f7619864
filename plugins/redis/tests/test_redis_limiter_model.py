"""relaykit-redis against the exact limiter model, and beside the memory limiter.

All three read one clock: the machine's, given to the Redis limiter as its ``clock``
(the scripts then take the time from their arguments instead of Redis's TIME) and
to the memory limiter. So a slow example on a loaded machine changes no decision,
every retry_after must agree to the microsecond, and the rules that wait one out
run here too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import anyio.from_thread
import pytest
from hypothesis import settings

from relaykit import QuotaExceededError
from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.protocols import Reservation
from relaykit.testing import require_service
from relaykit.testing.limiter_model import LimiterMachine
from relaykit_redis import RedisRateLimiter

URL = "redis://127.0.0.1:6379/15"
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
#: seconds two float computations of one wait may differ by (Redis's in milliseconds)
ROUNDING = 1e-6


class PairDriver:
    """Redis and the memory limiter given the same calls; their decisions must agree."""

    drives_rates = True

    def __init__(self, portal: Any, now: Callable[[], float], wall: Callable[[], float]) -> None:
        self.portal = portal
        self.redis = RedisRateLimiter(
            URL, prefix=f"model-{uuid.uuid4().hex[:12]}", wall_clock=wall, clock=now
        )
        self.memory = MemoryRateLimiter(clock=now, wall_clock=wall)
        # Redis's reservation (the one the machine holds, by id) -> the memory
        # limiter's own: a limiter knows a reservation by identity (which budget
        # period holds it), so each must be given back the object it returned
        self.twins: dict[int, Reservation] = {}

    def _both(self, memory: Callable[[], Any], redis: Callable[[], Any]) -> Any:
        try:
            expected: Any = memory()
        except QuotaExceededError as e:
            expected = e
        refusal: QuotaExceededError | None = None
        try:
            got = redis()
        except QuotaExceededError as e:
            refusal = e
        if refusal is None:
            assert not isinstance(expected, QuotaExceededError), (
                f"Redis admitted, memory: {expected}"
            )
            if isinstance(got, list):
                self.twins.update((id(r), m) for r, m in zip(got, expected, strict=True))
            else:
                self.twins[id(got)] = expected
            return got
        assert isinstance(expected, QuotaExceededError), (
            f"Redis refused ({refusal}), memory admitted"
        )
        if expected.retry_after is None:
            assert refusal.retry_after is None, f"memory: never fits; Redis: {refusal.retry_after}"
        else:
            assert refusal.retry_after is not None
            assert abs(refusal.retry_after - expected.retry_after) <= ROUNDING, (
                f"Redis: retry_after={refusal.retry_after}, memory: {expected.retry_after}"
            )
        raise refusal

    def acquire(self, key: str, limit: LimitConfig, tokens: int, cost: Decimal | None) -> Any:
        return self._both(
            lambda: self.memory.acquire_nowait(key, limit, tokens, cost=cost),
            lambda: self.portal.call(lambda: self.redis.acquire(key, limit, tokens, cost=cost)),
        )

    def acquire_many(
        self, requests: Sequence[tuple[str, LimitConfig, int, Decimal | None]]
    ) -> list[Reservation]:
        def memory() -> list[Reservation]:
            # Redis decides every limit in one script, so its refusal counts them all
            # (never fits if any never fits, else the longest wait): the memory
            # limiter, which has no acquire_many, is asked each limit apart for the same
            held: list[Reservation] = []
            refusals: list[QuotaExceededError] = []
            for key, limit, tokens, cost in requests:
                try:
                    held.append(self.memory.acquire_nowait(key, limit, tokens, cost=cost))
                except QuotaExceededError as e:
                    refusals.append(e)
            if not refusals:
                return held
            for reservation in held:  # all or none, as the client does
                self.portal.call(self.memory.release, reservation)
            never = [e for e in refusals if e.retry_after is None]
            raise never[0] if never else max(refusals, key=lambda e: e.retry_after or 0.0)

        return self._both(memory, lambda: self.portal.call(self.redis.acquire_many, requests))  # type: ignore[no-any-return]

    def reconcile(self, reservation: Reservation, tokens: int, cost: Decimal | None) -> None:
        twin = self.twins.pop(id(reservation))
        assert twin == reservation
        self.memory.reconcile_nowait(twin, tokens, cost=cost)
        self.portal.call(lambda: self.redis.reconcile(reservation, tokens, cost=cost))

    def release(self, reservation: Reservation) -> None:
        twin = self.twins.pop(id(reservation))
        assert twin == reservation
        self.portal.call(self.memory.release, twin)
        self.portal.call(self.redis.release, reservation)

    def close(self) -> None:
        self.portal.call(self.redis.aclose)


@pytest.fixture(params=["asyncio", "trio"])
def portal(request: pytest.FixtureRequest) -> Iterator[Any]:
    require_service("redis", "127.0.0.1", 6379, start=START)
    with anyio.from_thread.start_blocking_portal(request.param) as portal:
        yield portal


def test_redis_limiter_decides_as_the_model_and_the_memory_limiter(portal: Any) -> None:
    class RedisMachine(LimiterMachine):
        def make_driver(self, now: Callable[[], float], wall: Callable[[], float]) -> PairDriver:
            return PairDriver(portal, now, wall)

    RedisMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30)
    RedisMachine.TestCase().runTest()
