"""An OTLP exporter whose construction fails after its span export thread started
stops that thread: nothing else could (the client never got the exporter)."""

from __future__ import annotations

import threading

import pytest

import relaykit_otlp.exporter
from relaykit_otlp import OtlpExporter


def test_a_failure_after_the_span_thread_started_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("this SDK's MeterProvider takes other arguments")

    monkeypatch.setattr(relaykit_otlp.exporter, "MeterProvider", refuse)
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="MeterProvider"):
        OtlpExporter(endpoint="http://127.0.0.1:9")
    started = set(threading.enumerate()) - before
    assert not [thread for thread in started if thread.is_alive()]
