"""The circuit breaker against its reference model, by hypothesis, under asyncio and trio.

The machine (relaykit.testing.breaker_model) opens guards and ends them in any
order with every kind of outcome, moving a fake clock, and checks the breaker's
state, failure count and refusals against the model after every step. It found
a late success closing an open circuit without a trial, and a late failure
pushing the next trial back or counting after a trial had closed the circuit
(test_breaker.py has each as a plain regression test).
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from relaykit.testing.breaker_model import run_breaker_machine


@pytest.mark.anyio
async def test_the_breaker_follows_its_model() -> None:
    await run_breaker_machine(settings(max_examples=200, stateful_step_count=40, deadline=None))
