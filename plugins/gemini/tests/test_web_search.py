"""``web_search=`` on Gemini and Vertex AI: Grounding with Google Search.

What is sent (the ``googleSearch`` tool, Vertex's ``excludeDomains``), what is
refused unsent, and how ``groundingMetadata`` comes back: citations with Google's
UTF-8 byte offsets turned into character offsets of the whole answer, streamed
or not, and the searches billed per model generation. Over loopback HTTP to
:class:`GeminiMock` / :class:`VertexMock`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import BatchItem, Citation, InvalidRequestError, SearchLocation, WebSearch
from relaykit.events import Finish, SearchQuery, TextDelta
from relaykit.testing import WEATHER_TOOL, Reply, one_try_config
from relaykit_gemini import grounding, wire
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.prices import known_model
from relaykit_gemini.stream_decoder import GeminiStreamDecoder
from relaykit_gemini.testing import GeminiMock

from .conftest import client

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"  # conftest's
FLASH_2 = "gemini/gemini-2.5-flash"
FLASH_3 = "gemini/gemini-3-flash-preview"
REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"

# Multi-byte characters before and inside the claims: bytes and characters differ.
ANSWER = "Café ☕ opens at 8 in Zürich. 東京の店は9時に開きます。"
OPENS = ANSWER.index("opens at 8")
TOKYO = ANSWER.index("東京")
CAFE = Citation(
    url=REDIRECT + "AbC1", title="cafe.example", start=OPENS, end=OPENS + len("opens at 8")
)
GUIDE = Citation(
    url=REDIRECT + "dEf2", title="guide.example", start=OPENS, end=OPENS + len("opens at 8")
)
TOKYO_SHOP = Citation(url=REDIRECT + "gHi3", title="shop.example.jp", start=TOKYO, end=len(ANSWER))
READ_ONLY = Citation(url=REDIRECT + "jKl4", title="news.example")  # a source no claim cites
CITED = (CAFE, GUIDE, TOKYO_SHOP, READ_ONLY)


#: Search Suggestions as Google renders them: CSS, then chips that search Google
SUGGESTIONS = (
    "<style>.container{align-items:center;border-radius:8px;display:flex}"
    ".chip{display:inline-block;border:solid 1px;border-radius:16px}</style>"
    '<div class="container"><div class="headline">Google</div><div class="carousel">'
    '<a class="chip" href="https://www.google.com/search?q=caf%C3%A9s+Z%C3%BCrich&amp;'
    'client=app-vertex-grounding&amp;safesearch=active">cafés Zürich</a>'
    '<a class="chip" href="https://www.google.com/search?q=%E6%9D%B1%E4%BA%AC">東京 店</a>'
    "</div></div>"
)
QUERIES = ("cafés Zürich opening hours", "東京 店 営業時間")


def grounded(**fields: Any) -> Reply:
    return Reply(text=ANSWER, citations=CITED, **fields)


# -- the request ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "asked",
    [
        {"web_search": True},
        {"tools": [{"google_search": {}}]},  # the shape Google's own samples use
        # hints Gemini has no field for: left out
        {"web_search": WebSearch(context_size="high", location=SearchLocation(country="GB"))},
    ],
)
async def test_the_search_goes_as_the_google_search_tool(
    mock: GeminiMock, asked: dict[str, Any]
) -> None:
    async with client(mock) as c:
        await c.chat(FLASH_2, "When does the café open?", **asked)
    body = mock.last_request.json()
    assert body["tools"] == [{"googleSearch": {}}]
    assert "toolConfig" not in body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "search", "refused"),
    [
        (FLASH_2, {"allowed_domains": ["example.com"]}, "cannot apply web_search allowed_domains"),
        (FLASH_3, {"max_uses": 2}, "cannot apply web_search max_uses"),
        (FLASH_2, {"blocked_domains": ["example.com"]}, "cannot apply web_search blocked_domains"),
        ("gemini/gemini-1.5-pro", True, "gemini/gemini-1.5-pro: cannot search the web"),
    ],
)
async def test_what_gemini_cannot_do_is_refused_unsent(
    mock: GeminiMock, model: str, search: Any, refused: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=refused) as caught:
            await c.chat(model, "hi", web_search=search)
        with pytest.raises(InvalidRequestError, match=refused):
            async with c.stream(model, "hi", web_search=search) as s:
                [e async for e in s]
    assert caught.value.param == "web_search"  # so a route falls back
    assert mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "why"),
    [
        (FLASH_2, "Gemini 2.x refuses Google Search beside function declarations"),
        (FLASH_3, "only with server-side tool invocations"),
    ],
)
async def test_searching_beside_function_tools_is_refused_unsent(
    mock: GeminiMock, model: str, why: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=why) as caught:
            await c.chat(model, "weather?", tools=[WEATHER_TOOL], web_search=True)
    assert caught.value.param == "web_search"
    assert "search in one call and call your tools in the next" in str(caught.value.hint)
    assert mock.requests == []


@pytest.mark.anyio
async def test_the_mock_refuses_what_google_refuses() -> None:
    """The checks the plugin's refusals stand in for, in Google's words."""
    with GeminiMock(api_key=KEY) as mock:
        url = f"{mock.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
        contents = [{"role": "user", "parts": [{"text": "hi"}]}]
        functions = {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {}}]}
        async with httpx.AsyncClient(headers={"x-goog-api-key": KEY}) as http:
            excluded = await http.post(
                url,
                json={
                    "contents": contents,
                    "tools": [{"googleSearch": {"excludeDomains": ["a.com"]}}],
                },
            )
            mixed = await http.post(
                url, json={"contents": contents, "tools": [{"googleSearch": {}}, functions]}
            )
            mixed_3 = await http.post(
                url.replace("gemini-2.5-flash", "gemini-3-flash-preview"),
                json={"contents": contents, "tools": [{"google_search": {}}, functions]},
            )
    assert excluded.status_code == 400
    assert 'Unknown name "excludeDomains"' in excluded.json()["error"]["message"]
    assert mixed.json()["error"]["message"] == (
        "Tool use with function calling is unsupported by the model."
    )
    assert "include_server_side_tool_invocations" in mixed_3.json()["error"]["message"]


# -- the answer ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_citations_come_back_with_character_offsets_of_the_answer(
    mock: GeminiMock,
) -> None:
    mock.script.push(grounded(web_searches=2))
    async with client(mock) as c:
        r = await c.chat(FLASH_2, "When do the cafés open?", web_search=True)
    assert r.text == ANSWER
    # one per (support, chunk), in Google's order; the source no support names last
    assert r.citations == CITED
    assert [r.text[c.start : c.end] for c in r.citations[:3]] == [
        "opens at 8",
        "opens at 8",
        "東京の店は9時に開きます。",
    ]
    # what went over the wire was bytes: ☕ and é are 3 and 2 bytes wide
    assert ANSWER.encode()[: len(ANSWER[:OPENS].encode())].decode() == ANSWER[:OPENS]
    assert len(ANSWER[:OPENS].encode()) == OPENS + 3


def test_offsets_count_from_the_part_google_names() -> None:
    """A thought first, an answer in two text parts, a segment in the second part
    (its start, 0, left out as Google's JSON leaves defaults out)."""
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "thinking…", "thought": True},
                        {"text": "Ça va. "},
                        {"text": "Zürich is cold."},
                    ],
                },
                "finishReason": "STOP",
                "groundingMetadata": {
                    "webSearchQueries": ["zürich weather", "", "zürich weather"],
                    "groundingChunks": [
                        {"web": {"uri": REDIRECT + "x", "title": "weather.example"}},
                        {"retrievedContext": {"uri": "gs://bucket/doc", "title": "doc"}},
                    ],
                    "groundingSupports": [
                        {
                            "segment": {"partIndex": 2, "endIndex": 7, "text": "Zürich"},
                            "groundingChunkIndices": [0, 1, 0],
                        }
                    ],
                },
            }
        ],
        "modelVersion": "gemini-3-flash-preview",
    }
    r = wire.response(data)
    assert r.text == "Ça va. Zürich is cold."
    (citation,) = r.citations  # the retrieved document is no web page; 0 named twice is once
    assert r.text[citation.start : citation.end] == "Zürich"
    assert citation.cited_text == ""  # the segment is the answer's words, not the page's
    # Gemini 3: distinct non-empty queries, billed and listed
    assert r.usage.web_searches == 1
    assert r.search_queries == ("zürich weather",)
    assert r.search_suggestions is None  # no searchEntryPoint


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "billed", "each"),
    [
        # Gemini 2.x bills a grounded prompt, however many queries it ran
        (FLASH_2, 1, Decimal("0.035")),
        # Gemini 3 bills each query (the mock's empty one is not)
        (FLASH_3, 3, Decimal("0.014")),
    ],
)
async def test_searches_are_billed_as_each_generation_bills_them(
    mock: GeminiMock, model: str, billed: int, each: Decimal
) -> None:
    mock.script.push(grounded(web_searches=3), grounded(web_searches=3))
    async with client(mock) as c:
        r = await c.chat(model, "When do the cafés open?", web_search=True)
        async with c.stream(model, "When do the cafés open?", web_search=True) as s:
            [e async for e in s]
    price = known_model(model.removeprefix("gemini/"))[1]
    assert price is not None and price.web_search == each
    for usage, cost in ((r.usage, r.cost), (s.response.usage, s.response.cost)):
        assert usage.web_searches == billed
        tokens = relaykit.ModelPrice(price.input, price.output, price.cached_input).cost(usage)
        assert cost == tokens + billed * each


