"""A StatsD address the socket cannot be connected to (an IPv6 host on a machine
without IPv6, a broadcast address) is a ``ConfigError`` naming the host, and the
socket made for it is closed (before, it was reported at garbage collection)."""

from __future__ import annotations

import errno
import gc
import socket
import warnings

import pytest

from relaykit import ConfigError
from relaykit_statsd import StatsdExporter


def test_a_socket_that_cannot_connect_is_closed_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[socket.socket] = []
    real_connect = socket.socket.connect

    def unreachable(self: socket.socket, address: object) -> None:
        made.append(self)
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", unreachable)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(ConfigError, match="Network is unreachable") as refused:
            StatsdExporter(host="127.0.0.1", port=8125)
        monkeypatch.setattr(socket.socket, "connect", real_connect)
        assert "[exporters.statsd] host" in (refused.value.hint or "")
        assert [sock.fileno() for sock in made] == [-1]
        made.clear()
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
