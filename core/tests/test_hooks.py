"""One test (at least) per hook: each is exercised through a real Client.

tests/test_docs.py checks that every hookspec name appears in a test; these are them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

import relaykit
from relaykit import QuotaExceededError, hookimpl
from relaykit.call_log import CallLog
from relaykit.config import Config, LimitConfig
from relaykit.http import HttpOptions, httpx_client
from relaykit.messages import ReasoningPart
from relaykit.plugins import build_plugin_manager, describe_plugins
from relaykit.protocols import CallRecord, Reservation
from relaykit.testing import FakePlugin, RecordingExporter, Reply, bare_record

SECRET = "sk-proj-" + "Zz9" * 8


class MemoryStorage:
    def __init__(self, delay: float = 0) -> None:
        self.records: list[CallRecord] = []
        self.batches = 0
        self.closed = False
        self.delay = delay

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        if self.delay:
            await anyio.sleep(self.delay)
        self.batches += 1
        self.records.extend(records)

    async def query_logs(self, *, limit: int = 50) -> list[CallRecord]:
        return self.records[-limit:][::-1]

    async def aclose(self) -> None:
        self.closed = True


class StoragePlugin:
    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage

    @hookimpl
    def relaykit_storage(self, name: str, config: Config) -> MemoryStorage | None:
        return self.storage if name == "memory" else None


@pytest.mark.anyio
async def test_relaykit_providers_adds_a_provider_type() -> None:
    fake = FakePlugin("scripted")
    fake.script.reply("from the plugin")
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        assert (await client.chat("scripted/x", "hi")).text == "from the plugin"


@pytest.mark.anyio
async def test_relaykit_providers_a_later_plugins_factory_replaces_an_earlier_one() -> None:
    first, second = FakePlugin("dup"), FakePlugin("dup")
    second.__name__ = "second-dup"  # two plugins, one type
    first.script.reply("from the first")
    second.script.reply("from the second")
    no_storage = {"storage": {"backend": "none"}}
    async with relaykit.Client(no_storage, plugins=[first, second]) as client:
        assert (await client.chat("dup/x", "hi")).text == "from the second"


@pytest.mark.anyio
async def test_relaykit_storage_receives_every_call_redacted() -> None:
    storage = MemoryStorage()
    fake = FakePlugin()
    fake.script.push(Reply(text="fine"), Reply.failure(400, "rejected"))
    config = {"storage": {"backend": "memory"}}
    async with relaykit.Client(config, plugins=[fake, StoragePlugin(storage)]) as client:
        await client.chat("fake/m", f"my key is {SECRET}", metadata={"correlation_id": "c-1"})
        with pytest.raises(relaykit.InvalidRequestError):
            await client.chat("fake/m", "second")
        async with client.stream("fake/m", "third") as s:
            async for _ in s:
                pass
    assert storage.closed
    ok, failed, streamed = storage.records
    assert ok.ok and ok.text == "fine" and ok.correlation_id == "c-1"
    assert SECRET not in json.dumps(relaykit.converter.unstructure(ok))
    assert "[REDACTED]" in ok.messages[0].text
    assert (failed.error_type, failed.status) == ("InvalidRequestError", 400)
    assert streamed.streamed and streamed.text == "echo: third"


@pytest.mark.anyio
async def test_relaykit_storage_queue_applies_backpressure_and_drains_on_close() -> None:
    storage = MemoryStorage(delay=0.01)
    # CallLog only writes batches and closes: the rest of Storage goes unused
    log = CallLog(storage, max_queue=2, max_batch=3)  # type: ignore[arg-type]
    record = bare_record()
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for _ in range(25):
            await log.put(record)  # waits whenever two are queued
            assert log.depth <= 2
        await log.aclose()
    assert len(storage.records) == 25
    assert storage.closed


@pytest.mark.anyio
async def test_relaykit_storage_failure_does_not_fail_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(MemoryStorage):
        async def write_batch(self, records: Sequence[CallRecord]) -> None:
            raise OSError("disk full")

    async with relaykit.Client(
        {"storage": {"backend": "memory"}}, plugins=[FakePlugin(), StoragePlugin(Broken())]
    ) as client:
        assert (await client.chat("fake/m", "hi")).text == "echo: hi"
    assert "could not store 1 call records" in caplog.text


@pytest.mark.anyio
async def test_relaykit_exporters_see_successes_and_failures() -> None:
    exporter = RecordingExporter()

    class ExporterPlugin:
        @hookimpl
        def relaykit_exporters(self, config: Config) -> Sequence[RecordingExporter]:
            return [exporter] if "recording" in config.exporters else []

        @hookimpl
        def relaykit_config_tables(self, config: Config) -> Sequence[str]:
            return ["exporters.recording"]

    fake = FakePlugin()
    fake.script.push(
        Reply(text="ok", input_tokens=3, output_tokens=2), Reply.failure(404, "no such model")
    )
    config = {"storage": {"backend": "none"}, "exporters": {"recording": {}}}
    async with relaykit.Client(config, plugins=[fake, ExporterPlugin()]) as client:
        await client.chat("fake/m", "hi")
        with pytest.raises(relaykit.NotFoundError):
            await client.chat("fake/m", "hi")
    assert exporter.closed
    ok, failed = [r for r in exporter.records if isinstance(r, CallRecord)]
    assert ok.usage.total_tokens == 5 and ok.cost is not None
    assert failed.error_type == "NotFoundError"


@pytest.mark.anyio
async def test_a_successful_calls_record_has_every_field_it_can_have() -> None:
    # The client builds a success record in one call instead of through
    # CallRecord.from_response: a field added to a record (and filled for
    # failures, or by from_response) but left out there would stay at its default.
    exporter = RecordingExporter()

    class ExporterPlugin:
        @hookimpl
        def relaykit_exporters(self, config: Config) -> Sequence[RecordingExporter]:
            return [exporter]

    fake = FakePlugin()
    blocks = (ReasoningPart("thinking"), ReasoningPart(redacted="opaque"))
    cited = (relaykit.Citation(url="https://example.org/a", title="A", start=0, end=2),)
    reply = Reply(
        text="an answer",
        reasoning_blocks=blocks,
        tool_calls=(("f", {"x": 1}),),
        citations=cited,
        web_searches=1,
        search_queries=("an answer's query",),
        search_suggestions="<div>not recorded</div>",
        stop_sequence="\n\nHuman:",
    )
    fake.script.push(Reply.failure(503, "busy"), reply)  # a retry: two attempts
    metadata = {"correlation_id": "c-1", "conversation_id": "conv-1"}
    async with (
        relaykit.Client(
            {"storage": {"backend": "none"}}, plugins=[fake, ExporterPlugin()]
        ) as client,
        client.stream("fake/m", "hi", max_tokens=9, metadata=metadata, web_search=True) as s,
    ):
        async for _ in s:
            pass
        response = s.response
    (record,) = [r for r in exporter.records if isinstance(r, CallRecord)]
    # only failures, fallbacks, cache hits and early endings (estimates) set these
    unset = {"error_type", "error_message", "status", "fallbacks", "cache_hit", "usage_estimated"}
    for field in attrs.fields(CallRecord):
        default: Any = field.default  # a Factory or the value (attrs types it a value)
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        assert (getattr(record, field.name) == default) == (field.name in unset), field.name
    # The response's fields as CallRecord.from_response takes them; the rest from the call.
    call_side = {
        "id", "started_at", "operation", "provider", "model_requested", "model", "streamed",
        "fallbacks", "messages", "params", "correlation_id", "conversation_id",
        "finished_at", "route", "route_errors", "chunk_gaps",
    }  # fmt: skip
    fields = {name: getattr(record, name) for name in call_side}
    assert CallRecord.from_response(response, **fields) == record
    # The call's side, field by field: the client passes the fields by position
    # (record_builder), so two of one type could trade places unnoticed above.
    assert len(record.id) == 32 and record.id != record.response_id
    assert record.operation == "chat"
    assert (record.provider, record.model_requested, record.model) == ("fake", "fake/m", "m")
    assert (record.correlation_id, record.conversation_id) == ("c-1", "conv-1")
    assert record.started_at < record.finished_at  # type: ignore[operator]
    assert (record.streamed, record.fallbacks) == (True, 0)
    assert record.route == ("fake/m", "fake/m")  # the retry too
    assert record.route_errors == ("ProviderUnavailableError 503", "")
    assert record.params == {"max_tokens": 9, "web_search": {}}
    assert (record.citations, record.usage.web_searches) == (cited, 1)
    assert record.search_queries == ("an answer's query",)
    # the caller's, never the record's
    assert response.search_suggestions == "<div>not recorded</div>"
    assert "not recorded" not in repr(record)
    assert record.messages[0].text == "hi"


@pytest.mark.anyio
async def test_exporters_that_need_no_content_get_records_without_it() -> None:
    class MetricsOnly(RecordingExporter):
        needs_content = False

    class RedactorPlugin:
        def __init__(self) -> None:
            self.texts: list[str] = []

        def redact(self, text: str) -> str:
            self.texts.append(text)
            return text

        @hookimpl
        def relaykit_redactors(self, config: Config) -> Sequence[Any]:
            return [self]

    def plugin(exporters: list[RecordingExporter]) -> object:
        class ExporterPlugin:
            @hookimpl
            def relaykit_exporters(self, config: Config) -> Sequence[RecordingExporter]:
                return exporters

        return ExporterPlugin()

    metrics_only, reader = MetricsOnly(), RecordingExporter()
    redactor = RedactorPlugin()
    config = {"storage": {"backend": "none"}}
    async with relaykit.Client(
        config, plugins=[FakePlugin(), plugin([metrics_only]), redactor]
    ) as c:
        await c.chat("fake/m", "my secret prompt", max_tokens=5)
    (alone,) = [r for r in metrics_only.records if isinstance(r, CallRecord)]
    assert alone.messages == () and alone.text == "" and alone.usage.total_tokens > 0
    assert alone.params == {"max_tokens": 5}
    assert not any("secret" in t for t in redactor.texts)  # nothing was redacted for nobody

    # With one exporter that reads content, every exporter gets the redacted record.
    metrics_only = MetricsOnly()
    plugins = [FakePlugin(), plugin([metrics_only, reader]), RedactorPlugin()]
    async with relaykit.Client(config, plugins=plugins) as c:
        await c.chat("fake/m", "my secret prompt")
    (shared,) = [r for r in metrics_only.records if isinstance(r, CallRecord)]
    assert shared.messages[0].text == "my secret prompt" and "secret" in shared.text


@pytest.mark.anyio
async def test_exporters_that_need_no_records_get_gauges_and_no_record_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A traces-only exporter (``needs_records = False``): no call record is built for
    it, successes and failures alike; gauge events still reach it."""
    from relaykit.gauge_events import BreakerState

    class TracesOnly(RecordingExporter):
        needs_records = False

    built: list[str] = []
    from relaykit.call_outcomes import CallOutcomes

    for name in ("success_record", "partial_record", "record_fields"):
        method = getattr(CallOutcomes, name)

        def counted(self: Any, *args: Any, _m: Any = method, _n: str = name, **kw: Any) -> Any:
            built.append(_n)
            return _m(self, *args, **kw)

        monkeypatch.setattr(CallOutcomes, name, counted)
    fake, traces_only = FakePlugin(), TracesOnly()
    fake.script.push(Reply.failure(503), Reply(text="ok"), Reply.failure(400))
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "models": {"fast": {"targets": ["fake/a", "fake/b"]}},
    }
    async with relaykit.Client(config, plugins=[fake, traces_only]) as client:
        assert (await client.chat("fast", "hi")).text == "ok"
        with pytest.raises(relaykit.InvalidRequestError):
            await client.chat("fake/a", "bad")
    assert built == []
    assert traces_only.records == []
    assert any(isinstance(e, BreakerState) for e in traces_only.events)

    # Beside an exporter that takes records, they are built for that one alone.
    traces_only, reader = TracesOnly(), RecordingExporter()
    async with relaykit.Client(config, plugins=[FakePlugin(), traces_only, reader]) as client:
        await client.chat("fake/a", "hi")
    assert len(reader.records) == 1 and built
    assert traces_only.records == []


