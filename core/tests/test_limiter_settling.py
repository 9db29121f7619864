"""The memory limiter's refusals and settlements, as the limiter model found them wanting."""

from __future__ import annotations

from decimal import Decimal

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
