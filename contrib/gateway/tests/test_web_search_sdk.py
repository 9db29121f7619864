"""Web search through the gateway, as OpenAI's and Anthropic's own SDKs ask for it and
read its citations: each dialect's request shape becomes ``web_search=``, and the
answer's citations come back in each dialect's shape, streamed and not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import ClassVar, TypeVar

import anthropic
import openai
import pytest
from anthropic.types import (
    CitationsWebSearchResultLocation,
    ToolParam,
    WebSearchTool20250305Param,
)
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseFunctionWebSearch,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseWebSearchCallCompletedEvent,
    ResponseWebSearchCallInProgressEvent,
    ResponseWebSearchCallSearchingEvent,
)
from openai.types.responses.response_function_web_search import ActionSearch
from openai.types.responses.response_output_text import AnnotationURLCitation

import relaykit
from relaykit import Citation, SearchLocation, SearchQuery, StreamEvent, TextPart, WebSearch
from relaykit.events import Finish
from relaykit.testing import FakePlugin, Reply
from relaykit.testing.fake_provider import FakeProvider

from .conftest import anthropic_sdk, gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

TEXT = "Dover: high water at 06:12 today."
#: a citation of the span "high water at 06:12"
SPAN = Citation(
    url="https://tides.example/dover",
    title="Dover tides",
    cited_text="High water 06:12 BST",
    start=TEXT.index("high"),
    end=TEXT.index(" today"),
)
#: a citation whose vendor did not say where: the whole answer
WHOLE = Citation(url="https://sea.example/", title="Sea almanac")
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


T = TypeVar("T")


def of(kind: type[T], value: object) -> T:
    """``value``, asserted a ``kind``: narrows a member of an SDK's union of models."""
    assert isinstance(value, kind), f"{type(value).__name__}, not {kind.__name__}"
    return value


_SEARCH_CALL_EVENTS = (
    ResponseWebSearchCallInProgressEvent,
    ResponseWebSearchCallSearchingEvent,
    ResponseWebSearchCallCompletedEvent,
)


class _Unsearched(FakeProvider):
    searches_web: ClassVar[bool] = False


def cited(*citations: Citation, searches: int = 1, queries: tuple[str, ...] = ()) -> Reply:
    return Reply(text=TEXT, citations=citations, web_searches=searches, search_queries=queries)


# -- Chat Completions -------------------------------------------------------------


async def test_chat_web_search_options_search_and_annotations_come_back(
    fake: FakePlugin,
) -> None:
    fake.script.push(cited(SPAN, WHOLE))
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        r = await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "When is high water at Dover?"}],
            web_search_options={
                "search_context_size": "low",
                "user_location": {
                    "type": "approximate",
                    "approximate": {"country": "GB", "city": "Dover"},
                },
            },
        )
    (request,) = fake.calls
    assert request.web_search == WebSearch(
        context_size="low", location=SearchLocation(country="GB", city="Dover")
    )
    message = r.choices[0].message
    assert message.content == TEXT
    span, whole = message.annotations or []
    assert span.type == "url_citation"
    assert span.url_citation.url == SPAN.url
    assert span.url_citation.title == "Dover tides"
    start, end = span.url_citation.start_index, span.url_citation.end_index
    assert TEXT[start:end] == "high water at 06:12"
    # no range from the vendor: the whole answer
    assert (whole.url_citation.start_index, whole.url_citation.end_index) == (0, len(TEXT))


async def test_a_chat_stream_sends_its_annotations_in_one_delta_before_the_finish(
    fake: FakePlugin,
) -> None:
    fake.script.push(cited(SPAN, WHOLE))
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        stream = await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "High water at Dover?"}],
            web_search_options={},
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    assert fake.calls[0].web_search == WebSearch()
    deltas = [c.choices[0].delta for c in chunks]
    assert "".join(d.content or "" for d in deltas) == TEXT
    # annotations are not a field of the SDK's ChoiceDelta (OpenAI sends them all the
    # same): they arrive as the delta's extra field
    annotated = [i for i, d in enumerate(deltas) if (d.model_extra or {}).get("annotations")]
    assert len(annotated) == 1
    (at,) = annotated
    assert chunks[at + 1].choices[0].finish_reason == "stop"
    annotations = (deltas[at].model_extra or {})["annotations"]
    assert [a["url_citation"]["url"] for a in annotations] == [SPAN.url, WHOLE.url]
    first = annotations[0]["url_citation"]
    assert TEXT[first["start_index"] : first["end_index"]] == "high water at 06:12"


