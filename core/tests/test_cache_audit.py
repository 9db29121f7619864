"""The response cache keeps whole answers only, and what it keeps it serves faithfully."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import ChatRequest
from relaykit.events import StreamEvent, StreamStart, TextDelta, UsageUpdate
from relaykit.response import Usage
from relaykit.testing import FakePlugin, FakeProvider, OpenAIMock, RecordingExporter, Reply

from .conftest import MOCK_KEY


def make(*plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"initial_wait": 0.001},
        "cache": {"enabled": True},
        **sections,
    }
    return relaykit.Client(config, plugins=plugins)


async def twice(client: relaykit.Client, text: str, **params: Any) -> tuple[bool, bool]:
    """Ask ``text`` twice, as a call and as a stream: whether each second asking hit."""
    await client.chat("fake/m", text, temperature=0, **params)
    again = await client.chat("fake/m", text, temperature=0, **params)
    async with client.stream("fake/m", text + " (streamed)", temperature=0, **params) as s:
        async for _ in s:
            pass
    async with client.stream("fake/m", text + " (streamed)", temperature=0, **params) as s2:
        async for _ in s2:
            pass
    return again.cache_hit, s2.response.cache_hit


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("finish", "params", "kept"),
    [
        ("stop", {}, True),
        ("tool_calls", {}, True),
        # cut where the caller asked: the same request is cut at the same place
        ("length", {"max_tokens": 5}, True),
        # cut by a limit the caller did not set (not in the key): asked again
        ("length", {}, False),
        # a refusal or a filtered answer: the vendor's filters change on its side
        ("content_filter", {}, False),
    ],
)
async def test_only_whole_answers_or_those_cut_where_asked_are_kept(
    finish: str, params: dict[str, Any], kept: bool
) -> None:
    fake = FakePlugin()
    tools = (("f", {"x": 1}),) if finish == "tool_calls" else ()
    fake.script.push(*[Reply(text="an answer", finish=finish, tool_calls=tools)] * 4)  # type: ignore[arg-type]
    async with make(fake) as client:
        assert await twice(client, "q", **params) == (kept, kept)
    assert len(fake.calls) == (2 if kept else 4)


class Unfinished(FakeProvider):
    """A provider whose stream ends without its finish event and without an error,
    as a third-party plugin that does not check for the vendor's final event would."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls.append(request)
        yield StreamStart("cut-1", request.model)
        yield TextDelta("half an ans")
        yield UsageUpdate(Usage(3, 4))


@pytest.mark.anyio
async def test_a_stream_that_ended_without_its_finish_is_not_kept() -> None:
    fake = FakePlugin(provider=Unfinished)
    async with make(fake) as client:
        for _ in range(2):
            async with client.stream("fake/m", "q", temperature=0) as s:
                async for _ in s:
                    pass
            assert not s.response.cache_hit
            assert s.response.finish_reason == "other"
    assert len(fake.calls) == 2


@pytest.mark.anyio
async def test_a_stream_its_caller_left_early_is_not_kept() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="word " * 40), Reply(text="whole"))
    async with make(fake) as client:
        async with client.stream("fake/m", "q", temperature=0) as s:
            async for event in s:
                if isinstance(event, TextDelta):
                    break
        again = await client.chat("fake/m", "q", temperature=0)
    assert (again.cache_hit, again.text) == (False, "whole")


@pytest.mark.anyio
async def test_an_error_is_never_kept() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(400, "bad request"), Reply(text="fine"))
    async with make(fake) as client:
        with pytest.raises(relaykit.InvalidRequestError):
            await client.chat("fake/m", "q", temperature=0)
        again = await client.chat("fake/m", "q", temperature=0)
    assert (again.cache_hit, again.text) == (False, "fine")