@pytest.mark.anyio
async def test_relaykit_redactors_apply_to_stored_records() -> None:
    class CityRedactor:
        def redact(self, text: str) -> str:
            return text.replace("Paris", "[CITY]")

    class RedactorPlugin:
        @hookimpl
        def relaykit_redactors(self, config: Config) -> Sequence[CityRedactor]:
            return [CityRedactor()]

    storage = MemoryStorage()
    plugins = [FakePlugin(), StoragePlugin(storage), RedactorPlugin()]
    async with relaykit.Client({"storage": {"backend": "memory"}}, plugins=plugins) as client:
        r = await client.chat("fake/m", "I live in Paris")
    assert r.text == "echo: I live in Paris"  # the caller's answer is untouched
    assert storage.records[0].messages[0].text == "I live in [CITY]"
    assert storage.records[0].text == "echo: I live in [CITY]"


@pytest.mark.anyio
async def test_relaykit_redactors_run_in_registration_order_the_builtin_first() -> None:
    class Tag:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def redact(self, text: str) -> str:
            return f"{text.replace('-', '~')}{self.tag}"  # a key's shape, changed

    class TagPlugin:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @hookimpl
        def relaykit_redactors(self, config: Config) -> Sequence[Tag]:
            return [Tag(self.tag)]

    # the built-in secret redactor first: a key in a text is masked before a
    # plugin's redactor can change it out of the shape the built-in one knows
    key = "sk-proj-" + "a1B2c3D4" * 4
    storage = MemoryStorage()
    plugins = [FakePlugin(), StoragePlugin(storage), TagPlugin("<1>"), TagPlugin("<2>")]
    async with relaykit.Client({"storage": {"backend": "memory"}}, plugins=plugins) as client:
        await client.chat("fake/m", key)
    assert storage.records[0].messages[0].text == "[REDACTED]<1><2>"


