"""The default HTTP client: a plain ``httpx.AsyncClient`` set up from :class:`HttpOptions`.

httpx's own client satisfies :class:`relaykit.http.HttpClient`, so providers
talk to it directly; what relaykit needs on each request (the stream's idle
timeout, header hooks such as trace context) rides on httpx's request hooks,
and a response hook gives each body's reads a cancellation point per chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .env_proxies import EnvProxies, environment_proxies
from .stream_read_timeout import apply_read_timeout

#: (scheme, host, port) routes a proxied client remembers; the rest are decided per request
_ROUTES_KEPT = 256

if TYPE_CHECKING:
    import ssl

    import httpx

    from .http import HeaderHook, HttpOptions

_shared_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """The certificate-verifying SSL context every httpx client of this process shares.

    httpx builds one per transport, loading the CA bundle each time: the event
    loop stalled for 22-35 ms at each provider's first call. Here it is made
    once per process, by the client's warm-up in a worker thread (see
    ``ProviderRegistry.warm_up``), though loading the bundle holds the GIL, so
    that one load still delays the loop. An ``SSLContext`` is safe to share
    between connections and clients.
    """
    global _shared_ssl_context
    if _shared_ssl_context is None:
        import httpx

        _shared_ssl_context = httpx.create_ssl_context()  # certifi, or $SSL_CERT_FILE/DIR
    return _shared_ssl_context


def has_shared_ssl_context() -> bool:
    """Whether :func:`shared_ssl_context` has been made already."""
    return _shared_ssl_context is not None


def httpx_client(options: HttpOptions) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with ``options``' pool limits, timeouts and header hooks."""
    import httpx

    from .httpx_body import checkpoint_body_reads

    limits = httpx.Limits(
        max_connections=options.max_connections,
        max_keepalive_connections=options.max_keepalive_connections,
        keepalive_expiry=options.keepalive_expiry,
    )
    # Read timeouts are ours (first token, idle, total, enforced with cancel
    # scopes), so httpx only bounds connecting, writing and waiting for the pool.
    connect = options.connect_timeout
    timeout = httpx.Timeout(connect=connect, read=None, write=connect, pool=connect)
    hooks: list[Any] = [apply_read_timeout]
    if options.header_hooks:
        hooks.append(_run_header_hooks(options.header_hooks))
    verify = options.ssl_context or shared_ssl_context()
    direct = httpx.AsyncHTTPTransport(limits=limits, verify=verify)
    # httpx reads the environment's proxies only when it makes the transport itself,
    # so they are read here (env_proxies.py): each proxy gets a transport of its own
    # with the same pool limits and TLS context, for the servers it fronts.
    proxies = environment_proxies() if options.env_proxies else None
    transport: httpx.AsyncBaseTransport = direct
    if proxies is not None:
        # duck-typed: httpx only calls what AsyncBaseTransport has (httpx is imported late)
        transport = cast("httpx.AsyncBaseTransport", _ProxyRouter(direct, proxies, limits, verify))
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        limits=limits,
        # a cancelled call stops reading a body that keeps coming (see httpx_body.py)
        event_hooks={"request": hooks, "response": [checkpoint_body_reads]},
        verify=verify,
        trust_env=False,  # what it would read (proxies, netrc) is read here or not at all
    )


class _ProxyRouter:
    """Sends each request through the environment's proxy for its URL, or directly."""

    def __init__(
        self,
        direct: httpx.AsyncHTTPTransport,
        proxies: EnvProxies,
        limits: httpx.Limits,
        verify: ssl.SSLContext,
    ) -> None:
        import httpx

        self._direct = direct
        self._proxies = proxies
        self._by_proxy = {
            # ssl_context: an https:// proxy's own certificate is verified as the
            # servers' are ([http] ca_file); httpx would use certifi's bundle alone
            proxy.url: httpx.AsyncHTTPTransport(
                proxy=httpx.Proxy(
                    proxy.configured,
                    ssl_context=verify if proxy.url.startswith("https:") else None,
                ),
                limits=limits,
                verify=verify,
            )
            for proxy in proxies.by_scheme.values()
        }
        #: the transport for each (scheme, host, port) asked so far
        self._routes: dict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = {}

    def __repr__(self) -> str:
        return f"_ProxyRouter(proxies={sorted(self._by_proxy)!r})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.scheme, url.host, url.port)
        transport = self._routes.get(key)
        if transport is None:
            proxy = self._proxies.for_url(*key)
            transport = self._direct if proxy is None else self._by_proxy[proxy.url]
            if len(self._routes) < _ROUTES_KEPT:
                self._routes[key] = transport
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._direct.aclose()
        for transport in self._by_proxy.values():
            await transport.aclose()

    async def __aenter__(self) -> _ProxyRouter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _run_header_hooks(header_hooks: tuple[HeaderHook, ...]) -> Any:
    async def run(request: httpx.Request) -> None:
        for hook in header_hooks:
            hook(request.headers)

    return run
