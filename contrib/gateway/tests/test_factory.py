"""``create_app``: a gateway that opens and closes its own client in the ASGI lifespan."""

from __future__ import annotations

import functools
import socket
from collections.abc import MutableMapping
from typing import Any

import anyio
import httpx
import pytest
import sniffio
from hypercorn.config import Config as HypercornConfig
from hypercorn.utils import LifespanFailureError

import relaykit_gateway.factory
from relaykit.testing import FakePlugin, MemoryStorage, Reply
from relaykit_gateway import GatewayKeys, create_app
from relaykit_gateway.testing import KEY, KEYS

pytestmark = pytest.mark.anyio


async def serve_with_hypercorn(app: Any, listener: socket.socket, stop: anyio.Event) -> None:
    """hypercorn's own serve, lifespan and all, as its command line would run ``app``."""
    config = HypercornConfig()
    config.bind = [f"fd://{listener.detach()}"]
    config.graceful_timeout = 1.0
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    await serve(app, config, shutdown_trigger=stop.wait)


async def test_the_lifespan_opens_the_client_and_closing_writes_its_log() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="served by an app that owns its client", delay=0.2))
    storage = MemoryStorage()

    class Storing:
        """Brings the memory storage, as relaykit-sqlite brings SQLite."""

        from relaykit import hookimpl

        @hookimpl
        def relaykit_storage(self, name: str, config: Any) -> Any:
            return storage if name == "memory" else None

    app = create_app({"storage": {"backend": "memory"}}, keys=KEYS, plugins=[fake, Storing()])
    stop = anyio.Event()
    # listening before hypercorn starts: the request waits in the backlog until it accepts
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    body = {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(serve_with_hypercorn, app, listener, stop))
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {KEY}"}) as http:
            r = await http.post(f"{url}/v1/chat/completions", json=body, timeout=10)
        stop.set()
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "served by an app that owns its client"
    assert app.gateway is not None
    (record,) = storage.records.values()  # written when the lifespan closed the client
    assert record.params["metadata"]["gateway_key"] == "alice"


async def lifespan_startup(app: Any) -> dict[str, Any]:
    """Drive an app's lifespan startup by hand; the message it answers with."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    (message,) = sent
    return message


async def test_without_keys_the_app_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYKIT_GATEWAY_KEYS", raising=False)
    message = await lifespan_startup(create_app({"storage": {"backend": "none"}}))
    assert message["type"] == "lifespan.startup.failed"
    assert "RELAYKIT_GATEWAY_KEYS" in message["message"]


async def test_a_bad_config_fails_the_start_with_its_message() -> None:
    app = create_app({"storage": {"backend": "none"}, "retyr": {}}, keys=GatewayKeys.parse(KEY))
    message = await lifespan_startup(app)
    assert message["type"] == "lifespan.startup.failed"
    assert "retyr" in message["message"] and "retry" in message["message"]


async def test_requests_before_the_start_are_told_why() -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("not read")

    app = create_app(keys=GatewayKeys.parse(KEY))
    await app({"type": "http", "method": "GET", "path": "/health"}, receive, send)
    assert sent[0]["status"] == 503
    assert b"lifespan" in sent[1]["body"]


class StartBroke(Exception):
    """What a start may fail with besides a RelayError: an OSError, a plugin's bug."""


def gateway_failing_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the gateway (after the client opened) raises a non-RelayError quoting a
    key of the gateway's and a credential of a recognisable shape."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise StartBroke(f"cannot start with {KEY} nor api_key=sk-proj-0123456789abcdefghij")

    monkeypatch.setattr(relaykit_gateway.factory, "Gateway", broken)


async def test_any_failed_start_is_reported_as_lifespan_startup_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Raised instead, the server (uvicorn's default ``--lifespan auto``, hypercorn)
    takes it for an app without lifespan support and serves 503s for ever."""
    gateway_failing_to_build(monkeypatch)
    app = create_app({"storage": {"backend": "none"}}, keys=KEYS)
    message = await lifespan_startup(app)
    assert message["type"] == "lifespan.startup.failed"
    assert "StartBroke: cannot start with" in message["message"]
    assert KEY not in message["message"] and "sk-proj-0123" not in message["message"]
    assert app.gateway is None


async def test_hypercorn_stops_on_a_failed_start_instead_of_serving_503s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway_failing_to_build(monkeypatch)
    app = create_app({"storage": {"backend": "none"}}, keys=KEYS)
    listener = socket.create_server(("127.0.0.1", 0))
    with pytest.raises(BaseException) as raised:
        with anyio.fail_after(10):
            await serve_with_hypercorn(app, listener, anyio.Event())
    error = raised.value
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]  # (trio's hypercorn raises it from a task group)
    assert isinstance(error, LifespanFailureError), repr(error)
    assert "StartBroke" in str(error) and KEY not in str(error)
