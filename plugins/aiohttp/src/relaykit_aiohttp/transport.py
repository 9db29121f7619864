"""An httpx transport that sends requests through an aiohttp connection pool (asyncio only).

httpx keeps doing everything above the wire (headers, cookies, redirects, content
decoding, event hooks, relaykit's error mapping); this class only moves bytes.
aiohttp's pool hands out an idle connection in O(1), where httpcore's scans every
pooled connection per queued request, and its C HTTP parser reads responses with
less Python per chunk.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
import sniffio
from yarl import URL

#: environment variables that make httpx (trust_env=True) use a proxy: when one is
#: set, aiohttp reads them too, at a small cost per request
_PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests with an aiohttp ``ClientSession``; asyncio only.

    The session and its ``TCPConnector`` are made on the first request, inside the
    running loop. ``max_connections`` bounds open connections (0: no bound) and
    ``keepalive_expiry`` is how long an idle connection is kept. aiohttp keeps
    every idle connection up to ``max_connections``, so httpx's
    ``max_keepalive_connections`` has no counterpart here.

    Timeouts come from each request's ``extensions["timeout"]``, as httpx sets
    them: ``connect`` bounds opening the TCP (and TLS) connection, ``pool`` waiting
    for a free connection, ``read`` each wait for response bytes (head or body).
    A request body is handed to the kernel in one write, so ``write`` is not
    enforced apart from the others.
    """

    def __init__(self, *, max_connections: int = 100, keepalive_expiry: float = 30.0) -> None:
        self._limit = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[
            tuple[float | None, float | None, float | None], aiohttp.ClientTimeout
        ] = {}
        #: requests holding or waiting for a connection: tells a pool wait from a connect
        self._busy = 0
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the transport was closed")
        library = sniffio.current_async_library()
        if library != "asyncio":
            raise RuntimeError(
                f"relaykit-aiohttp's transport runs under asyncio only, not {library}: "
                "build the client inside the event loop it is used in"
            )
        connector = aiohttp.TCPConnector(
            limit=self._limit, limit_per_host=0, keepalive_timeout=self._keepalive_expiry
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # httpx decodes content, keeps cookies and follows redirects itself
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            trust_env=any(os.environ.get(name) for name in _PROXY_ENV),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        t = request.extensions.get("timeout") or {}
        connect, read, pool = t.get("connect"), t.get("read"), t.get("pool")
        key = (connect, read, pool)
        timeout = self._timeouts.get(key)
        if timeout is None:
            # aiohttp's `connect` covers waiting for the pool and connecting
            wait = None if pool is None or connect is None else pool + connect
            timeout = aiohttp.ClientTimeout(
                total=None, connect=wait, sock_connect=connect, sock_read=read
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the response's body streams from the connection."""
        session = self._session or self._open()
        body = (
            request.content
            if isinstance(request.stream, httpx.ByteStream)
            else await request.aread()
        )
        pooled = self._limit > 0 and self._busy >= self._limit
        self._busy += 1
        try:
            with _mapped(pooled):
                response = await session.request(
                    request.method,
                    URL(str(request.url), encoded=True),
                    headers=request.headers.multi_items(),
                    data=body or None,
                    allow_redirects=False,
                    timeout=self._timeout(request),
                )
        except BaseException:  # cancelled too: aiohttp has closed the connection
            self._busy -= 1
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, self),
            extensions={
                "http_version": b"HTTP/%d.%d" % tuple(response.version or (1, 1)),
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def aclose(self) -> None:
        """Close the session and every connection in its pool."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _ResponseStream(httpx.AsyncByteStream):
    """aiohttp's body chunks as they arrive; closing releases (or drops) the connection."""

    def __init__(self, response: aiohttp.ClientResponse, transport: AiohttpTransport) -> None:
        self._response = response
        self._transport: AiohttpTransport | None = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        with _mapped(False):
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk

    async def aclose(self) -> None:
        transport, self._transport = self._transport, None
        if transport is None:
            return
        transport._busy -= 1
        response = self._response
        if response.content.is_eof():
            response.release()  # read to the end: the connection goes back to the pool
        else:
            response.close()  # walked away mid-body: the connection cannot be reused


@contextmanager
def _mapped(pooled: bool) -> Iterator[None]:
    """Raise aiohttp's failures as the httpx exceptions relaykit maps to its own errors."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as e:
        raise (httpx.PoolTimeout if pooled else httpx.ConnectTimeout)(str(e) or "timed out") from e
    except aiohttp.SocketTimeoutError as e:
        raise httpx.ReadTimeout(str(e) or "timed out reading") from e
    except aiohttp.ServerTimeoutError as e:
        raise httpx.TimeoutException(str(e) or "timed out") from e
    except aiohttp.ClientConnectorError as e:
        raise httpx.ConnectError(str(e)) from e
    except aiohttp.ServerDisconnectedError as e:
        raise httpx.RemoteProtocolError(str(e) or "server disconnected") from e
    except aiohttp.ClientPayloadError as e:
        raise httpx.RemoteProtocolError(str(e)) from e
    except aiohttp.ClientResponseError as e:  # a malformed status line or headers
        raise httpx.RemoteProtocolError(str(e)) from e
    except aiohttp.ClientOSError as e:
        raise httpx.ReadError(str(e)) from e
    except aiohttp.ClientError as e:
        raise httpx.TransportError(str(e)) from e
    except TimeoutError as e:
        raise httpx.TimeoutException("timed out") from e
