"""relaykit-prometheus queues call records and adds them up in batches: nothing is lost or late."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import attrs
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import relaykit
from relaykit import metrics
from relaykit.gauge_events import BreakerState, QueueDepth
from relaykit.response import Usage
from relaykit.testing import FakePlugin, bare_record
from relaykit_prometheus import PrometheusExporter
from relaykit_prometheus.exporter import _BATCH

RECORD = bare_record(
    latency=0.5,
    usage=Usage(10, 2),
)


def requests_total(exporter: PrometheusExporter, model: str = "m") -> float:
    text = generate_latest(exporter.registry).decode()
    for family in text_string_to_metric_families(text):
        if family.name == "relaykit_requests":
            for sample in family.samples:
                labels = sample.labels
                if sample.name.endswith("_total") and labels["gen_ai_request_model"] == model:
                    return sample.value
    return 0.0


class EveryObservation(PrometheusExporter):
    """The exporter as it was: each observation of each event added as it comes."""

    def record(self, event: object) -> None:
        for obs in metrics.observe(event):
            self._bind(obs).add(obs.value)


def mixed_events() -> list[Any]:
    events: list[Any] = []
    for i in range(700):  # more than two batches, and a part of one
        events.append(
            attrs.evolve(
                RECORD,
                provider=("p", "gemini")[i % 2],
                model=f"m{i % 60}",  # past the model cap: some become "other"
                error_type=(None, None, "RateLimitError")[i % 3],
                latency=None if i % 11 == 0 else i / 50,
                usage=Usage(i % 7 * 100, i % 4),
                streamed=i % 2 == 0,
                time_to_first_token=i / 1000 if i % 5 else None,
                attempts=1 + i % 3,
                fallbacks=i % 4 // 3,
                cache_hit=i % 9 == 0,
                cost=Decimal(i) / 10_000 if i % 4 else None,
            )
        )
        if i % 50 == 0:
            events.append(QueueDepth(i))
        if i % 120 == 0:
            events.append(BreakerState("p", f"m{i}", "open"))
    return events


def test_the_exposition_is_what_adding_each_observation_gives() -> None:
    queued, reference = PrometheusExporter(), EveryObservation()
    for event in mixed_events():
        queued.record(event)
        reference.record(event)
    assert generate_latest(queued.registry) == generate_latest(reference.registry)


def test_a_scrape_sees_every_call_recorded_before_it() -> None:
    exporter = PrometheusExporter()
    for n in (1, _BATCH - 1, _BATCH, _BATCH + 1, 3 * _BATCH + 7):
        for _ in range(n):
            exporter.record(RECORD)
        assert requests_total(exporter) == n
        exporter = PrometheusExporter()


@pytest.mark.anyio
async def test_flush_and_aclose_add_up_what_is_queued() -> None:
    exporter = PrometheusExporter()
    for _ in range(5):
        exporter.record(RECORD)
    assert len(exporter._pending) == 5  # below a batch: queued
    await exporter.flush()
    assert not exporter._pending
    for _ in range(3):
        exporter.record(RECORD)
    await exporter.aclose()
    assert not exporter._pending
    assert requests_total(exporter) == 8


def test_the_queue_stays_bounded() -> None:
    exporter = PrometheusExporter()
    for _ in range(10 * _BATCH):
        exporter.record(RECORD)
        assert len(exporter._pending) < _BATCH


def test_scrapes_from_another_thread_while_calls_are_recorded() -> None:
    # A scrape runs on the metrics server's thread while the event loop records:
    # each sees at least every call recorded before it began, and none is lost.
    exporter = PrometheusExporter()
    total = 20 * _BATCH + 3
    recorded = 0
    stop = threading.Event()
    seen: list[tuple[int, float]] = []
    failures: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                before = recorded
                seen.append((before, requests_total(exporter)))
        except BaseException as e:  # pragma: no cover - reported below
            failures.append(e)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for _ in range(total):
            exporter.record(RECORD)
            recorded += 1
    finally:
        stop.set()
        scraper.join()
    assert not failures
    assert seen  # the scraper did scrape meanwhile
    assert all(before <= scraped <= total for before, scraped in seen)
    assert [scraped for _, scraped in seen] == sorted(scraped for _, scraped in seen)
    assert requests_total(exporter) == total


@pytest.mark.anyio
async def test_a_clients_calls_are_all_counted_when_it_closes() -> None:
    config = {"storage": {"backend": "none"}, "exporters": {"prometheus": {}}}
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        for i in range(_BATCH + 5):
            await client.chat("fake/m", f"hi {i}")
        (exporter,) = client.exporters
        assert isinstance(exporter, PrometheusExporter)
    assert not exporter._pending
    assert requests_total(exporter) == _BATCH + 5
