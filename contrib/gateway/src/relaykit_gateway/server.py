"""Serving the gateway over HTTP with hypercorn, under asyncio or trio.

Any ASGI server can run :class:`~relaykit_gateway.Gateway`; hypercorn is the
one that runs under both of relaykit's event loops, so the ``relaykit
gateway`` command and :func:`serve` use it.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import sniffio
from anyio.abc import TaskStatus
from hypercorn.config import Config as HypercornConfig

from relaykit import ConfigError

from .app import Gateway
from .keys import GatewayKeys

#: how long shutting down waits for calls in flight to finish, unless told otherwise
#: (``relaykit gateway --graceful-timeout``): gunicorn's default, and room for
#: most streamed answers to end
GRACEFUL_SECONDS = 30.0
#: how long the server then has to close its connections (idle ones, by then)
_CLOSE_SECONDS = 1.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(gateway: Gateway | GatewayKeys, host: str) -> None:
    """Refuse to serve a gateway without keys anywhere but on a loopback address:
    whoever could reach it would spend the providers' keys.

    Takes the gateway, or the keys it will have (``--workers``: the parent checks
    before any worker builds one)."""
    keys = gateway.keys if isinstance(gateway, Gateway) else gateway
    if not keys and not is_loopback(host):
        raise ConfigError(
            f"the gateway has no keys and would listen on {host}, beyond this machine",
            hint="set RELAYKIT_GATEWAY_KEYS=name=key,... or listen on 127.0.0.1",
        )


async def serve(
    gateway: Gateway,
    host: str = "127.0.0.1",
    port: int = 4000,
    *,
    shutdown: anyio.Event | None = None,
    graceful_timeout: float = GRACEFUL_SECONDS,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``gateway`` on ``host:port`` until ``shutdown`` is set (or this is cancelled).

    Port 0 takes a free port; ``await task_group.start(serve, ...)`` returns the
    base URL (``http://127.0.0.1:PORT``) once it accepts connections. Shutting
    down answers new requests with a 503 while it waits up to
    ``graceful_timeout`` seconds for the calls in flight, then stops listening;
    the caller then closes the client, which drains its log queue.
    """
    check_exposure(gateway, host)
    sock = listen(host, port)
    await serve_socket(
        gateway,
        sock,
        host,
        shutdown=shutdown,
        graceful_timeout=graceful_timeout,
        task_status=task_status,
    )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (0: a free port) and listening; a
    :class:`~relaykit.ConfigError` that names the address if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=1024)
    except OSError as e:
        raise ConfigError(
            f"the gateway cannot listen on {host}:{port}: {e.strerror}", hint=_listen_fix(e)
        ) from e


def _listen_fix(error: OSError) -> str:
    """What to change when binding failed: the port only helps when the port is taken."""
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return "give --host an address of this machine (127.0.0.1, or 0.0.0.0 for all)"
    if error.errno == errno.EACCES:
        return "pick a --port above 1023, or run with the rights to bind a low one"
    return "pick another --port, or stop what listens there"


def base_url(host: str, sock: socket.socket) -> str:
    """The base URL (``http://127.0.0.1:PORT``) of ``sock``, listening on ``host``."""
    port = sock.getsockname()[1]
    return f"http://{f'[{host}]' if sock.family == socket.AF_INET6 else host}:{port}"


async def serve_socket(
    gateway: Gateway,
    sock: socket.socket,
    host: str,
    *,
    shutdown: anyio.Event | None = None,
    graceful_timeout: float = GRACEFUL_SECONDS,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """:func:`serve`, on ``sock``, a socket :func:`listen` made (on ``host``, for the
    URL it reports): each ``relaykit gateway --workers`` process serves the one its
    parent bound. Takes the socket over, and closes it."""
    try:
        url = base_url(host, sock)
        # Before the first request, not during it: callers connecting meanwhile wait
        # in the socket's backlog, and no caller's request waits on the import.
        await gateway.client.warm_up()
    except BaseException:
        # ours until hypercorn takes it (a closed client, a cancelled start):
        # left open, it held the port until garbage collection
        sock.close()
        raise
    config = HypercornConfig()
    # hypercorn takes the socket over by its descriptor (and closes it)
    config.bind = [f"fd://{sock.detach()}"]
    # The gateway drains its calls itself (below), answering new requests with a
    # 503 meanwhile, before hypercorn stops: hypercorn then has only idle
    # connections left, which it closes at once.
    config.graceful_timeout = _CLOSE_SECONDS
    config.accesslog = None  # relaykit's call log and traces say more, keys never included
    config.errorlog = logging.getLogger("relaykit.gateway.server")
    stop = shutdown or anyio.Event()
    closing = anyio.Event()

    run: Callable[..., Coroutine[Any, Any, None]]
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as run
    else:
        from hypercorn.asyncio import serve as run

    async def run_until_stopped() -> None:
        # Shielded: hypercorn shuts down by its trigger, not by cancellation (its
        # asyncio worker fails when cancelled); cancelling serve sets the trigger.
        with anyio.CancelScope(shield=True):
            await run(gateway, config, shutdown_trigger=closing.wait)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_until_stopped)
        # The socket is bound and listening already: connections made before
        # hypercorn accepts them wait in its backlog.
        task_status.started(url)
        try:
            await stop.wait()
        finally:
            await gateway.drain(graceful_timeout)
            closing.set()
