"""The call's total timeout is the caller's budget, not a verdict on a deployment:
over real loopback HTTP, a route whose first deployment is slow past it books no
failure against the deployments after it (never asked), and a half-open trial it
cuts short neither closes the circuit nor keeps the trial slot."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ProviderUnavailableError, RequestTimeoutError
from relaykit.routing import Target
from relaykit.testing import OpenAIMock, Reply

MAIN, BACKUP = Target("openai", "gpt-4o-mini"), Target("backup", "gpt-4o-mini")
#: what the slow deployment takes: far past every call's timeout here
SLOW = 30.0


def make(primary: OpenAIMock, backup: OpenAIMock, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "breaker": {"failures": 1, "reset_after": 60},
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": primary.api_key},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": backup.api_key},
        },
        "models": {"g": {"targets": ["openai/gpt-4o-mini", "backup/gpt-4o-mini"]}},
        **sections,
    }
    return relaykit.Client(config)


async def ask(client: relaykit.Client, model: str, streamed: bool, **params: Any) -> str:
    if streamed:
        async with client.stream(model, "hi", **params) as s:
            async for _ in s:
                pass
        return s.response.text
    return (await client.chat(model, "hi", **params)).text


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_total_timeout_books_nothing_against_the_deployments_never_asked(
    primary: OpenAIMock, backup: OpenAIMock, streamed: bool
) -> None:
    """A stream's total timeout was retryable: the route fell back to the backup,
    whose attempt (nothing sent, the deadline past) failed with it too, opening the
    backup's circuit and cooling it down, and the error named the backup."""
    primary.script.push(Reply(text="too late", delay=SLOW))
    async with make(primary, backup) as client:
        with anyio.fail_after(10), pytest.raises(RequestTimeoutError) as info:
            await ask(client, "g", streamed, timeout=0.5)
        assert (info.value.which, info.value.retryable) == ("total", False)
        assert info.value.provider == "openai", "the deployment that did not answer in time"
        backup_breaker = client._breaker_of(BACKUP)
        assert (backup_breaker.state, backup_breaker.consecutive_failures) == ("closed", 0)
        assert client._router.plan("g")[0] == MAIN, "nothing cools down"
    assert backup.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_trial_cut_short_by_the_total_timeout_gives_no_verdict(
    primary: OpenAIMock, backup: OpenAIMock, streamed: bool
) -> None:
    """A chat's total timeout (not retryable) was booked as the deployment answering:
    a trial that hung closed the circuit on a deployment that never answered."""
    primary.script.push(
        Reply.failure(503, "down"), Reply(text="too late", delay=SLOW), Reply(text="back")
    )
    async with make(primary, backup, breaker={"failures": 1, "reset_after": 0}) as client:
        breaker = client._breaker_of(MAIN)
        with anyio.fail_after(10):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("openai/gpt-4o-mini", "hi")
            with pytest.raises(RequestTimeoutError):
                await ask(client, "openai/gpt-4o-mini", streamed, timeout=0.5)
            assert (breaker.state, breaker.refusing) == ("half-open", False)
            assert breaker.consecutive_failures == 1
            assert await ask(client, "openai/gpt-4o-mini", streamed) == "back"
        assert breaker.state == "closed"
