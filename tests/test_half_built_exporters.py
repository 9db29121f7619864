"""The shipped exporters, when the client they were made for fails to construct.

StatsD opens a UDP socket, Prometheus (with a ``port``) a server thread holding
the port, OTLP its export threads: each was left open by a ``ConfigError`` later
in ``Client(...)``, the socket reported at garbage collection (an error under
``-W error``), the threads and the port held until the process ended.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import hookimpl


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serves(port: int) -> bool:
    with closing(socket.socket()) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def nothing_left_open() -> Iterator[None]:
    """Fail if the block leaves a thread running or garbage collection reports an
    unclosed resource (what ``-W error::ResourceWarning`` turns into an error)."""
    before = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
    # a stopped thread may take a moment to leave the list
    deadline = time.monotonic() + 5
    while (left := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not left


def exporters(prometheus_port: int) -> dict[str, Any]:
    return {
        "statsd": {"port": 9},  # the discard port: nothing needs to listen
        "prometheus": {"port": prometheus_port},
        # a closed port: an export would fail; none is due
        "otlp": {"endpoint": f"http://127.0.0.1:{free_port()}"},
    }


class FailingExporters:
    """An exporter plugin registered after the shipped ones, whose hook raises."""

    @hookimpl
    def relaykit_exporters(self, config: Any) -> Any:
        raise RuntimeError("this exporter's agent is not configured")


def test_a_prometheus_port_in_use_leaves_no_statsd_socket_open() -> None:
    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = {"storage": {"backend": "none"}, "exporters": exporters(port)}
        with nothing_left_open(), pytest.raises(relaykit.ConfigError, match="pick a free"):
            relaykit.Client(config)


def test_a_storage_config_error_starts_no_exporter() -> None:
    port = free_port()
    config = {"storage": {"backend": "nowhere"}, "exporters": exporters(port)}
    with nothing_left_open(), pytest.raises(relaykit.ConfigError, match="no plugin provides"):
        relaykit.Client(config)
    assert not serves(port)


def test_an_exporter_plugin_failing_closes_the_shipped_exporters_made_before() -> None:
    port = free_port()
    config = {"storage": {"backend": "none"}, "exporters": exporters(port)}
    config["exporters"]["otlp"]["timeout"] = 60  # an export would wait this long
    with nothing_left_open(), pytest.raises(relaykit.ConfigError, match="not configured"):
        started = time.monotonic()
        try:
            relaykit.Client(config, plugins=[FailingExporters()])
        finally:
            took = time.monotonic() - started
    assert not serves(port)
    # closing sends nothing (nothing was recorded): no wait on the OTLP endpoint (a
    # closed port refuses at once; the bound is loose for a loaded machine)
    assert took < 20
