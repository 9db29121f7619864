"""relaykit-openai's web search: the search tool or options each API is sent, the
citations and billed searches read back (whole and streamed), and what is refused
before sending (limits an API cannot apply, services that do not search)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest

import relaykit
from relaykit import Citation, InvalidRequestError, SearchLocation, WebSearch
from relaykit.events import Finish, SearchQuery, TextDelta
from relaykit.testing import OpenAIMock, Reply
from relaykit_openai import responses_wire
from relaykit_openai.presets import PRESETS
from relaykit_openai.web_search import is_search_model

KEY = "sk-test-0123456789abcdef0123"

#: an answer with text that is not ASCII before what it cites
TEXT = "Café ☕ — Brighton's tides: high at 6:04, low at 12:15."
CLAIM = "high at 6:04"
START = TEXT.index(CLAIM)
CITED = Citation(
    url="https://tides.example.org/brighton",
    title="Brighton tide times",
    start=START,
    end=START + len(CLAIM),
)


def config(mock: OpenAIMock, name: str = "openai", **more: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {name: {"base_url": mock.base_url, "api_key": KEY, **more}},
    }


async def drain(client: relaykit.Client, model: str, **kw: Any) -> tuple[Any, list[Any]]:
    async with client.stream(model, "Tides in Brighton today?", **kw) as s:
        events = [e async for e in s]
    return s.response, events


# -- the Responses API ---------------------------------------------------------------


@pytest.mark.anyio
async def test_a_search_goes_to_the_responses_api_with_its_tool(mock: OpenAIMock) -> None:
    search = WebSearch(
        allowed_domains=("tides.example.org", "metoffice.gov.uk"),
        context_size="high",
        location=SearchLocation(country="GB", city="Brighton", timezone="Europe/London"),
    )
    async with relaykit.Client(config(mock)) as client:
        await client.chat(
            "openai/gpt-4.1-mini",
            "Tides in Brighton today?",
            web_search=search,
            tools=[{"name": "log", "parameters": {"type": "object"}}],
        )
    sent = mock.last_request
    assert sent.path == "/v1/responses"  # api = "auto": a web search goes there
    assert sent.json()["tools"] == [
        {"type": "function", "name": "log", "parameters": {"type": "object"}, "strict": False},
        {
            "type": "web_search",
            "filters": {"allowed_domains": ["tides.example.org", "metoffice.gov.uk"]},
            "search_context_size": "high",
            "user_location": {
                "type": "approximate",
                "country": "GB",
                "city": "Brighton",
                "timezone": "Europe/London",
            },
        },
    ]
    assert "include" not in sent.json()  # the searches' sources are not asked for


@pytest.mark.anyio
async def test_without_a_search_auto_stays_on_chat_completions(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        await client.chat("openai/gpt-4.1-mini", "hi")
    assert mock.last_request.path == "/v1/chat/completions"


@pytest.mark.anyio
async def test_a_vendor_tool_in_tools_is_sent_as_the_current_tool(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        await client.chat(
            "openai/gpt-5-mini",
            "hi",
            tools=[{"type": "web_search_preview", "search_context_size": "low"}],
        )
    assert mock.last_request.json()["tools"] == [
        {"type": "web_search", "search_context_size": "low"}
    ]


@pytest.mark.anyio
async def test_citations_index_the_text_and_searches_are_billed(mock: OpenAIMock) -> None:
    mock.script.push(
        Reply(text=TEXT, citations=(CITED,), web_searches=2, input_tokens=1000, output_tokens=100)
    )
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/gpt-4.1-mini", "Tides?", web_search=True)
    assert r.citations == (CITED,)
    assert r.text[r.citations[0].start : r.citations[0].end] == CLAIM
    assert r.usage.web_searches == 2
    # gpt-4.1-mini: USD 0.40 and 1.60 per million tokens, 0.01 per search
    assert r.cost == Decimal("0.00056") + 2 * Decimal("0.01")


@pytest.mark.anyio
async def test_a_stream_yields_citations_after_their_text(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text=TEXT, reasoning="Look it up.", citations=(CITED,), web_searches=1))
    async with relaykit.Client(config(mock)) as client:
        response, events = await drain(client, "openai/o4-mini", web_search=True)
    cited = [i for i, e in enumerate(events) if isinstance(e, Citation)]
    texts = [i for i, e in enumerate(events) if isinstance(e, TextDelta)]
    assert [events[i] for i in cited] == [CITED]
    assert cited[0] > texts[-1]
    assert response.citations == (CITED,)
    assert response.text[CITED.start : CITED.end] == CLAIM
    # the search call's events (in_progress, searching, completed) passed over,
    # its item counted
    assert response.usage.web_searches == 1
    assert response.finish_reason == "stop"


QUERIES = ("brighton tide times today", "brighton high tide 6:04 café")


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_the_queries_searched_come_back_in_order(mock: OpenAIMock, stream: bool) -> None:
    mock.script.push(Reply(text=TEXT, citations=(CITED,), web_searches=2, search_queries=QUERIES))
    async with relaykit.Client(config(mock)) as client:
        if stream:
            response, events = await drain(client, "openai/gpt-4.1-mini", web_search=True)
            # each as its web_search_call item is done, before the text; not on the finish
            searched = [i for i, e in enumerate(events) if isinstance(e, SearchQuery)]
            assert [events[i] for i in searched] == [SearchQuery(q) for q in QUERIES]
            first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
            assert searched[-1] < first_text
            assert isinstance(events[-1], Finish) and events[-1].search_queries == ()
        else:
            response = await client.chat("openai/gpt-4.1-mini", "Tides?", web_search=True)
    assert response.search_queries == QUERIES
    assert response.search_suggestions is None  # Google's alone
    assert response.usage.web_searches == 2


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["drop", "truncate"])
async def test_a_stream_cut_after_its_searches_keeps_them(mock: OpenAIMock, fault: str) -> None:
    mock.script.push(
        Reply(text=TEXT, web_searches=2, search_queries=QUERIES, stream_fault=fault)  # type: ignore[arg-type]
    )
    seen: list[Any] = []
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(relaykit.StreamError):
            async with client.stream("openai/gpt-4.1-mini", "Tides?", web_search=True) as s:
                async for event in s:
                    seen.append(event)
    assert [e for e in seen if isinstance(e, SearchQuery)] == [SearchQuery(q) for q in QUERIES]
    # no finish came: the partial response (and its record) keeps the searches run
    assert s.response.search_queries == QUERIES and s.response.text == TEXT


def test_a_search_actions_queries_win_over_its_deprecated_query() -> None:
    def call(action: dict[str, Any], status: str = "completed") -> dict[str, Any]:
        return {"type": "web_search_call", "id": "ws_1", "status": status, "action": action}

    data = {
        "id": "resp_1",
        "status": "completed",
        "output": [
            call({"type": "search", "query": "tides", "queries": ["tides", "tide tables"]}),
            call({"type": "search", "query": "moon phase"}),  # an older answer: query alone
            call({"type": "search", "query": "", "queries": ["", " "]}),  # nothing searched
            call({"type": "open_page", "url": "https://a.example/"}),
            call({"type": "find", "url": "https://a.example/", "pattern": "tide"}),
            call({"type": "search", "queries": ["surf report"]}, status="failed"),
            call({"type": "search"}),  # the preview tool's item: no query to say
            {"type": "message", "content": [{"type": "output_text", "text": "Six."}]},
        ],
    }
    r = responses_wire.response(data)
    # a failed search was still run for that query: it is listed, not billed; a
    # completed one is billed whether or not it says what it searched for
    assert r.search_queries == ("tides", "tide tables", "moon phase", "surf report")
    assert r.usage.web_searches == 4


@pytest.mark.anyio
async def test_chat_completions_says_nothing_of_its_queries(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text=TEXT, citations=(CITED,), search_queries=QUERIES))
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/gpt-5-search-api", "Tides?", web_search=True)
    assert r.citations == (CITED,)
    assert (r.search_queries, r.search_suggestions) == ((), None)


def test_offsets_of_later_parts_index_the_joined_text() -> None:
    # Two messages (a search between them), the second with two output_text parts:
    # each annotation indexes its own part, as OpenAI's do.
    first, second, third = "Früh: ", "Tides ☕ high at 6. ", "Low at noon."
    data = {
        "id": "resp_1",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "content": [{"type": "output_text", "text": first, "annotations": []}],
            },
            {
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": "tides"},
            },
            {"type": "web_search_call", "status": "completed", "action": {"type": "open_page"}},
            {"type": "web_search_call", "status": "failed", "action": {"type": "search"}},
            {
                "type": "message",
                "content": [
                    {
                        "type": "output_text",
                        "text": second,
                        "annotations": [
                            {
                                "type": "url_citation",
                                "start_index": 8,
                                "end_index": 17,
                                "url": "https://a.example/",
                                "title": "A",
                            },
                            {"type": "file_citation", "file_id": "f", "index": 0},
                        ],
                    },
                    {
                        "type": "output_text",
                        "text": third,
                        "annotations": [
                            {
                                "type": "url_citation",
                                "start_index": 0,
                                "end_index": 11,
                                "url": "https://b.example/",
                                "title": "B",
                            },
                            {  # past the end of its part: no offsets
                                "type": "url_citation",
                                "start_index": 0,
                                "end_index": 99,
                                "url": "https://c.example/",
                                "title": "C",
                            },
                        ],
                    },
                ],
            },
        ],
    }
    r = responses_wire.response(data)
    assert r.text == first + second + third
    a, b, c = r.citations
    assert r.text[a.start : a.end] == "high at 6"
    assert r.text[b.start : b.end] == "Low at noon"
    assert (c.url, c.start, c.end) == ("https://c.example/", None, None)
    # a completed search is billed; opening a page, or a failed search, is not
    assert r.usage.web_searches == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("search", "what"),
    [
        (WebSearch(max_uses=3), "max_uses"),
        (WebSearch(blocked_domains=("reddit.com",)), "blocked_domains"),
    ],
)
async def test_limits_the_tool_cannot_apply_are_refused_unsent(
    mock: OpenAIMock, search: WebSearch, what: str
) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError, match=f"cannot apply web_search {what}") as e:
            await client.chat("openai/gpt-5", "hi", web_search=search)
    assert e.value.param == "web_search"
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_model_without_the_tool_is_refused_unsent(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError, match=r"gpt-4\.1-nano: cannot search the web"):
            await client.chat("openai/gpt-4.1-nano", "hi", web_search=True)
    assert mock.requests == []


@pytest.mark.anyio
async def test_api_chat_refuses_a_search_with_the_fix(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, api="chat")) as client:
        with pytest.raises(InvalidRequestError, match="through Chat Completions") as e:
            await client.chat("openai/gpt-4.1-mini", "hi", web_search=True)
    assert 'api = "auto"' in (e.value.hint or "")
    assert e.value.param == "web_search"
    assert mock.requests == []


@pytest.mark.anyio
async def test_the_mock_refuses_a_filter_the_api_does_not_know(mock: OpenAIMock) -> None:
    # The check the refusal above stands in for: OpenAI's documented filters hold
    # allowed domains only.
    tool = {"type": "web_search", "filters": {"blocked_domains": ["reddit.com"]}}
    async with relaykit.Client(config(mock, api="responses")) as client:
        with pytest.raises(InvalidRequestError, match=r"tools\[0\]\.filters\.blocked_domains"):
            await client.chat("openai/gpt-5", "hi", extra={"tools": [tool]})


# -- Chat Completions' search models ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "searches"),
    [
        ("gpt-4o-search-preview", True),
        ("gpt-4o-mini-search-preview-2025-03-11", True),
        ("gpt-5-search-api", True),
        ("gpt-5-search-api-2025-10-14", True),
        ("gpt-4o", False),
        ("gpt-4o-search-preview-beta", False),
    ],
)
def test_search_models_are_known_by_name(model: str, searches: bool) -> None:
    assert is_search_model(model) is searches


@pytest.mark.anyio
async def test_a_search_model_takes_web_search_options(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text=TEXT, citations=(CITED,), input_tokens=1000, output_tokens=100))
    search = WebSearch(
        context_size="low", location=SearchLocation(country="US", timezone="America/Chicago")
    )
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/gpt-4o-search-preview", "Tides?", web_search=search)
    sent = mock.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.json()["web_search_options"] == {
        "search_context_size": "low",
        "user_location": {
            "type": "approximate",
            "approximate": {"country": "US", "timezone": "America/Chicago"},
        },
    }
    assert r.citations == (CITED,)
    assert r.text[START : START + len(CLAIM)] == CLAIM
    assert r.usage.web_searches == 1  # every call to a search model searches once
    # gpt-4o-search-preview: USD 2.50 and 10.00 per million tokens, 0.025 per call
    assert r.cost == Decimal("0.0035") + Decimal("0.025")


@pytest.mark.anyio
async def test_a_search_model_searches_without_being_asked(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text=TEXT, citations=(CITED,)))
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/gpt-5-search-api", "Tides?")
    assert "web_search_options" not in mock.last_request.json()
    assert r.citations == (CITED,)
    assert r.usage.web_searches == 1


@pytest.mark.anyio
async def test_a_search_models_stream_yields_its_citations(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text=TEXT, citations=(CITED,)))
    async with relaykit.Client(config(mock)) as client:
        response, events = await drain(client, "openai/gpt-4o-mini-search-preview", web_search=True)
    assert mock.last_request.json()["web_search_options"] == {}
    assert [e for e in events if isinstance(e, Citation)] == [CITED]
    assert response.citations == (CITED,)
    assert response.text == TEXT
    assert response.usage.web_searches == 1
    assert response.usage.output_tokens > 0  # the usage chunk kept the search count


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_search_models_answer_without_usage_is_estimated_and_keeps_its_search(
    mock: OpenAIMock, stream: bool
) -> None:
    # No usage object (a stream without stream_options' usage chunk too), yet the
    # model searched: its tokens are relaykit's estimate, marked so, never zero,
    # and the search's fee is still charged.
    mock.script.push(Reply(text=TEXT, citations=(CITED,), usage=False))
    prompt = "Tides? " * 100  # 700 characters: 175 tokens, estimated
    model = "openai/gpt-4o-search-preview"
    async with relaykit.Client(config(mock, stream_usage=False)) as client:
        if stream:
            r, _ = await drain(client, model, web_search=True)
        else:
            r = await client.chat(model, prompt, web_search=True)
    assert r.usage_estimated
    assert r.usage.web_searches == 1
    assert r.usage.input_tokens > 0 and r.usage.output_tokens == -(-len(TEXT) // 4)
    # gpt-4o-search-preview: USD 2.50 and 10.00 per million tokens, 0.025 per call
    tokens = relaykit.ModelPrice(Decimal("2.5"), Decimal(10)).cost(
        attrs.evolve(r.usage, web_searches=0)
    )
    assert r.cost == tokens + Decimal("0.025")


@pytest.mark.anyio
async def test_a_search_model_refuses_every_limit_unsent(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError, match="cannot apply web_search allowed_domains"):
            await client.chat(
                "openai/gpt-5-search-api", "hi", web_search={"allowed_domains": ["a.org"]}
            )
    assert mock.requests == []


# -- services that do not search -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(n for n in PRESETS if n != "openrouter"))
def test_only_openrouters_preset_searches(name: str) -> None:
    assert PRESETS[name].searches_web is False
    assert PRESETS["openrouter"].searches_web is True


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "more"),
    [
        ("groq", {}),
        ("xai", {}),
        ("mistral", {}),
        ("azure", {}),
        ("bedrock-mantle", {}),
    ],
)
async def test_services_that_do_not_search_are_refused_unsent(
    mock: OpenAIMock, name: str, more: dict[str, Any]
) -> None:
    async with relaykit.Client(config(mock, name, **more)) as client:
        with pytest.raises(InvalidRequestError, match="cannot search the web") as e:
            await client.chat(f"{name}/some-model", "hi", web_search=True)
    assert e.value.param == "web_search"
    assert mock.requests == []


# -- OpenRouter ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_openrouter_gets_its_server_tool(mock: OpenAIMock) -> None:
    quoted = Citation(
        url=CITED.url, title=CITED.title, cited_text="High water 06:04", start=START, end=CITED.end
    )
    mock.script.push(Reply(text=TEXT, citations=(quoted,)))
    search = WebSearch(
        blocked_domains=("reddit.com",),
        context_size="medium",
        location=SearchLocation(city="Brighton"),
    )
    async with relaykit.Client(config(mock, "openrouter")) as client:
        r = await client.chat(
            "openrouter/anthropic/claude-sonnet-4.5",
            "Tides?",
            web_search=search,
            tools=[{"name": "log", "parameters": {"type": "object"}}],
        )
    sent = mock.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.json()["tools"] == [
        {"type": "function", "function": {"name": "log", "parameters": {"type": "object"}}},
        {
            "type": "openrouter:web_search",
            "parameters": {
                "excluded_domains": ["reddit.com"],
                "search_context_size": "medium",
                "user_location": {"type": "approximate", "city": "Brighton"},
            },
        },
    ]
    assert "web_search_options" not in sent.json()
    assert r.citations == (quoted,)  # the page's content is the cited text


@pytest.mark.anyio
async def test_openrouter_streams_citations(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text=TEXT, citations=(CITED,)))
    async with relaykit.Client(config(mock, "openrouter")) as client:
        response, events = await drain(client, "openrouter/openai/gpt-5-mini", web_search=True)
    assert mock.last_request.json()["tools"] == [{"type": "openrouter:web_search"}]
    assert [e for e in events if isinstance(e, Citation)] == [CITED]
    assert response.citations == (CITED,)
    assert response.usage.web_searches == 0  # OpenRouter does not count its searches


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "search", "what"),
    [
        ("anthropic/claude-sonnet-4.5", WebSearch(max_uses=2), "max_uses"),
        # OpenAI's native search ignores excluded_domains (OpenRouter's docs)
        ("openai/gpt-5", WebSearch(blocked_domains=("reddit.com",)), "blocked_domains"),
    ],
)
async def test_openrouter_refuses_what_it_cannot_apply(
    mock: OpenAIMock, model: str, search: WebSearch, what: str
) -> None:
    async with relaykit.Client(config(mock, "openrouter")) as client:
        with pytest.raises(InvalidRequestError, match=f"cannot apply web_search {what}"):
            await client.chat(f"openrouter/{model}", "hi", web_search=search)
    assert mock.requests == []
