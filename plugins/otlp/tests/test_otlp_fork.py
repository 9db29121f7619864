"""An OTLP exporter built before ``fork()``: the child exports on connections of its own.

The SDK exporters pool keep-alive connections in a ``requests`` session; a
child that sent on its parent's pooled socket while the parent did would mix
two requests on one connection.
"""

from __future__ import annotations

import time

from relaykit.testing import bare_record
from relaykit.testing.forking import in_forked_child, needs_fork
from relaykit_otlp import OtlpExporter
from relaykit_otlp.testing import Collector

pytestmark = needs_fork


def export_one(exporter: OtlpExporter, name: str) -> None:
    """End one span and send it, with the metrics, now (blocking)."""
    assert exporter.tracer_provider is not None
    exporter.tracer_provider.get_tracer("test").start_span(name).end()
    exporter.record(bare_record())
    exporter._force_flush()


def test_a_forked_child_exports_on_connections_of_its_own() -> None:
    with Collector() as collector:
        exporter = OtlpExporter(endpoint=collector.url, export_interval=3600)
        export_one(exporter, "parent")
        opened = collector.server.stats.connections_opened
        assert opened >= 1  # kept alive in the session's pools

        in_forked_child(lambda: export_one(exporter, "child"))

        deadline = time.monotonic() + 2
        while len(collector.spans()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(s.name for s in collector.spans()) == ["child", "parent"]
        # the child's exports (a span, then metrics) came on connections of its own
        assert collector.server.stats.connections_opened > opened
        before = collector.server.stats.connections_opened
        export_one(exporter, "parent again")  # the parent's own pooled connection still works
        assert collector.server.stats.connections_opened == before
        assert len(collector.spans()) == 3
        exporter.tracer_provider.shutdown()  # type: ignore[union-attr]
        assert exporter.meter_provider is not None
        exporter.meter_provider.shutdown()
