"""A part a provider plugin built wrongly from a vendor's answer is a malformed answer.

A part's field of the wrong type raises :class:`relaykit.errors.PartFieldError`, an
``InvalidRequestError``: the caller's mistake when the caller built the part. Raised
from inside a provider call (a tool call decoded with a null id), it is the
vendor's: a retryable ``ProviderUnavailableError`` ("malformed response"), counted
as sent by limits, the part's error as its cause.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import relaykit
from relaykit import BatchItem, InvalidRequestError, ProviderUnavailableError, StreamError
from relaykit.errors import PartFieldError
from relaykit.events import Finish, TextDelta, ToolCallDelta
from relaykit.messages import TextPart, ToolCall
from relaykit.stream_read_timeout import claim_stream_read_timeout
from relaykit.testing import FROZEN_NOW as T0
from relaykit.testing import FakePlugin, LimiterPlugin, frozen_limiter, instant_retries

pytestmark = pytest.mark.anyio

MALFORMED = r"malformed response from the provider \(PartFieldError: ToolCall\.id must be a str"


@pytest.fixture(autouse=True)
def _instant() -> Iterator[None]:
    with instant_retries():
        yield


def make(*plugins: object, attempts: int = 3, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": attempts},
        **sections,
    }
    return relaykit.Client(config, plugins=[*plugins])


def decoded_answer() -> ToolCall:
    """What a plugin's decoder makes of a tool call whose id came as JSON null."""
    return ToolCall(None, "lookup", {"q": "x"})  # type: ignore[arg-type]


def requests_held(limiter: Any, key: str) -> float:
    rates = limiter._rates[key]
    return float((rates.rpm_tat - T0) / rates.rpm_interval)


def check_malformed(error: BaseException) -> None:
    assert isinstance(error, ProviderUnavailableError)
    assert not isinstance(error, InvalidRequestError)
    assert error.retryable and error.status is None
    assert isinstance(error.__cause__, PartFieldError)
    assert error.__cause__.param == "content.tool_call.id"
    # the part's hint is for whoever built it, not for the caller
    assert "as the model sent it" not in str(error)


def test_a_users_part_of_the_wrong_type_is_still_their_error() -> None:
    with pytest.raises(InvalidRequestError, match=r"TextPart\.text must be a str") as caught:
        TextPart(5)  # type: ignore[arg-type]
    assert isinstance(caught.value, PartFieldError)
    assert caught.value.param == "content.text.text"


async def test_a_users_dict_part_of_the_wrong_type_is_refused_before_any_plugin_runs() -> None:
    fake = FakePlugin()
    messages = [{"role": "user", "content": [{"type": "image", "url": 5}]}]
    async with make(fake) as client:
        with pytest.raises(InvalidRequestError, match="must be a str") as caught:
            await client.chat("fake/m", messages)
    assert caught.value.param == "messages[0].content[0].url"
    assert fake.calls == []


async def test_a_chat_answer_decoded_into_a_bad_tool_call_is_malformed_retried_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = LimiterPlugin(frozen_limiter())
    tries = 0
    async with make(
        FakePlugin(), frozen, limiter={"backend": "frozen"}, limits={"*": {"rpm": 10}}
    ) as client:

        async def answer(request: object) -> object:
            nonlocal tries
            tries += 1
            return decoded_answer()

        monkeypatch.setattr(client.provider("fake"), "chat", answer)
        with pytest.raises(ProviderUnavailableError, match=MALFORMED) as caught:
            await client.chat("fake/m", "hi", max_tokens=10)
    check_malformed(caught.value)
    assert tries == 3  # retried per [retry] attempts: garbage is usually transient
    assert requests_held(frozen.limiter, "*") == 3  # each one reached the vendor