@pytest.mark.anyio
async def test_tryfirst_and_trylast_place_a_list_hooks_items_as_pluggy_says() -> None:
    """Registration order otherwise, but ``tryfirst`` items come before every other
    plugin's (the built-in secret redactor's too) and ``trylast`` ones after."""

    class Tag:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def redact(self, text: str) -> str:
            return f"{text}{self.tag}"

    class Early:
        @hookimpl(tryfirst=True)
        def relaykit_redactors(self, config: Config) -> Sequence[Tag]:
            return [Tag("<early>")]

    class Late:
        @hookimpl(trylast=True)
        def relaykit_redactors(self, config: Config) -> Sequence[Tag]:
            return [Tag("<late>")]

    class Plain:
        @hookimpl
        def relaykit_redactors(self, config: Config) -> Sequence[Tag]:
            return [Tag("<plain>")]

    storage = MemoryStorage()
    plugins = [FakePlugin(), StoragePlugin(storage), Late(), Plain(), Early()]
    async with relaykit.Client({"storage": {"backend": "memory"}}, plugins=plugins) as client:
        await client.chat("fake/m", "hi")
    assert storage.records[0].messages[0].text == "hi<early><plain><late>"


@pytest.mark.anyio
async def test_relaykit_rate_limiter_builtin_memory_limiter() -> None:
    config = {"storage": {"backend": "none"}, "limits": {"fake/*": {"rpm": 2}}}
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", "1")
        await client.chat("fake/m", "2")
        with pytest.raises(QuotaExceededError) as info:
            await client.chat("fake/m", "3")
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= 30


