"""A long request model reaches every metric exporter cut to 256 characters, whichever
path carries it: a call's record (a fallback's deployment, a stream), a breaker gauge.

Spans keep the full model id (``gen_ai.request.model``, ``gen_ai.response.model``) by
design; metric attributes, StatsD tags and Prometheus labels are series keys, held on
every scrape or datagram, and cut (``relaykit.metrics.MAX_VALUE_LENGTH``). The response
model is no metric attribute at all.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import relaykit
from relaykit import metrics
from relaykit.gauge_events import BreakerState
from relaykit.testing import FakePlugin, Reply
from relaykit_otlp.testing import Collector, attrs_of

LONG = "m" * 5000


@pytest.mark.anyio
@pytest.mark.parametrize("tags", [True, False])
async def test_every_exporter_cuts_the_request_model(tags: bool) -> None:
    cap = metrics.MAX_VALUE_LENGTH
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.3)
    with Collector() as collector, receiver:
        statsd = {"port": receiver.getsockname()[1], "tags": tags, "max_packet": 60000}
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "models": {"g": {"targets": [f"a/{LONG}", f"b/{LONG}x"]}},
            "exporters": {"statsd": statsd, "prometheus": {}, "otlp": {"endpoint": collector.url}},
        }
        first, fallback = FakePlugin("a"), FakePlugin("b")
        first.script.push(Reply.failure(503, "down"))
        async with relaykit.Client(config, plugins=[first, fallback]) as client:
            assert (await client.chat("g", "hi")).provider == "b"
            async with client.stream(f"b/{LONG}", "hi") as stream:
                async for _ in stream:
                    pass
            for exporter in client.exporters:
                exporter.record(BreakerState("a", LONG, "open"))
            (prometheus,) = [e for e in client.exporters if "Prometheus" in type(e).__name__]
            registry = CollectorRegistry()
            registry.register(prometheus)  # type: ignore[arg-type]  # a prometheus Collector
            page = generate_latest(registry).decode()
        lines: list[str] = []
        try:
            while True:
                lines += receiver.recv(65536).decode().split("\n")
        except TimeoutError:
            pass
    # Prometheus: every model label value (the fallback's, the stream's, the gauge's)
    labels = [
        line.split('gen_ai_request_model="')[1].split('"')[0]
        for line in page.splitlines()
        if 'gen_ai_request_model="' in line
    ]
    assert labels and {len(label) for label in labels} == {cap}
    assert any("relaykit_breaker_state" in line for line in page.splitlines() if "mmm" in line)
    # StatsD: every line names the model, cut (a tag, or a part of the name)
    named = [line for line in lines if "mmm" in line]
    assert named and all(LONG[:cap] not in line for line in named)
    # (with tags the gen_ai.client.* histograms' response model too: the fake answers
    # with the model it was asked for, cut alike)
    assert all(
        line.count("m" * (cap - 1)) == (2 if tags and "gen_ai.client" in line else 1)
        for line in named
    )
    assert any("breaker" in line for line in named)
    # OTLP: every data point's string attributes
    values = [
        value
        for request in collector.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        for kind in ("sum", "histogram", "gauge")
        if metric.HasField(kind)
        for point in getattr(metric, kind).data_points
        for value in attrs_of(point.attributes).values()
        if isinstance(value, str) and value.startswith("mmm")
    ]
    assert values and {len(value) for value in values} == {cap}
