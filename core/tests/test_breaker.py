"""The circuit breaker state machine under asyncio and trio, with the cases pybreaker gets wrong."""

from __future__ import annotations

import anyio
import pytest

from relaykit import (
    CircuitOpenError,
    InvalidRequestError,
    ProviderUnavailableError,
    RequestTimeoutError,
)
from relaykit.breaker import BreakerBoard, CircuitBreaker
from relaykit.testing import cancel_in_flight


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def call(
    breaker: CircuitBreaker, outcome: BaseException | None = None, delay: float = 0
) -> str:
    with breaker.guard("p", "m"):
        if delay:
            await anyio.sleep(delay)
        if outcome is not None:
            raise outcome
    return "ok"


def down() -> ProviderUnavailableError:
    return ProviderUnavailableError("down", provider="p", model="m", status=503)


@pytest.mark.anyio
async def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker("d", failures=3, reset_after=10, clock=clock)
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            await call(breaker, down())
    assert breaker.state == "closed"
    with pytest.raises(ProviderUnavailableError):
        await call(breaker, down())
    assert breaker.state == "open"
    ran = False

    async def body() -> None:
        nonlocal ran
        with breaker.guard("p", "m"):
            ran = True

    with pytest.raises(CircuitOpenError, match=r"next trial in 10\.0s"):
        await body()
    assert not ran, "an open circuit must not run the call"


@pytest.mark.anyio
async def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker("d", failures=2, reset_after=10, clock=Clock())
    with pytest.raises(ProviderUnavailableError):
        await call(breaker, down())
    assert await call(breaker) == "ok"
    with pytest.raises(ProviderUnavailableError):
        await call(breaker, down())
    assert breaker.state == "closed"


@pytest.mark.anyio
async def test_caller_errors_do_not_count() -> None:
    breaker = CircuitBreaker("d", failures=1, reset_after=10, clock=Clock())
    for _ in range(3):
        with pytest.raises(InvalidRequestError):
            await call(breaker, InvalidRequestError("bad", status=400))
    assert breaker.state == "closed"
    with pytest.raises(RequestTimeoutError):
        await call(breaker, RequestTimeoutError("slow"))
    assert breaker.state == "open"


@pytest.mark.anyio
async def test_cancellation_is_not_a_failure() -> None:
    breaker = CircuitBreaker("d", failures=1, reset_after=10, clock=Clock())
    for _ in range(3):
        await cancel_in_flight(lambda: call(breaker, delay=1))
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 0


@pytest.mark.anyio
async def test_cancellation_propagates_unchanged() -> None:
    breaker = CircuitBreaker("d", failures=1, reset_after=10, clock=Clock())
    with anyio.CancelScope() as scope:
        scope.cancel()
        await call(breaker, delay=1)
    assert scope.cancelled_caught  # the cancellation was not turned into another exception


@pytest.mark.anyio
async def test_half_open_allows_exactly_one_trial_at_a_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker("d", failures=1, reset_after=5, clock=clock)
    with pytest.raises(ProviderUnavailableError):
        await call(breaker, down())
    clock.now = 6
    assert breaker.state == "half-open"
    results: list[str] = []

    async def attempt() -> None:
        try:
            results.append(await call(breaker, delay=0.05))
        except CircuitOpenError:
            results.append("rejected")

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(attempt)
    assert sorted(results) == ["ok", "rejected", "rejected", "rejected", "rejected"]
    assert breaker.state == "closed"


@pytest.mark.anyio
async def test_failed_trial_reopens_and_cancelled_trial_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker("d", failures=1, reset_after=5, clock=clock)
    with pytest.raises(ProviderUnavailableError):
        await call(breaker, down())
    clock.now = 6
    await cancel_in_flight(lambda: call(breaker, delay=1))  # the trial is cancelled ...
    assert breaker.state == "half-open"  # ... and another trial may run
    with pytest.raises(ProviderUnavailableError):
        await call(breaker, down())
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        await call(breaker)
    clock.now = 12
    assert await call(breaker) == "ok"
    assert breaker.state == "closed"


def test_board_keeps_one_breaker_per_deployment() -> None:
    board = BreakerBoard(failures=2, reset_after=1)
    a = board.get("openai/gpt-4o-mini@https://api.openai.com/v1")
    assert board.get("openai/gpt-4o-mini@https://api.openai.com/v1") is a
    assert board.get("openai/gpt-4o-mini@http://proxy/v1") is not a
    assert set(board.states().values()) == {"closed"}