@pytest.mark.anyio
async def test_an_answer_without_grounding_bills_no_search(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.chat(FLASH_2, "2 + 2?", web_search=True)
        async with c.stream(FLASH_2, "2 + 2?", web_search=True) as s:
            [e async for e in s]
    for answer in (r, s.response):
        assert answer.citations == () and answer.usage.web_searches == 0
        assert (answer.search_queries, answer.search_suggestions) == ((), None)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_the_queries_and_search_suggestions_come_back(
    mock: GeminiMock, streamed: bool
) -> None:
    # three searches: the scripted two, then one the mock names, and its empty query
    mock.script.push(
        grounded(web_searches=3, search_queries=QUERIES, search_suggestions=SUGGESTIONS)
    )
    async with client(mock) as c:
        if streamed:
            async with c.stream(FLASH_3, "cafés?", web_search=True) as s:
                events = [e async for e in s]
            r = s.response
            assert isinstance(events[-1], Finish)
            assert events[-1].search_suggestions == SUGGESTIONS
            # each query once (the mock's last chunk repeats them), before the text
            # its chunk carried; the finish no longer repeats them
            searched = [e.query for e in events if isinstance(e, SearchQuery)]
            assert tuple(searched) == r.search_queries and events[-1].search_queries == ()
            kinds = [type(e) for e in events]
            assert kinds.index(SearchQuery) < kinds.index(TextDelta)
        else:
            r = await c.chat(FLASH_3, "cafés?", web_search=True)
    assert r.search_queries[:2] == QUERIES and len(r.search_queries) == 3
    assert "" not in r.search_queries
    assert r.search_suggestions == SUGGESTIONS  # as Google sent it, to show as it is
    assert r.citations == CITED and r.usage.web_searches == 3


@pytest.mark.anyio
@pytest.mark.parametrize("reasoning", ["", "Looking up opening hours."])
async def test_a_stream_yields_citations_after_the_text_they_point_into(
    mock: GeminiMock, reasoning: str
) -> None:
    # with reasoning, the answer is the content's second part: Google says partIndex 1
    mock.script.push(grounded(web_searches=2, reasoning=reasoning))
    async with client(mock) as c, c.stream(FLASH_3, "cafés?", web_search=True) as s:
        events = [e async for e in s]
    cited = [i for i, e in enumerate(events) if isinstance(e, Citation)]
    texts = [i for i, e in enumerate(events) if isinstance(e, TextDelta)]
    assert len(texts) > 1 and cited and min(cited) > max(texts)
    assert tuple(events[i] for i in cited) == CITED
    assert s.response.text == ANSWER and s.response.citations == CITED
    assert s.response.usage.web_searches == 2


@pytest.mark.anyio
async def test_a_stream_cut_after_its_searches_keeps_them(mock: GeminiMock) -> None:
    mock.script.push(grounded(web_searches=2, search_queries=QUERIES, stream_fault="drop"))
    async with client(mock) as c:
        with pytest.raises(relaykit.StreamError):
            async with c.stream(FLASH_3, "cafés?", web_search=True) as s:
                async for _ in s:
                    pass
    # the chunk with the finish (and the citations) never came; the searches had
    assert s.response.search_queries == QUERIES and s.response.citations == ()


def test_a_decoder_yields_each_query_once_as_chunks_repeat_them() -> None:
    decoder = GeminiStreamDecoder(provider="gemini", model="gemini-3-flash")

    def chunk(**candidate: Any) -> bytes:
        return f"data: {json.dumps({'candidates': [candidate]})}\r\n\r\n".encode()

    first = decoder.feed(
        chunk(
            content={"parts": [{"text": "Ça "}]},
            groundingMetadata={"webSearchQueries": ["ça va", ""]},
        )
    )
    assert [type(e) for e in first][1:3] == [SearchQuery, TextDelta]  # after StreamStart
    later = decoder.feed(
        chunk(
            content={"parts": [{"text": "va"}]},
            groundingMetadata={"webSearchQueries": ["ça va", "va"]},
            finishReason="STOP",
        )
    )
    assert [e for e in first + later if isinstance(e, SearchQuery)] == [
        SearchQuery("ça va"),
        SearchQuery("va"),
    ]


def test_a_stream_gathers_metadata_google_sends_in_pieces() -> None:
    """Queries first; then a support before the chunks it names; then the chunks."""
    streamed = grounding.StreamGrounding()
    for piece in ("Ça ", "va"):
        streamed.add({"text": piece})
    support = {"segment": {"startIndex": 4, "endIndex": 6}, "groundingChunkIndices": [0]}  # "va"
    entry = {"renderedContent": "<div>ça va</div>"}
    assert streamed.metadata({"webSearchQueries": ["ça va", ""], "searchEntryPoint": entry}) == []
    assert streamed.metadata({"webSearchQueries": ["ça va"], "groundingSupports": [support]}) == []
    more = {"webSearchQueries": ["ça va", "va"], "searchEntryPoint": {"renderedContent": " "}}
    assert streamed.metadata(more) == []
    # the queries gathered once each, in order; the suggestions not lost to a blank one
    assert (streamed.queries, streamed.suggestions) == (("ça va", "va"), "<div>ça va</div>")
    chunks = [{"web": {"uri": "https://a.example", "title": "A"}}, {"web": {"uri": "https://b"}}]
    new = streamed.metadata({"groundingChunks": chunks, "groundingSupports": [support]})
    assert new == [Citation(url="https://a.example", title="A", start=3, end=5)]
    assert streamed.finish() == [Citation(url="https://b")]
    assert streamed.searches("gemini-3-flash") == 2
    assert streamed.searches("gemini-2.5-flash") == 1


# -- Vertex AI, batches ----------------------------------------------------------------


@pytest.mark.anyio
async def test_vertex_sends_blocked_domains_as_exclude_domains(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    config = one_try_config(
        {
            "vertex": {
                "type": "vertex",
                "base_url": vertex_mock.base_url,
                "project": "mock-project",
                "location": "us-central1",
                "credentials_file": str(sa_file),
            }
        }
    )
    vertex_mock.script.push(
        grounded(web_searches=1, search_queries=QUERIES[:1], search_suggestions=SUGGESTIONS)
    )
    async with relaykit.Client(config, env={}) as c:
        r = await c.chat(
            "vertex/gemini-2.5-flash", "cafés?", web_search={"blocked_domains": ["spam.example"]}
        )
        with pytest.raises(InvalidRequestError, match="allowed_domains"):
            await c.chat("vertex/gemini-2.5-flash", "x", web_search={"allowed_domains": ["a.b"]})
    (sent,) = vertex_mock.model_requests()
    assert sent.json()["tools"] == [{"googleSearch": {"excludeDomains": ["spam.example"]}}]
    assert r.citations == CITED and r.usage.web_searches == 1
    assert (r.search_queries, r.search_suggestions) == (QUERIES[:1], SUGGESTIONS)


@pytest.mark.anyio
async def test_a_batch_item_searches_as_a_chat_does(mock: GeminiMock) -> None:
    mock.script.push(grounded(web_searches=2))
    async with client(mock) as c:
        submitted = await c.submit_batch(
            FLASH_2, [BatchItem("cafe", "When do the cafés open?", {"web_search": True})]
        )
        sent = mock.last_request.json()["batch"]["input_config"]["requests"]["requests"]
        batch = await c.batch(submitted.id)
        (result,) = [r async for r in c.batch_results(batch.id)]
    assert sent[0]["request"]["tools"] == [{"googleSearch": {}}]
    assert result.response is not None
    assert result.response.citations == CITED and result.response.usage.web_searches == 1


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_grounded_answer_without_usage_is_estimated_and_keeps_its_searches(
    mock: GeminiMock, stream: bool
) -> None:
    # No usageMetadata, yet grounding shows a billed search: the tokens are relaykit's
    # estimate (marked so), never zero, and the search's fee is still charged.
    mock.script.push(grounded(usage=False))
    prompt = "When do the cafés open? " * 40  # 960 characters: 240 tokens, estimated
    async with client(mock) as c:
        if stream:
            async with c.stream(FLASH_2, prompt, web_search=True) as s:
                [e async for e in s]
            r = s.response
        else:
            r = await c.chat(FLASH_2, prompt, web_search=True)
    assert r.usage_estimated
    assert (r.usage.input_tokens, r.usage.web_searches) == (240, 1)
    assert r.usage.output_tokens == -(-len(ANSWER) // 4)
    price = known_model(FLASH_2.removeprefix("gemini/"))[1]
    assert price is not None and price.web_search is not None
    tokens = relaykit.ModelPrice(price.input, price.output, price.cached_input).cost(r.usage)
    assert r.cost == tokens + price.web_search
