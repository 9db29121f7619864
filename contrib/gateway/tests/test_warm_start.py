"""A gateway imports the HTTP stack before it takes requests, not in its first caller's
request (a third of a second cold, seconds on a loaded machine): ``serve`` and
``create_app``'s lifespan both await ``Client.warm_up`` first."""

from __future__ import annotations

import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import Config, hookimpl
from relaykit.http import HttpOptions, httpx_client
from relaykit.testing import FakePlugin
from relaykit_gateway import create_app
from relaykit_gateway.testing import KEYS, running

pytestmark = pytest.mark.anyio

CONFIG = {"storage": {"backend": "none"}}


class ColdStack:
    """An HTTP client plugin whose client needs module ``name``: a cold HTTP stack in small."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def relaykit_http_client(self, config: Config, options: HttpOptions) -> Any:
        return httpx_client(options)

    @hookimpl
    def relaykit_http_client_modules(self, config: Config) -> Sequence[str] | None:
        return [self.name]


@pytest.fixture
def cold_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ColdStack:
    name = f"relaykit_cold_stack_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return ColdStack(name)


async def test_serve_imports_the_http_stack_before_it_takes_requests(
    cold_stack: ColdStack,
) -> None:
    async with relaykit.Client(CONFIG, plugins=[FakePlugin(), cold_stack]) as client:
        assert cold_stack.name not in sys.modules
        async with running(client):
            assert cold_stack.name in sys.modules  # started, no request made


async def test_create_app_imports_the_http_stack_in_its_lifespans_startup(
    cold_stack: ColdStack,
) -> None:
    app = create_app(CONFIG, keys=KEYS, plugins=[FakePlugin(), cold_stack])
    to_app, app_receives = anyio.create_memory_object_stream[MutableMapping[str, Any]](2)
    app_sends, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](2)
    async with anyio.create_task_group() as tg, to_app, from_app, app_receives, app_sends:
        tg.start_soon(app, {"type": "lifespan"}, app_receives.receive, app_sends.send)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        assert cold_stack.name in sys.modules
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