@pytest.mark.anyio
async def test_relaykit_rate_limiter_from_a_plugin_reserves_and_reconciles() -> None:
    calls: list[tuple[str, Any]] = []

    class CountingLimiter:
        async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
            calls.append(("acquire", (key, limit.tpm, tokens)))
            return Reservation(key, tokens)

        async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
            calls.append(("reconcile", actual_tokens))

    class LimiterPlugin:
        @hookimpl
        def relaykit_rate_limiter(self, name: str, config: Config) -> CountingLimiter | None:
            return CountingLimiter() if name == "counting" else None

    fake = FakePlugin()
    fake.script.reply("x", input_tokens=7, output_tokens=3)
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "counting"},
        "limits": {"fake/*": {"tpm": 100}},
    }
    async with relaykit.Client(config, plugins=[fake, LimiterPlugin()]) as client:
        await client.chat("fake/m", "hello world", max_tokens=20)
    assert calls == [("acquire", ("fake/*", 100, 2 + 20)), ("reconcile", 10)]


@pytest.mark.anyio
@pytest.mark.parametrize("offers", [("acquire_nowait", "reconcile_nowait"), ("acquire_nowait",)])
async def test_a_limiter_that_decides_at_once_is_called_without_a_coroutine(
    offers: tuple[str, ...],
) -> None:
    calls: list[tuple[str, Any]] = []

    class QuickLimiter:
        async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
            calls.append(("acquire", tokens))
            return Reservation(key, tokens)

        async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
            calls.append(("reconcile", actual_tokens))

        def acquire_nowait(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
            calls.append(("acquire_nowait", tokens))
            return Reservation(key, tokens)

        def reconcile_nowait(self, reservation: Reservation, actual_tokens: int) -> None:
            calls.append(("reconcile_nowait", actual_tokens))

    limiter = QuickLimiter()
    if "reconcile_nowait" not in offers:  # half the pair: the client keeps to the coroutines
        limiter.reconcile_nowait = None  # type: ignore[assignment,method-assign]

    class LimiterPlugin:
        @hookimpl
        def relaykit_rate_limiter(self, name: str, config: Config) -> QuickLimiter:
            return limiter

    fake = FakePlugin()
    fake.script.reply("x", input_tokens=7, output_tokens=3)
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "quick"},
        "limits": {"fake/*": {"tpm": 100}},
    }
    async with relaykit.Client(
        config, plugins=[fake, FakePlugin("other"), LimiterPlugin()]
    ) as client:
        await client.chat("fake/m", "hello world", max_tokens=20)
        await client.chat("other/m", "unlimited")  # no limit matches: nothing held
    if len(offers) == 2:
        assert calls == [("acquire_nowait", 2 + 20), ("reconcile_nowait", 10)]
    else:
        assert calls == [("acquire", 2 + 20), ("reconcile", 10)]


