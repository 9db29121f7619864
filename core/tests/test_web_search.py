"""``web_search=``: one setting for every provider that searches the web, checked by
the core, refused unsent where it cannot run, and the answer's citations kept."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import pytest

import relaykit
from relaykit import Citation, InvalidRequestError, SearchLocation, WebSearch
from relaykit.request import build_request
from relaykit.response import ModelPrice, Usage
from relaykit.response_cache import cache_key
from relaykit.testing import FakePlugin, RecordingExporter, Reply
from relaykit.testing.fake_provider import FakeProvider

CITED = Citation(
    url="https://example.org/tides", title="Tides", cited_text="high at 6", start=0, end=9
)


class _Unsearched(FakeProvider):
    searches_web: ClassVar[bool] = False


def _client(*plugins: object, **config: object) -> relaykit.Client:
    return relaykit.Client({"storage": {"backend": "none"}, **config}, plugins=list(plugins))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (True, WebSearch()),
        (False, None),
        ({"max_uses": 3}, WebSearch(max_uses=3)),
        # OpenAI's Chat Completions web_search_options
        (
            {
                "search_context_size": "high",
                "user_location": {"type": "approximate", "approximate": {"country": "GB"}},
            },
            WebSearch(context_size="high", location=SearchLocation(country="GB")),
        ),
        # Anthropic's server tool
        (
            {"type": "web_search_20250305", "name": "web_search", "blocked_domains": ["a.com"]},
            WebSearch(blocked_domains=("a.com",)),
        ),
        # OpenAI's Responses tool
        (
            {"type": "web_search", "filters": {"allowed_domains": ["docs.python.org"]}},
            WebSearch(allowed_domains=("docs.python.org",)),
        ),
        ({"google_search": {}}, WebSearch()),
    ],
)
def test_a_setting_is_a_flag_our_dict_or_a_vendors_shape(
    given: object, expected: WebSearch | None
) -> None:
    assert build_request("m", (), {"web_search": given}).web_search == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"max_uses": 0}, "max_uses must be a whole number of searches, 1 or more, not 0"),
        ({"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "not both"),
        ({"allowed_domains": ["https://a.com"]}, "'https://a.com' is not a domain name"),
        ({"context_size": "huge"}, "'huge' is not one of low, medium, high"),
        ({"location": {"country": "Britain"}}, "'Britain' is not a two-letter code"),
        ({"location": {"street": "x"}}, "location does not know street"),
        ({"max_usse": 2}, "does not know max_usse"),
        ("yes", "must be True, a dict or a relaykit.WebSearch"),
        ({"filters": {"allowed_domain": ["a.com"]}}, "filters .* are not understood"),
    ],
)
def test_a_bad_setting_names_the_problem(given: object, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        build_request("m", (), {"web_search": given})
    assert caught.value.param == "web_search"


def test_a_vendors_search_tool_among_the_tools_is_the_web_search() -> None:
    request = build_request(
        "m",
        (),
        {"tools": [{"name": "lookup"}, {"type": "web_search_20250305", "name": "web_search"}]},
    )
    assert [t.name for t in request.tools] == ["lookup"]
    assert request.web_search == WebSearch()
    with pytest.raises(InvalidRequestError, match="asked for twice"):
        build_request("m", (), {"tools": [WebSearch()], "web_search": True})
    marked = build_request(
        "m",
        (),
        {
            "tools": [
                {"name": "lookup"},
                {"type": "web_search_20250305", "cache_control": {"type": "ephemeral"}},
            ]
        },
    )
    assert marked.tools[0].cache == relaykit.CachePoint()  # the mark caches up to the search
    assert build_request(
        "m", (), {"web_search": {"context_size": "low", "search_context_size": "low"}}
    ).web_search == WebSearch(context_size="low")
    with pytest.raises(InvalidRequestError, match=r"tools\[1\] is a second web search"):
        build_request("m", (), {"tools": [WebSearch(), {"google_search": {}}]})


@pytest.mark.anyio
async def test_citations_and_searches_come_back_priced_streamed_or_not() -> None:
    fake, exported = FakePlugin(), RecordingExporter()
    fake.script.push(*[Reply(text="high at 6 today", citations=(CITED,), web_searches=2)] * 2)
    async with _client(fake, exported) as client:
        r = await client.chat("fake/m", "tides?", web_search={"max_uses": 2}, max_tokens=5)
        async with client.stream("fake/m", "tides?", web_search=True) as s:
            events = [e async for e in s]
    assert r.citations == (CITED,)
    assert r.text[CITED.start : CITED.end] == "high at 6"
    assert r.usage.web_searches == 2
    # FakeProvider: USD 1 and 2 a million tokens, USD 0.01 a search
    tokens = ModelPrice(Decimal(1), Decimal(2)).cost(r.usage)
    assert r.cost == tokens + Decimal("0.02")
    assert [e for e in events if isinstance(e, Citation)] == [CITED]
    assert s.response.citations == (CITED,)
    assert s.response.usage.web_searches == 2
    assert [c.web_search for c in fake.calls] == [WebSearch(max_uses=2), WebSearch()]
    assert [rec.params.get("web_search") for rec in exported.records] == [{"max_uses": 2}, {}]


@pytest.mark.anyio
async def test_a_provider_that_cannot_search_refuses_unsent_and_the_route_falls_back() -> None:
    plain = FakePlugin("plain", provider=_Unsearched)
    searching = FakePlugin("searching")
    searching.script.push(Reply(text="found", citations=(CITED,)))
    models = {"g": {"targets": ["plain/m", "searching/m"]}}
    async with _client(plain, searching, models=models) as client:
        with pytest.raises(InvalidRequestError, match="plain/m: cannot search the web") as caught:
            await client.chat("plain/m", "news?", web_search=True)
        r = await client.chat("g", "news?", web_search=True)
        with pytest.raises(InvalidRequestError, match="cannot search the web"):
            async with client.stream("plain/m", "news?", web_search=True) as s:
                async for _ in s:
                    pass
        with pytest.raises(InvalidRequestError, match="cannot search the web"):
            await client.submit_batch(
                "plain/m", [{"custom_id": "a", "messages": "news?"}], web_search=True
            )
        # without web_search the same provider answers
        assert (await client.chat("plain/m", "hello")).text == "echo: hello"
    assert caught.value.param == "web_search"
    assert plain.calls == [relaykit.ChatRequest(model="m", messages=plain.calls[0].messages)]
    assert (r.provider, r.citations) == ("searching", (CITED,))


def test_the_cache_key_tells_searched_and_unsearched_calls_apart() -> None:
    def key(search: object) -> str:
        params = {} if search is None else {"web_search": search}
        return cache_key("p", build_request("m", (relaykit.Message.user("hi"),), params))

    keys = {key(None), key(True), key({"max_uses": 1}), key({"location": {"city": "Oslo"}})}
    assert len(keys) == 4
    assert key(False) == key(None)


def test_usage_adds_searches_and_a_price_per_search_is_configurable() -> None:
    assert (Usage(1, 1, web_searches=1) + Usage(2, 2, web_searches=3)).web_searches == 4
    config = relaykit.load_config(
        {"prices": {"fake/m": {"input": 1, "output": 2, "web_search": "0.025"}}}
    )
    price = config.prices["fake/m"]
    assert price.web_search == Decimal("0.025")
    assert price.cost(Usage(0, 0, web_searches=2)) == Decimal("0.05")
    assert ModelPrice(Decimal(1), Decimal(1)).cost(Usage(0, 0, web_searches=2)) == 0


@pytest.mark.anyio
async def test_a_location_is_recorded_beside_the_other_settings_when_content_is() -> None:
    fake, exported = FakePlugin(), RecordingExporter()
    search = WebSearch(location=SearchLocation(city="Oslo", country="NO"))
    async with _client(fake, exported) as client:
        await client.chat("fake/m", "weather?", web_search=search)
    assert exported.records[0].params["web_search"] == {
        "location": {"city": "Oslo", "country": "NO"}
    }


class _CountsOnly(RecordingExporter):
    """An exporter that reads no content (metrics): records come without it."""

    needs_content = False


@pytest.mark.anyio
async def test_a_location_is_left_out_without_a_content_reader_and_redacted_with_one() -> None:
    secret = "sk-proj-" + "Lc7" * 10  # where a city should be: a redactor's catch
    search = WebSearch(
        max_uses=2, location=SearchLocation(city=f"Oslo {secret}", region="Oslo", country="NO")
    )
    for exporter, content in ((RecordingExporter(), True), (_CountsOnly(), False)):
        async with _client(FakePlugin(), exporter) as client:
            await client.chat("fake/m", "weather?", web_search=search)
            async with client.stream("fake/m", "weather?", web_search=search) as s:
                [e async for e in s]
        for record in exporter.records:
            setting = record.params["web_search"]
            assert setting["max_uses"] == 2  # a limit is a setting, kept either way
            assert secret not in repr(record)
            if content:
                location = setting["location"]
                assert (location["region"], location["country"]) == ("Oslo", "NO")
                # the city redacted, what is around the secret kept
                assert location["city"].startswith("Oslo ") and secret not in location["city"]
            else:
                assert "location" not in setting  # where the user is: content
        assert len(exporter.records) == 2


def test_run_tools_passes_a_web_search_through_to_each_step() -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("add", {"a": 1, "b": 2}),)), Reply(text="3"))
    with relaykit.SyncClient({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        run = client.run_tools("fake/m", "1+2?", tools=[add, WebSearch(max_uses=1)])
    assert run.text == "3"
    assert [c.web_search for c in fake.calls] == [WebSearch(max_uses=1)] * 2
    assert [[t.name for t in c.tools] for c in fake.calls] == [["add"], ["add"]]