async def test_a_stream_whose_first_event_cannot_be_decoded_is_malformed_retried_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = LimiterPlugin(frozen_limiter())
    tries = 0
    async with make(
        FakePlugin(), frozen, limiter={"backend": "frozen"}, limits={"*": {"rpm": 10}}
    ) as client:

        async def stream(request: object) -> AsyncIterator[object]:
            nonlocal tries
            tries += 1
            yield ToolCallDelta(0, id="", name="lookup", arguments=str(decoded_answer()))

        monkeypatch.setattr(client.provider("fake"), "stream", stream)
        with pytest.raises(ProviderUnavailableError, match=MALFORMED) as caught:
            async with client.stream("fake/m", "hi", max_tokens=10) as s:
                async for _ in s:
                    pass
    check_malformed(caught.value)
    assert tries == 3
    assert requests_held(frozen.limiter, "*") == 3


@pytest.mark.parametrize(
    ("claims", "before"),
    [(False, 1), (True, 1), (True, 2)],
    # a stream whose connection carries the idle timeout reads unscoped: the first
    # such read in ChatStream._next_unscoped, the later ones inlined in __anext__
    ids=["scoped", "unscoped", "unscoped-inlined"],
)
async def test_a_stream_that_breaks_on_a_bad_part_later_is_not_the_callers_error(
    monkeypatch: pytest.MonkeyPatch, claims: bool, before: int
) -> None:
    async with make(FakePlugin()) as client:

        async def stream(request: object) -> AsyncIterator[object]:
            if claims:  # as the HTTP client does for a streamed request
                assert claim_stream_read_timeout() is not None
            for _ in range(before):
                yield TextDelta("Looking it up. ")
            yield ToolCallDelta(0, id="", name="lookup", arguments=str(decoded_answer()))

        monkeypatch.setattr(client.provider("fake"), "stream", stream)
        seen = []
        with pytest.raises(StreamError, match=MALFORMED) as caught:
            async with client.stream("fake/m", "hi") as s:
                async for event in s:
                    seen.append(event)
    assert not isinstance(caught.value, InvalidRequestError)
    assert seen == [TextDelta("Looking it up. ")] * before


async def test_tool_call_deltas_with_ids_that_are_not_strings_assemble_as_their_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make(FakePlugin()) as client:

        async def stream(request: object) -> AsyncIterator[object]:
            yield ToolCallDelta(0, id=7, name="lookup", arguments='{"q": ')  # type: ignore[arg-type]
            yield ToolCallDelta(0, arguments='"x"}')
            yield Finish("tool_calls")

        monkeypatch.setattr(client.provider("fake"), "stream", stream)
        async with client.stream("fake/m", "hi") as s:
            events = [event async for event in s]
    assert len(events) == 3
    assert s.response.tool_calls == (ToolCall("7", "lookup", {"q": "x"}),)
    assert s.response.finish_reason == "tool_calls"


async def test_batch_results_decoded_into_a_bad_tool_call_are_a_malformed_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakePlugin()
    async with make(fake) as client:
        batch = await client.submit_batch("fake/m", [BatchItem("a", "hi")])

        async def results(batch: object) -> AsyncIterator[object]:
            decoded_answer()
            yield None  # pragma: no cover (makes it an async generator)

        monkeypatch.setattr(client.provider("fake"), "batch_results", results)
        with pytest.raises(ProviderUnavailableError, match=MALFORMED) as caught:
            async for _ in client.batch_results(batch.id):
                pass
    check_malformed(caught.value)


async def test_a_batch_submit_whose_answer_cannot_be_decoded_may_have_created_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make(FakePlugin()) as client:

        async def submit(requests: object) -> object:
            return decoded_answer()

        monkeypatch.setattr(client.provider("fake"), "submit_batch", submit)
        with pytest.raises(ProviderUnavailableError, match=MALFORMED) as caught:
            await client.submit_batch("fake/m", [BatchItem("a", "hi")])
    # an answer came: the batch may exist, so it is not submitted again blindly
    assert "may have been created" in str(caught.value)
    assert not caught.value.retryable
    assert isinstance(caught.value.__cause__, PartFieldError)