@pytest.mark.anyio
async def test_a_refusal_over_the_wire_is_asked_again(openai_mock: OpenAIMock) -> None:
    openai_mock.script.push(Reply(refusal="I can't help with that."), Reply(text="Sure: 4."))
    config = {
        "storage": {"backend": "none"},
        "cache": {"enabled": True},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    async with relaykit.Client(config) as client:
        refused = await client.chat("openai/gpt-4o-mini", "2+2?", temperature=0)
        again = await client.chat("openai/gpt-4o-mini", "2+2?", temperature=0)
        third = await client.chat("openai/gpt-4o-mini", "2+2?", temperature=0)
    assert refused.finish_reason == "content_filter"
    assert (again.cache_hit, again.text) == (False, "Sure: 4.")
    assert (third.cache_hit, third.text) == (True, "Sure: 4.")


@pytest.mark.anyio
async def test_a_hit_is_free_charges_no_limit_is_counted_and_streams_in_order() -> None:
    from relaykit import metrics
    from relaykit.events import Finish
    from relaykit.testing import RecordingExporter

    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(Reply(text="four words of answer", input_tokens=7, output_tokens=4))
    # one request a minute: the first call takes it, hits must not need one
    async with make(fake, exporter, limits={"fake/*": {"rpm": 1}}) as client:
        first = await client.chat("fake/m", "q", temperature=0)
        hit = await client.chat("fake/m", "q", temperature=0)
        async with client.stream("fake/m", "q", temperature=0) as s:
            events = [e async for e in s]
    assert len(fake.calls) == 1
    assert (hit.cache_hit, hit.cost, hit.attempts, hit.text) == (True, Decimal(0), 0, first.text)
    assert isinstance(events[0], StreamStart) and isinstance(events[-1], Finish)
    assert isinstance(events[-2], UsageUpdate) and events[-2].usage == first.usage
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == first.text
    assert (s.response.cache_hit, s.response.cost, s.response.usage) == (
        True,
        Decimal(0),
        first.usage,
    )
    assert s.response.finish_reason == "stop"
    assert [r.cache_hit for r in exporter.records] == [False, True, True]
    hits = [
        o.value
        for r in exporter.records
        for o in metrics.observe(r)
        if o.instrument.name == "relaykit.cache.hits"
    ]
    assert hits == [1.0, 1.0]


# -- what the request body takes, the key takes --------------------------------------

#: half an emoji (a high surrogate alone), as a text cut at a UTF-16 boundary holds
#: it: the request body sends it escaped (relaykit.json_encode)
HALF_AN_EMOJI = "cut here: \ud83d"


@pytest.mark.anyio
@pytest.mark.parametrize("cache", [False, True])
async def test_a_lone_surrogate_is_sent_and_cached_as_the_body_sends_it(
    openai_mock: OpenAIMock, cache: bool
) -> None:
    # With the cache on, the key's UTF-8 encoding refused the surrogate: the call
    # failed with a UnicodeEncodeError that the same call uncached never met.
    openai_mock.script.push(*[Reply(text="noted")] * 3)
    config = {
        "storage": {"backend": "none"},
        "cache": {"enabled": cache},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    async with relaykit.Client(config) as client:
        first = await client.chat("openai/gpt-4o-mini", HALF_AN_EMOJI, temperature=0)
        again = await client.chat("openai/gpt-4o-mini", HALF_AN_EMOJI, temperature=0)
        other = await client.chat("openai/gpt-4o-mini", "cut here: \ud83e", temperature=0)
    assert (first.text, first.cache_hit) == ("noted", False)
    assert (again.text, again.cache_hit) == ("noted", cache)
    assert not other.cache_hit  # another half: another key
    assert "\\ud83d" in openai_mock.requests[0].body.decode()


@pytest.mark.anyio
@pytest.mark.parametrize("cache", [False, True])
async def test_what_json_cannot_hold_is_refused_typed_cached_or_not(
    openai_mock: OpenAIMock, cache: bool
) -> None:
    # Uncached, the request body's encoder refuses a set as bad input (an
    # InvalidRequestError naming the fix, the call recorded); with the cache on,
    # the key raised a bare TypeError before the call began.
    exporter = RecordingExporter()
    config = {
        "storage": {"backend": "none"},
        "cache": {"enabled": cache},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    async with relaykit.Client(config, plugins=[exporter]) as client:
        with pytest.raises(relaykit.InvalidRequestError, match="JSON cannot encode"):
            await client.chat("openai/gpt-4o-mini", "hi", temperature=0, extra={"tags": {"a"}})
    assert [r.error_type for r in exporter.records] == ["InvalidRequestError"]
    assert openai_mock.requests == []


@pytest.mark.anyio
async def test_a_lone_surrogate_is_embedded_and_its_vector_kept() -> None:
    # The embeddings cache's key refused it too.
    fake = FakePlugin()
    async with make(fake) as client:
        first = await client.embed("fake/e", [HALF_AN_EMOJI, "whole"])
        again = await client.embed("fake/e", [HALF_AN_EMOJI])
    assert not first.cache_hit and again.cache_hit
    assert again.vectors[0] == first.vectors[0]
    assert [r.inputs for r in fake.embeddings] == [(HALF_AN_EMOJI, "whole")]


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["chat", "embed"])
async def test_an_extra_the_keys_json_cannot_sort_goes_uncached_not_refused(
    operation: str,
) -> None:
    # Keys of two types: the body's encoder sends them (1 as "1"); the key's sorted
    # JSON could not sort them and the call failed with a TypeError.
    fake = FakePlugin()
    extra = {1: "one", "two": 2}
    async with make(fake) as client:
        for _ in range(2):
            if operation == "chat":
                answer: Any = await client.chat("fake/m", "q", temperature=0, extra=extra)
            else:
                answer = await client.embed("fake/e", ["q"], extra=extra)
            assert not answer.cache_hit
    assert len(fake.calls if operation == "chat" else fake.embeddings) == 2
