"""relaykit-prometheus, scraped over real HTTP and parsed with prometheus_client's parser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import relaykit
from relaykit import hookimpl, metrics
from relaykit.gauge_events import QueueDepth
from relaykit.protocols import CallRecord
from relaykit.testing import FakePlugin, MemoryStorage, Reply, bare_record
from relaykit_prometheus import PrometheusExporter, make_asgi_app, prometheus_name


async def scrape(url: str) -> dict[str, list[Sample]]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(url)).text
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_names_follow_opentelemetrys_prometheus_conventions() -> None:
    assert prometheus_name(metrics.OPERATION_DURATION) == "gen_ai_client_operation_duration_seconds"
    assert prometheus_name(metrics.TOKEN_USAGE) == "gen_ai_client_token_usage"
    assert prometheus_name(metrics.COST) == "relaykit_cost_usd"


@pytest.mark.anyio
async def test_calls_are_scraped_from_the_configured_port() -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(text="ok", input_tokens=100, output_tokens=20),
        Reply.failure(429, "slow down"),
        Reply(text="ok", input_tokens=5, output_tokens=1),
    )
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0},
        "exporters": {"prometheus": {"port": 0}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        (exporter,) = client.exporters
        assert isinstance(exporter, PrometheusExporter)
        assert exporter.port
        await client.chat("fake/m", "hi")
        await client.chat("fake/m", "hi")  # 429, then retried
        families = await scrape(f"http://127.0.0.1:{exporter.port}/metrics")
    base = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "fake",
        "gen_ai_request_model": "m",
    }
    assert value(families["relaykit_requests"], "relaykit_requests_total", **base) == 2
    assert value(families["relaykit_retries"], "relaykit_retries_total", **base) == 1
    tokens = families["gen_ai_client_token_usage"]
    assert value(tokens, "gen_ai_client_token_usage_sum", gen_ai_token_type="input") == 105
    assert (
        value(tokens, "gen_ai_client_token_usage_bucket", gen_ai_token_type="input", le="64.0") == 1
    )
    assert (
        value(tokens, "gen_ai_client_token_usage_bucket", gen_ai_token_type="input", le="256.0")
        == 2
    )
    duration = families["gen_ai_client_operation_duration_seconds"]
    buckets = sorted(float(s.labels["le"]) for s in duration if s.name.endswith("_bucket"))
    assert buckets[:-1] == list(metrics.DURATION_BUCKETS)
    assert value(families["relaykit_cost_usd"], "relaykit_cost_usd_total", **base) > 0
    # the server is gone once the client is closed
    with pytest.raises(httpx.ConnectError):
        await scrape(f"http://127.0.0.1:{exporter.port}/metrics")


@pytest.mark.anyio
async def test_errors_are_counted_by_type() -> None:
    fake = FakePlugin()
    fake.script.fail(404, "no such model")
    config = {"storage": {"backend": "none"}, "exporters": {"prometheus": {"port": 0}}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        with pytest.raises(relaykit.NotFoundError):
            await client.chat("fake/m", "hi")
        port = client.exporters[0].port  # type: ignore[attr-defined]
        families = await scrape(f"http://127.0.0.1:{port}/metrics")
    assert (
        value(families["relaykit_errors"], "relaykit_errors_total", error_type="NotFoundError") == 1
    )


def test_model_label_cardinality_is_capped() -> None:
    exporter = PrometheusExporter(max_models=3)
    record = bare_record(model_requested="p/x", model="x")
    import attrs

    for i in range(10):
        exporter.record(attrs.evolve(record, model=f"model-{i}"))
    exporter.record(QueueDepth(4))
    from prometheus_client import generate_latest

    families = {
        f.name: f.samples
        for f in text_string_to_metric_families(generate_latest(exporter.registry).decode())
    }
    models = {
        s.labels["gen_ai_request_model"]
        for s in families["relaykit_requests"]
        if s.name.endswith("_total")
    }
    assert models == {"model-0", "model-1", "model-2", "other"}
    assert (
        value(
            families["relaykit_requests"], "relaykit_requests_total", gen_ai_request_model="other"
        )
        == 7
    )
    assert value(families["relaykit_storage_queue_depth"], "relaykit_storage_queue_depth") == 4
    # However many model names come, the exporter's memory stays bounded too.
    for i in range(10, 10_000):
        exporter.record(attrs.evolve(record, model=f"model-{i}"))
    families = {
        f.name: f.samples
        for f in text_string_to_metric_families(generate_latest(exporter.registry).decode())
    }
    assert len(exporter._bound) <= 4096 and len(exporter._calls._sinks) <= 4096
    assert len(exporter._series[metrics.REQUESTS.name]) == 4  # three models and "other"
    assert (
        value(
            families["relaykit_requests"], "relaykit_requests_total", gen_ai_request_model="other"
        )
        == 9_997
    )


@pytest.mark.anyio
async def test_the_metrics_mount_in_an_asgi_app() -> None:
    config = {"storage": {"backend": "none"}, "exporters": {"prometheus": {}}}
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", "hi")
        app = make_asgi_app(client)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://app"
        ) as http:
            response = await http.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert "relaykit_requests" in families


@pytest.mark.anyio
async def test_a_model_name_that_is_not_valid_utf8_does_not_break_the_scrape() -> None:
    # A lone surrogate (half an emoji, a str decoded with surrogateescape) in a
    # caller's model id: prometheus_client encodes the whole page as UTF-8, so one
    # such label value failed every scrape from then on (HTTP 500, no metrics at all).
    fake = FakePlugin()
    config = {"storage": {"backend": "none"}, "exporters": {"prometheus": {"port": 0}}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/half-\ud83d", "hi")
        await client.chat("fake/m", "hi")
        port = client.exporters[0].port  # type: ignore[attr-defined]
        families = await scrape(f"http://127.0.0.1:{port}/metrics")
    requests = families["relaykit_requests"]
    assert value(requests, "relaykit_requests_total", gen_ai_request_model="m") == 1
    # the model as its escape, so it stays recognisable
    assert value(requests, "relaykit_requests_total", gen_ai_request_model="half-\\ud83d") == 1


def test_a_long_model_name_is_cut_in_the_label() -> None:
    # Every series of a model holds its name: 50 model ids of 1 MB (what a gateway's
    # clients may send) made every scrape a gigabyte, and backends that bound label
    # values (Mimir: 2,048 bytes) reject such series.
    exporter = PrometheusExporter()
    long = "x" * 1_000_000
    exporter.record(bare_record(model=long, latency=0.5))
    exporter.record(bare_record(model=long + "y", latency=0.5))
    families = parsed(exporter)
    (sample,) = [s for s in families["relaykit_requests"] if s.name == "relaykit_requests_total"]
    assert sample.labels["gen_ai_request_model"] == "x" * 255 + "…"
    assert sample.value == 2  # both names begin alike: one series


def test_a_call_answered_after_two_fallbacks_counts_once_in_fallbacks() -> None:
    # relaykit_fallbacks counts "calls answered (or failed) by a fallback target",
    # as its HELP says; it added the number of targets given up on, so a call
    # past two failed deployments counted twice, and fallbacks / requests could
    # pass 100%. (relaykit_retries counts the extra attempts.)
    exporter = PrometheusExporter()
    exporter.record(bare_record(fallbacks=2, attempts=3))
    exporter.record(bare_record(fallbacks=1, attempts=2))
    exporter.record(bare_record())
    families = parsed(exporter)
    assert value(families["relaykit_fallbacks"], "relaykit_fallbacks_total") == 2
    assert value(families["relaykit_retries"], "relaykit_retries_total") == 3
    assert value(families["relaykit_requests"], "relaykit_requests_total") == 3


def test_a_busy_port_is_a_config_error() -> None:
    first = PrometheusExporter(port=0)
    try:
        with pytest.raises(relaykit.ConfigError, match="cannot serve Prometheus metrics"):
            PrometheusExporter(port=first.port)
    finally:
        import anyio

        anyio.run(first.aclose)


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["::1", "[::1]"])
async def test_an_ipv6_host_is_served_bracketed_or_not(host: str) -> None:
    exporter = PrometheusExporter(port=0, host=host)
    try:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://[::1]:{exporter.port}/metrics")
        assert response.status_code == 200
    finally:
        await exporter.aclose()


def test_a_host_that_does_not_resolve_is_a_config_error_about_the_host() -> None:
    # The hint said to pick a free port, whatever went wrong.
    with pytest.raises(relaykit.ConfigError) as info:
        PrometheusExporter(port=0, host="no-such-host.invalid")
    assert "check [exporters.prometheus] host" in str(info.value)


def test_unknown_keys_are_config_errors() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"exporters\.prometheus"):
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"prometheus": {"prot": 1}}})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("port", "x", "a port number from 0 to 65535"),
        ("port", 70000, "a port number from 0 to 65535"),
        ("port", [9464], "a port number from 0 to 65535"),
        ("port", float("nan"), "a port number from 0 to 65535"),
        ("max_models", "many", "a whole number from 1"),
        ("max_models", float("inf"), "a whole number from 1"),
    ],
)
def test_a_number_of_the_wrong_kind_is_a_config_error_naming_the_key(
    key: str, value: object, expected: str
) -> None:
    """port = "x" raised ValueError from int(); a port past 65535, OverflowError from bind()."""
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"prometheus": {key: value}}})
    assert f"exporters.prometheus.{key} must be {expected}" in str(info.value)


def test_histograms_match_prometheus_clients_own() -> None:
    # The exporter keeps its own bucket counts; they must read exactly as
    # prometheus_client's Histogram would, bounds ("le") included.
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    latencies = [0.0, 0.01, 0.015, 0.32, 0.33, 81.92, 100.0, 0.04]
    exporter = PrometheusExporter()
    reference = CollectorRegistry()
    histogram = Histogram(
        "gen_ai_client_operation_duration_seconds",
        "d",
        [
            "gen_ai_operation_name",
            "gen_ai_provider_name",
            "gen_ai_request_model",
            "relaykit_provider",
            "server_address",
            "server_port",
            "error_type",
        ],
        registry=reference,
        buckets=metrics.DURATION_BUCKETS,
    )
    for latency in latencies:
        exporter.record(
            bare_record(
                latency=latency,
            )
        )
        histogram.labels("chat", "p", "m", "", "", "", "").observe(latency)

    def samples(registry: object) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        text = generate_latest(registry).decode()  # type: ignore[arg-type]
        return {
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for f in text_string_to_metric_families(text)
            if f.name == "gen_ai_client_operation_duration_seconds"
            for s in f.samples
            if not s.name.endswith("_created")
        }

    ours = samples(exporter.registry)
    assert ours == samples(reference)
    assert ("gen_ai_client_operation_duration_seconds_count", (
        ("error_type", ""), ("gen_ai_operation_name", "chat"),
        ("gen_ai_provider_name", "p"), ("gen_ai_request_model", "m"),
        ("relaykit_provider", ""), ("server_address", ""), ("server_port", ""),
    ), 8.0) in ours  # fmt: skip


class BrokenStore:
    """``[cache] backend = "broken"``: a cache store whose every lookup and write raises."""

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        raise ConnectionError("the store is down")

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        raise ConnectionError("the store is down")

    @hookimpl
    def relaykit_response_cache(self, name: str, config: Any) -> Any:
        return self if name == "broken" else None


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["broken", "memory"])
async def test_cache_store_errors_are_counted_by_operation(backend: str) -> None:
    config = {
        "storage": {"backend": "none"},
        "cache": {"enabled": True, "backend": backend},
        "exporters": {"prometheus": {"port": 0}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), BrokenStore()]) as client:
        for i in range(3):
            await client.chat("fake/m", f"q{i}", temperature=0)
        port = client.exporters[0].port  # type: ignore[attr-defined]
        families = await scrape(f"http://127.0.0.1:{port}/metrics")
        errors = client.cache_errors
    samples = families["relaykit_cache_errors"]
    if backend == "memory":  # nothing failed: no series
        assert (errors, samples) == (0, [])
        return
    total = "relaykit_cache_errors_total"
    assert value(samples, total, relaykit_cache_operation="get") == 3
    assert value(samples, total, relaykit_cache_operation="put") == 3
    assert errors == 6


class DownStorage(MemoryStorage):
    """A storage whose every write fails as a refused connection does."""

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        raise relaykit.StorageUnavailableError("connection refused")


@pytest.mark.anyio
async def test_a_storage_outage_is_scraped(tmp_path: Path) -> None:
    config = {
        "storage": {
            "backend": "memory",
            "retry_for": 0,  # spill at the first failure
            "close_timeout": 1,
            "spill_path": str(tmp_path / "spill.jsonl"),
        },
        "exporters": {"prometheus": {}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), DownStorage().plugin()]) as client:
        (exporter,) = client.exporters
        assert isinstance(exporter, PrometheusExporter)
        before = parsed(exporter)
        await client.chat("fake/m", "hi")
        await client.chat("fake/m", "hi")
    after = parsed(exporter)  # closing wrote (here: spilled) what was queued
    # Before any trouble: the gauge and the lost counter are there, at 0.
    assert value(before["relaykit_storage_failing"], "relaykit_storage_failing") == 0
    assert before["relaykit_storage_write_failures"] == []
    assert value(after["relaykit_storage_failing"], "relaykit_storage_failing") == 1
    failures = after["relaykit_storage_write_failures"]
    assert (
        value(
            failures, "relaykit_storage_write_failures_total", error_type="StorageUnavailableError"
        )
        >= 1
    )
    spilled = after["relaykit_storage_records_spilled"]
    assert (
        value(
            spilled, "relaykit_storage_records_spilled_total", relaykit_storage_reason="unavailable"
        )
        == 2
    )
    lost = after["relaykit_storage_records_lost"]
    assert value(lost, "relaykit_storage_records_lost_total") == 0
    assert client._call_log is not None and client._call_log.spilled == 2


def parsed(exporter: PrometheusExporter) -> dict[str, list[Sample]]:
    """The exporter's registry as Prometheus scrapes it, parsed."""
    from prometheus_client import generate_latest

    text = generate_latest(exporter.registry).decode()
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


