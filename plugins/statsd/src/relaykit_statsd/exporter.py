"""Send relaykit's metric observations as StatsD lines over a non-blocking UDP socket.

``record`` runs on the request path, so it must never wait: each event's lines
(formatted from parts worked out once per metric and attribute set, a call
record's straight through :class:`relaykit.metrics.CallFold`) go out as one
datagram (split at ``max_packet`` bytes) through a non-blocking socket. When
the OS cannot take a datagram right now (its buffer is full, or nothing
listens and it reports the port unreachable) the datagram is dropped and
:attr:`StatsdExporter.dropped` counts it: metrics are best-effort, calls
are not.

A host name is resolved when the exporter is built, then again every
``resolve_interval`` seconds (60 by default) and at once (at most every
second) when the OS says nothing listens at the address: a StatsD sidecar
restarted under Kubernetes comes back at another address, and datagrams to the
old one were lost for as long as the process ran (UDP has no connection to
break; datadogpy and pystatsd resolve once too). Each lookup runs on a thread
of its own, never on the event loop (``getaddrinfo`` blocks, for seconds when
DNS is slow); ``record`` only compares the time. A lookup that fails keeps the
address it had. An IP address is never looked up again.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from relaykit import CallRecord, ConfigError, metrics
from relaykit.fork_safety import after_fork_in_child
from relaykit.plugin_options import seconds, whole_number

log = logging.getLogger("relaykit.statsd")

#: ``socket.getaddrinfo``'s signature, as far as the exporter calls it
Resolver = Callable[..., list[tuple[Any, ...]]]
#: the least time between two lookups the OS's refusals start
_REFUSED_RESOLVE_GAP = 1.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_TAG_UNSAFE = re.compile(r"[,|#\s]")

_WHERE = "exporters.statsd"


#: attributes plain StatsD (``tags = false``) leaves out of a name: appended, they
#: would rename every gen_ai.client.* series a dashboard reads (a name's parts are
#: read by position), and a response model would multiply the names; DogStatsD
#: tags carry them
PLAIN_LEFT_OUT = frozenset({"gen_ai.response.model", *metrics.SERVER_ATTRIBUTES})


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
    parts = [
        _UNSAFE.sub("_", v.replace(".", "_"))
        for k, v in obs.attributes
        if v and k not in PLAIN_LEFT_OUT
    ]
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
            names = [
                _UNSAFE.sub("_", v.replace(".", "_"))
                for k, v in attributes
                if v and k not in PLAIN_LEFT_OUT
            ]
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


class _Packed:
    """One DogStatsD line of several values of one series (protocol v1.1:
    ``name:v1:v2:v3|ms|#tags``), for :class:`_PackingSink`; split into lines
    within ``max_packet`` bytes when the call's datagrams are made."""

    __slots__ = ("head", "tail", "values")

    def __init__(self, head: str, tail: str, value: str) -> None:
        self.head, self.tail = head, tail
        self.values = [value]

    def lines(self, max_packet: int) -> list[str]:
        """The values in as few lines as fit ``max_packet`` bytes each (a line
        that cannot fit even one value carries one, as an unpacked line would)."""
        head, tail, values = self.head, self.tail, self.values
        if len(values) == 1:
            return [f"{head}{values[0]}{tail}"]
        room = max_packet - len(head.encode()) - len(tail.encode())
        out: list[str] = []
        start, size = 0, -1  # size: the values' bytes with their ":" separators
        for i, value in enumerate(values):  # numbers: ASCII, a byte a character
            grown = size + 1 + len(value)
            if i > start and grown > room:
                out.append(f"{head}{':'.join(values[start:i])}{tail}")
                start, grown = i, len(value)
            size = grown
        out.append(f"{head}{':'.join(values[start:])}{tail}")
        return out


class _PackingSink:
    """A histogram's series for :class:`relaykit.metrics.CallFold` with DogStatsD
    value packing: the values one call adds in a row (a stream's chunk gaps)
    share one :class:`_Packed` line instead of a line each. A lone value (most
    series, most calls) stays a plain line, as cheap as :class:`_LineSink`'s."""

    __slots__ = ("head", "last", "lines", "milliseconds", "number", "packed", "tail")

    def __init__(
        self, parts: tuple[str, str, bool], lines: list[Any], packed: list[_Packed]
    ) -> None:
        self.head, self.tail, self.milliseconds = parts
        self.lines = lines
        #: where the call's packed lines are noted (record() expands them)
        self.packed = packed
        #: the line this series added last (a str, or a _Packed once it had two)
        self.last: str | _Packed | None = None
        self.number = ""  # the value of ``last`` while it is a str

    def add(self, value: float) -> None:
        if self.milliseconds:
            value *= 1000.0
        number = _number(value)
        lines, last = self.lines, self.last
        # This series' last line is still the call's last: one more value of it.
        # (Every line is a new object this sink holds, so identity tells.)
        if last is not None and lines and lines[-1] is last:
            if type(last) is _Packed:
                last.values.append(number)
            else:
                packed = _Packed(self.head, self.tail, self.number)
                packed.values.append(number)
                self.last = lines[-1] = packed
                self.packed.append(packed)
        else:
            self.last = line = f"{self.head}{number}{self.tail}"
            self.number = number
            lines.append(line)


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
        resolve_interval: float = 60.0,
        resolver: Resolver | None = None,
        pack_values: bool = True,
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
        #: DogStatsD (``tags``) only: a call's values of one histogram series (a
        #: stream's chunk gaps) in one line, ``name:v1:v2|ms|#tags`` (protocol v1.1)
        self.pack_values = tags and pack_values
        self.max_packet = max_packet
        #: datagrams the OS would not take (full buffer, unreachable port)
        self.dropped = 0
        self.sent = 0
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # an IPv6 address as a URL writes it: [::1]
        self._host, self._port = host, port
        self._resolver: Resolver = resolver or socket.getaddrinfo
        #: times the host was looked up again and answered another address
        self.re_resolved = 0
        try:
            # Resolved here, at build time; later lookups run off the event loop.
            family, _, _, _, address = self._resolve()
        except OSError as e:
            raise ConfigError(
                f"cannot resolve the StatsD host {host!r}: {e}",
                hint="check [exporters.statsd] host",
            ) from None
        self._address = address
        #: seconds between lookups of a host name; 0: never looked up again
        self.resolve_interval = 0.0 if _is_ip(host) else resolve_interval
        #: (monotonic) when the next lookup is due; inf: never
        self._resolve_at = (
            time.monotonic() + self.resolve_interval if self.resolve_interval else float("inf")
        )
        self._resolving = threading.Lock()  # held while a lookup runs: one at a time
        self._closed = False
        self._last_lookup = time.monotonic()
        self._lookup_failing = False
        self._line = _Lines(self.prefix, tags)
        #: the lines of the call record being sent (see record): packed ones
        #: (_Packed) with pack_values, each also in _call_packed
        self._call_lines: list[Any] = []
        self._call_packed: list[_Packed] = []
        self._provider_names: metrics.ProviderNames | None = None
        self._calls = self._fold()
        try:
            self._sock = _connected(family, address)
        except OSError as e:
            raise ConfigError(
                f"cannot send StatsD datagrams to {host}:{port}: {e.strerror or e}",
                hint="check [exporters.statsd] host and port",
            ) from None
        after_fork_in_child(self, StatsdExporter._forget_lookup)

    def _forget_lookup(self) -> None:
        """In a forked child: a lookup the parent ran is not running here (its thread
        was not copied), and its lock would stay held, barring every lookup."""
        self._resolving = threading.Lock()

    def _resolve(self) -> tuple[Any, ...]:
        """The host's first datagram address (``getaddrinfo``'s tuple); blocks."""
        return self._resolver(self._host, self._port, type=socket.SOCK_DGRAM)[0]

    def _look_up_soon(self) -> None:
        """Look the host up again on a thread of its own, unless a lookup runs now."""
        if self._closed or not self._resolving.acquire(blocking=False):
            return
        self._last_lookup = now = time.monotonic()
        self._resolve_at = now + self.resolve_interval
        try:
            threading.Thread(
                target=self._look_up, name="relaykit-statsd-resolve", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had (interpreter shutting down)
            self._resolving.release()

    def _look_up(self) -> None:
        """On the lookup's thread: resolve the host, and send to its new address, if any."""
        try:
            try:
                family, _, _, _, address = self._resolve()
            except OSError as e:
                if not self._lookup_failing:  # once per failing streak, not per interval
                    log.warning(
                        "cannot resolve the StatsD host %r (%s): sending to %s as before",
                        self._host,
                        e,
                        self._address[0],
                    )
                self._lookup_failing = True
                return
            self._lookup_failing = False
            if address == self._address:
                return
            try:
                sock = _connected(family, address)
            except OSError as e:
                log.warning("cannot send StatsD datagrams to %s: %s", address[0], e.strerror or e)
                return
            old, self._sock, self._address = self._sock, sock, address
            self.re_resolved += 1
            log.info("the StatsD host %r now resolves to %s", self._host, address[0])
            # A send on the event loop between the swap and this close used the new
            # socket; one that still holds the old gets EBADF: counted as dropped.
            old.close()
            if self._closed:
                sock.close()
        finally:
            self._resolving.release()

    def _fold(self) -> metrics.CallFold:
        return metrics.CallFold(self._sink, provider_names=self._provider_names)

    def _sink(
        self, instrument: metrics.Instrument, attributes: metrics.Attributes
    ) -> _LineSink | _PackingSink:
        parts = self._line.parts(instrument, attributes)
        # Only a histogram gets several values from one call (a stream's chunk
        # gaps); a counter's or gauge's single value stays a plain line.
        if self.pack_values and instrument.kind == "histogram":
            return _PackingSink(parts, self._call_lines, self._call_packed)
        return _LineSink(parts, self._call_lines)

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
            if self._call_packed:  # values packed (DogStatsD): each as lines of max_packet
                lines = []
                for line in out:
                    if type(line) is _Packed:
                        lines += line.lines(self.max_packet)
                    else:
                        lines.append(line)
                self._call_packed.clear()
            else:
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
        if time.monotonic() >= self._resolve_at:
            self._look_up_soon()
        try:
            self._sock.send(payload.encode())
            self.sent += 1
        except ConnectionRefusedError:
            # Nothing listens there (the port unreachable): the server may have
            # moved; a lookup tells (at most every second, however many are refused).
            self.dropped += 1
            if (
                self.resolve_interval
                and time.monotonic() - self._last_lookup >= _REFUSED_RESOLVE_GAP
            ):
                self._look_up_soon()
        except OSError:  # BlockingIOError, ...
            self.dropped += 1

    async def flush(self) -> None:
        """Nothing is buffered: every event is sent when it is recorded."""

    def close(self) -> None:
        """Close the socket (what :meth:`aclose` does, for code without an event loop)."""
        self._closed = True
        self._sock.close()

    async def aclose(self) -> None:
        """Close the socket."""
        self.close()


def _is_ip(host: str) -> bool:
    """Whether ``host`` is an IP address (which no lookup changes), not a name."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])  # fe80::1%eth0: a scoped address
    except ValueError:
        return False
    return True


def _connected(family: int, address: tuple[Any, ...]) -> socket.socket:
    """A non-blocking datagram socket connected to ``address``; closed if it cannot be."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(address)
    except OSError:
        # (an IPv6 host without IPv6 here, a broadcast address): nothing else would close it
        sock.close()
        raise
    return sock


def from_config(conf: Mapping[str, Any]) -> StatsdExporter:
    """Build the exporter from ``[exporters.statsd]``; unknown keys are errors."""
    valid = ("host", "port", "prefix", "tags", "max_packet", "resolve_interval", "pack_values")
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
        resolve_interval=_resolve_interval(conf),
        pack_values=_pack_values(conf),
    )


def _pack_values(conf: Mapping[str, Any]) -> bool:
    """``pack_values``: true (the default) or false."""
    raw = conf.get("pack_values", True)
    if not isinstance(raw, bool):
        raise ConfigError(
            f"exporters.statsd.pack_values must be true or false, not {raw!r}",
            hint="pack_values = false sends one value a line, for a DogStatsD server"
            " older than protocol v1.1 (Datadog Agent 6.25 / 7.25)",
        )
    return raw


def _resolve_interval(conf: Mapping[str, Any]) -> float:
    """``resolve_interval``: seconds above 0, or 0 (never look the host up again)."""
    raw = conf.get("resolve_interval", 60.0)
    if raw == 0 and not isinstance(raw, bool):
        return 0.0
    return seconds(conf, "resolve_interval", 60.0, where=_WHERE)