async def test_a_bad_search_option_is_a_400_naming_it_before_any_call(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError) as unknown:
            # a misspelt option, on purpose
            await client.chat.completions.create(  # type: ignore[call-overload]
                model="fake/m",
                messages=[{"role": "user", "content": "hi"}],
                web_search_options={"search_context_sise": "low"},
            )
        with pytest.raises(openai.BadRequestError) as country:
            await client.chat.completions.create(
                model="fake/m",
                messages=[{"role": "user", "content": "hi"}],
                web_search_options={
                    "user_location": {"type": "approximate", "approximate": {"country": "UK1"}}
                },
            )
    assert unknown.value.param == "web_search_options.search_context_sise"
    assert "search_context_size" in unknown.value.message
    assert country.value.param == "web_search_options"
    assert "'UK1' is not a two-letter code" in country.value.message
    assert fake.calls == []


async def test_the_searches_are_priced_into_the_cost_header(fake: FakePlugin) -> None:
    # the fake's prices: USD 1 a million input tokens, USD 0.01 a search
    fake.script.push(Reply(text=TEXT, input_tokens=1_000_000, output_tokens=0, web_searches=2))
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="fake/m",
            messages=[{"role": "user", "content": "High water?"}],
            web_search_options={},
        )
    assert Decimal(raw.headers["x-relaykit-cost"]) == Decimal("1.02")


# -- Responses API -----------------------------------------------------------------


async def test_a_responses_search_tool_searches_and_its_text_is_annotated(
    fake: FakePlugin,
) -> None:
    fake.script.push(cited(SPAN, WHOLE, searches=2, queries=("Dover tides", "Dover BST")))
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        r = await client.responses.create(
            model="fake/m",
            input="When is high water at Dover?",
            tools=[
                {
                    "type": "web_search",
                    "filters": {"allowed_domains": ["tides.example"]},
                    "search_context_size": "high",
                    "user_location": {"type": "approximate", "country": "GB"},
                },
                {
                    "type": "function",
                    "name": "get_weather",
                    "parameters": dict(WEATHER["input_schema"]),
                    "strict": None,
                },
            ],
        )
    (request,) = fake.calls
    assert request.web_search == WebSearch(
        allowed_domains=("tides.example",),
        context_size="high",
        location=SearchLocation(country="GB"),
    )
    assert [t.name for t in request.tools] == ["get_weather"]
    # a web_search_call item for each query the provider ran, before the message
    assert [type(item) for item in r.output] == [
        ResponseFunctionWebSearch,
        ResponseFunctionWebSearch,
        ResponseOutputMessage,
    ]
    first, second = (of(ResponseFunctionWebSearch, item) for item in r.output[:2])
    message = of(ResponseOutputMessage, r.output[2])
    assert (first.status, first.action.type) == ("completed", "search")
    search, search2 = of(ActionSearch, first.action), of(ActionSearch, second.action)
    assert (search.query, search2.query) == ("Dover tides", "Dover BST")
    assert search.model_dump()["queries"] == ["Dover tides"]
    assert first.id.startswith("ws_") and first.id != second.id
    (part,) = message.content
    part = of(ResponseOutputText, part)
    span, whole = (of(AnnotationURLCitation, a) for a in part.annotations)
    assert span.type == "url_citation" and whole.type == "url_citation"
    assert (span.url, span.title) == (SPAN.url, "Dover tides")
    assert TEXT[span.start_index : span.end_index] == "high water at 06:12"
    assert (whole.start_index, whole.end_index) == (0, len(TEXT))
    assert r.output_text == TEXT


