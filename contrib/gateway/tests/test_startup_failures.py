"""A gateway whose start fails after it made something closes it: the client
``create_app``'s lifespan opened, the socket ``serve`` bound."""

from __future__ import annotations

import gc
import socket
import warnings
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit.testing import RecordingExporter
from relaykit_gateway import Gateway, GatewayKeys, create_app, serve
from relaykit_gateway.testing import KEY

pytestmark = pytest.mark.anyio


@contextmanager
def nothing_left_unclosed() -> Iterator[None]:
    """Fail if garbage collection reports an unclosed resource (what ``-W
    error::ResourceWarning`` turns into an error in whatever test ran next)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_a_start_failing_after_the_client_opened_closes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The gateway is built once the client is open; a bad setting of its own
    # (here its file store's) fails the start then.
    monkeypatch.setenv("RELAYKIT_GATEWAY_FILES_MAX_BYTES", "lots")
    exporter = RecordingExporter()
    app = create_app(
        {"storage": {"backend": "none"}}, keys=GatewayKeys.parse(KEY), plugins=[exporter]
    )
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    [message] = sent
    assert message["type"] == "lifespan.startup.failed"
    assert "RELAYKIT_GATEWAY_FILES_MAX_BYTES" in message["message"]
    assert exporter.closed
    assert app.gateway is None


async def test_serve_over_a_closed_client_closes_the_socket_it_bound() -> None:
    client = relaykit.Client({"storage": {"backend": "none"}})
    async with client:
        gateway = Gateway(client)
    taken: list[socket.socket] = []
    real_listen = socket.create_server

    def listen(*args: Any, **kwargs: Any) -> socket.socket:
        sock = real_listen(*args, **kwargs)
        taken.append(sock)
        return sock

    with nothing_left_unclosed():
        with pytest.MonkeyPatch.context() as patch, pytest.raises(relaykit.ClientClosedError):
            patch.setattr(socket, "create_server", listen)
            await serve(gateway, "127.0.0.1", 0)
        assert [sock.fileno() for sock in taken] == [-1]
        taken.clear()  # collected inside the block: reported there if left open