@pytest.mark.anyio
async def test_stopping_the_metrics_server_does_not_hold_up_the_event_loop() -> None:
    # http.server's shutdown() waits for its serving thread's next poll (up to
    # half a second): done on the event loop, every other task waited with it.
    import anyio
    import anyio.lowlevel

    exporter = PrometheusExporter(port=0)
    closed, turns_while_closing = False, 0

    async def other_task() -> None:
        nonlocal turns_while_closing
        while not closed:
            turns_while_closing += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(other_task)
        await anyio.lowlevel.checkpoint()  # it has had its first turn
        before = turns_while_closing
        await exporter.aclose()
        closed = True
    assert turns_while_closing > before, "the loop stood still while the server stopped"
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # and it did stop
            await http.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=2)


def test_a_model_named_other_stays_apart_from_the_overflow_series() -> None:
    # Past max_models every new model is counted as "other": a real model of that
    # name merged with them, and its calls could not be told from the overflow.
    exporter = PrometheusExporter(max_models=2)
    for model in ("other", "\\other", "a", "b", "c"):
        exporter.record(bare_record(model=model))
    requests = parsed(exporter)["relaykit_requests"]
    total = "relaykit_requests_total"
    assert value(requests, total, gen_ai_request_model="\\other") == 1  # the real "other"
    assert value(requests, total, gen_ai_request_model="\\\\other") == 1  # the real "\other"
    assert value(requests, total, gen_ai_request_model="other") == 3  # a, b and c


