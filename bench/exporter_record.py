"""What each metrics exporter's ``record`` costs per call record, in process.

    uv run python bench/exporter_record.py            # ~30 seconds
    uv run python bench/exporter_record.py --quick    # a smoke run

To measure another version (say, before a change), put its sources first::

    git archive <commit> core/src plugins | tar -x -C /tmp/before
    PYTHONPATH=$(ls -d /tmp/before/core/src /tmp/before/plugins/*/src | paste -sd:) \\
        uv run python bench/exporter_record.py

µs of CPU (``time.thread_time``) per ``exporter.record(record)`` over the mix
of call records ``bench/otlp_metrics.py`` uses (successes, streams, a cache
hit, a retry, a failure, a fallback, across four models), median of
alternating rounds. A queueing exporter (Prometheus) adds up its queue within
the round, so the number includes that. StatsD sends to a bound UDP socket
that is never read: once its buffer is full, datagrams are dropped, which
costs the exporter about what a sent one does. OTLP: metrics only, with the
periodic export an hour away (its last export, at the end, goes to an
in-process receiver, not timed).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from otlp_metrics import accept, call_records

import relaykit
from relaykit.testing import LoopbackServer


def record_round(exporter: Any, records: list[relaykit.CallRecord], n: int) -> float:
    """CPU µs per ``exporter.record`` over ``n`` calls."""
    record = exporter.record
    todo = (records * (n // len(records) + 1))[:n]
    start = time.thread_time()
    for r in todo:
        record(r)
    return (time.thread_time() - start) / n * 1e6


def exporters(udp_port: int, otlp_url: str) -> dict[str, Callable[[], Any]]:
    from relaykit_otlp import OtlpExporter
    from relaykit_prometheus import PrometheusExporter
    from relaykit_statsd import StatsdExporter

    return {
        "prometheus": PrometheusExporter,
        "statsd": lambda: StatsdExporter(port=udp_port),
        "statsd (tags)": lambda: StatsdExporter(port=udp_port, tags=True),
        "otlp": lambda: OtlpExporter(endpoint=otlp_url, traces=False, export_interval=3600),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = parser.parse_args(argv)
    n, rounds = (2_000, 3) if args.quick else (20_000, 7)
    records = call_records()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        LoopbackServer(accept) as otlp_receiver,
    ):
        sink.bind(("127.0.0.1", 0))
        made = {
            name: make()
            for name, make in exporters(sink.getsockname()[1], otlp_receiver.url).items()
        }
        for exporter in made.values():
            record_round(exporter, records, 1000)  # warm-up: every attribute set seen once
        samples: dict[str, list[float]] = {name: [] for name in made}
        for _ in range(rounds):  # alternating, so a change of load hits all alike
            for name, exporter in made.items():
                samples[name].append(record_round(exporter, records, n))
        for exporter in made.values():
            anyio.run(exporter.aclose)
    print(f"exporter.record, CPU µs per call record ({n} x {rounds} rounds, median [min..max]):")
    for name, values in samples.items():
        print(
            f"  {name:<14} {statistics.median(values):7.2f}  [{min(values):.2f}..{max(values):.2f}]"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
