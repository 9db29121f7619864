"""Send relaykit's metric observations as StatsD lines over a non-blocking UDP socket.

``record`` runs on the request path, so it must never wait: each event's lines
(formatted from parts worked out once per metric and attribute set, a call
record's straight through :class:`relaykit.metrics.CallFold`) go out as one
datagram (split at ``max_packet`` bytes) through a non-blocking socket. When
the OS cannot take a datagram right now (its buffer is full, or nothing
listens and it reports the port unreachable) the datagram is dropped and
:attr:`StatsdExporter.dropped` counts it: metrics are best-effort, calls
are not.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from relaykit import CallRecord, ConfigError, metrics
from relaykit.plugin_options import whole_number

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_TAG_UNSAFE = re.compile(r"[,|#\s]")

_WHERE = "exporters.statsd"


def _tag_name(attribute: str) -> str:
    return attribute.replace(".", "_")


def metric_name(prefix: str, name: str) -> str:
    """``name`` under ``prefix``, which a name that already starts with it does not get twice:
    ``relaykit.gen_ai.client.operation.duration``, but ``relaykit.requests``."""
    if not prefix or name == prefix or name.startswith(prefix + "."):
        return name
    return f"{prefix}.{name}"


def format_lines(obs: metrics.Observation, prefix: str, tags: bool) -> str:
    """One StatsD line for ``obs``.

    Durations in seconds become timers in milliseconds (``|ms``), other
    histograms DogStatsD's ``|h`` with ``tags`` and timers (``|ms``, their values
    as they are) without: plain StatsD has no histogram type, and its reference
    daemon counts a line of a type it does not know, summing what should be a
    distribution. Counters are ``|c``, gauges ``|g``. With ``tags`` the
    attributes are DogStatsD tags (``|#gen_ai_provider_name:openai``); without,
    their values are appended to the name, which plain StatsD can aggregate.
    """
    instrument = obs.instrument
    name = metric_name(prefix, instrument.name)
    value = obs.value
    if instrument.kind == "histogram":
        kind = "ms" if instrument.unit == "s" or not tags else "h"
        if instrument.unit == "s":
            value *= 1000.0
    else:
        kind = "c" if instrument.kind == "counter" else "g"
    number = _number(value)
    if tags:
        line = f"{name}:{number}|{kind}"
        if obs.attributes:
            line += "|#" + ",".join(
                f"{_tag_name(k)}:{_TAG_UNSAFE.sub('_', v)}" for k, v in obs.attributes
            )
        return line
    parts = [_UNSAFE.sub("_", v.replace(".", "_")) for _, v in obs.attributes if v]
    return f"{'.'.join([name, *parts])}:{number}|{kind}"


class _Lines:
    """:func:`format_lines`, with what depends only on the instrument and attributes
    worked out once per pair.

    Names and tags are the same few call after call; escaping them took two
    regular-expression passes per attribute, most of what a line cost. Only the
    number is formatted per observation.
    """

    def __init__(self, prefix: str, tags: bool, max_pairs: int = 4096) -> None:
        self._prefix = prefix
        self._tags = tags
        self._max_pairs = max_pairs
        #: (instrument name, attributes) -> (text before the number, text after it,
        #: whether the value is seconds sent as milliseconds)
        self._parts: dict[tuple[str, metrics.Attributes], tuple[str, str, bool]] = {}

    def __call__(self, obs: metrics.Observation) -> str:
        """The line :func:`format_lines` makes of ``obs``."""
        parts = self._parts.get((obs.instrument.name, obs.attributes))
        if parts is None:
            parts = self.parts(obs.instrument, obs.attributes)
        head, tail, milliseconds = parts
        return f"{head}{_number(obs.value * 1000.0 if milliseconds else obs.value)}{tail}"

    def parts(
        self, instrument: metrics.Instrument, attributes: metrics.Attributes
    ) -> tuple[str, str, bool]:
        """The text before a line's number, after it, and whether the value is
        seconds sent as milliseconds."""
        found = self._parts.get((instrument.name, attributes))
        if found is not None:
            return found
        # format_lines, but for the number: a test holds the two alike.
        prefix = self._prefix
        name = metric_name(prefix, instrument.name)
        seconds = instrument.unit == "s"
        if instrument.kind == "histogram":
            kind = "ms" if seconds or not self._tags else "h"  # see format_lines
        else:
            kind = "c" if instrument.kind == "counter" else "g"
        if self._tags:
            head, tail = f"{name}:", f"|{kind}"
            if attributes:
                tail += "|#" + ",".join(
                    f"{_tag_name(k)}:{_TAG_UNSAFE.sub('_', v)}" for k, v in attributes
                )
        else:
            names = [_UNSAFE.sub("_", v.replace(".", "_")) for _, v in attributes if v]
            head, tail = f"{'.'.join([name, *names])}:", f"|{kind}"
        if len(self._parts) >= self._max_pairs:
            self._parts.clear()  # model names come from callers: stay bounded
        parts = self._parts[(instrument.name, attributes)] = (head, tail, kind == "ms" and seconds)
        return parts


def _number(value: float) -> str:
    """A value as format_lines writes it: an integer without a point, else every digit
    its float has, never an exponent.

    Not rounded to a few decimals: a cost of $4e-7 (an embedding of a few hundred
    tokens) became 0, and such calls' spend never reached the counter. Not in
    exponent notation either (``repr`` gives ``4e-07``), which not every StatsD
    server parses.
    """
    if value % 1.0 == 0.0:  # False for inf and nan, as for 2.5
        return str(int(value))
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text else text


class _LineSink:
    """A call's series, for :class:`relaykit.metrics.CallFold`: it adds a value's
    line to the lines of the call being sent."""

    __slots__ = ("head", "lines", "milliseconds", "tail")

    def __init__(self, parts: tuple[str, str, bool], lines: list[str]) -> None:
        self.head, self.tail, self.milliseconds = parts
        self.lines = lines

    def add(self, value: float) -> None:
        if self.milliseconds:
            value *= 1000.0
        self.lines.append(f"{self.head}{_number(value)}{self.tail}")


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
        if _UNSAFE.search(prefix):
            # ":" ends a name, "|" a value, "#" starts tags, a newline a line: every
            # line would be read as something else, or dropped
            raise ConfigError(
                f"exporters.statsd.prefix {prefix!r} holds characters a StatsD name cannot",
                hint="use letters, digits, '_', '-' and '.' only",
            )
        self.prefix = prefix.rstrip(".")
        self.tags = tags
        self.max_packet = max_packet
        #: datagrams the OS would not take (full buffer, unreachable port)
        self.dropped = 0
        self.sent = 0
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # an IPv6 address as a URL writes it: [::1]
        try:
            # Resolve once here: a DNS lookup per datagram would block the event loop.
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except OSError as e:
            raise ConfigError(
                f"cannot resolve the StatsD host {host!r}: {e}",
                hint="check [exporters.statsd] host",
            ) from None
        self._line = _Lines(self.prefix, tags)
        #: the lines of the call record being sent (see record)
        self._call_lines: list[str] = []
        self._provider_names: metrics.ProviderNames | None = None
        self._calls = self._fold()
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.connect(address)
        except OSError as e:
            # (an IPv6 host without IPv6 here, a broadcast address): no exporter,
            # so nothing else would close the socket
            self._sock.close()
            raise ConfigError(
                f"cannot send StatsD datagrams to {host}:{port}: {e.strerror or e}",
                hint="check [exporters.statsd] host and port",
            ) from None

    def _fold(self) -> metrics.CallFold:
        return metrics.CallFold(
            lambda instrument, attributes: _LineSink(
                self._line.parts(instrument, attributes), self._call_lines
            ),
            provider_names=self._provider_names,
        )

    def use_provider_names(self, names: metrics.ProviderNames) -> None:
        """Name providers as the client does (``[providers.work] type = "anthropic"``:
        ``gen_ai.provider.name`` ``anthropic``, ``relaykit.provider`` ``work``);
        called once by the client as it is built."""
        self._provider_names = names
        self._calls = self._fold()

    def record(self, event: object) -> None:
        """Send the lines for one call record or gauge event: one datagram, never waiting."""
        if type(event) is CallRecord:
            # Straight from the record, in observe's order (see CallFold): the
            # series append their lines to _call_lines.
            out = self._call_lines
            self._calls.add((event,))
            lines = out.copy()
            out.clear()
        else:
            lines = [*map(self._line, metrics.observe(event, self._provider_names))]
        packet: list[str] = []
        size = 0
        for line in lines:
            # max_packet is bytes: a tag in another script takes 2-4 per character
            # (isascii() reads a flag CPython keeps: no pass over the line)
            length = len(line) if line.isascii() else len(line.encode())
            if packet and size + 1 + length > self.max_packet:
                self._send("\n".join(packet))
                packet, size = [], 0
            packet.append(line)
            size += length + (1 if size else 0)
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
        port=whole_number(conf, "port", 8125, where=_WHERE, high=65535),
        prefix=str(conf.get("prefix", "relaykit")),
        tags=bool(conf.get("tags", False)),
        max_packet=whole_number(conf, "max_packet", 1432, where=_WHERE, low=1),
    )
