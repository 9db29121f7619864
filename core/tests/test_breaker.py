"""The circuit breaker state machine under asyncio and trio, with the cases pybreaker gets wrong."""

from __future__ import annotations

import contextlib

import anyio
import anyio.abc
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
    assert breaker.state == "open"  # type: ignore[comparison-overlap]  # it changed since
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
    assert breaker.state == "open"  # type: ignore[comparison-overlap]  # it changed since


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
    assert breaker.state == "closed"  # type: ignore[comparison-overlap]  # it changed since


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
    assert breaker.state == "open"  # type: ignore[comparison-overlap]  # it changed since
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


async def held(breaker: CircuitBreaker, go: anyio.Event, outcome: BaseException | None) -> None:
    """An attempt admitted now that ends with ``outcome`` once ``go`` is set."""
    with breaker.guard("p", "m"):
        await go.wait()
        if outcome is not None:
            raise outcome


async def in_flight(
    tg: anyio.abc.TaskGroup, breaker: CircuitBreaker, outcome: ProviderUnavailableError | None
) -> anyio.Event:
    """Start :func:`held` in ``tg`` (admitted at once); set the event to end it."""
    go = anyio.Event()

    async def attempt() -> None:
        with contextlib.suppress(ProviderUnavailableError):
            await held(breaker, go, outcome)

    tg.start_soon(attempt)
    await anyio.wait_all_tasks_blocked()
    return go


@pytest.mark.anyio
async def test_a_success_admitted_before_the_circuit_opened_does_not_close_it() -> None:
    # Found by the breaker model: a slow call that was in flight when the circuit
    # opened closed it with its late success, without any trial.
    clock = Clock()
    breaker = CircuitBreaker("d", failures=1, reset_after=5, clock=clock)
    async with anyio.create_task_group() as tg:
        old = await in_flight(tg, breaker, None)
        with pytest.raises(ProviderUnavailableError):
            await call(breaker, down())
        assert breaker.state == "open"
        old.set()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        await call(breaker)


@pytest.mark.anyio
async def test_a_failure_admitted_before_the_circuit_opened_neither_delays_nor_counts() -> None:
    # Found by the breaker model: its failure counted again, pushing the next trial
    # back (the circuit stayed open longer than reset_after), and once a trial had
    # closed the circuit, it counted against the new closed period.
    clock = Clock()
    breaker = CircuitBreaker("d", failures=1, reset_after=5, clock=clock)
    async with anyio.create_task_group() as tg:
        late = await in_flight(tg, breaker, down())
        later = await in_flight(tg, breaker, down())
        with pytest.raises(ProviderUnavailableError):
            await call(breaker, down())
        clock.now = 4
        late.set()
        await anyio.wait_all_tasks_blocked()
        assert breaker.consecutive_failures == 1
        clock.now = 5
        assert breaker.state == "half-open", "reset_after counts from the opening"
        assert await call(breaker) == "ok"  # the trial closes it
        later.set()
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 0


@pytest.mark.anyio
async def test_another_breakers_refusal_inside_a_trial_is_no_verdict() -> None:
    # A CircuitOpenError raised inside the guard (an inner breaker refused: no
    # request went out) counted as the service answering, and closed the circuit.
    clock = Clock()
    breaker = CircuitBreaker("d", failures=1, reset_after=5, clock=clock)
    with pytest.raises(ProviderUnavailableError):
        await call(breaker, down())
    clock.now = 6
    with pytest.raises(CircuitOpenError, match="inner"):
        await call(breaker, CircuitOpenError("inner", provider="q", model="m"))
    assert breaker.state == "half-open"  # not closed, and the trial slot is free again
    assert await call(breaker) == "ok"
    assert breaker.state == "closed"  # type: ignore[comparison-overlap]  # it changed since


@pytest.mark.anyio
async def test_a_streams_verdict_is_its_end_not_its_first_piece() -> None:
    # Booked as a success at its first piece, a stream that then broke reset the
    # count of consecutive failures each time, so such streams never opened it.
    breaker = CircuitBreaker("d", failures=2, reset_after=10, clock=Clock())
    for _ in range(2):
        with breaker.stream_guard("p", "m"):
            pass  # the first piece came
        breaker.stream_ended(breaker.period, ok=False)
    assert breaker.state == "open"


@pytest.mark.anyio
async def test_a_stream_trial_closes_the_circuit_at_its_first_piece() -> None:
    # Held to its end, the trial would refuse every other call for as long as it reads.
    clock = Clock()
    breaker = CircuitBreaker("d", failures=1, reset_after=10, clock=clock)
    with contextlib.suppress(ProviderUnavailableError), breaker.guard():
        raise down()
    clock.now = 10
    guard = breaker.stream_guard()
    with guard:
        pass
    period = guard.period
    states = [breaker.state]
    breaker.stream_ended(period, ok=False)  # counted in the closed period it began
    states.append(breaker.state)
    assert states == ["closed", "open"]


@pytest.mark.anyio
async def test_a_streams_end_after_the_circuit_changed_state_is_no_verdict() -> None:
    breaker = CircuitBreaker("d", failures=1, reset_after=10, clock=Clock())
    guard = breaker.stream_guard()
    with guard:
        pass
    period = guard.period
    with contextlib.suppress(ProviderUnavailableError), breaker.guard():
        raise down()  # opens it
    breaker.stream_ended(period, ok=True)
    assert breaker.state == "open", "a stream from before it opened cannot close it"


@pytest.mark.anyio
async def test_a_stream_whose_circuit_opened_before_its_first_piece_gives_no_verdict() -> None:
    # Its end was booked in the period read once it started (the open one): a break
    # opened the circuit again while the trial was in flight, and the trial's slot,
    # of a period gone, was never freed: every call refused for good.
    clock = Clock()
    breaker = CircuitBreaker("d", failures=1, reset_after=10, clock=clock)
    stream = breaker.stream_guard()
    # admitted while closed; the circuit opens before its first piece
    with stream, contextlib.suppress(ProviderUnavailableError), breaker.guard():
        raise down()
    clock.now = 10
    trial = breaker.guard()
    trial.__enter__()
    breaker.stream_ended(stream.period, ok=False)  # the old stream breaks midway
    trial.__exit__(None, None, None)
    assert (breaker.state, breaker.refusing) == ("closed", False)