def test_estimated_usage_stays_out_of_the_token_usage_histogram() -> None:
    # The GenAI conventions: an instrumentation that cannot get the vendor's counts
    # MUST NOT report gen_ai.client.token.usage (unless offline counting is opted
    # in). relaykit's estimates of a stream cut off before the vendor's usage came
    # went in with the vendor's own counts; they have a counter of their own now.
    from relaykit import Usage

    exporter = PrometheusExporter()
    exporter.record(bare_record(usage=Usage(100, 20)))
    exporter.record(bare_record(usage=Usage(1000, 200), usage_estimated=True))
    families = parsed(exporter)
    tokens = families["gen_ai_client_token_usage"]
    for kind, counted in (("input", 100), ("output", 20)):
        assert value(tokens, "gen_ai_client_token_usage_sum", gen_ai_token_type=kind) == counted
        assert value(tokens, "gen_ai_client_token_usage_count", gen_ai_token_type=kind) == 1
    estimated = families["relaykit_usage_estimated_tokens"]
    total = "relaykit_usage_estimated_tokens_total"
    assert value(estimated, total, gen_ai_token_type="input") == 1000
    assert value(estimated, total, gen_ai_token_type="output") == 200
    assert value(families["relaykit_requests"], "relaykit_requests_total") == 2


