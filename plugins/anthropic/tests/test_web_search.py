"""Claude's web search over loopback: the tool sent, the citations and searches of the
answer (streamed and not), a paused turn, refusals, history, batches, Vertex and Foundry."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import (
    BatchItem,
    Citation,
    ConfigError,
    InvalidRequestError,
    Message,
    SearchLocation,
    TextDelta,
    ToolCallDelta,
    WebSearch,
)
from relaykit.events import Finish, SearchQuery
from relaykit.testing import Reply, one_try_config
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_anthropic import mock_web_search, paused_turns, web_search
from relaykit_anthropic.mock_foundry import FoundryClaudeMock
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.prices import known_model
from relaykit_anthropic.testing import AnthropicMock
from relaykit_anthropic.vertex_prices import vertex_price

from .conftest import client

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"

# Non-ASCII before the cited claim: offsets are str (character) offsets, not bytes.
INTRO = "Grüße 🇫🇷 — résumé first. "
CLAIM = "Paris is the capital of France."
TEXT = INTRO + CLAIM + " Voilà."
PARIS = Citation(
    url="https://en.wikipedia.org/wiki/Paris",
    title="Paris - Wikipedia",
    cited_text="Paris is the capital and largest city of France.",
    start=len(INTRO),
    end=len(INTRO) + len(CLAIM),
)


def searched(text: str = TEXT, **kw: Any) -> Reply:
    return Reply(text=text, citations=(PARIS,), web_searches=2, **kw)


# -- the request ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_tool_goes_after_the_function_tools_with_limits_and_location(
    mock: AnthropicMock,
) -> None:
    search = WebSearch(
        max_uses=3,
        allowed_domains=("example.com", "docs.python.org"),
        context_size="high",  # a hint Claude has no field for
        location=SearchLocation(country="GB", city="London", timezone="Europe/London"),
    )
    async with client(mock) as c:
        await c.chat(MODEL, "Weather and news?", tools=[WEATHER_TOOL], web_search=search)
    tools = mock.last_request.json()["tools"]
    assert [t.get("name") for t in tools] == ["get_weather", "web_search"]
    assert tools[1] == {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 3,
        "allowed_domains": ["example.com", "docs.python.org"],
        "user_location": {
            "type": "approximate",
            "country": "GB",
            "city": "London",
            "timezone": "Europe/London",
        },
    }
    assert "context" not in mock.last_request.body.decode()


@pytest.mark.anyio
async def test_anthropics_own_tool_in_tools_is_sent_as_given(mock: AnthropicMock) -> None:
    given = {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 2,
        "blocked_domains": ["spam.example"],
    }
    async with client(mock) as c:
        await c.chat(MODEL, "news?", tools=[given])
    assert mock.sent_search_tool(mock.last_request) == given
    assert len(mock.last_request.json()["tools"]) == 1


@pytest.mark.anyio
async def test_a_function_tool_named_web_search_is_refused_unsent(mock: AnthropicMock) -> None:
    tool = {"name": "web_search", "parameters": {"type": "object", "properties": {}}}
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="rename the function tool") as refused:
            await c.chat(MODEL, "hi", tools=[tool], web_search=True)
        assert refused.value.param == "tools"
        assert not mock.requests
        await c.chat(MODEL, "hi", tools=[tool])  # without web search, the name is free
    assert [t["name"] for t in mock.last_request.json()["tools"]] == ["web_search"]


@pytest.mark.anyio
async def test_claude_3_haiku_cannot_search_and_is_refused_unsent(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="cannot search the web") as refused:
            await c.chat("anthropic/claude-3-haiku-20240307", "news?", web_search=True)
    assert refused.value.param == "web_search" and not mock.requests


@pytest.mark.anyio
async def test_dynamic_filtering_goes_to_the_models_that_take_it(mock: AnthropicMock) -> None:
    async with client(mock, dynamic_web_search=True) as c:
        await c.chat("anthropic/claude-sonnet-4-6", "news?", web_search=True)
        await c.chat("anthropic/claude-haiku-4-5", "news?", web_search=True)
    kinds = [mock.sent_search_tool(r)["type"] for r in mock.requests]  # type: ignore[index]
    assert kinds == [web_search.DYNAMIC, web_search.BASIC]


@pytest.mark.anyio
async def test_dynamic_web_search_must_be_a_boolean(mock: AnthropicMock) -> None:
    with pytest.raises(ConfigError, match="dynamic_web_search"):
        async with client(mock, dynamic_web_search="yes") as c:
            await c.chat(MODEL, "hi")


# -- the answer ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_citations_index_the_text_and_searches_are_billed(mock: AnthropicMock) -> None:
    mock.script.push(searched(input_tokens=1000, output_tokens=100))
    async with client(mock) as c:
        r = await c.chat(MODEL, "Capital of France?", web_search=True)
    assert r.text == TEXT  # the server blocks are not text
    assert r.tool_calls == () and r.finish_reason == "stop"
    (cited,) = r.citations
    assert cited.url == PARIS.url and cited.title == PARIS.title
    assert cited.cited_text == PARIS.cited_text
    assert r.text[cited.start : cited.end] == CLAIM
    assert r.usage.web_searches == 2
    # USD 3 and 15 a million tokens, and USD 0.01 a search
    assert r.cost == Decimal("0.003") + Decimal("0.0015") + Decimal("0.02")


@pytest.mark.anyio
async def test_streamed_citations_come_after_the_text_they_cite(mock: AnthropicMock) -> None:
    mock.script.push(searched())
    async with client(mock) as c, c.stream(MODEL, "Capital of France?", web_search=True) as s:
        events = [e async for e in s]
    assert not any(isinstance(e, ToolCallDelta) for e in events)  # the query is the server's
    where = next(i for i, e in enumerate(events) if isinstance(e, Citation))
    before = "".join(e.text for e in events[:where] if isinstance(e, TextDelta))
    assert before == INTRO + CLAIM
    assert s.response.text == TEXT
    assert s.response.citations == (PARIS,)
    assert s.response.usage.web_searches == 2


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_failed_search_is_logged_and_the_answer_stands(
    mock: AnthropicMock, caplog: pytest.LogCaptureFixture, streamed: bool
) -> None:
    mock.search_error = "too_many_requests"
    mock.script.push(Reply(text="I could not search just now.", web_searches=1))
    caplog.set_level(logging.DEBUG, logger="relaykit_anthropic")
    async with client(mock) as c:
        if streamed:
            async with c.stream(MODEL, "news?", web_search=True) as s:
                _ = [e async for e in s]
            r = s.response
        else:
            r = await c.chat(MODEL, "news?", web_search=True)
    assert r.text == "I could not search just now." and r.citations == ()
    assert r.finish_reason == "stop"
    assert "too_many_requests" in caplog.text


@pytest.mark.anyio
async def test_searches_past_max_uses_fail_and_are_not_billed(mock: AnthropicMock) -> None:
    mock.script.push(searched())
    async with client(mock) as c:
        r = await c.chat(MODEL, "news?", web_search=WebSearch(max_uses=1))
    assert r.usage.web_searches == 1 and r.text == TEXT
    # what the mock answered: the second search past max_uses, an error result
    blocks = mock_web_search.search_blocks(searched(), mock.last_request.json(), 1)
    assert blocks[3]["content"] == {
        "type": "web_search_tool_result_error",
        "error_code": "max_uses_exceeded",
    }


#: quotes and a flag: JSON escapes the mock's query fragments cut through
QUERIES = ('capital "France"', "capitale de la France 🇫🇷")


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_the_queries_searched_come_back_in_order(mock: AnthropicMock, streamed: bool) -> None:
    mock.script.push(searched(search_queries=QUERIES))
    async with client(mock) as c:
        if streamed:
            async with c.stream(MODEL, "Capital of France?", web_search=True) as s:
                events = [e async for e in s]
            r = s.response
            # each as its server_tool_use block stops, before the text written after it
            kinds = [type(e) for e in events]
            assert [e.query for e in events if isinstance(e, SearchQuery)] == list(QUERIES)
            assert kinds.index(SearchQuery) < kinds.index(TextDelta)
            (finish,) = [e for e in events if isinstance(e, Finish)]
            assert finish.search_queries == ()
        else:
            r = await c.chat(MODEL, "Capital of France?", web_search=True)
    sent = [
        b["input"]["query"]
        for b in mock_web_search.search_blocks(
            searched(search_queries=QUERIES), mock.last_request.json(), 1
        )
        if b["type"] == "server_tool_use"
    ]
    assert sent == list(QUERIES)  # what the mock answered
    assert r.search_queries == QUERIES
    assert r.search_suggestions is None
    assert r.text == TEXT and r.citations == (PARIS,)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["drop", "error"])
async def test_a_stream_cut_after_its_searches_keeps_them(mock: AnthropicMock, fault: str) -> None:
    mock.script.push(searched(search_queries=QUERIES, stream_fault=fault))
    async with client(mock) as c:
        with pytest.raises(relaykit.StreamError):
            async with c.stream(MODEL, "Capital of France?", web_search=True) as s:
                async for _ in s:
                    pass
    # billed before the cut: the partial response (and so its record) keeps them
    assert s.response.search_queries == QUERIES


# -- a paused turn ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_paused_turn_is_continued_and_joined(mock: AnthropicMock) -> None:
    first = "Searching… "
    later = Citation(url="https://example.com/b", title="B", cited_text="b", start=0, end=9)
    mock.pause_turns = 1
    mock.script.push(
        Reply(
            text=first, web_searches=1, input_tokens=100, output_tokens=10, search_queries=("a",)
        ),
        Reply(
            text="Found it.",
            citations=(later,),
            web_searches=2,
            input_tokens=200,
            search_queries=("b", "c"),
        ),
    )
    async with client(mock) as c:
        r = await c.chat(MODEL, "Find it", web_search=WebSearch(max_uses=5))
    one, two = mock.requests
    paused = two.json()["messages"][-1]
    assert paused["role"] == "assistant"
    assert [b["type"] for b in paused["content"]] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert mock.sent_search_tool(two)["max_uses"] == 4  # type: ignore[index]
    assert one.json()["messages"] == two.json()["messages"][:-1]
    assert r.text == first + "Found it." and r.finish_reason == "stop"
    shifted = Citation(
        url=later.url, title="B", cited_text="b", start=len(first), end=len(first) + 9
    )
    assert r.citations == (shifted,)
    assert r.usage.web_searches == 3 and r.usage.input_tokens == 300
    assert r.search_queries == ("a", "b", "c")  # the paused part's first


@pytest.mark.anyio
async def test_continuations_stop_at_the_bound_and_finish_as_other(mock: AnthropicMock) -> None:
    mock.pause_turns = 10
    mock.script.push(*[Reply(text=f"part {i}. ") for i in range(10)])
    async with client(mock) as c:
        r = await c.chat(MODEL, "Find it", web_search=True)
    assert len(mock.requests) == 1 + paused_turns.MAX_CONTINUATIONS
    assert r.finish_reason == "other" and r.text == "part 0. part 1. part 2. part 3. "


@pytest.mark.anyio
async def test_a_paused_turn_with_no_search_left_is_not_continued(mock: AnthropicMock) -> None:
    mock.pause_turns = 1
    mock.script.push(Reply(text="Half", web_searches=1))
    async with client(mock) as c:
        r = await c.chat(MODEL, "Find it", web_search=WebSearch(max_uses=1))
    assert len(mock.requests) == 1
    assert r.finish_reason == "other" and r.text == "Half"


@pytest.mark.anyio
async def test_a_paused_stream_finishes_as_other(mock: AnthropicMock) -> None:
    mock.pause_turns = 1
    mock.script.push(Reply(text="Half", web_searches=1))
    async with client(mock) as c, c.stream(MODEL, "Find it", web_search=True) as s:
        events = [e async for e in s]
    (finish,) = [e for e in events if isinstance(e, Finish)]
    assert (finish.reason, finish.raw_reason) == ("other", "pause_turn")
    assert len(mock.requests) == 1 and s.response.text == "Half"


# -- history and batches ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_searched_answer_goes_back_as_its_text(mock: AnthropicMock) -> None:
    mock.script.push(searched())
    async with client(mock) as c:
        r = await c.chat(MODEL, "Capital of France?", web_search=True)
        history = [Message.user("Capital of France?"), r.to_message(), Message.user("And Spain?")]
        again = await c.chat(MODEL, history, web_search=True)
    assert again.text == "echo: And Spain?"
    turn = mock.last_request.json()["messages"][1]
    assert turn == {"role": "assistant", "content": [{"type": "text", "text": TEXT}]}


@pytest.mark.anyio
async def test_a_batch_item_searches_too(mock: AnthropicMock) -> None:
    mock.script.push(searched(input_tokens=1000, output_tokens=100))
    item = BatchItem("paris", "Capital of France?", {"web_search": {"max_uses": 2}})
    async with client(mock) as c:
        batch = await c.submit_batch(MODEL, [item])
        sent = mock.last_request.json()["requests"][0]["params"]
        batch = await c.batch(batch.id)
        (result,) = [x async for x in c.batch_results(batch.id)]
    assert sent["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
    answer = result.response
    assert answer is not None and answer.text == TEXT
    assert answer.citations[0].url == PARIS.url and answer.usage.web_searches == 2
    assert answer.cost is not None and answer.cost > 0


# -- prices, Vertex AI, Foundry ----------------------------------------------------------


def test_claude_models_cost_a_cent_a_search() -> None:
    for model in ("claude-sonnet-4-5", "claude-opus-5", "claude-haiku-4-5-20251001"):
        known = known_model(model)
        assert known is not None and known.price.web_search == Decimal("0.01")
    price = vertex_price("claude-sonnet-4-5@20250929", "us-east5")
    assert price is not None and price.web_search == Decimal("0.01")


@pytest.mark.anyio
async def test_vertex_searches_with_the_basic_tool_and_googles_beta(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    vertex_mock.script.push(searched())
    cfg = one_try_config(
        {
            "vertex-anthropic": {
                "type": "vertex-anthropic",
                "base_url": vertex_mock.base_url,
                "project": "mock-project",
                "location": "us-east5",
                "credentials_file": str(sa_file),
                "anthropic_beta": "context-1m-2025-08-07",
            }
        }
    )
    async with relaykit.Client(cfg, env=google_env) as c:
        model = "vertex-anthropic/claude-sonnet-4-5@20250929"
        r = await c.chat(model, "Capital of France?", web_search=True)
        plain = await c.chat(model, "hi")
    searched_call, plain_call = vertex_mock.model_requests()
    assert searched_call.json()["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
    assert searched_call.headers["anthropic-beta"] == "context-1m-2025-08-07,web-search-2025-03-05"
    assert plain_call.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert r.text == TEXT and r.citations[0].start == PARIS.start and r.usage.web_searches == 2
    assert plain.citations == ()


@pytest.mark.anyio
async def test_vertex_has_no_dynamic_web_search_option(
    vertex_mock: VertexClaudeMock, google_env: dict[str, str]
) -> None:
    provider = {
        "type": "vertex-anthropic",
        "base_url": vertex_mock.base_url,
        "project": "mock-project",
        "api_key": "ya29.static-token",
        "dynamic_web_search": True,
    }
    with pytest.raises(ConfigError, match="dynamic_web_search"):
        async with relaykit.Client(
            {"storage": {"backend": "none"}, "providers": {"vertex-anthropic": provider}},
            env=google_env,
        ) as c:
            await c.chat("vertex-anthropic/claude-sonnet-4-5@20250929", "hi", web_search=True)
    assert not vertex_mock.model_requests()


@pytest.mark.anyio
async def test_foundry_searches_with_dynamic_filtering_when_asked() -> None:
    with FoundryClaudeMock(api_key=KEY, deployments={"claude": "claude-opus-4-6"}) as mock:
        mock.script.push(searched())
        cfg = {
            "storage": {"backend": "none"},
            "providers": {
                "foundry-anthropic": {
                    "base_url": mock.base_url,
                    "api_key": KEY,
                    "dynamic_web_search": True,
                    # the deployment's model decides the tool's version
                    "deployments": {"claude": "claude-opus-4-6"},
                }
            },
        }
        async with relaykit.Client(cfg, env={}) as c:
            r = await c.chat("foundry-anthropic/claude", "Capital of France?", web_search=True)
    assert mock.sent_search_tool(mock.last_request) == {
        "type": "web_search_20260209",
        "name": "web_search",
    }
    assert r.citations[0].url == PARIS.url and r.usage.web_searches == 2


def test_the_mock_checks_the_tool_as_the_api_does() -> None:
    def problem(tool: dict[str, Any], model: str = "claude-haiku-4-5", **kw: Any) -> str | None:
        body = {"model": model, "tools": [{"type": "web_search_20250305", **tool}]}
        return mock_web_search.tool_problem(body, **kw)

    assert problem({"name": "web_search", "max_uses": 2}) is None
    assert "name" in str(problem({"name": "search"}))
    assert "max_uses" in str(problem({"name": "web_search", "max_uses": 0}))
    both = {"name": "web_search", "allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}
    assert "both" in str(problem(both))
    assert "approximate" in str(problem({"name": "web_search", "user_location": {"city": "X"}}))
    assert "Extra inputs" in str(problem({"name": "web_search", "search_context_size": "high"}))
    dynamic = {
        "model": "claude-haiku-4-5",
        "tools": [{"type": "web_search_20260209", "name": "web_search"}],
    }
    assert "not supported" in str(mock_web_search.tool_problem(dynamic))
    dynamic["model"] = "claude-sonnet-4-6"
    assert mock_web_search.tool_problem(dynamic) is None
    assert "unknown tool type" in str(mock_web_search.tool_problem(dynamic, dynamic=False))