async def test_a_responses_stream_adds_each_annotation_before_its_text_is_done(
    fake: FakePlugin,
) -> None:
    fake.script.push(cited(SPAN, WHOLE, queries=("Dover tides",)))
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        stream = await client.responses.create(
            model="fake/m",
            input="High water at Dover?",
            tools=[{"type": "web_search_preview"}],
            stream=True,
        )
        events = [event async for event in stream]
    assert fake.calls[0].web_search == WebSearch()
    kinds = [e.type for e in events]
    added = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert [e.annotation_index for e in added] == [0, 1]
    assert kinds.index("response.output_text.annotation.added") < kinds.index(
        "response.output_text.done"
    )
    message_id = next(
        e.item.id
        for e in events
        if e.type == "response.output_item.added" and e.item.type == "message"
    )
    assert {(e.item_id, e.output_index, e.content_index) for e in added} == {(message_id, 1, 0)}
    assert added[0].annotation == {
        "type": "url_citation",
        "start_index": SPAN.start,
        "end_index": SPAN.end,
        "url": SPAN.url,
        "title": "Dover tides",
    }
    completed = events[-1]
    assert completed.type == "response.completed"
    search, message = completed.response.output
    search, message = of(ResponseFunctionWebSearch, search), of(ResponseOutputMessage, message)
    (part,) = message.content
    annotations = of(ResponseOutputText, part).annotations
    assert [of(AnnotationURLCitation, a).url for a in annotations] == [SPAN.url, WHOLE.url]
    # the search streams as it runs: its item before the message, announced as
    # OpenAI streams a search, done before the first word of the answer
    assert (search.type, search.status, of(ActionSearch, search.action).query) == (
        "web_search_call",
        "completed",
        "Dover tides",
    )
    searching = [e for e in events if e.type.startswith("response.web_search_call.")]
    assert [e.type.rsplit(".", 1)[1] for e in searching] == [
        "in_progress",
        "searching",
        "completed",
    ]
    calls = [e for e in searching if isinstance(e, _SEARCH_CALL_EVENTS)]
    assert calls == searching
    assert {(e.item_id, e.output_index) for e in calls} == {(search.id, 0)}
    item_added, done = (
        e for e in events if getattr(getattr(e, "item", None), "id", None) == search.id
    )
    added_search = of(ResponseFunctionWebSearch, of(ResponseOutputItemAddedEvent, item_added).item)
    done_search = of(ResponseFunctionWebSearch, of(ResponseOutputItemDoneEvent, done).item)
    assert (added_search.status, done_search.status) == ("in_progress", "completed")
    assert of(ActionSearch, done_search.action).query == "Dover tides"
    assert events.index(done) < kinds.index("response.output_text.delta")


async def test_a_responses_stream_of_an_older_provider_adds_its_searches_at_the_end(
    fake: FakePlugin,
) -> None:
    """A provider that reports its queries on the finish only: they still come, once."""

    class _FinishOnly(FakeProvider):
        async def stream(self, request: relaykit.ChatRequest) -> AsyncIterator[StreamEvent]:
            async for event in super().stream(request):
                if isinstance(event, SearchQuery):
                    continue
                if isinstance(event, Finish):
                    event = Finish(event.reason, search_queries=("Dover tides",))
                yield event

    older = FakePlugin(provider=_FinishOnly)
    older.script.push(cited(SPAN, queries=("Dover tides",)))
    async with gateway_over(older) as url, openai_sdk(url) as client:
        stream = await client.responses.create(
            model="fake/m", input="High water?", tools=[{"type": "web_search"}], stream=True
        )
        events = [event async for event in stream]
    message, search = of(ResponseCompletedEvent, events[-1]).response.output
    message, search = of(ResponseOutputMessage, message), of(ResponseFunctionWebSearch, search)
    assert (message.type, search.type, of(ActionSearch, search.action).query) == (
        "message",
        "web_search_call",
        "Dover tides",
    )


async def test_search_items_sent_back_are_skipped_and_a_second_search_tool_is_refused(
    fake: FakePlugin,
) -> None:
    fake.script.reply("Still 06:12.")
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        await client.responses.create(
            model="fake/m",
            input=[
                {"role": "user", "content": "High water at Dover?"},
                {
                    "type": "web_search_call",
                    "id": "ws_1",
                    "status": "completed",
                    "action": {"type": "search", "query": "Dover tides"},
                },
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
                },
                {"role": "user", "content": "Sure?"},
            ],
            tools=[{"type": "web_search"}],
        )
        with pytest.raises(openai.BadRequestError) as twice:
            await client.responses.create(
                model="fake/m",
                input="hi",
                tools=[{"type": "web_search"}, {"type": "web_search_preview"}],
            )
        with pytest.raises(openai.BadRequestError) as filters:
            await client.responses.create(
                model="fake/m",
                input="hi",
                # a filter the Responses API lacks, on purpose
                tools=[{"type": "web_search", "filters": {"blocked_domains": ["a.example"]}}],  # type: ignore[typeddict-item]
            )
    (request,) = fake.calls
    assert [(m.role, m.text) for m in request.messages] == [
        ("user", "High water at Dover?"),
        ("assistant", TEXT),
        ("user", "Sure?"),
    ]
    assert twice.value.param == "tools.1.type"
    assert "second web search tool" in twice.value.message
    assert filters.value.param == "tools.0.filters"
    assert "allowed_domains only" in filters.value.message


