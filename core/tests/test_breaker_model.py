"""The circuit breaker against its reference model, by hypothesis, under asyncio and trio.

The machine (relaykit.testing.breaker_model) opens guards and ends them in any
order with every kind of outcome, moving a fake clock, and checks the breaker's
state, failure count and refusals against the model after every step. It runs
inside the test's event loop: the breaker tells a cancellation by the running
backend's exception class.
"""

from __future__ import annotations

import anyio
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from relaykit.testing.breaker_model import BreakerMachine

SETTINGS = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


async def a_cancellation() -> BaseException:
    """A real instance of the running backend's cancellation exception."""
    caught: BaseException | None = None
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.lowlevel.checkpoint()
        except anyio.get_cancelled_exc_class() as e:
            caught = e
            raise
    assert caught is not None
    return caught


@pytest.mark.anyio
async def test_the_breaker_follows_its_model() -> None:
    cancelled = await a_cancellation()

    class Machine(BreakerMachine):
        pass

    Machine.cancelled = cancelled
    run_state_machine_as_test(Machine, settings=SETTINGS)
