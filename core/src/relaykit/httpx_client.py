"""The default HTTP client: a plain ``httpx.AsyncClient`` set up from :class:`HttpOptions`.

httpx's own client satisfies :class:`relaykit.http.HttpClient`, so providers
talk to it directly; what relaykit needs on each request (the stream's idle
timeout, header hooks such as trace context) rides on httpx's request hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .stream_read_timeout import apply_read_timeout

if TYPE_CHECKING:
    import httpx

    from .http import HeaderHook, HttpOptions


def httpx_client(options: HttpOptions) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with ``options``' pool limits, timeouts and header hooks."""
    import httpx

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
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(limits=limits),
        timeout=timeout,
        limits=limits,
        event_hooks={"request": hooks},
    )


def _run_header_hooks(header_hooks: tuple[HeaderHook, ...]) -> Any:
    async def run(request: httpx.Request) -> None:
        for hook in header_hooks:
            hook(request.headers)

    return run
