"""What a web search reports besides its citations: ``ChatResponse.search_queries`` (the
queries the model ran) and ``search_suggestions`` (Google's Search Suggestions), through
streams, the response cache, call records and their redaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anyio
import attrs
import pytest

import relaykit
from relaykit import BatchItem, ChatRequest, ChatResponse, Citation
from relaykit.events import Finish, SearchQuery, StreamEvent, TextDelta
from relaykit.serialization import from_json, structure_event, to_json, unstructure_event
from relaykit.testing import FakePlugin, FakeProvider, MemoryStorage, RecordingExporter, Reply

SECRET = "sk-proj-" + "Qz4" * 10
#: a query that quotes the prompt, a secret in it (a redactor's catch), and another script
QUERIES = (f'tide tables "{SECRET}"', "潮汐 時刻表")
SUGGESTIONS = '<style>.chip{border-radius:16px}</style><a class="chip">tide tables</a>'
SEARCHED = Reply(
    text="High tide at six.",
    citations=(Citation(url="https://tides.example/", title="Tides", start=0, end=9),),
    web_searches=2,
    search_queries=QUERIES,
    search_suggestions=SUGGESTIONS,
)


class _CountsOnly(RecordingExporter):
    """Reads no content (a metrics exporter): its records come without any."""

    needs_content: ClassVar[bool] = False


def _client(*plugins: object, **config: Any) -> relaykit.Client:
    base: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"initial_wait": 0}}
    return relaykit.Client({**base, **config}, plugins=list(plugins))


async def _drain(client: relaykit.Client, **kw: Any) -> tuple[ChatResponse, list[Any]]:
    async with client.stream("fake/m", "tides?", web_search=True, **kw) as s:
        events = [e async for e in s]
    return s.response, events


def test_a_response_and_a_finish_round_trip_through_json_with_them() -> None:
    response = ChatResponse(
        text="t", search_queries=QUERIES, search_suggestions=SUGGESTIONS, model="m"
    )
    assert from_json(to_json(response), ChatResponse) == response
    finish = Finish("stop", "STOP", search_queries=QUERIES, search_suggestions=SUGGESTIONS)
    assert structure_event(unstructure_event(finish)) == finish
    # JSON written before the fields existed reads as no search
    older = from_json('{"text": "t", "model": "m"}', ChatResponse)
    assert (older.search_queries, older.search_suggestions) == ((), None)
    assert structure_event({"type": "Finish", "reason": "stop"}) == Finish("stop")


@pytest.mark.anyio
async def test_a_stream_yields_each_search_before_its_text_and_its_response_has_them() -> None:
    fake = FakePlugin()
    fake.script.push(SEARCHED, Reply(text="plain"))
    async with _client(fake) as client:
        searched, events = await _drain(client)
        plain, _ = await _drain(client)
    kinds = [type(e) for e in events]
    assert [e for e in events if isinstance(e, SearchQuery)] == [SearchQuery(q) for q in QUERIES]
    assert kinds.index(SearchQuery) < kinds.index(TextDelta)
    # one source: the events; the finish no longer repeats them
    assert isinstance(events[-1], Finish) and events[-1].search_queries == ()
    assert (searched.search_queries, searched.search_suggestions) == (QUERIES, SUGGESTIONS)
    assert (plain.search_queries, plain.search_suggestions) == ((), None)


class _HeldText(FakeProvider):
    """Streams as the fake does, but writes no text until the test opens ``gate``."""

    gate: ClassVar[anyio.Event | None] = None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async for event in super().stream(request):
            if isinstance(event, TextDelta) and self.gate is not None:
                await self.gate.wait()
            yield event


@pytest.mark.anyio
async def test_the_first_search_reaches_the_caller_before_any_text_is_written() -> None:
    """Entering a stream reads ahead to the first content; a search ends the read-ahead,
    so a UI can say "searching..." while the model has yet to write a word."""
    _HeldText.gate = anyio.Event()
    fake = FakePlugin(provider=_HeldText)
    fake.script.push(SEARCHED)
    try:
        async with _client(fake) as client:
            with anyio.fail_after(5):  # before the fix: stuck reading ahead for the text
                async with client.stream("fake/m", "tides?", web_search=True) as s:
                    seen: list[Any] = []
                    async for event in s:
                        seen.append(event)
                        if isinstance(event, SearchQuery):
                            _HeldText.gate.set()
                    assert seen[1] == SearchQuery(QUERIES[0])
    finally:
        _HeldText.gate = None
    assert s.response.search_queries == QUERIES


@pytest.mark.anyio
async def test_a_broken_stream_keeps_the_searches_it_ran_in_its_record() -> None:
    fake, reader = FakePlugin(), RecordingExporter()
    fake.script.push(attrs.evolve(SEARCHED, stream_fault="error"))
    async with _client(fake, reader) as client:
        with pytest.raises(relaykit.StreamError):
            async with client.stream("fake/m", "tides?", web_search=True) as s:
                async for _ in s:
                    pass
    assert s.response.search_queries == QUERIES
    (record,) = reader.records
    assert record.error_type == "StreamError"
    first, second = record.search_queries  # billed, so recorded; redacted like any
    assert first.startswith("tide tables") and SECRET not in first and second == QUERIES[1]


def test_a_finish_alone_still_gives_the_queries_of_a_provider_without_the_event() -> None:
    from relaykit.assembly import ResponseAssembler

    older = ResponseAssembler()
    older.add(TextDelta("t"))
    older.add(Finish("stop", search_queries=QUERIES))
    assert older.response().search_queries == QUERIES
    # both: the events win, nothing counted twice
    both = ResponseAssembler()
    both.add(SearchQuery(QUERIES[0]))
    both.add(Finish("stop", search_queries=QUERIES))
    assert both.response().search_queries == QUERIES[:1]


def test_a_search_event_round_trips_through_json() -> None:
    event = SearchQuery(QUERIES[1])
    assert unstructure_event(event) == {"type": "SearchQuery", "query": QUERIES[1]}
    assert structure_event(unstructure_event(event)) == event


@pytest.mark.anyio
async def test_the_cache_keeps_them_and_a_stream_replays_them_from_its_json() -> None:
    # Two clients sharing one storage: the second's memory is empty, so its hit is
    # read back from the JSON the first one stored (temperature 0: only a
    # deterministic call is cached by default).
    # Queries without the key: an answer holding one stays out of the store
    # (test_cache_chaos), and this is about the JSON of the queries.
    queries = (QUERIES[0].replace(SECRET, "tomorrow"), QUERIES[1])
    fake, storage = FakePlugin(), MemoryStorage()
    fake.script.push(attrs.evolve(SEARCHED, search_queries=queries))
    config = {"storage": {"backend": "mem"}, "cache": {"enabled": True}}
    async with _client(fake, storage.plugin("mem"), **config) as client:
        first = await client.chat("fake/m", "tides?", web_search=True, temperature=0)
    assert storage.responses  # stored as JSON
    async with _client(fake, storage.plugin("mem"), **config) as client:
        replayed, events = await _drain(client, temperature=0)
        again = await client.chat("fake/m", "tides?", web_search=True, temperature=0)
    assert len(fake.calls) == 1  # both answered by the cache
    for hit in (replayed, again):
        assert hit.cache_hit
        assert (hit.search_queries, hit.search_suggestions) == (queries, SUGGESTIONS)
    assert (first.search_queries, first.search_suggestions) == (queries, SUGGESTIONS)
    (finish,) = [e for e in events if isinstance(e, Finish)]
    assert finish.search_suggestions == SUGGESTIONS
    # replayed as a provider streams them: each search its own event, before the text
    kinds = [type(e) for e in events]
    assert [e.query for e in events if isinstance(e, SearchQuery)] == list(queries)
    assert kinds.index(SearchQuery) < kinds.index(TextDelta) and finish.search_queries == ()


@pytest.mark.anyio
async def test_a_record_keeps_the_queries_redacted_and_never_the_suggestions() -> None:
    fake, reader, counter = FakePlugin(), RecordingExporter(), _CountsOnly()
    fake.script.push(SEARCHED, SEARCHED)
    async with _client(fake, reader) as client:
        answered = await client.chat("fake/m", "tides?", web_search=True)
        streamed, _ = await _drain(client)
    assert answered.search_queries == QUERIES == streamed.search_queries  # the caller's whole
    for record in reader.records:
        first, second = record.search_queries
        assert first.startswith("tide tables") and SECRET not in first
        assert second == QUERIES[1]
        assert SECRET not in repr(record) and "chip" not in repr(record)
    # where nothing reads the content, the count of searches stays, not what they were
    fake.script.push(SEARCHED)
    async with _client(fake, counter) as client:
        await client.chat("fake/m", "tides?", web_search=True)
    (record,) = counter.records
    assert (record.search_queries, record.usage.web_searches) == ((), 2)


@pytest.mark.anyio
async def test_a_batch_items_record_keeps_its_queries() -> None:
    fake, storage = FakePlugin(), MemoryStorage()
    fake.script.push(SEARCHED)
    config = {"storage": {"backend": "mem"}}
    async with _client(fake, storage.plugin("mem"), **config) as client:
        batch = await client.submit_batch("fake/m", [BatchItem("a", "tides?")], web_search=True)
        await client.batch(batch.id)  # the fake runs a batch when it is looked at
        (result,) = [r async for r in client.batch_results(batch.id)]
    assert result.response is not None and result.response.search_queries == QUERIES
    (record,) = storage.records.values()
    assert record.operation == "batch" and record.search_queries[1] == QUERIES[1]
    assert SECRET not in repr(record)
