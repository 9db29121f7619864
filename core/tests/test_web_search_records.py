"""Web search where a user looks afterwards: call records (stored and exported),
the JSON call log, spans and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pytest

import relaykit
from relaykit import BatchItem, Citation, hookimpl, metrics
from relaykit.config import Config
from relaykit.protocols import CallRecord, LogQuery
from relaykit.record_rows import COLUMNS, record_to_row, row_to_record
from relaykit.response import Usage
from relaykit.testing import (
    FakePlugin,
    MemoryStorage,
    RecordingExporter,
    Reply,
    TracingExporter,
    call_log_lines,
    capture_call_log,
)

SECRET = "sk-proj-" + "Ws9" * 10
TIDES = Citation(
    url="https://en.wikipedia.org/wiki/Tide",
    title="Tide - Wikipedia",
    cited_text="Tides are the rise and fall of sea levels",
    start=0,
    end=5,
)
LEAKY = Citation(url=f"https://tides.example/today?key={SECRET}", title=f"Table {SECRET}")
ANSWER = Reply(text="Tides rise twice a day.", citations=(TIDES, LEAKY), web_searches=2)


class _Records(RecordingExporter):
    """A record-taking exporter; ``content`` says whether it reads the records' content."""

    def __init__(self, content: bool = True) -> None:
        super().__init__()
        self.needs_content = content

    @property
    def calls(self) -> list[CallRecord]:
        return [r for r in self.records if isinstance(r, CallRecord)]


class _Exporting:
    __name__ = "web-search-exporters"

    def __init__(self, *exporters: object) -> None:
        self._exporters = exporters

    @hookimpl
    def relaykit_exporters(self, config: Config) -> Sequence[object]:
        return self._exporters


def _client(*plugins: object, **config: Any) -> relaykit.Client:
    base: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"initial_wait": 0}}
    return relaykit.Client({**base, **config}, plugins=list(plugins))


@pytest.mark.anyio
async def test_a_calls_record_keeps_its_citations_redacted_and_its_searches() -> None:
    fake, exporter = FakePlugin(), _Records()
    fake.script.push(ANSWER, ANSWER)
    async with _client(fake, _Exporting(exporter)) as client:
        answered = await client.chat("fake/m", "tides?", web_search=True)
        async with client.stream("fake/m", "tides?", web_search={"max_uses": 2}) as s:
            async for _ in s:
                pass
    assert answered.citations == (TIDES, LEAKY)  # the caller's answer is not redacted
    plain, streamed = exporter.calls
    for record in (plain, streamed):
        assert record.usage.web_searches == 2
        assert record.citations[0] == TIDES
        leaky = record.citations[1]
        assert SECRET not in repr(record)
        assert leaky.url.startswith("https://tides.example/today?key=") and leaky.title
    assert (plain.streamed, streamed.streamed) == (False, True)
    assert (plain.params["web_search"], streamed.params["web_search"]) == ({}, {"max_uses": 2})


@pytest.mark.anyio
async def test_a_record_without_a_content_reader_keeps_the_searches_not_the_pages() -> None:
    fake, metrics_only = FakePlugin(), _Records(content=False)
    fake.script.push(ANSWER)
    async with _client(fake, _Exporting(metrics_only)) as client:
        await client.chat("fake/m", "tides?", web_search=True)
    (record,) = metrics_only.calls
    assert (record.text, record.citations, record.usage.web_searches) == ("", (), 2)


@pytest.mark.anyio
async def test_a_broken_streams_record_keeps_the_citations_that_had_arrived() -> None:
    fake, exporter = FakePlugin(), _Records()
    fake.script.push(Reply(text="Tides", citations=(TIDES, LEAKY), stream_fault="error"))
    async with _client(fake, _Exporting(exporter)) as client:
        with pytest.raises(relaykit.StreamError):
            async with client.stream("fake/m", "tides?", web_search=True) as s:
                async for _ in s:
                    pass
    (record,) = exporter.calls
    assert record.error_type == "StreamError" and record.text == "Tides"
    assert record.citations[0] == TIDES and SECRET not in repr(record.citations)


@pytest.mark.anyio
async def test_a_batch_items_record_keeps_its_citations() -> None:
    fake, storage = FakePlugin(), MemoryStorage()
    fake.script.push(ANSWER)
    config = {"storage": {"backend": "mem"}}
    async with _client(fake, storage.plugin("mem"), **config) as client:
        batch = await client.submit_batch("fake/m", [BatchItem("a", "tides?")], web_search=True)
        await client.batch(batch.id)  # the fake runs a batch when it is looked at
        results = [r async for r in client.batch_results(batch.id)]
    assert results[0].response is not None and results[0].response.citations
    (record,) = storage.records.values()
    assert record.operation == "batch" and record.usage.web_searches == 2
    assert record.citations[0] == TIDES and SECRET not in repr(record)


@pytest.mark.anyio
async def test_a_stored_call_is_found_by_a_page_it_cited() -> None:
    fake, storage = FakePlugin(), MemoryStorage()
    fake.script.push(ANSWER, Reply(text="No search."))
    async with _client(fake, storage.plugin("mem"), storage={"backend": "mem"}) as client:
        await client.chat("fake/m", "tides?", web_search=True)
        await client.chat("fake/m", "other?")
    (found,) = await storage.query_logs(LogQuery(text="wikipedia"))
    assert found.citations[0] == TIDES
    assert await storage.query_logs(LogQuery(text="tides.example")) == [found]


