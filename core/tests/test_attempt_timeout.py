"""``[timeouts] attempt``: a non-streamed attempt that hangs is cut off, then retried or
fallen back from, over real loopback HTTP, both backends."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import RequestTimeoutError
from relaykit.testing import MemoryStorage, OpenAIMock, Reply

#: what a hanging server takes to answer: far past every attempt timeout below
HANG = 3.0


def make(
    primary: OpenAIMock, backup: OpenAIMock, *plugins: object, **sections: Any
) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": primary.api_key},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": backup.api_key},
        },
        "models": {
            "g": {"targets": ["openai/gpt-4o-mini", "backup/gpt-4o-mini"]},
            "e": {"targets": ["openai/text-embedding-3-small", "backup/text-embedding-3-small"]},
        },
        **sections,
    }
    return relaykit.Client(config, plugins=plugins)


def test_the_attempt_timeout_is_off_by_default(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    """A reasoning model's non-streamed answer may take many minutes: only ``total`` bounds it."""
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}))
    assert client.config.timeouts.attempt == math.inf


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["chat", "embed"])
async def test_a_hanging_deployment_falls_back_after_the_attempt_timeout(
    primary: OpenAIMock, backup: OpenAIMock, kind: str
) -> None:
    """Without it, a server that hangs on a non-streamed call held the call for all of
    ``[timeouts] total`` (600 s), and nothing was retried or fallen back from."""
    primary.script.push(Reply(text="too late", delay=HANG))
    async with make(primary, backup, timeouts={"attempt": 0.3}) as client:
        started = time.monotonic()
        with anyio.fail_after(HANG - 0.5):
            if kind == "chat":
                answer: Any = await client.chat("g", "hi")
            else:
                answer = await client.embed("e", ["hi"])
        took = time.monotonic() - started
    assert answer.provider == "backup"
    assert 0.3 <= took < 2, took
    assert len(primary.requests) == 1 and len(backup.requests) == 1


@pytest.mark.anyio
async def test_a_timed_out_attempt_is_recorded_apart_with_its_prompt_billed(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """The vendor had the prompt and bills it, as a stream's first-token timeout's."""
    primary.script.push(Reply(text="too late", delay=HANG))
    storage = MemoryStorage()
    memory = {"backend": "memory"}
    async with make(
        primary, backup, storage.plugin(), storage=memory, timeouts={"attempt": 0.3}
    ) as client:
        with anyio.fail_after(HANG - 0.5):
            response = await client.chat("g", "x" * 40)
    records = sorted(storage.records.values(), key=lambda r: r.id)
    assert [r.provider for r in records] == ["backup", "openai"]
    answered, cut = records
    assert cut.id == f"{answered.id}-attempt-1"
    assert (cut.error_type, cut.usage_estimated) == ("RequestTimeoutError", True)
    assert cut.usage.input_tokens == 40 // 4 and "timeouts.attempt" in (cut.error_message or "")
    assert answered.error_type is None and response.provider == "backup"


@pytest.mark.anyio
async def test_a_hanging_attempt_is_retried_on_the_same_deployment(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="too late", delay=HANG), Reply(text="second"))
    retry = {"attempts": 2, "initial_wait": 0}
    async with make(primary, backup, timeouts={"attempt": 0.3}, retry=retry) as client:
        with anyio.fail_after(HANG - 0.5):
            response = await client.chat("openai/gpt-4o-mini", "hi")
    assert (response.text, response.attempts) == ("second", 2)


@pytest.mark.anyio
async def test_an_attempt_timeout_names_itself_and_the_fix(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="too late", delay=HANG))
    async with make(primary, backup, timeouts={"attempt": 0.2}) as client:
        with anyio.fail_after(HANG - 0.5), pytest.raises(RequestTimeoutError) as info:
            await client.chat("openai/gpt-4o-mini", "hi")
    error = info.value
    assert (error.which, error.retryable, error.provider) == ("attempt", True, "openai")
    assert "attempt timeout of 0.2s" in str(error) and "[timeouts] attempt" in str(error)


@pytest.mark.anyio
async def test_the_total_timeout_still_says_total_when_it_comes_first(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="too late", delay=HANG))
    async with make(primary, backup, timeouts={"attempt": 30}) as client:
        with anyio.fail_after(HANG - 0.5), pytest.raises(RequestTimeoutError) as info:
            await client.chat("openai/gpt-4o-mini", "hi", timeout=0.2)
    assert (info.value.which, info.value.retryable) == ("total", False)


@pytest.mark.anyio
async def test_a_stream_is_left_to_its_first_token_and_idle_timeouts(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """A stream's answer may rightly last longer than any attempt timeout."""
    primary.script.push(Reply(text="a b c d", chunk_delay=0.15))
    client = make(primary, backup, timeouts={"attempt": 0.2})
    async with client, client.stream("openai/gpt-4o-mini", "hi") as s:
        async for _ in s:
            pass
    assert s.response.text == "a b c d"


def test_the_attempt_timeout_must_be_positive() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"timeouts\.attempt must be > 0"):
        relaykit.Client({"storage": {"backend": "none"}, "timeouts": {"attempt": 0}})