@pytest.mark.anyio
async def test_the_provider_label_is_the_conventions_and_a_named_table_has_its_own() -> None:
    # [providers.work] type = "anthropic" was labelled gen_ai_provider_name="work".
    # Series of a provider named after its type keep the labels they had (an empty
    # relaykit_provider is no label to Prometheus).
    config = {
        "storage": {"backend": "none"},
        "providers": {"work": {"type": "fake"}},
        "exporters": {"prometheus": {}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(genai_provider_name="anthropic")]) as c:
        await c.chat("work/m", "hi")
        await c.chat("fake/m", "hi")
        await c.chat("fake/m", "hi")
        (exporter,) = c.exporters
        assert isinstance(exporter, PrometheusExporter)
        families = parsed(exporter)
    requests, total = families["relaykit_requests"], "relaykit_requests_total"
    assert value(requests, total, gen_ai_provider_name="anthropic", relaykit_provider="work") == 1
    assert value(requests, total, gen_ai_provider_name="anthropic", relaykit_provider="") == 2
    # the deployments' breaker gauges are named alike
    breakers, state = families["relaykit_breaker_state"], "relaykit_breaker_state"
    assert value(breakers, state, gen_ai_provider_name="anthropic", relaykit_provider="work") == 0
    assert value(breakers, state, gen_ai_provider_name="anthropic", relaykit_provider="") == 0


