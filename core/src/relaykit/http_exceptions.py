"""The transport failures an HTTP client raises (see :mod:`relaykit.http`).

The core maps them, like httpx's own, to relaykit errors
(:mod:`relaykit.transport_errors`).
"""

from __future__ import annotations


class TransportError(Exception):
    """The request did not get a complete HTTP response (not an HTTP error status)."""


class TransportTimeout(TransportError):
    """A transport-level timeout."""


class ConnectTimeout(TransportTimeout):
    """Opening the connection (TCP, TLS) took longer than the connect timeout."""


class PoolTimeout(TransportTimeout):
    """Every pooled connection stayed busy for longer than the connect timeout."""


class ReadTimeout(TransportTimeout):
    """No bytes arrived within the read timeout (a stream's idle timeout)."""


class WriteTimeout(TransportTimeout):
    """The server took no more of the request for longer than the write timeout
    (``connect_timeout``: see :class:`relaykit.http.HttpOptions`)."""


class ConnectError(TransportError):
    """The connection could not be opened (refused, unreachable, DNS failure)."""


class CertificateError(ConnectError):
    """The server's TLS certificate failed verification: an unknown CA, another host name,
    expired. The message says which; no request was sent."""


class ReadError(TransportError):
    """The connection failed while sending or receiving (reset, broken pipe)."""


class ProtocolError(TransportError):
    """The server broke HTTP: garbage, a truncated body, a disconnect mid-response."""
