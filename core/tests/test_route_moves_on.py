"""A route moves on from a deployment that asked for a wait, and the latency strategy
ranks one that keeps failing behind the healthy ones: over real loopback HTTP, both
backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import stamina

import relaykit
from relaykit import ClientClosedError, RateLimitError
from relaykit.testing import OpenAIMock, Reply

ROUTE = ["openai/gpt-4o-mini", "backup/gpt-4o-mini"]


@pytest.fixture(autouse=True)
def real_waits() -> Iterator[None]:
    """stamina's test mode would make every wait 0, and waiting cost nothing."""
    with stamina.set_testing(False):
        yield


def make(primary: OpenAIMock, backup: OpenAIMock, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0, "max_retry_after": 60},
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": primary.api_key},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": backup.api_key},
        },
        "models": {"g": {"targets": ROUTE}},
        **sections,
    }
    return relaykit.Client(config)


# -- a wait asked for: the other deployments first --------------------------------------


@pytest.mark.anyio
async def test_a_long_retry_after_moves_on_to_the_next_deployment_at_once(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """The call slept the 30 s out, then asked the same deployment again, while the
    route's other one could answer at once (LiteLLM's router falls back at once)."""
    primary.script.push(Reply.failure(429, "slow down", retry_after=30))
    async with make(primary, backup) as client:
        started = time.monotonic()
        with anyio.fail_after(5):
            response = await client.chat("g", "hi")
        took = time.monotonic() - started
    assert response.provider == "backup" and took < 1, took
    assert (len(primary.requests), len(backup.requests)) == (1, 1)


@pytest.mark.anyio
async def test_a_stream_moves_on_too(primary: OpenAIMock, backup: OpenAIMock) -> None:
    primary.script.push(Reply.failure(429, "slow down", retry_after=30))
    client = make(primary, backup)
    with anyio.fail_after(5):
        async with client, client.stream("g", "hi") as s:
            async for _ in s:
                pass
    assert s.response.provider == "backup"


@pytest.mark.anyio
async def test_a_lone_deployment_still_waits_its_retry_after(primary: OpenAIMock) -> None:
    primary.script.push(Reply.failure(429, "slow down", retry_after=0.5), Reply(text="later"))
    async with make(primary, primary) as client:
        started = time.monotonic()
        with anyio.fail_after(5):
            response = await client.chat("openai/gpt-4o-mini", "hi")
        took = time.monotonic() - started
    assert (response.text, response.attempts) == ("later", 2)
    assert took >= 0.45, "the Retry-After was honoured"


@pytest.mark.anyio
async def test_when_every_deployment_must_wait_the_soonest_is_asked_again(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """The first asks for 0.5 s, the second (the last) for 20 s: the first is asked again
    after its 0.5 s, not the second after its 20."""
    primary.script.push(Reply.failure(429, "slow down", retry_after=0.5), Reply(text="first"))
    backup.script.push(Reply.failure(429, "slow down", retry_after=20))
    async with make(primary, backup) as client:
        started = time.monotonic()
        with anyio.fail_after(5):
            response = await client.chat("g", "hi")
        took = time.monotonic() - started
    assert (response.provider, response.text, response.attempts) == ("openai", "first", 3)
    assert 0.45 <= took < 2, took
    assert (len(primary.requests), len(backup.requests)) == (2, 1)


@pytest.mark.anyio
async def test_a_route_whose_waits_outlast_the_call_says_the_soonest(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply.failure(429, "slow down", retry_after=30))
    backup.script.push(Reply.failure(429, "slow down", retry_after=20))
    async with make(primary, backup) as client:
        with anyio.fail_after(5), pytest.raises(RateLimitError) as info:
            await client.chat("g", "hi", timeout=3)
    error = info.value
    assert error.provider == "backup" and error.retry_after is not None
    assert 15 < error.retry_after <= 20
    assert "every deployment of the route asked to wait" in str(error)
    assert (len(primary.requests), len(backup.requests)) == (1, 1)


@pytest.mark.anyio
async def test_closing_the_client_ends_the_wait_for_the_deployments_put_off(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """Ended with ClientClosedError, and no deployment put off is asked meanwhile."""
    primary.script.push(Reply.failure(429, "slow down", retry_after=20))
    backup.script.push(Reply.failure(429, "slow down", retry_after=20))
    client = make(primary, backup)
    errors: list[Exception] = []

    async def one() -> None:
        try:
            await client.chat("g", "hi", timeout=60)
        except Exception as e:
            errors.append(e)

    with anyio.fail_after(5):
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(one)
            while not backup.requests:  # noqa: ASYNC110 (the mock serves in a thread)
                await anyio.sleep(0.01)
            with anyio.move_on_after(0.05):  # its closer cancelled: the call's wait is cut
                await client.aclose()
    (error,) = errors
    assert isinstance(error, ClientClosedError), repr(error)
    assert (len(primary.requests), len(backup.requests)) == (1, 1)


@pytest.mark.anyio
async def test_a_deployment_that_failed_without_a_wait_is_still_retried_in_place(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """A 503 asks for no wait: a backoff's retry on the same deployment comes first, as before."""
    primary.script.push(Reply.failure(503, "busy"), Reply(text="retried"))
    async with make(primary, backup) as client:
        response = await client.chat("g", "hi")
    assert (response.provider, response.text) == ("openai", "retried")
    assert backup.requests == []


# -- latency routing: a deployment that keeps failing -------------------------------------


@pytest.mark.anyio
async def test_latency_routing_ranks_a_failing_deployment_behind_the_healthy_one(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """Never measured (it never succeeded), the failing deployment went first again
    after each cool-down, and every such call paid its failure."""
    primary.script.push(*[Reply.failure(503, "down")] * 10)
    routes = {"g": {"targets": ROUTE, "strategy": "latency"}}
    breaker = {"failures": 100, "cool_down": 0.05}  # its circuit stays closed
    async with make(primary, backup, models=routes, breaker=breaker, retry={"attempts": 1}) as c:
        for _ in range(3):
            response = await c.chat("g", "hi")
            assert response.provider == "backup"
            await anyio.sleep(0.1)  # past the cool-down
    assert len(primary.requests) == 1, "asked once, then ranked behind the healthy one"
    assert len(backup.requests) == 3


@pytest.mark.anyio
async def test_a_final_failure_on_the_next_deployment_ends_the_call_without_the_wait(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """The first deployment asked for 20 s and was put off; the next said 400 (the
    caller's mistake, which falls back nowhere). The call slept the 20 s out and
    asked the first again, only to raise a 400 it already had."""
    primary.script.push(Reply.failure(429, "slow down", retry_after=20))
    backup.script.push(Reply.failure(400, "messages: bad shape"))
    async with make(primary, backup) as client:
        with anyio.fail_after(5), pytest.raises(relaykit.InvalidRequestError) as info:
            await client.chat("g", "hi")
    assert info.value.provider == "backup"
    assert (len(primary.requests), len(backup.requests)) == (1, 1)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_wait_past_the_calls_deadline_is_not_slept_but_raised_at_once(
    primary: OpenAIMock, streamed: bool
) -> None:
    """A lone deployment asks for 20 s, the call has 2: it raises the 429 now, its
    ``retry_after`` the server's and its hint saying why, rather than sleeping into
    its own total timeout."""
    primary.script.push(Reply.failure(429, "slow down", retry_after=20))
    async with make(primary, primary) as client:
        with anyio.fail_after(1.5), pytest.raises(RateLimitError) as info:
            if streamed:
                async with client.stream("openai/gpt-4o-mini", "hi", timeout=2) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat("openai/gpt-4o-mini", "hi", timeout=2)
    assert info.value.retry_after == 20
    assert "total timeout" in (info.value.hint or ""), info.value.hint
    assert len(primary.requests) == 1
