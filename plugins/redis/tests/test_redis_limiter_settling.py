"""relaykit-redis refuses and settles as the memory limiter (core/tests/test_limiter_settling.py):
the cases the limiter model (relaykit.testing.limiter_model) found, against the real Redis here.

The rates follow Redis's own clock unless the limiter is given one: a test that
compares a wait exactly drives the limiter's ``clock`` (a Clock), and the one late
settlement that must find its slot expired in Redis sleeps for real and bounds
the wait by the time it measured."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import anyio
import pytest

from relaykit import QuotaExceededError
from relaykit.budgets import period_bounds
from relaykit.config import LimitConfig
from relaykit.protocols import Reservation
from relaykit.testing import MID_PERIOD, require_service
from relaykit_redis import RedisRateLimiter

URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from anything real
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
_, SECONDS_LEFT = period_bounds("day", MID_PERIOD)
DAY2 = 1_764_547_200.0  # 2025-12-01T00:00:00Z


class Clock:
    """A clock that moves only when told: given to a limiter, it decides on it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test, so tests never see each other's state."""
    require_service("redis", "127.0.0.1", 6379, start=START)
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.mark.anyio
async def test_retry_after_is_the_longest_wait_of_every_limit_that_refuses(prefix: str) -> None:
    # rpm refuses first (60 s), but the budget is spent until the day ends: waiting
    # 60 s only earned the same refusal
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: MID_PERIOD)
    limit = LimitConfig(rpm=1, budget_usd=Decimal(1))
    await limiter.acquire("k", limit, 1, cost=Decimal(1))
    with pytest.raises(QuotaExceededError, match="daily budget") as info:
        await limiter.acquire("k", limit, 1, cost=Decimal("0.5"))
    assert info.value.retry_after == SECONDS_LEFT  # MID_PERIOD is noon UTC
    await limiter.aclose()