# -- Anthropic's Messages API --------------------------------------------------------


async def test_anthropics_search_tool_searches_and_a_cited_span_is_its_own_block(
    fake: FakePlugin,
) -> None:
    fake.script.push(cited(SPAN, searches=2))
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        message = await client.messages.create(
            model="fake/m",
            max_tokens=200,
            messages=[{"role": "user", "content": "When is high water at Dover?"}],
            tools=[
                WEATHER,
                {
                    "type": "web_search_20250305",
                    "name": "web_search",
                    "max_uses": 2,
                    "blocked_domains": ["spam.example"],
                    "user_location": {"type": "approximate", "country": "GB", "city": "Dover"},
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        )
    (request,) = fake.calls
    assert request.web_search == WebSearch(
        max_uses=2,
        blocked_domains=("spam.example",),
        location=SearchLocation(country="GB", city="Dover"),
    )
    # the search tool's cache mark goes on the definition before it
    (tool,) = request.tools
    assert tool.name == "get_weather" and tool.cache is not None
    texts = [b for b in message.content if b.type == "text"]
    assert [b.text for b in texts] == ["Dover: ", "high water at 06:12", " today."]
    assert texts[0].citations is None and texts[2].citations is None
    (citation,) = texts[1].citations or []
    assert citation.type == "web_search_result_location"
    assert (citation.url, citation.title) == (SPAN.url, "Dover tides")
    assert citation.cited_text == "High water 06:12 BST"
    assert citation.encrypted_index == ""  # the gateway has no Anthropic search results
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 2


async def test_anthropics_sdk_sees_each_search_as_server_tool_blocks(fake: FakePlugin) -> None:
    """Whole: a server_tool_use and its web_search_tool_result per query, before the text."""
    fake.script.push(cited(SPAN, searches=2, queries=("Dover tides", 'high "water"')))
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        message = await client.messages.create(
            model="fake/m",
            max_tokens=200,
            messages=[{"role": "user", "content": "When is high water at Dover?"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    kinds = [b.type for b in message.content]
    assert kinds[:4] == [
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_search_tool_result",
    ]
    assert set(kinds[4:]) == {"text"}
    use, result, use2, result2 = message.content[:4]
    assert use.type == "server_tool_use" and result.type == "web_search_tool_result"
    assert use2.type == "server_tool_use" and result2.type == "web_search_tool_result"
    assert (use.name, use.input, use2.input) == (
        "web_search",
        {"query": "Dover tides"},
        {"query": 'high "water"'},
    )
    assert use.id.startswith("srvtoolu_") and use.id != use2.id
    assert (result.tool_use_id, result.content) == (use.id, [])
    assert result2.tool_use_id == use2.id


async def test_anthropics_sdk_streams_each_search_before_the_text_and_takes_it_back(
    fake: FakePlugin,
) -> None:
    fake.script.push(cited(SPAN, queries=("Dover tides",)), Reply(text="Yes."))
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        async with client.messages.stream(
            model="fake/m",
            max_tokens=200,
            messages=[{"role": "user", "content": "High water?"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        ) as stream:
            events = [e async for e in stream]
            message = await stream.get_final_message()
        # the whole message sent back, search blocks and all, as a caller continues
        again = await client.messages.create(
            model="fake/m",
            max_tokens=50,
            messages=[
                {"role": "user", "content": "High water?"},
                # plain dicts, every field and its nulls, as a caller keeping JSON sends them
                {"role": "assistant", "content": [b.model_dump() for b in message.content]},  # type: ignore[misc, list-item]
                {"role": "user", "content": "Sure?"},
            ],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts[:2] == ["server_tool_use", "web_search_tool_result"]
    assert set(starts[2:]) == {"text"}
    json_deltas = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert json_deltas == ['{"query":"Dover tides"}']
    use, result = message.content[:2]
    assert use.type == "server_tool_use" and use.input == {"query": "Dover tides"}
    assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
    assert result.content == []
    assert "".join(b.text for b in message.content if b.type == "text") == TEXT
    assert again.content[0].type == "text"
    # the search blocks skipped: the assistant's turn is its text
    assert [(m.role, m.text) for m in fake.calls[1].messages] == [
        ("user", "High water?"),
        ("assistant", TEXT),
        ("user", "Sure?"),
    ]


async def test_a_citation_without_a_range_cites_the_whole_text(fake: FakePlugin) -> None:
    fake.script.push(cited(WHOLE))
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        message = await client.messages.create(
            model="fake/m",
            max_tokens=200,
            messages=[{"role": "user", "content": "High water?"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    (block,) = message.content
    assert block.type == "text" and block.text == TEXT
    assert [of(CitationsWebSearchResultLocation, c).url for c in block.citations or []] == [
        WHOLE.url
    ]


async def test_an_anthropic_stream_carries_citations_deltas_and_search_usage(
    fake: FakePlugin,
) -> None:
    fake.script.push(cited(SPAN, WHOLE, searches=3))
    search: WebSearchTool20250305Param = {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 3,
    }
    async with (
        gateway_over(fake) as url,
        anthropic_sdk(url) as client,
        client.messages.stream(
            model="fake/m",
            max_tokens=200,
            messages=[{"role": "user", "content": "High water?"}],
            tools=[search],
        ) as stream,
    ):
        deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
        message = await stream.get_final_message()
    assert fake.calls[0].web_search == WebSearch(max_uses=3)
    assert deltas.count("citations_delta") == 2
    (block,) = message.content
    assert block.type == "text" and block.text == TEXT
    assert [of(CitationsWebSearchResultLocation, c).url for c in block.citations or []] == [
        SPAN.url,
        WHOLE.url,
    ]
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 3


async def test_anthropics_search_blocks_sent_back_are_skipped_and_bad_fields_refused(
    fake: FakePlugin,
) -> None:
    fake.script.reply("Still 06:12.")
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        await client.messages.create(
            model="fake/m",
            max_tokens=200,
            messages=[
                {"role": "user", "content": "High water at Dover?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_1",
                            "name": "web_search",
                            "input": {"query": "Dover tides"},
                        },
                        {
                            "type": "web_search_tool_result",
                            "tool_use_id": "srvtoolu_1",
                            "content": [
                                {
                                    "type": "web_search_result",
                                    "url": SPAN.url,
                                    "title": "Dover tides",
                                    "encrypted_content": "abc",
                                }
                            ],
                        },
                        {
                            "type": "text",
                            "text": TEXT,
                            "citations": [
                                {
                                    "type": "web_search_result_location",
                                    "url": SPAN.url,
                                    "title": "Dover tides",
                                    "cited_text": "High water 06:12 BST",
                                    "encrypted_index": "xyz",
                                }
                            ],
                        },
                    ],
                },
                {"role": "user", "content": "Sure?"},
            ],
        )
        with pytest.raises(anthropic.BadRequestError, match=r"tools\.0\.max_usage"):
            await client.messages.create(
                model="fake/m",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                # a misspelt field, on purpose
                tools=[{"type": "web_search_20250305", "name": "web_search", "max_usage": 2}],  # type: ignore[list-item]
            )
        with pytest.raises(anthropic.BadRequestError, match="allowed_domains or blocked_domains"):
            await client.messages.create(
                model="fake/m",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                tools=[
                    {
                        "type": "web_search_20250305",
                        "name": "web_search",
                        "allowed_domains": ["a.example"],
                        "blocked_domains": ["b.example"],
                    }
                ],
            )
    (request,) = fake.calls
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    assert request.messages[1].content == (TextPart(TEXT),)


# -- a provider that cannot search ---------------------------------------------------


async def test_a_provider_that_cannot_search_is_each_dialects_400() -> None:
    fake = FakePlugin(provider=_Unsearched)
    async with gateway_over(fake) as url:
        async with openai_sdk(url) as client:
            with pytest.raises(openai.BadRequestError) as chat:
                await client.chat.completions.create(
                    model="fake/m",
                    messages=[{"role": "user", "content": "hi"}],
                    web_search_options={},
                )
            with pytest.raises(openai.BadRequestError) as responses:
                await client.responses.create(
                    model="fake/m", input="hi", tools=[{"type": "web_search"}], stream=True
                )
        async with anthropic_sdk(url) as client:
            with pytest.raises(anthropic.BadRequestError) as messages:
                await client.messages.create(
                    model="fake/m",
                    max_tokens=10,
                    messages=[{"role": "user", "content": "hi"}],
                    tools=[{"type": "web_search_20250305", "name": "web_search"}],
                )
    for caught in (chat, responses, messages):
        assert "fake/m: cannot search the web" in caught.value.message
    assert chat.value.param == responses.value.param == "web_search"
    assert of(dict, messages.value.body)["error"]["type"] == "invalid_request_error"
    assert fake.calls == []
