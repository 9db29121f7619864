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
    gc.collect()  # what earlier tests left unclosed warns now, not below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(ConfigError, match="Network is unreachable") as refused:
            StatsdExporter(host="127.0.0.1", port=8125)
        monkeypatch.setattr(socket.socket, "connect", real_connect)
        assert "[exporters.statsd] host" in (refused.value.hint or "")
        assert [sock.fileno() for sock in made] == [-1]
        made.clear()
        gc.collect()
    # a UDP socket's warning: one of ours (another test's garbage, a file or a TCP
    # socket collected here, failed this under nox -s lowest)
    assert [w for w in caught if issubclass(w.category, ResourceWarning) and _udp(w.source)] == []


def _udp(source: object) -> bool:
    """Whether a warning's ``source`` is a UDP socket, as StatsdExporter makes."""
    return isinstance(source, socket.socket) and source.type == socket.SOCK_DGRAM
