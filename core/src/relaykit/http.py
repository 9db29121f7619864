"""The HTTP client interface providers talk to, and the transport errors it raises.

Every provider gets one :class:`HttpClient` from the core (``factory(settings,
http)``). The interface is the small part of ``httpx.AsyncClient`` providers
use, with the same names, so the default client *is* an ``httpx.AsyncClient``
(no wrapper, no cost), while a plugin answering ``relaykit_http_client`` can
supply a client that skips httpx altogether (relaykit-aiohttp does, under
asyncio). :func:`httpx_client` builds the default one.

What every implementation must do, so providers and the core behave the same
on each:

- honour :class:`HttpOptions`: pool limits, keep-alive expiry, the connect
  timeout (also bounding the wait for a pooled connection), verify servers
  with its ``ssl_context`` when it has one, send through the environment's
  proxies (by :mod:`relaykit.env_proxies`' rules) unless ``env_proxies`` is
  false, and run its ``header_hooks`` on each request's headers (W3C trace
  context rides on them);
- give a streamed request the stream's idle timeout as its read timeout when
  :func:`claim_stream_read_timeout` returns one;
- raise transport failures as the exceptions below (or httpx's own: the core
  maps both to :class:`relaykit.RequestTimeoutError`,
  :class:`relaykit.ProviderUnavailableError` and, for a server certificate
  that failed verification, :class:`relaykit.UntrustedCertificateError`);
- on cancellation or an exception, close the connection rather than reuse it,
  at once (not on the event loop's next turn, which a stopping loop never
  takes); a streamed response read to its end goes back to the pool;
- let a cancelled anyio scope stop every read of a body (the whole body of
  ``post``/``get``, ``aread``, ``aiter_bytes``) at its next chunk, however fast
  the body comes (docs/plugin-hooks.md says why; httpx_body.py does it for the
  default client).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

import attrs

from .env_proxies import EnvProxies, Proxy, environment_proxies
from .errors import ConfigError
from .http_exceptions import (
    CertificateError,
    ConnectError,
    ConnectTimeout,
    PoolTimeout,
    ProtocolError,
    ReadError,
    ReadTimeout,
    TransportError,
    TransportTimeout,
    WriteTimeout,
)
from .httpx_client import httpx_client
from .secrets import SecretHeaders
from .stream_read_timeout import claim_stream_read_timeout
from .transport_errors import (
    is_transport_error,
    may_have_acted,
    never_sent,
    transport_error,
    unsent,
)

if TYPE_CHECKING:
    import ssl

    from .known_secrets import KnownSecrets

__all__ = [
    "CertificateError",
    "ConnectError",
    "ConnectTimeout",
    "EnvProxies",
    "HeaderHook",
    "HttpClient",
    "HttpOptions",
    "HttpResponse",
    "HttpStreamResponse",
    "PoolTimeout",
    "ProtocolError",
    "Proxy",
    "ReadError",
    "ReadTimeout",
    "TransportError",
    "TransportTimeout",
    "WriteTimeout",
    "api_url",
    "base_url_credentials",
    "claim_stream_read_timeout",
    "environment_proxies",
    "has_url_credentials",
    "httpx_client",
    "is_transport_error",
    "may_have_acted",
    "never_sent",
    "transport_error",
    "unsent",
]

#: Called with each outgoing request's headers (mutable, case-insensitive or
#: lower-case keys) just before it is sent; may add or replace headers.
HeaderHook = Callable[[MutableMapping[str, str]], None]


@attrs.frozen
class HttpOptions:
    """What the core asks of each provider's HTTP client (from ``[http]`` and ``[timeouts]``).

    ``connect_timeout`` bounds opening a connection, writing a request (a wait
    for the server to take more of it: :class:`WriteTimeout`) and waiting for a
    free pooled connection; reads are unbounded except for a
    stream's idle timeout (:func:`claim_stream_read_timeout`), because the core
    enforces first-token and total timeouts itself. ``max_keepalive_connections``
    may have no counterpart in a client that keeps every idle connection up to
    ``max_connections``. ``ssl_context`` verifies servers' certificates
    (``[http] ca_file``'s, shared per file: see :func:`relaykit.tls.ca_file_context`);
    ``None`` leaves the client's default trust store. ``env_proxies`` sends
    through the proxies ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` name,
    except to ``NO_PROXY``'s hosts, as :func:`environment_proxies`
    reads them and :meth:`EnvProxies.for_url` decides
    (``[http] env_proxies``); ``False`` ignores them.
    """

    max_connections: int = 100
    max_keepalive_connections: int = 20
    keepalive_expiry: float = 30.0
    connect_timeout: float = 10.0
    header_hooks: tuple[HeaderHook, ...] = ()
    ssl_context: ssl.SSLContext | None = None
    env_proxies: bool = True


class HttpResponse(Protocol):
    """A whole response: ``httpx.Response`` satisfies it."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers; look-ups are case-insensitive."""
        ...

    @property
    def content(self) -> bytes:
        """The body."""
        ...


class HttpStreamResponse(HttpResponse, Protocol):
    """A response whose body is still on the wire (``content`` only after ``aread``)."""

    async def aread(self) -> bytes:
        """Read the rest of the body; ``content`` has it afterwards."""
        ...

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive (close it with ``contextlib.aclosing``)."""
        ...


class HttpClient(Protocol):
    """The pooled HTTP client a provider sends its requests with.

    ``httpx.AsyncClient`` satisfies it. Query strings go into ``url``; bodies are
    bytes the provider has already encoded.
    """

    async def post(
        self, url: str, *, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """Send a POST and read the whole response."""
        ...

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """Send a GET and read the whole response."""
        ...

    def stream(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[HttpStreamResponse]:
        """Send a request; the response's body streams inside the ``async with`` block.

        Leaving the block releases the connection: back to the pool when the body
        was read to its end, closed otherwise.
        """
        ...

    async def aclose(self) -> None:
        """Close every pooled connection."""
        ...


def api_url(base_url: str, path: str) -> str:
    """The URL of API ``path`` (``"chat/completions"``, ``"v1/models?limit=5"``) under
    ``base_url``, which may carry a query string.

    ``path`` goes after ``base_url``'s path (one ``/`` between them), before its
    query: ``https://host/openai/v1?api-version=2024-10-21`` and
    ``"chat/completions"`` make ``https://host/openai/v1/chat/completions?api-version=2024-10-21``.
    A query of ``path``'s own follows ``base_url``'s, after ``&``. A fragment
    (``#...``), never sent, is dropped. Nothing is decoded or re-encoded: the
    URL is sent (and signed, for SigV4) as written.
    """
    if "?" not in base_url and "#" not in base_url:
        return f"{base_url.rstrip('/')}/{path.lstrip('/')}"
    base, _, query = base_url.partition("#")[0].partition("?")
    path, _, own = path.partition("?")
    url = f"{base.rstrip('/')}/{path.lstrip('/')}"
    query = "&".join(q for q in (query, own) if q)
    return f"{url}?{query}" if query else url


def has_url_credentials(url: str) -> bool:
    """Whether ``url`` carries ``user:password@`` (or ``TOKEN@``): what a provider
    whose ``Authorization`` header is taken (an access token, a SigV4 signature)
    refuses, naming its option, rather than let httpx send them in its place. A URL
    that does not parse has none here: the HTTP client names what is wrong with it."""
    try:
        return urlsplit(url).username is not None
    except ValueError:
        return False


def base_url_credentials(
    base_url: str,
    headers: Mapping[str, str],
    *,
    where: str,
    known_secrets: KnownSecrets | None = None,
) -> tuple[str, dict[str, str]]:
    """``base_url`` without its ``user:password@``, and ``headers`` with them as
    ``Authorization: Basic``: what a provider sends, so that both HTTP clients see
    the same plain URL (httpx would let the URL's credentials replace an
    ``Authorization`` header; aiohttp refuses the pair on every request).

    The user and password are percent-decoded (``b%40b`` is ``b@b``); a user with
    no password (``https://TOKEN@host``) is sent as ``TOKEN:``, as curl does.
    The header's value is added to ``known_secrets``, masked wherever it shows.
    A ``base_url`` without credentials comes back as it is, with a copy of ``headers``.
    The headers come back as a :class:`~relaykit.secrets.SecretHeaders` (a ``dict``
    whose repr masks the values), so a provider holding them shows none in ``vars()``.

    :raises ConfigError: ``headers`` already has an ``Authorization`` (the provider's
        API key, or a configured header): a request carries one, so the message,
        which names ``where`` (``providers.NAME.base_url``), asks to keep either.
    """
    scheme, sep, rest = base_url.partition("://")
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            end = min(end, found)
    userinfo, at, host = rest[:end].rpartition("@")
    if not sep or not at:
        return base_url, SecretHeaders(headers)
    if any(name.lower() == "authorization" for name in headers):
        raise ConfigError(
            f"{where} carries credentials (user:password@) and the provider sends an"
            " Authorization header too (its API key, or [providers] headers); a request"
            " carries one",
            hint="remove user:password@ from base_url to send the API key or header, or"
            " remove the API key (api_key / api_key_env) or the Authorization header to"
            " send the URL's credentials as basic auth",
        )
    user, _, password = userinfo.partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode()
    value = "Basic " + base64.b64encode(pair).decode("ascii")
    if known_secrets is not None:
        known_secrets.add(value.removeprefix("Basic "))
    return f"{scheme}{sep}{host}{rest[end:]}", SecretHeaders({**headers, "authorization": value})
