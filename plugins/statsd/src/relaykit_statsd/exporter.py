"""Send relaykit's metric observations as StatsD lines over a non-blocking UDP socket.

``record`` runs on the request path, so it must never wait: each event's lines
go out as one datagram (split at ``max_packet`` bytes) through a non-blocking
socket. When the OS cannot take a datagram right now (its buffer is full, or
nothing listens and it reports the port unreachable) the datagram is dropped
and :attr:`StatsdExporter.dropped` counts it: metrics are best-effort, calls
are not.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from typing import Any

from relaykit import ConfigError, metrics

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_TAG_UNSAFE = re.compile(r"[,|#\s]")


def _tag_name(attribute: str) -> str:
    return attribute.replace(".", "_")


def format_lines(obs: metrics.Observation, prefix: str, tags: bool) -> str:
    """One StatsD line for ``obs``.

    Durations in seconds become timers in milliseconds (``|ms``), other
    histograms ``|h``, counters ``|c`` and gauges ``|g``. With ``tags`` the
    attributes are DogStatsD tags (``|#gen_ai_provider_name:openai``); without,
    their values are appended to the name, which plain StatsD can aggregate.
    """
    instrument = obs.instrument
    name = f"{prefix}.{instrument.name}" if prefix else instrument.name
    value = obs.value
    if instrument.kind == "histogram":
        kind = "ms" if instrument.unit == "s" else "h"
        if kind == "ms":
            value *= 1000.0
    else:
        kind = "c" if instrument.kind == "counter" else "g"
    number = f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if tags:
        line = f"{name}:{number}|{kind}"
        if obs.attributes:
            line += "|#" + ",".join(
                f"{_tag_name(k)}:{_TAG_UNSAFE.sub('_', v)}" for k, v in obs.attributes
            )
        return line
    parts = [_UNSAFE.sub("_", v.replace(".", "_")) for _, v in obs.attributes if v]
    return f"{'.'.join([name, *parts])}:{number}|{kind}"


class StatsdExporter:
    """A relaykit exporter sending StatsD lines over UDP without ever blocking."""

    #: Only metrics are taken from records: the client leaves messages and
    #: answers out of them (and so does not spend time redacting them).
    needs_content = False

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8125,
        prefix: str = "relaykit",
        tags: bool = False,
        max_packet: int = 1432,
    ) -> None:
        self.prefix = prefix.rstrip(".")
        self.tags = tags
        self.max_packet = max_packet
        #: datagrams the OS would not take (full buffer, unreachable port)
        self.dropped = 0
        self.sent = 0
        try:
            # Resolve once here: a DNS lookup per datagram would block the event loop.
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except OSError as e:
            raise ConfigError(
                f"cannot resolve the StatsD host {host!r}: {e}",
                hint="check [exporters.statsd] host",
            ) from None
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._sock.connect(address)

    def record(self, event: object) -> None:
        """Send the lines for one call record or gauge event: one datagram, never waiting."""
        lines = [format_lines(obs, self.prefix, self.tags) for obs in metrics.observe(event)]
        packet: list[str] = []
        size = 0
        for line in lines:
            if packet and size + 1 + len(line) > self.max_packet:
                self._send("\n".join(packet))
                packet, size = [], 0
            packet.append(line)
            size += len(line) + (1 if size else 0)
        if packet:
            self._send("\n".join(packet))

    def _send(self, payload: str) -> None:
        try:
            self._sock.send(payload.encode())
            self.sent += 1
        except OSError:  # BlockingIOError, ConnectionRefusedError, ...
            self.dropped += 1

    async def flush(self) -> None:
        """Nothing is buffered: every event is sent when it is recorded."""

    def close(self) -> None:
        """Close the socket (what :meth:`aclose` does, for code without an event loop)."""
        self._sock.close()

    async def aclose(self) -> None:
        """Close the socket."""
        self.close()


def from_config(conf: Mapping[str, Any]) -> StatsdExporter:
    """Build the exporter from ``[exporters.statsd]``; unknown keys are errors."""
    valid = ("host", "port", "prefix", "tags", "max_packet")
    for key in conf:
        if key not in valid:
            raise ConfigError(
                f"unknown config key exporters.statsd.{key!r}",
                hint=f"valid keys: {', '.join(valid)}",
            )
    return StatsdExporter(
        host=str(conf.get("host", "127.0.0.1")),
        port=int(conf.get("port", 8125)),
        prefix=str(conf.get("prefix", "relaykit")),
        tags=bool(conf.get("tags", False)),
        max_packet=int(conf.get("max_packet", 1432)),
    )
