"""relaykit's HTTP client interface over an aiohttp connection pool (asyncio only).

Providers call it exactly as they call the default ``httpx.AsyncClient``
(:class:`relaykit.http.HttpClient`), but no httpx object is built per request:
aiohttp's pool hands out an idle connection in O(1), its C parser reads the
response, and the body reaches the provider as bytes. That layer of httpx
(request and response models, URL parsing, event hooks) cost about as much
client CPU as everything else relaykit does per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import sys
from collections.abc import AsyncGenerator, Coroutine, Mapping
from contextlib import aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import aiohttp.payload
import sniffio
from anyio.lowlevel import checkpoint_if_cancelled
from yarl import URL

from relaykit.http import (
    CertificateError,
    ConnectError,
    ConnectTimeout,
    EnvProxies,
    HttpOptions,
    PoolTimeout,
    ProtocolError,
    Proxy,
    ReadError,
    ReadTimeout,
    TransportError,
    TransportTimeout,
    WriteTimeout,
    claim_stream_read_timeout,
    environment_proxies,
)

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.client_reqrep import ConnectionKey
    from multidict import CIMultiDictProxy

#: (scheme, host, port) proxy routes a client remembers; the rest are decided per request
_ROUTES_KEPT = 256
#: session.request's proxy arguments for a request sent directly
_DIRECT: Mapping[str, Any] = {}
#: parsed URLs kept per client: providers send to a handful of URLs, over and over
_URL_CACHE_SIZE = 256
#: what aiohttp raises for a failed exchange (asyncio's TimeoutError is the builtin)
_FAILURES = (aiohttp.ClientError, TimeoutError)
#: the header aiohttp adds to a body (or a POST) whose type the request does not state
_NO_CONTENT_TYPE = ("Content-Type",)
#: the idle timer fails a wait this much early rather than re-arm for a sliver
_TIMER_SLACK = 0.001
#: a streamed body's chunks read between two cancellation checks (a power of two:
#: the test is a mask); a cancelled read stops within that many (see aiter_bytes)
CHECK_EVERY = 16
#: a body up to this size goes as bytes: aiohttp's writer hands it to the socket
#: whole and waits on no drain (its own LIMIT), so no write can stall on it. A larger
#: one goes as a _TimedBody, in chunks of this size
_UNTIMED_BODY = 2**16
#: the longest status line or header line read: httpx's bound on a whole head
#: (httpcore's h11 max_incomplete_event_size), so that an answer one client reads the
#: other does too; aiohttp's own, 8190 bytes, refused a header httpx read
_HEAD_LINE_LIMIT = 100 * 1024
#: the most header lines read (aiohttp 3.14's own bound is 128, which an answer
#: through a chatty proxy passed: "Too many headers received"). httpx counts none,
#: bounding the head at 100 KiB; aiohttp bounds each line alone, so the count bounds
#: the head: this many lines of 25 bytes fill httpx's 100 KiB
MAX_HEADERS = 4096
#: the session's parser limits: max_headers is new in aiohttp 3.14 (3.13 counts none)
_PARSER_LIMITS: Mapping[str, Any] = {
    "max_line_size": _HEAD_LINE_LIMIT,
    "max_field_size": _HEAD_LINE_LIMIT,
    **(
        {"max_headers": MAX_HEADERS}
        if "max_headers" in inspect.signature(aiohttp.ClientSession).parameters
        else {}
    ),
}


class AiohttpClient:
    """Send providers' requests with an aiohttp ``ClientSession``; asyncio only.

    Satisfies :class:`relaykit.http.HttpClient` and honours
    :class:`relaykit.http.HttpOptions`: ``max_connections`` bounds open
    connections (0: no bound), ``keepalive_expiry`` is how long an idle
    connection is kept, ``connect_timeout`` bounds connecting and, on top of
    that, waiting for a free pooled connection, ``ssl_context`` (when set)
    verifies servers, and ``header_hooks`` run on a copy of each request's
    headers. aiohttp keeps every idle connection up to
    ``max_connections``, so ``max_keepalive_connections`` has no counterpart.
    Reads are unbounded except a stream's idle timeout
    (:func:`relaykit.http.claim_stream_read_timeout`); writing a body larger
    than 64 KiB is bounded by the connect timeout, as httpx bounds it (each
    wait for the server to take more: :class:`relaykit.http.WriteTimeout`).
    Cookies are not kept.

    The session and its connector are made on the first request, inside the
    running loop. Failures raise the transport errors of :mod:`relaykit.http`.
    """

    def __init__(self, options: HttpOptions | None = None) -> None:
        options = options or HttpOptions()
        self._limit = options.max_connections
        self._keepalive_expiry = options.keepalive_expiry
        self._hooks = options.header_hooks
        self._ssl_context = options.ssl_context
        connect = options.connect_timeout
        #: as httpx's: the connect timeout bounds writing the request (HttpOptions)
        self._write_timeout = connect
        #: aiohttp's `connect` covers waiting for the pool and connecting, `sock_connect`
        #: connecting alone: a pool wait gets the connect timeout on top of its own
        self._connect = connect
        self._timeout = aiohttp.ClientTimeout(total=None, connect=2 * connect, sock_connect=connect)
        self._read_timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}
        self._session: aiohttp.ClientSession | None = None
        #: requests holding or waiting for a connection: tells a pool wait from a connect
        self._busy = 0
        self._closed = False
        #: the responses whose bodies are being read (a streamed one's block is open,
        #: or post() or get() reads it whole): closing the client fails their
        #: reads (aiohttp's own close would leave a pending one waiting for ever)
        self._reading: set[aiohttp.ClientResponse] = set()
        #: the environment's proxies, read now (as httpx's client reads them), with
        #: relaykit's rules rather than aiohttp's trust_env (which skips ALL_PROXY and
        #: looks each request's proxy up in a worker thread)
        self._proxies: EnvProxies | None = environment_proxies() if options.env_proxies else None
        self._routes: dict[tuple[str, str, int | None], Proxy | None] = {}

    def __repr__(self) -> str:
        return f"AiohttpClient(max_connections={self._limit}, busy={self._busy})"

    # -- HttpClient ------------------------------------------------------------

    # post and get hand back _send's coroutine rather than awaiting it in one of
    # their own: a frame less for the event loop to resume at every network wait.

    def post(
        self, url: str, *, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, Response]:
        """Send a POST and read the whole response (``await`` it)."""
        return self._send("POST", url, content, headers)

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, Response]:
        """Send a GET and read the whole response (``await`` it)."""
        return self._send("GET", url, None, headers)

    def stream(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> StreamedRequest:
        """Send a request; its body streams inside ``async with`` (see :class:`StreamedRequest`)."""
        return StreamedRequest(self, method, url, content, headers)

    async def aclose(self) -> None:
        """Close the session and every connection in its pool.

        A body still being read (streamed, or by ``post()`` or ``get()``) fails
        with :class:`relaykit.http.ReadError` (closing the session alone leaves
        such a read waiting for bytes that never come, until its idle timeout, if
        it has one).
        """
        self._closed = True
        reading, self._reading = self._reading, set()
        for response in reading:
            response.content.set_exception(aiohttp.ClientOSError("the client closed"))
            response.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- the exchange ----------------------------------------------------------

    async def _send(
        self, method: str, url: str, content: bytes | None, headers: Mapping[str, str] | None
    ) -> Response:
        session = self._session or self._open()
        headers = self._headers(headers)
        pooled = self._limit > 0 and self._busy >= self._limit
        target = self._url(url)
        proxy_kw = _DIRECT
        if self._proxies is not None:
            headers, proxy_kw = self._proxied(target, headers)
        self._busy += 1
        try:
            response = await session.request(
                method,
                target,
                skip_auto_headers=_skip_auto_headers(headers),
                data=self._body(content),
                allow_redirects=False,
                timeout=self._timeout,
                headers=headers,
                **proxy_kw,
            )
            reader = response.content
            self._reading.add(response)
            try:
                # as aiohttp's read(): the body is kept whole anyway, so no pausing
                # the socket at a buffer's high-water mark, no cap on decompression
                _whole_body(reader)
                body = await reader.readany()  # a small body: all of it, at once
                if not reader.at_eof():
                    body = await _read_rest(reader, body)
            except _FAILURES as e:
                failure = _body_failure(e, response)
                response.close()  # as below
                raise failure from e
            except BaseException:
                # the rest of the body is unread: the connection is never reused.
                # (Read to its end, aiohttp put it back in the pool: its end-of-body
                # callback releases the connection.)
                response.close()
                raise
            finally:
                self._reading.discard(response)
        except _FAILURES as e:
            raise _mapped(e, pooled) from e
        except RuntimeError as e:
            if not _closed_under_read(e):
                raise
            raise _closed_error() from e
        finally:
            self._busy -= 1
        return Response(response.status, response.headers, body)

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the HTTP client was closed")
        library = sniffio.current_async_library()
        if library != "asyncio":
            raise RuntimeError(
                f"relaykit-aiohttp's client runs under asyncio only, not {library}: "
                "build the client inside the event loop it is used in"
            )
        connector = _Connector(
            limit=self._limit,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            # [http] ca_file's shared context, else aiohttp's default (the system's CAs)
            ssl=self._ssl_context if self._ssl_context is not None else True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # LLM APIs authenticate with headers; a cookie jar costs per request
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # proxies: see _proxy; netrc: LLM APIs take keys in headers
            timeout=self._timeout,
            **_PARSER_LIMITS,
        )
        return self._session

    def _body(self, content: bytes | None) -> bytes | _TimedBody | None:
        """``content`` as aiohttp takes it: a large body as a :class:`_TimedBody`."""
        if content is not None and len(content) > _UNTIMED_BODY:
            return _TimedBody(content, self._write_timeout)
        return content

    def _url(self, url: str) -> URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = URL(url, encoded=True)  # sent as the provider built it (SigV4 signs it)
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[url] = parsed
        return parsed

    def _proxied(
        self, url: URL, headers: Mapping[str, str] | None
    ) -> tuple[Mapping[str, str] | None, Mapping[str, Any]]:
        """A request's headers and ``session.request``'s proxy arguments for ``url``:
        through the environment's proxy for it, if any, else directly.

        The proxy's credentials go in its ``CONNECT`` for an ``https://`` URL
        (aiohttp's ``proxy_headers``), else in the request itself, which the proxy
        reads and drops: aiohttp puts ``proxy_headers`` on a ``CONNECT`` only, and its
        ``proxy_auth``, which would do both, is deprecated.
        """
        assert self._proxies is not None
        key = (url.scheme, url.host or "", url.port)
        try:
            proxy = self._routes[key]
        except KeyError:
            proxy = self._proxies.for_url(*key)
            if len(self._routes) < _ROUTES_KEPT:
                self._routes[key] = proxy
        if proxy is None:
            return headers, _DIRECT
        if proxy.authorization is None:
            return headers, {"proxy": proxy.url}
        if url.scheme == "https":
            auth = {"Proxy-Authorization": proxy.authorization}
            return headers, {"proxy": proxy.url, "proxy_headers": auth}
        return {**(headers or {}), "Proxy-Authorization": proxy.authorization}, {"proxy": proxy.url}

    def _headers(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        if not self._hooks:
            return headers
        out = dict(headers or {})  # the hooks must not change the provider's own dict
        for hook in self._hooks:
            hook(out)
        return out

    def _read_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._read_timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=2 * self._connect, sock_connect=self._connect, sock_read=seconds
            )
            if len(self._read_timeouts) < 16:
                self._read_timeouts[seconds] = timeout
        return timeout


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector, except that a connection it closes while in use ends at once.

    asyncio's ``transport.close()`` sends nothing itself: it closes the socket in a
    callback on the loop's next turn. A loop that stopped first (a ``SyncClient``'s
    loop thread ending, ``asyncio.run`` returning) left the socket to the garbage
    collector, and the server went on making the answer, or writing a body, for a
    client that had gone. So such a connection's socket is shut down first, which
    sends the FIN now: a response closed before its body's end (a stream left
    mid-way, a read failed or cancelled, the client closed), a request failed or
    cancelled before its head came. Under TLS that is the raw socket's FIN, with no
    close_notify: right for an exchange abandoned mid-way, which the server must
    not take for a clean end. A connection put back in the pool is left alone.

    aiohttp closes an in-use connection through ``_release(..., should_close=True)``
    (``Connection.close()``), a private method, the same in aiohttp 3.13 and 3.14:
    tests/test_leaving_a_body.py fails if that changes.
    """

    def _release(
        self, key: ConnectionKey, protocol: ResponseHandler, *, should_close: bool = False
    ) -> None:
        if should_close:
            transport = protocol.transport
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                # OSError: the server went first (ENOTCONN), or the socket is gone
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        super()._release(key, protocol, should_close=should_close)


def _skip_auto_headers(headers: Mapping[str, str] | None) -> tuple[str, ...] | None:
    """What aiohttp must not add to a request with these headers: no ``Content-Type``.

    Bodies are bytes whose type the provider states, or none; aiohttp would add
    ``application/octet-stream`` to one (or to any POST) that does not state it.
    Saying so costs aiohttp a multidict per request, and when the headers have a
    ``Content-Type`` (nearly always) it adds none anyway: then say nothing.
    """
    if headers is not None and (
        "content-type" in headers
        or "Content-Type" in headers
        or any(name.lower() == "content-type" for name in headers)
    ):
        return None
    return _NO_CONTENT_TYPE


class Response:
    """A whole response: status, case-insensitive headers and the body."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: CIMultiDictProxy[str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


class StreamedRequest:
    """``async with client.stream(...) as r``: sends on entry, releases the connection on exit.

    Leaving the block after the body was read to its end puts the connection back
    in the pool; leaving it earlier (an error, a cancellation, a caller that
    stopped reading) closes it.
    """

    __slots__ = ("_client", "_content", "_headers", "_method", "_response", "_streamed", "_url")

    def __init__(
        self,
        client: AiohttpClient,
        method: str,
        url: str,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        self._client = client
        self._method = method
        self._url = url
        self._content = content
        self._headers = headers
        self._response: aiohttp.ClientResponse | None = None
        self._streamed: StreamResponse | None = None

    async def __aenter__(self) -> StreamResponse:
        client = self._client
        session = client._session or client._open()
        read = claim_stream_read_timeout()
        timeout = client._timeout if read is None else client._read_timeout(read)
        pooled = client._limit > 0 and client._busy >= client._limit
        headers = client._headers(self._headers)
        target = client._url(self._url)
        proxy_kw = _DIRECT
        if client._proxies is not None:
            headers, proxy_kw = client._proxied(target, headers)
        client._busy += 1
        try:
            response = await session.request(
                self._method,
                target,
                skip_auto_headers=_skip_auto_headers(headers),
                data=client._body(self._content),
                allow_redirects=False,
                timeout=timeout,
                headers=headers,
                **proxy_kw,
            )
        except BaseException as e:  # cancelled too: aiohttp has closed the connection
            client._busy -= 1
            if isinstance(e, _FAILURES):
                raise _mapped(e, pooled) from e
            raise
        self._response = response
        client._reading.add(response)
        if read is not None:
            # The head is in. aiohttp's sock_read re-arms a timer on every network
            # read; the body's reads are timed by one timer per response instead
            # (see StreamResponse), so switch it off for the rest of this request.
            connection = response.connection
            if connection is not None and connection.protocol is not None:
                connection.protocol.read_timeout = None
                connection.protocol.start_timeout()  # drops the armed timer
        self._streamed = StreamResponse(response, read)
        return self._streamed

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        response, self._response = self._response, None
        if response is None:
            return
        self._client._busy -= 1
        self._client._reading.discard(response)
        if self._streamed is not None:
            self._streamed._stop_idle_timer()
        if response.content.is_eof():
            # read to the end (an error status's body too): back to the pool
            response.release()
        else:
            response.close()  # left mid-body: the connection cannot be reused


class StreamResponse:
    """A response whose body is read with ``aread()`` or ``aiter_bytes()``.

    With a read timeout (the stream's idle timeout), a wait for body bytes fails
    with :class:`relaykit.http.ReadTimeout` once it has lasted that long. One
    timer per response enforces it, however many reads there are: each read only
    notes when it started waiting, and the timer, when it fires, either fails
    the wait that has lasted too long or moves itself to when the current wait
    would (see :meth:`_on_idle_timer`).
    """

    __slots__ = (
        "_content",
        "_idle",
        "_response",
        "_timer",
        "_waiting_since",
        "headers",
        "status_code",
    )

    def __init__(self, response: aiohttp.ClientResponse, read_timeout: float | None = None) -> None:
        self._response = response
        self.status_code = response.status
        self.headers = response.headers
        self._content: bytes | None = None
        self._idle = read_timeout
        self._timer: asyncio.TimerHandle | None = None
        #: loop time at which the pending read began waiting; None: no read pending
        self._waiting_since: float | None = None

    def __repr__(self) -> str:
        return f"<StreamResponse [{self.status_code}]>"

    @property
    def content(self) -> bytes:
        """The body, once ``aread()`` has read it."""
        if self._content is None:
            raise RuntimeError("the body was not read: call `await response.aread()` first")
        return self._content

    def at_eof(self) -> bool:
        """Whether the whole body has arrived: leaving the block then keeps the connection."""
        return self._response.content.is_eof()

    async def aread(self) -> bytes:
        """Read the rest of the body.

        It is read as :meth:`aiter_bytes` reads it: a cancelled anyio scope takes
        effect within :data:`CHECK_EVERY` chunks, and the idle timeout times each
        wait for bytes. A read that fails or is cancelled closes the response, so
        what is left of the body is never read on later as if it were all of it.
        """
        if self._content is None:
            # as aiohttp's read(): no pausing the socket, no cap on decompression
            _whole_body(self._response.content)
            chunks: list[bytes] = []
            try:
                async with aclosing(self.aiter_bytes()) as body:
                    async for chunk in body:
                        chunks.append(chunk)
            except BaseException:
                self._response.close()
                raise
            self._content = b"".join(chunks)
        return self._content

    async def aiter_bytes(self) -> AsyncGenerator[bytes, None]:
        """The body's chunks as they arrive.

        Every :data:`CHECK_EVERY`-th chunk is a point where a cancelled anyio scope
        around the reader takes effect, however fast the body comes.
        """
        content = self._response.content
        loop = self._start_idle_timer()
        # anyio's asyncio backend (CancelScope._deliver_cancellation, 4.16) cancels a
        # task only while the future it waits on is pending, else tries again on the
        # loop's next turn. A body that arrives at every turn (a fast upstream, read by
        # a task that never blocks otherwise: the gateway writing to a caller who hung
        # up) wakes each readany() wait in the turn it starts, so at every try the wait
        # is already over: the cancellation never landed and the whole body was read.
        # checkpoint_if_cancelled() waits on no future once a scope is cancelled, where
        # anyio's next try lands; ~12 k instructions when none is, so every few chunks.
        read = 0
        try:
            if loop is None:
                while True:
                    chunk = await content.readany()
                    read += 1
                    if not read & (CHECK_EVERY - 1):
                        await checkpoint_if_cancelled()
                    if not chunk:
                        return
                    yield chunk
            else:
                time = loop.time
                while True:
                    self._waiting_since = time()
                    chunk = await content.readany()
                    self._waiting_since = None
                    read += 1
                    if not read & (CHECK_EVERY - 1):
                        await checkpoint_if_cancelled()
                    if not chunk:
                        return
                    yield chunk
        except _FAILURES as e:
            failure = _body_failure(e, self._response)
            # Bytes the server sent before its connection broke are delivered, as
            # httpx does; not when the failure is our own close cutting the read
            # (a client closed under a reader stops it, whatever is buffered).
            if isinstance(failure, ReadError):
                arrived = _unread(content)
                if arrived:
                    yield arrived
            raise failure from e
        except RuntimeError as e:
            if not _closed_under_read(e):
                raise
            raise _closed_error() from e
        finally:
            self._waiting_since = None

    # -- the idle timer --------------------------------------------------------

    def _start_idle_timer(self) -> asyncio.AbstractEventLoop | None:
        """Arm the response's one idle timer (once); the loop, or None without a timeout."""
        if self._idle is None:
            return None
        loop = asyncio.get_running_loop()
        if self._timer is None:
            self._timer = loop.call_at(loop.time() + self._idle, self._on_idle_timer, loop)
        return loop

    def _stop_idle_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._idle = None  # a response is timed once: left, it stays untimed

    def _on_idle_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        idle = self._idle
        if idle is None or self._response.closed:
            return
        since = self._waiting_since
        now = loop.time()
        if since is None:
            # no read waiting (the caller holds a chunk): a wait starts no earlier than now
            when = now + idle
        elif now - since >= idle - _TIMER_SLACK:
            # set_exception wakes the waiting read with it, as aiohttp's sock_read does
            self._response.content.set_exception(
                aiohttp.SocketTimeoutError("Timeout on reading data from socket")
            )
            return
        else:
            when = since + idle
        self._timer = loop.call_at(when, self._on_idle_timer, loop)


def _whole_body(reader: aiohttp.StreamReader) -> None:
    """Read ``reader`` as aiohttp's ``read()`` does: its buffer limits raised, as
    aiohttp 3.14 raises them (no pausing the socket at a high-water mark, no cap on
    decompression). aiohttp 3.13, the oldest supported, has neither, nor the method."""
    raise_limits = getattr(reader, "set_read_chunk_size", None)
    if raise_limits is not None:
        raise_limits(sys.maxsize)


async def _read_rest(content: aiohttp.StreamReader, first: bytes) -> bytes:
    """``first`` and the rest of ``content``, to its end.

    aiohttp's ``read()`` loops over ``readany()`` with no point where a cancelled
    anyio scope takes effect while bytes keep coming (see
    :meth:`StreamResponse.aiter_bytes`): this loop has one between reads.
    """
    chunks = [first]
    while True:
        await checkpoint_if_cancelled()
        chunk = await content.readany()
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class _TimedBody(aiohttp.payload.Payload):
    """A request body over :data:`_UNTIMED_BODY` bytes, written in chunks of that size;
    a chunk the connection takes none of for ``timeout`` seconds fails the request
    with :class:`relaykit.http.WriteTimeout`.

    aiohttp bounds no write: a server that stopped reading an upload (stuck, or a
    proxy holding it) left the request waiting for the socket to drain until the
    total timeout, where httpx fails at its write timeout. Each chunk's wait is
    timed alone, so a slow upload that keeps moving is never cut short (httpx
    times a whole ``send()`` of the body). Bytes, not a BytesIO, also spare
    aiohttp's warning that a body over a MiB may hold up the loop.
    """

    _autoclose = True  # memory only: nothing to close

    def __init__(self, value: bytes, timeout: float) -> None:
        super().__init__(value)
        self._size = len(value)
        self._timeout = timeout

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The body as text (aiohttp's debugging aid)."""
        text: str = self._value.decode(encoding, errors)
        return text

    async def write(self, writer: aiohttp.abc.AbstractStreamWriter) -> None:
        """Write the whole body (aiohttp itself calls :meth:`write_with_length`)."""
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        """Write the body, or its first ``content_length`` bytes; raises
        :class:`_WriteStalled` when a chunk waits longer than the timeout.

        aiohttp hands an exception that is a ``TimeoutError`` (with no errno) to
        the request as it is: ``session.request()`` raises it.
        """
        body = memoryview(self._value)
        if content_length is not None:
            body = body[:content_length]
        loop = asyncio.get_running_loop()
        timeout = self._timeout
        deadline = asyncio.timeout(None)
        try:
            async with deadline:
                for start in range(0, len(body), _UNTIMED_BODY):
                    deadline.reschedule(loop.time() + timeout)
                    await writer.write(body[start : start + _UNTIMED_BODY])
        except TimeoutError:
            if not deadline.expired():
                raise
            raise _WriteStalled(
                f"the server took no more of the request's body for {timeout:g}s"
                " (the write timeout: [timeouts] connect)"
            ) from None


class _WriteStalled(TimeoutError):
    """A :class:`_TimedBody`'s chunk waited longer than the write timeout."""


def _unread(content: aiohttp.StreamReader) -> bytes:
    """The body's bytes that arrived before its failure and were not read yet.

    aiohttp's reads (``readany()``, ``read_nowait()``) raise a failure ahead of
    bytes still in the buffer, when the bytes and the failure came while no read
    was waiting (a server that wrote its last events and reset the connection):
    httpx delivers such bytes first. Only the private ``_read_nowait`` reads past
    the failure, the same in aiohttp 3.13 and 3.14
    (test_client.py's test_bytes_that_came_before_a_reset_are_read_before_it_fails
    fails if that changes; without the method the bytes are lost, as before).
    """
    read = getattr(content, "_read_nowait", None)
    return read(-1) if read is not None else b""


def _body_failure(e: BaseException, response: aiohttp.ClientResponse) -> TransportError:
    """The transport error for ``e``, a failure while reading ``response``'s body.

    A connection lost mid-body fails the body with aiohttp's ``ClientPayloadError``
    ("Response payload is not completed"), whether the server closed it (a
    truncated answer: :class:`relaykit.http.ProtocolError`, as httpx's
    ``RemoteProtocolError``) or it was reset or broke: then a
    :class:`relaykit.http.ReadError`, as httpx's, naming the socket's error,
    which aiohttp sets on the connection's protocol.
    """
    if isinstance(e, aiohttp.ClientPayloadError):
        connection = response.connection
        protocol = connection.protocol if connection is not None else None
        lost = protocol.exception() if protocol is not None else None
        if isinstance(lost, OSError):
            return ReadError(f"the connection failed while the body was read: {lost}")
    return _mapped(e, False)


def _closed_under_read(e: RuntimeError) -> bool:
    """Whether ``e`` is aiohttp's refusal to wait for body bytes on a connection that
    was closed under the response (``StreamReader._wait``: its protocol has no
    transport left, and nothing ended the body).

    ``ResponseHandler.close()`` drops the transport and detaches the body at once,
    waking no read and ending nothing, so a read that begins after it meets this
    rather than a ``ClientError``. aiohttp's connector does that to every
    connection in use when it closes (the session closed by someone other than
    this client, whose own close fails the reads first). Only this message: any
    other ``RuntimeError`` (two reads at once, say) is a bug, not the network's.
    """
    return e.args == ("Connection closed.",)


def _closed_error() -> ReadError:
    return ReadError("the connection was closed while the body was read")


def _mapped(e: BaseException, pooled: bool) -> TransportError:
    """aiohttp's failure as the transport error relaykit maps to its own errors."""
    text = str(e)
    if isinstance(e, _WriteStalled):
        return WriteTimeout(text)
    if isinstance(e, aiohttp.ConnectionTimeoutError):
        return (PoolTimeout if pooled else ConnectTimeout)(text or "timed out")
    if isinstance(e, aiohttp.SocketTimeoutError):
        return ReadTimeout(text or "timed out reading")
    if isinstance(e, aiohttp.ServerTimeoutError | TimeoutError):
        return TransportTimeout(text or "timed out")
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        # its str is aiohttp's "Cannot connect to host ... [SSLCertVerificationError: (...)]"
        failure = e.certificate_error
        return CertificateError(str(getattr(failure, "verify_message", None) or failure))
    if isinstance(e, aiohttp.ClientConnectorError):
        return ConnectError(text)
    if isinstance(e, aiohttp.ServerDisconnectedError):
        # a server that closed mid-head leaves aiohttp's message the head so far (a
        # RawResponseMessage, its repr every header), not words
        if not isinstance(e.message, str):
            return ProtocolError("Server disconnected before the response's head was complete")
        return ProtocolError(text or "server disconnected")
    if isinstance(e, aiohttp.ClientResponseError) and e.message == "Too many headers received":
        return ProtocolError(
            f"the response has more than {MAX_HEADERS} header lines, which relaykit-aiohttp"
            " does not read; httpx reads any number in a head of 100 KiB:"
            ' [http] transport = "httpx"'
        )
    # a truncated body, or a malformed status line or headers
    if isinstance(e, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return ProtocolError(text)
    if isinstance(e, aiohttp.ClientOSError):
        return ReadError(text)
    return TransportError(text)