@pytest.mark.anyio
async def test_retry_after_is_the_longest_wait_across_several_limits(prefix: str) -> None:
    # one script decides both limits: the second's budget wait outlasts the first's rpm
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: MID_PERIOD)
    rpm, budget = LimitConfig(rpm=1), LimitConfig(budget_usd=Decimal(1))
    await limiter.acquire_many([("a", rpm, 1, None), ("b", budget, 1, Decimal(1))])
    with pytest.raises(QuotaExceededError, match="daily budget") as info:
        await limiter.acquire_many([("a", rpm, 1, None), ("b", budget, 1, Decimal("0.5"))])
    assert info.value.retry_after == SECONDS_LEFT
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_cost_over_the_whole_budget_never_fits_and_says_so(prefix: str) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: MID_PERIOD)
    with pytest.raises(QuotaExceededError, match="can never fit") as info:
        await limiter.acquire("k", LimitConfig(budget_usd=Decimal(1)), 1, cost=Decimal(2))
    assert info.value.retry_after is None  # waiting for the next period would not help
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_larger_usage_settled_late_is_charged_from_now(prefix: str) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix)
    limit = LimitConfig(tpm=6000)  # 10 ms a token
    reservation = await limiter.acquire("k", limit, 10)
    await anyio.sleep(1.2)  # a long call: its arrival time is past, its slot expired
    settled = time.monotonic()
    await limiter.reconcile(reservation, 10 + 6060)  # 60.6 s of tokens more than held
    with pytest.raises(QuotaExceededError, match="tpm") as info:
        await limiter.acquire("k", limit, 1)
    # Charged from the settlement, the wait is 0.61 s less the time Redis's clock ran
    # since (however long a loaded machine took between the two scripts)
    elapsed = time.monotonic() - settled
    assert info.value.retry_after is not None
    assert 0.61 - elapsed - 0.001 <= info.value.retry_after <= 0.611
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_larger_usage_settled_after_its_arrival_time_is_charged_from_now(
    prefix: str,
) -> None:
    clock = Clock()
    limiter = RedisRateLimiter(URL, prefix=prefix, clock=clock)
    limit = LimitConfig(tpm=6000)  # 10 ms a token
    reservation = await limiter.acquire("k", limit, 10)
    clock.now += 1.2  # a long call: its arrival time is past
    await limiter.reconcile(reservation, 10 + 6060)  # 60.6 s of tokens more than held
    with pytest.raises(QuotaExceededError, match="tpm") as info:
        await limiter.acquire("k", limit, 1)
    assert info.value.retry_after == pytest.approx(0.61, abs=1e-6)
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_limiter_given_a_clock_decides_on_it_not_on_redis_time(prefix: str) -> None:
    clock = Clock()
    limiter = RedisRateLimiter(URL, prefix=prefix, clock=clock)
    limit = LimitConfig(tpm=6000)  # 10 ms a token
    await limiter.acquire("k", limit, 1)  # its slot is 10 ms ahead of the clock
    # Redis's clock runs past the slot's arrival time (and past the second a slot
    # outlives it): the given clock has not moved, so the slot still holds
    await anyio.sleep(1.2)
    with pytest.raises(QuotaExceededError, match="tpm") as info:
        await limiter.acquire("k", limit, 6000)
    assert info.value.retry_after == pytest.approx(0.01, abs=1e-6)
    clock.now += 0.004
    with pytest.raises(QuotaExceededError, match="tpm") as info:
        await limiter.acquire("k", limit, 6000)
    assert info.value.retry_after == pytest.approx(0.006, abs=1e-6)
    clock.now += 0.006
    await limiter.acquire("k", limit, 6000)
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_reservation_estimated_at_no_tokens_is_charged_what_it_used(prefix: str) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix, clock=Clock())
    limit = LimitConfig(tpm=60)
    await limiter.reconcile(await limiter.acquire("k", limit, 0), 60)
    with pytest.raises(QuotaExceededError, match="tpm") as info:
        await limiter.acquire("k", limit, 1)
    assert info.value.retry_after == pytest.approx(1.0, abs=1e-6)
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_refund_settled_after_its_period_gives_the_new_one_nothing(prefix: str) -> None:
    # The refunds of yesterday's holds are not today's: subtracted from today's
    # spend, they let today's calls hold more than the budget.
    wall = [DAY2 - 1]
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: wall[0])
    limit = LimitConfig(budget_usd=Decimal(1))
    reconciled = await limiter.acquire("k", limit, 0, cost=Decimal("0.5"))
    released = await limiter.acquire("k", limit, 0, cost=Decimal("0.5"))
    wall[0] = DAY2 + 1
    await limiter.acquire("k", limit, 0, cost=Decimal("0.6"))
    await limiter.reconcile(reconciled, 0, cost=Decimal("0.1"))  # 0.4 back, to yesterday
    await limiter.release(released)  # 0.5 back, to yesterday
    await limiter.acquire("k", limit, 0, cost=Decimal("0.4"))  # today: 0.6 + 0.4
    with pytest.raises(QuotaExceededError, match="daily budget"):
        await limiter.acquire("k", limit, 0, cost=Decimal("0.000001"))
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_refund_within_its_period_still_comes_back(prefix: str) -> None:
    # the bookkeeping of which period a hold was charged in keeps today's refunds
    wall = [DAY2 + 1]
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: wall[0])
    limit = LimitConfig(budget_usd=Decimal(1))
    first = await limiter.acquire("k", limit, 0, cost=Decimal("0.5"))
    second = await limiter.acquire("k", limit, 0, cost=Decimal("0.5"))
    wall[0] += 3600
    await limiter.reconcile(first, 0, cost=Decimal("0.1"))
    await limiter.release(second)
    await limiter.acquire("k", limit, 0, cost=Decimal("0.9"))  # 0.1 + 0.9
    with pytest.raises(QuotaExceededError, match="daily budget"):
        await limiter.acquire("k", limit, 0, cost=Decimal("0.000001"))
    await limiter.aclose()