def test_memory_limiter_never_overshoots_under_concurrency() -> None:
    from relaykit.memory_limiter import MemoryRateLimiter

    async def main() -> int:
        limiter = MemoryRateLimiter(clock=lambda: 0.0)
        limit = LimitConfig(tpm=1000)
        admitted = 0

        async def one() -> None:
            nonlocal admitted
            try:
                await limiter.acquire("k", limit, 300)
                admitted += 1
            except QuotaExceededError:
                pass

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
        return admitted

    assert anyio.run(main) == 3  # 3 x 300 fits in 1000; a fourth would overshoot


def test_memory_limiter_reconcile_refunds_unused_tokens() -> None:
    from relaykit.memory_limiter import MemoryRateLimiter

    async def main() -> None:
        limiter = MemoryRateLimiter(clock=lambda: 0.0)
        limit = LimitConfig(tpm=1000)
        r = await limiter.acquire("k", limit, 900)
        with pytest.raises(QuotaExceededError):
            await limiter.acquire("k", limit, 200)
        await limiter.reconcile(r, 100)  # used far less than reserved
        await limiter.acquire("k", limit, 800)

    anyio.run(main)


@pytest.mark.anyio
async def test_relaykit_http_client_replaces_the_client() -> None:
    seen: list[httpx.Request] = []
    asked: list[HttpOptions] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "id": "x",
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "via the plugin's client"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            },
        )

    class ClientPlugin:
        @hookimpl
        def relaykit_http_client(self, config: Config, options: HttpOptions) -> httpx.AsyncClient:
            asked.append(options)
            # httpx's own client satisfies relaykit.http.HttpClient
            return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "timeouts": {"connect": 7},
        "http": {"max_connections": 3, "keepalive_expiry": 5},
        "providers": {"openai": {"api_key": SECRET}},
    }
    async with relaykit.Client(config, plugins=[ClientPlugin()]) as client:
        r = await client.chat("openai/gpt-4o-mini", "hi")
    assert r.text == "via the plugin's client"
    assert str(seen[0].url) == "https://api.openai.com/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    options = asked[0]
    assert (options.connect_timeout, options.max_connections, options.keepalive_expiry) == (
        7,
        3,
        5,
    )

    # [http] transport = "httpx" never asks the plugins
    asked.clear()
    config["http"]["transport"] = "httpx"
    async with relaykit.Client(config, plugins=[ClientPlugin()]) as client:
        assert client.provider("openai")
    assert asked == []


