"""Client.count_tokens: the provider's count when it has one, an estimate otherwise."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ChatRequest,
    ClientClosedError,
    ProviderUnavailableError,
    RequestTimeoutError,
    TokenCount,
)
from relaykit.http_exceptions import ConnectError
from relaykit.testing import FakePlugin

KEY = "tenant-key-" + "Zt4" * 10  # a format only the known-keys masking can catch
SETTINGS = {
    "storage": {"backend": "none"},
    "providers": {"fake": {"api_key": KEY}},
    "models": {"cheap": {"targets": ["fake/small", "fake/large"]}},
}


class Counter:
    """A provider's count_tokens: keeps each request and answers from ``answer``."""

    def __init__(self, answer: Any = 42) -> None:
        self.answer = answer
        self.requests: list[ChatRequest] = []

    async def __call__(self, request: ChatRequest) -> int:
        self.requests.append(request)
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.answer == "slow":
            await anyio.sleep(5)
        return int(self.answer)


class Masker:
    """A reversible redactor: ticket numbers out."""

    def redact(self, text: str) -> str:
        return re.sub(r"TICKET-\d+", "<T>", text)

    def restore(self, text: str) -> str:
        return text

    @relaykit.hookimpl
    def relaykit_redactors(self, config: Any) -> Sequence[Any]:
        return [self]


def counting(client: relaykit.Client, counter: Counter) -> None:
    # The fake provider has no count_tokens: give this one instance a counter.
    client.provider("fake").count_tokens = counter  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_without_a_counting_endpoint_the_count_is_estimated_as_limits_do() -> None:
    async with relaykit.Client(SETTINGS, plugins=[FakePlugin()]) as client:
        count = await client.count_tokens("fake/m", "x" * 400)
    assert count == TokenCount(100, exact=False)


@pytest.mark.anyio
async def test_the_provider_counts_what_chat_would_send() -> None:
    counter = Counter(57)
    async with relaykit.Client(SETTINGS, plugins=[FakePlugin(), Masker()]) as client:
        counting(client, counter)
        count = await client.count_tokens(
            "cheap", "about TICKET-42", tools=[{"name": "lookup"}], cache=True
        )
    assert count == TokenCount(57)
    [sent] = counter.requests
    assert sent.model == "small", "an alias counts with its route's first target"
    assert sent.messages[0].text == "about <T>", "outbound redaction, as chat applies it"
    assert [t.name for t in sent.tools] == ["lookup"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (AuthenticationError(f"key {KEY} refused", provider="fake"), AuthenticationError),
        (ConnectError(f"connect failed with {KEY}"), ProviderUnavailableError),
    ],
)
async def test_failures_are_typed_and_never_show_the_key(
    failure: Exception, raised: type[Exception]
) -> None:
    async with relaykit.Client(SETTINGS, plugins=[FakePlugin()]) as client:
        counting(client, Counter(failure))
        with pytest.raises(raised) as info:
            await client.count_tokens("fake/m", "hi")
    assert KEY not in str(info.value) and KEY not in str(info.value.__cause__)


@pytest.mark.anyio
async def test_the_timeout_bounds_a_count() -> None:
    async with relaykit.Client(SETTINGS, plugins=[FakePlugin()]) as client:
        counting(client, Counter("slow"))
        with pytest.raises(RequestTimeoutError, match="no token count within"):
            await client.count_tokens("fake/m", "hi", timeout=0.05)


@pytest.mark.anyio
async def test_a_closed_client_counts_nothing() -> None:
    client = relaykit.Client(SETTINGS, plugins=[FakePlugin()])
    async with client:
        pass
    with pytest.raises(ClientClosedError):
        await client.count_tokens("fake/m", "hi")


def test_the_blocking_client_counts_too() -> None:
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()]) as client:
        assert client.count_tokens("fake/m", "abcd" * 10) == TokenCount(10, exact=False)


@pytest.mark.anyio
async def test_closing_the_client_waits_for_a_count_in_flight() -> None:
    happened: list[str] = []
    client = relaykit.Client(SETTINGS, plugins=[FakePlugin()])

    class Slow(Counter):
        async def __call__(self, request: ChatRequest) -> int:
            await anyio.sleep(0.2)
            happened.append("counted")
            return 7

    async with anyio.create_task_group() as tg:
        async with client:
            counting(client, Slow())
            tg.start_soon(client.count_tokens, "fake/m", "hi")
            await anyio.sleep(0.05)  # the count has begun; leaving the block closes the client
        happened.append("closed")
    assert happened == ["counted", "closed"], "aclose waits for counts as for calls"
