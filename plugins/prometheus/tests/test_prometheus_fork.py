"""An exporter serving metrics, forked (gunicorn --preload, multiprocessing): the child
counts its own calls, closes without waiting for a server thread it does not have, and
leaves the parent's server serving."""

from __future__ import annotations

import anyio
import httpx
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from relaykit.testing import bare_record
from relaykit.testing.forking import in_forked_child, needs_fork
from relaykit_prometheus import PrometheusExporter

CALLS = "relaykit_requests"


def calls_counted(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == CALLS:
            return sum(s.value for s in family.samples if s.name == f"{CALLS}_total")
    raise AssertionError(f"no {CALLS} in the exposition")


def scraped(exporter: PrometheusExporter) -> str:
    return generate_latest(exporter.registry).decode()


@needs_fork
def test_a_forked_child_counts_its_own_calls_and_closes_without_hanging() -> None:
    exporter = PrometheusExporter(port=0)
    port = exporter.port
    exporter.record(bare_record())
    exporter.record(bare_record())

    def child() -> None:
        exporter.record(bare_record())
        anyio.run(exporter.aclose)  # it shut the server down: waited for a thread not here
        assert exporter.port is None  # the port is the parent's, served by the parent
        assert calls_counted(scraped(exporter)) == 1  # not the parent's two as well

    in_forked_child(child)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert calls_counted(text) == 2  # the parent's server still serves the parent's calls
    anyio.run(exporter.aclose)