def test_plugin_filters_by_environment() -> None:
    def names(env: dict[str, str]) -> set[str]:
        return {i.name for i in describe_plugins(build_plugin_manager(env=env))}

    assert "openai" in names({})
    assert "openai" not in names({"RELAYKIT_DISABLE_PLUGINS": "openai"})
    assert "openai" not in names({"RELAYKIT_PLUGINS": "sqlite"})
    assert "openai" in names({"RELAYKIT_PLUGINS": "openai"})
    # built-ins load whatever the filters say
    assert {"relaykit.secrets", "relaykit.memory-limiter"} <= names({"RELAYKIT_PLUGINS": ""})


def test_describe_plugins_reports_versions_and_hooks() -> None:
    info = {i.name: i for i in describe_plugins(build_plugin_manager(env={}))}
    assert info["openai"].version == relaykit.__version__
    assert info["openai"].hooks == ("relaykit_providers",)
    assert info["relaykit.secrets"].builtin


def _install(site: Path, dist: str, version: str) -> None:
    """A distribution ``dist`` in the folder ``site``, with a relaykit entry point of its name."""
    (site / f"{dist}_module.py").write_text(
        "from relaykit import hookimpl\n\n@hookimpl\ndef relaykit_providers():\n    return []\n"
    )
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[relaykit]\n{dist} = {dist}_module\n")