@pytest.mark.anyio
async def test_holds_never_settled_are_capped_oldest_first_and_their_refund_dropped(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A caller that acquires and never settles must not grow the process for a month
    # (Redis itself expires every key: the rates within a minute, a budget after its period).
    monkeypatch.setattr("relaykit_redis.limiter.HOLDS_PER_KEY", 3)
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: DAY2 + 1)
    limit = LimitConfig(budget_usd=Decimal(10))
    held = [await limiter.acquire("k", limit, 0, cost=Decimal(1)) for _ in range(10)]
    assert list(limiter._holding["k"][2].values()) == held[-3:]
    await limiter.reconcile(held[0], 0, cost=Decimal("0.25"))  # forgotten: no refund
    with pytest.raises(QuotaExceededError, match="daily budget"):
        await limiter.acquire("k", limit, 0, cost=Decimal("0.000001"))
    await limiter.reconcile(held[-1], 0, cost=Decimal("0.25"))  # remembered: refunded
    await limiter.acquire("k", limit, 0, cost=Decimal("0.75"))
    with pytest.raises(QuotaExceededError, match="daily budget"):
        await limiter.acquire("k", limit, 0, cost=Decimal("0.000001"))
    assert len(limiter._holding["k"][2]) == 3  # two of the ten, and the last acquire
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_limit_whose_holds_are_all_settled_keeps_no_entry(prefix: str) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: DAY2 + 1)
    limit = LimitConfig(budget_usd=Decimal(10))
    await limiter.reconcile(await limiter.acquire("k", limit, 0, cost=Decimal(1)), 0)
    await limiter.release(await limiter.acquire("k", limit, 0, cost=Decimal(1)))
    assert limiter._holding == {}
    await limiter.aclose()


@pytest.mark.anyio
async def test_settled_calls_under_many_keys_leave_nothing_per_key_in_the_process(
    prefix: str,
) -> None:
    # A gateway with a limit key per caller ([limits."user=*"]): the process kept each
    # key's rpm, tpm and period forever, though Redis expires the key's state itself
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: DAY2 + 1)
    limit = LimitConfig(rpm=5, tpm=1000, budget_usd=Decimal(10))
    for i in range(60):
        held = await limiter.acquire(f"user=u{i} (user=*)", limit, 100, cost=Decimal("0.1"))
        if i % 2:
            await limiter.reconcile(held, 150, cost=Decimal("0.2"))
        else:
            await limiter.release(held)
    kept = {name: len(v) for name, v in vars(limiter).items() if isinstance(v, dict)}
    assert kept and not any(kept.values()), kept
    # and a key's settling still uses the limit it was charged under: 150 tokens of
    # 1000 used, 850 left, so 851 are refused and 850 fit
    held = await limiter.acquire("k", limit, 100)
    await limiter.reconcile(held, 150)
    with pytest.raises(QuotaExceededError, match="tpm limit"):
        await limiter.acquire("k", limit, 851)
    await limiter.release(await limiter.acquire("k", limit, 850))
    await limiter.aclose()


@pytest.mark.anyio
async def test_unsettled_holds_of_periods_that_are_over_are_forgotten_past_a_cap(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Callers that acquire and never settle, each under a key of its own: a key whose
    # period is over is dropped (settling its hold then does what it did before)
    monkeypatch.setattr("relaykit_redis.limiter.FORGET_FROM", 3)
    wall = [DAY2 - 60]
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: wall[0])
    limit = LimitConfig(budget_usd=Decimal(1))
    yesterday = [await limiter.acquire(f"old{i}", limit, 0, cost=Decimal("0.5")) for i in range(3)]
    wall[0] = DAY2 + 1
    today = [await limiter.acquire(f"new{i}", limit, 0, cost=Decimal("0.5")) for i in range(3)]
    assert sorted(limiter._holding) == ["new0", "new1", "new2"]
    # yesterday's hold, settled today: its refund stays with yesterday, its excess counts today
    await limiter.reconcile(yesterday[0], 0, cost=Decimal("0.1"))
    await limiter.reconcile(yesterday[1], 0, cost=Decimal("0.75"))
    await limiter.acquire("old1", limit, 0, cost=Decimal("0.75"))
    with pytest.raises(QuotaExceededError, match="daily budget"):
        await limiter.acquire("old1", limit, 0, cost=Decimal("0.000001"))
    # today's holds are remembered: their refunds come back
    await limiter.reconcile(today[0], 0, cost=Decimal(0))
    await limiter.acquire("new0", limit, 0, cost=Decimal(1))
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_copy_of_a_reservation_settles_nothing_and_says_so(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: DAY2 + 1)
    limit = LimitConfig(rpm=1)
    held = await limiter.acquire("k", limit, 0)
    with caplog.at_level("WARNING", logger="relaykit.limiter"):
        await limiter.release(Reservation(*held))
    assert limiter.unsettled == 1
    assert "not a reservation this Redis limiter returned" in caplog.text
    with pytest.raises(QuotaExceededError, match="rpm limit"):
        await limiter.acquire("k", limit, 0)
    await limiter.release(held)  # the object acquire returned gives the request back
    await limiter.release(await limiter.acquire("k", limit, 0))
    await limiter.aclose()
