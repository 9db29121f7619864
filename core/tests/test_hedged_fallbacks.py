"""A hedged route falls back by the same rules as any route, over real loopback HTTP.

When the first deployment failed before the hedge delay, a hedged call fell back to
the rest of the route whatever the failure: a 400 (the caller's mistake, which every
deployment would refuse) was sent again to the backup, and a context length error
went to a deployment whose window is no larger.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import relaykit
from relaykit import CircuitOpenError, InvalidRequestError, ProviderUnavailableError
from relaykit.testing import OpenAIMock, Reply

#: the hedge delay: far past what any answer here takes, so no backup ever starts
LONG = 30.0


def make(primary: OpenAIMock, backup: OpenAIMock, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": primary.api_key},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": backup.api_key},
        },
        "models": {
            "g": {"targets": ["openai/gpt-4o-mini", "backup/gpt-4o-mini"], "hedge_after": LONG},
        },
        **sections,
    }
    return relaykit.Client(config)


@pytest.mark.anyio
async def test_a_caller_mistake_on_the_first_deployment_is_not_sent_to_the_backup(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply.failure(400, "messages: bad shape"))
    async with make(primary, backup) as client:
        with anyio.fail_after(10), pytest.raises(InvalidRequestError) as info:
            await client.chat("g", "hi")
    assert info.value.provider == "openai"
    assert len(primary.requests) == 1
    assert backup.requests == [], "a 400 is the caller's: every deployment would refuse it"


@pytest.mark.anyio
async def test_a_retryable_failure_before_the_delay_still_falls_back_at_once(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply.failure(503, "down"))
    async with make(primary, backup) as client:
        with anyio.fail_after(10):
            r = await client.chat("g", "hi")
    assert (r.provider, r.attempts) == ("backup", 2)


@pytest.mark.anyio
async def test_a_hedged_route_whose_every_circuit_is_open_says_the_soonest_trial(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """As an unhedged route does: one error naming both, ``retry_after`` the soonest."""
    primary.script.push(Reply.failure(503, "down"))
    backup.script.push(Reply.failure(503, "down"))
    breaker = {"failures": 1, "reset_after": 60, "cool_down": 0}
    async with make(primary, backup, breaker=breaker) as client:
        with anyio.fail_after(10):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("g", "one")  # both fail: both circuits open
            with pytest.raises(CircuitOpenError) as info:
                await client.chat("g", "two")
    assert "every deployment of the route" in str(info.value), str(info.value)
    assert info.value.retry_after is not None and 55 < info.value.retry_after <= 60
    assert len(primary.requests) == len(backup.requests) == 1


@pytest.mark.anyio
async def test_the_losing_request_is_cancelled_and_its_connection_closed(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """The vendor sees the loser's connection close (it stops generating), at once:
    not when its answer would have come, and no later request reuses it."""
    primary.script.push(Reply(text="too late", delay=LONG))
    config: dict[str, Any] = {
        "models": {
            "g": {"targets": ["openai/gpt-4o-mini", "backup/gpt-4o-mini"], "hedge_after": 0.05}
        }
    }
    async with make(primary, backup, **config) as client:
        with anyio.fail_after(10):
            r = await client.chat("g", "hi")
            assert r.provider == "backup"
            stats = primary.server.stats
            # the server's thread notices the close (no event crosses threads)
            while stats.requests_abandoned < 1:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    assert (stats.requests, stats.requests_abandoned, stats.connections_open) == (1, 1, 0)
    assert len(backup.requests) == 1


@pytest.mark.anyio
async def test_a_wait_asked_for_before_the_delay_moves_on_at_once(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """As an unhedged route does (LiteLLM's router too): the first deployment's 429 asks
    for 20 s, the backup answers now. The hedged call waited the 20 s out in place
    (its first deployment retried as if alone), slower than the same route unhedged."""
    primary.script.push(Reply.failure(429, "slow down", retry_after=20))
    retry = {"attempts": 3, "initial_wait": 0, "max_retry_after": 60}
    async with make(primary, backup, retry=retry) as client:
        with anyio.fail_after(5):
            r = await client.chat("g", "hi")
    assert (r.provider, r.attempts) == ("backup", 2)
    assert (len(primary.requests), len(backup.requests)) == (1, 1)


@pytest.mark.anyio
async def test_a_route_that_must_wait_everywhere_asks_the_first_again_after_its_wait(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """The first deployment put off is asked again once every other failed, after
    what is left of its wait, as an unhedged route does."""
    primary.script.push(Reply.failure(429, "slow down", retry_after=0.3), Reply(text="later"))
    backup.script.push(Reply.failure(503, "down"), Reply.failure(503, "still down"))
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 60}
    async with make(primary, backup, retry=retry) as client:
        with anyio.fail_after(10):
            r = await client.chat("g", "hi")
    assert (r.text, r.provider) == ("later", "openai")
    assert len(primary.requests) == 2