def test_entry_points_are_scanned_once_until_a_distribution_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans = 0
    scan = importlib.metadata.entry_points

    def counted(**kwargs: Any) -> Any:
        nonlocal scans
        scans += 1
        return scan(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", counted)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))  # a new import path: scanned again
    assert "rkprobe" not in build_plugin_manager(env={}).versions
    build_plugin_manager(env={})
    assert scans == 1, "a second client reads what the first one found"

    _install(site, "rkprobe", "1.2")  # pip install into a folder on the path
    pm = build_plugin_manager(env={})
    assert scans == 2
    assert pm.versions["rkprobe"] == "1.2" and pm.get_plugin("rkprobe") is not None
    build_plugin_manager(env={"RELAYKIT_DISABLE_PLUGINS": "rkprobe"})  # filters: no scan
    assert scans == 2


@pytest.mark.anyio
async def test_disabled_provider_plugin_is_a_clear_error() -> None:
    async with relaykit.Client(
        {"storage": {"backend": "none"}}, env={"RELAYKIT_DISABLE_PLUGINS": "openai"}
    ) as client:
        with pytest.raises(relaykit.ConfigError, match="no plugin provides provider 'openai'"):
            await client.chat("openai/gpt-4o-mini", "hi")


def http_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> object:
    """A plugin whose HTTP client needs module ``name`` (``source``): a cold HTTP stack, in
    small. It names the module in ``relaykit_http_client_modules``; not imported yet."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)

    class Http:
        @hookimpl
        def relaykit_http_client(self, config: Config, options: HttpOptions) -> Any:
            importlib.import_module(name)  # what building the client needs
            return httpx_client(options)

        @hookimpl
        def relaykit_http_client_modules(self, config: Config) -> Sequence[str] | None:
            return [name]

    return Http()


@pytest.mark.anyio
async def test_relaykit_http_client_modules_are_imported_off_the_event_loop_before_the_first_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module notes which thread imported it.
    source = "import threading\nIMPORTED_IN = threading.current_thread()\n"
    probe = http_stack(tmp_path, monkeypatch, "relaykit_probe_http_stack", source)
    async with relaykit.Client(
        {"storage": {"backend": "none"}}, plugins=[FakePlugin(), probe]
    ) as client:
        assert "relaykit_probe_http_stack" not in sys.modules, "no import before a call"
        await client.chat("fake/m", "hi")
    module = sys.modules["relaykit_probe_http_stack"]
    assert module.IMPORTED_IN is not threading.main_thread()


@pytest.mark.anyio
async def test_warm_up_imports_the_http_stack_off_the_event_loop_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a server awaits before it takes requests (the gateway does).
    source = "import threading\nIMPORTED_IN = threading.current_thread()\n"
    probe = http_stack(tmp_path, monkeypatch, "relaykit_warm_http_stack", source)
    client = relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin(), probe])
    async with client:
        await client.warm_up()
        assert sys.modules["relaykit_warm_http_stack"].IMPORTED_IN is not threading.main_thread()
        await client.warm_up()  # done once: nothing more
        assert (await client.chat("fake/m", "hi")).text == "echo: hi"
    with pytest.raises(relaykit.ClientClosedError):
        await client.warm_up()


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_the_first_calls_latency_does_not_count_importing_the_http_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    # A slow import is not the provider's latency.
    source = "import time\ntime.sleep(0.5)\n"
    slow = http_stack(tmp_path, monkeypatch, "relaykit_slow_http_stack", source)
    async with relaykit.Client(
        {"storage": {"backend": "none"}}, plugins=[FakePlugin(), slow]
    ) as client:
        if streamed:
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass
            response = s.response
        else:
            response = await client.chat("fake/m", "hi")
    assert "relaykit_slow_http_stack" in sys.modules  # it was imported, during the call
    assert response.latency is not None and response.latency < 0.4
    assert response.time_to_first_token is None or response.time_to_first_token < 0.4


@pytest.mark.anyio
async def test_httpx_clients_share_one_ssl_context_made_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Loading the CA bundle takes 30-35 ms: once per process, in the warm-up's
    # worker thread, not once per provider on the event loop.
    from relaykit import httpx_client as module
    from relaykit.testing import OpenAIMock

    monkeypatch.setattr(module, "_shared_ssl_context", None)
    made_in: list[threading.Thread] = []
    real = httpx.create_ssl_context

    def spy(*args: Any, **kwargs: Any) -> Any:
        made_in.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", spy)
    key = "sk-test-0123456789abcdef0123"
    with OpenAIMock(api_key=key) as mock:
        providers = {
            name: {"type": "openai", "base_url": mock.base_url, "api_key": key}
            for name in ("first", "second")
        }
        config = {"storage": {"backend": "none"}, "http": {"transport": "httpx"}}
        async with relaykit.Client({**config, "providers": providers}) as client:
            for name in providers:
                assert (await client.chat(f"{name}/gpt-4o-mini", "hi")).text
    assert len(made_in) == 1 and made_in[0] is not threading.main_thread()
