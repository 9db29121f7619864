"""The memory limiter's refusals and settlements, as the limiter model found them wanting."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest

from relaykit import QuotaExceededError
from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.testing import MID_PERIOD


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_retry_after_is_the_longest_wait_of_every_limit_that_refuses() -> None:
    # rpm refuses first (60 s), but the budget is spent until the day ends: waiting
    # 60 s only earned the same refusal
    limiter = MemoryRateLimiter(clock=Clock(), wall_clock=lambda: MID_PERIOD)
    limit = LimitConfig(rpm=1, budget_usd=Decimal(1))
    limiter.acquire_nowait("k", limit, 1, cost=Decimal(1))
    with pytest.raises(QuotaExceededError, match="budget") as info:
        limiter.acquire_nowait("k", limit, 1, cost=Decimal("0.5"))
    assert info.value.retry_after == 12 * 3600  # MID_PERIOD is noon UTC


def test_a_cost_over_the_whole_budget_never_fits_and_says_so() -> None:
    limiter = MemoryRateLimiter(clock=Clock(), wall_clock=lambda: MID_PERIOD)
    with pytest.raises(QuotaExceededError, match="can never fit") as info:
        limiter.acquire_nowait("k", LimitConfig(budget_usd=Decimal(1)), 1, cost=Decimal(2))
    assert info.value.retry_after is None  # waiting for the next period would not help


def test_a_larger_usage_settled_late_is_charged_from_now() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    limit = LimitConfig(tpm=60)
    reservation = limiter.acquire_nowait("k", limit, 10)
    clock.now += 120  # a long call: its arrival time is long past
    limiter.reconcile_nowait(reservation, 70)  # 60 tokens more than held: a full minute
    with pytest.raises(QuotaExceededError, match="tpm") as info:
        limiter.acquire_nowait("k", limit, 1)
    assert info.value.retry_after == pytest.approx(1.0)


def test_a_reservation_estimated_at_no_tokens_is_charged_what_it_used() -> None:
    limiter = MemoryRateLimiter(clock=Clock())
    limit = LimitConfig(tpm=60)
    limiter.reconcile_nowait(limiter.acquire_nowait("k", limit, 0), 60)
    with pytest.raises(QuotaExceededError, match="tpm"):
        limiter.acquire_nowait("k", limit, 1)


DAY2 = 1_764_547_200.0  # 2025-12-01T00:00:00Z


def test_a_refund_settled_after_its_period_gives_the_new_one_nothing() -> None:
    # The refunds of yesterday's holds are not today's: subtracted from today's
    # spend, they let today's calls hold more than the budget.
    wall = Clock(DAY2 - 1)
    limiter = MemoryRateLimiter(clock=Clock(), wall_clock=wall)
    limit = LimitConfig(budget_usd=Decimal(1))
    reconciled = limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.5"))
    released = limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.5"))
    wall.now = DAY2 + 1
    limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.6"))
    limiter.reconcile_nowait(reconciled, 0, cost=Decimal("0.1"))  # 0.4 back, to yesterday
    anyio.run(limiter.release, released)  # 0.5 back, to yesterday
    limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.4"))  # today: 0.6 + 0.4
    with pytest.raises(QuotaExceededError, match="daily budget"):
        limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.000001"))


def test_a_refund_within_its_period_still_comes_back() -> None:
    # the bookkeeping of which period a hold was charged in keeps today's refunds
    wall = Clock(DAY2 + 1)
    limiter = MemoryRateLimiter(clock=Clock(), wall_clock=wall)
    limit = LimitConfig(budget_usd=Decimal(1))
    first = limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.5"))
    second = limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.5"))
    wall.now += 3600
    limiter.reconcile_nowait(first, 0, cost=Decimal("0.1"))
    anyio.run(limiter.release, second)
    limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.9"))  # 0.1 + 0.9
    with pytest.raises(QuotaExceededError, match="daily budget"):
        limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.000001"))