@pytest.mark.anyio
async def test_genai_histograms_are_labelled_with_the_server_not_the_response_model() -> None:
    # server_address and server_port (one per configured provider: bounded by the
    # config) label the gen_ai.client.* histograms; gen_ai.response.model, which the
    # provider picks per answer, would multiply their series: left to OTLP and DogStatsD.
    fake = FakePlugin()
    fake.script.push(Reply(text="ok", input_tokens=7, output_tokens=2))
    config = {
        "storage": {"backend": "none"},
        "providers": {"fake": {"base_url": "http://llm.internal:8443/v1"}},
        "exporters": {"prometheus": {"port": 0}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/m", "hi")
        port = client.exporters[0].port  # type: ignore[attr-defined]
        families = await scrape(f"http://127.0.0.1:{port}/metrics")
    server = {"server_address": "llm.internal", "server_port": "8443"}
    tokens = families["gen_ai_client_token_usage"]
    assert value(tokens, "gen_ai_client_token_usage_sum", gen_ai_token_type="input", **server) == 7
    duration = families["gen_ai_client_operation_duration_seconds"]
    assert value(duration, "gen_ai_client_operation_duration_seconds_count", **server) == 1
    everything = [s for samples in families.values() for s in samples]
    assert not [s for s in everything if "gen_ai_response_model" in s.labels]
    # relaykit's own counters keep operation, provider and model
    (request,) = families["relaykit_requests"]
    assert "server_address" not in request.labels


@pytest.mark.anyio
async def test_a_streams_time_per_output_chunk_is_scraped() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="a" * 32, chunk_delay=0.05))  # four pieces: three after the first
    config = {"storage": {"backend": "none"}, "exporters": {"prometheus": {"port": 0}}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        async with client.stream("fake/m", "hi") as s:
            async for _ in s:
                pass
        port = client.exporters[0].port  # type: ignore[attr-defined]
        families = await scrape(f"http://127.0.0.1:{port}/metrics")
    name = "gen_ai_client_operation_time_per_output_chunk_seconds"
    samples = families[name]
    labels = {"gen_ai_provider_name": "fake", "gen_ai_request_model": "m"}
    assert value(samples, f"{name}_count", **labels) == 3
    assert value(samples, f"{name}_sum", **labels) >= 0.15  # each after the fake's delay
    assert value(samples, f"{name}_bucket", le="0.04", **labels) == 0
    buckets = sorted(float(s.labels["le"]) for s in samples if s.name.endswith("_bucket"))
    assert buckets[:-1] == list(metrics.DURATION_BUCKETS)
