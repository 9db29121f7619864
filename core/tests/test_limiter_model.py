"""The in-memory limiter against an exact model of GCRA and budgets, by hypothesis.

The machine (relaykit.testing.limiter_model) acquires, reconciles, releases and
moves both clocks (small steps, and across a day's and a month's end), and checks
each decision and each refusal's retry_after against the model, and the model's
ledgers against the promises: no window over a limit's burst plus its rate, no
period's calls over its budget.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from hypothesis import settings

from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.protocols import Reservation
from relaykit.testing.limiter_model import LimiterMachine


def _done(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that never waits (the memory limiter's)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the memory limiter waited")


class MemoryDriver:
    """:class:`MemoryRateLimiter` on the machine's clocks, called the way the client calls it."""

    drives_rates = True

    def __init__(self, now: Callable[[], float], wall: Callable[[], float]) -> None:
        self.limiter = MemoryRateLimiter(clock=now, wall_clock=wall)

    def acquire(
        self, key: str, limit: LimitConfig, tokens: int, cost: Decimal | None
    ) -> Reservation:
        return self.limiter.acquire_nowait(key, limit, tokens, cost=cost)

    def reconcile(self, reservation: Reservation, tokens: int, cost: Decimal | None) -> None:
        self.limiter.reconcile_nowait(reservation, tokens, cost=cost)

    def release(self, reservation: Reservation) -> None:
        _done(self.limiter.release(reservation))


class MemoryMachine(LimiterMachine):
    def make_driver(self, now: Callable[[], float], wall: Callable[[], float]) -> MemoryDriver:
        return MemoryDriver(now, wall)


TestMemoryLimiterModel = MemoryMachine.TestCase
TestMemoryLimiterModel.settings = settings(max_examples=150, stateful_step_count=40)


def test_a_refusals_wait_is_enough_at_a_monotonic_clock_of_months() -> None:
    # Found by the machine: at a clock of 10e6 s a nanosecond's slack was below float
    # resolution, so waiting out retry_after could be refused again by rounding.
    machine = MemoryMachine()
    machine.start(a=LimitConfig(tpm=136), b=LimitConfig())
    machine.acquire_then_wait(cost=None, key="a", tokens=0)
    for period in [
        "day",
        "day",
        "day",
        "day",
        "day",
        "day",
        "month",
        "month",
        "day",
        "day",
        "day",
        "day",
        "month",
        "day",
        "month",
    ]:
        machine.to_period_end(before_ms=0, period=period)
    assert machine.now > 10_000_000
    for tokens in (58, 79, 70, 90):
        machine.acquire_then_wait(cost=None, key="a", tokens=tokens)  # asserts the retry fits
