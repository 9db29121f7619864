"""DeadlineScopes: the backend's cancel scopes at time.monotonic() deadlines."""

from __future__ import annotations

import math
import time

import anyio
import anyio.lowlevel
import pytest

from relaykit.deadline_scope import DeadlineScopes, scope_until


@pytest.mark.anyio
async def test_a_scope_is_cancelled_at_its_monotonic_deadline() -> None:
    scopes = DeadlineScopes()
    loop_started = anyio.current_time()
    started = time.monotonic()
    with scopes.until(started + 0.05) as scope:
        # In the backend's own clock, whatever its offset (trio keeps one): 0.05 s
        # after `started`, give or take the time that passed meanwhile, however
        # long a loaded machine took (a fixed 0.02 s tolerance was a bet on that).
        waited = anyio.current_time() - loop_started
        assert loop_started + 0.05 - waited <= scope.deadline <= loop_started + 0.05 + waited
        await anyio.sleep(5)
    assert scope.cancelled_caught
    assert 0.04 <= time.monotonic() - started < 4  # cancelled at the deadline, not after 5 s


@pytest.mark.anyio
@pytest.mark.parametrize("scopes", [DeadlineScopes, lambda: None])
async def test_no_deadline_and_a_passed_deadline(scopes: type[DeadlineScopes]) -> None:
    made = scopes()
    with scope_until(made, math.inf) as scope:
        await anyio.lowlevel.checkpoint()
    assert not scope.cancelled_caught and scope.deadline == math.inf
    with scope_until(made, time.monotonic() - 1) as scope:
        await anyio.sleep(5)
    assert scope.cancelled_caught


@pytest.mark.anyio
async def test_a_plain_scope_is_cancelled_by_hand() -> None:
    with DeadlineScopes().plain() as scope:
        scope.cancel()
        await anyio.sleep(5)
    assert scope.cancelled_caught and scope.deadline == math.inf