def test_a_rows_citations_and_searches_read_back_and_the_prompt_column_names_them() -> None:
    record = CallRecord(
        id="r",
        started_at=1.0,
        operation="chat",
        provider="p",
        model_requested="p/m",
        model="m",
        streamed=False,
        messages=(relaykit.Message.user("tides?"),),
        usage=Usage(10, 5, web_searches=3),
        citations=(TIDES, Citation(url="https://b.example/")),
    )
    row = record_to_row(record)
    columns = dict(zip(COLUMNS, row, strict=True))
    assert columns["web_searches"] == 3
    assert columns["prompt"].splitlines() == [
        "tides?",
        "Tide - Wikipedia https://en.wikipedia.org/wiki/Tide https en wikipedia org wiki tide",
        "https://b.example/ https b example",
    ]
    assert row_to_record(row) == record
    # without citations, the columns are as before: no trace in the search text
    plain = dict(zip(COLUMNS, record_to_row(attrs.evolve(record, citations=())), strict=True))
    assert (plain["prompt"], plain["citations"], plain["search_queries"]) == ("tides?", "[]", "[]")
    # the queries searched for are searched too: after the prompt, before the sources
    searched = attrs.evolve(record, search_queries=("tide times", 'moon "phase"'))
    row = record_to_row(searched)
    columns = dict(zip(COLUMNS, row, strict=True))
    assert columns["prompt"].splitlines()[:3] == ["tides?", "tide times", 'moon "phase"']
    assert columns["search_queries"] == '["tide times","moon \\"phase\\""]'
    assert row_to_record(row) == searched
    # a call that cited nothing may still have searched
    alone = attrs.evolve(searched, citations=(), messages=())
    assert dict(zip(COLUMNS, record_to_row(alone), strict=True))["prompt"] == (
        'tide times\nmoon "phase"'
    )


@pytest.mark.anyio
async def test_a_call_line_counts_searches_and_citations_but_never_names_a_page() -> None:
    fake = FakePlugin()
    fake.script.push(ANSWER, Reply(text="plain"))
    with capture_call_log() as out:
        async with _client(fake) as client:
            await client.chat("fake/m", "tides?", web_search=True)
            await client.chat("fake/m", "hi")
        searched, plain = call_log_lines(out)
        text = out.getvalue()
    assert (searched["web_searches"], searched["citations"]) == (2, 2)
    assert "web_searches" not in plain and "citations" not in plain
    assert "wikipedia" not in text and "tides.example" not in text


@pytest.mark.anyio
async def test_a_span_counts_the_searches_and_citations() -> None:
    fake, tracing = FakePlugin(), TracingExporter()
    fake.script.push(ANSWER, Reply(text="plain"))
    async with _client(fake, _Exporting(tracing)) as client:
        await client.chat("fake/m", "tides?", web_search=True)
        await client.chat("fake/m", "hi")
    searched, plain = (dict(s.attributes or {}) for s in tracing.spans.get_finished_spans())
    assert searched["relaykit.usage.web_searches"] == 2
    assert searched["relaykit.response.citations"] == 2
    assert not {"relaykit.usage.web_searches", "relaykit.response.citations"} & set(plain)
    assert not any("wikipedia" in str(v) for v in searched.values())


def _record(**kw: Any) -> CallRecord:
    return CallRecord(
        id="r",
        started_at=0.0,
        operation="chat",
        provider="anthropic",
        model_requested="anthropic/claude-haiku-4-5",
        model="claude-haiku-4-5",
        streamed=False,
        **kw,
    )


def test_web_searches_are_counted_unless_the_cache_answered() -> None:
    searched = _record(usage=Usage(100, 10, web_searches=3))
    counted = [o for o in metrics.observe(searched) if o.instrument is metrics.WEB_SEARCHES]
    assert [(o.value, dict(o.attributes)["gen_ai.provider.name"]) for o in counted] == [
        (3.0, "anthropic")
    ]
    hit = _record(usage=Usage(100, 10, web_searches=3), cache_hit=True)
    plain = _record(usage=Usage(100, 10))
    for record in (hit, plain):
        assert metrics.WEB_SEARCHES not in {o.instrument for o in metrics.observe(record)}
    assert metrics.WEB_SEARCHES in metrics.INSTRUMENTS  # so every exporter declares it


def test_an_exporters_fold_adds_the_searches_as_observe_does() -> None:
    sums: dict[tuple[str, metrics.Attributes], list[float]] = {}

    class _Sum:
        def __init__(self, values: list[float]) -> None:
            self.values = values

        def add(self, value: float) -> None:
            self.values.append(value)

    fold = metrics.CallFold(lambda i, a: _Sum(sums.setdefault((i.name, a), [])))
    fold.add(
        [
            _record(usage=Usage(1, 1, web_searches=2)),
            _record(usage=Usage(1, 1, web_searches=1), cache_hit=True),
            _record(usage=Usage(1, 1, web_searches=1)),
        ]
    )
    [values] = [v for k, v in sums.items() if k[0] == "relaykit.web_searches"]
    assert values == [2.0, 1.0]
