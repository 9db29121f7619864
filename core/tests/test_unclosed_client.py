"""A Client dropped open (never entered, never closed) is reported when collected, as
aiohttp reports an unclosed session: a ``ResourceWarning`` naming the fix, raised
without touching any event loop (the one it ran on may be gone by then)."""

from __future__ import annotations

import gc
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest

import relaykit
from relaykit import hookimpl
from relaykit.testing import FakePlugin, Reply

pytestmark = pytest.mark.anyio

CONFIG = {"storage": {"backend": "none"}}


@contextmanager
def resource_warnings() -> Iterator[list[str]]:
    """The ResourceWarnings raised inside the block, a full collection included."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield found
        gc.collect()
    found.extend(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))


async def test_a_client_used_without_async_with_and_dropped_warns() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="answered by a client nobody closes"))
    client = relaykit.Client(CONFIG, plugins=[fake])
    assert (await client.chat("fake/m", "hi")).text == "answered by a client nobody closes"
    gone = weakref.ref(client)
    with resource_warnings() as found:
        del client
    assert gone() is None
    [message] = found
    assert "relaykit.Client was garbage collected without being closed" in message
    assert "async with relaykit.Client(" in message and "aclose()" in message


def test_a_client_never_entered_warns_when_collected_outside_any_event_loop() -> None:
    client = relaykit.Client(CONFIG, plugins=[FakePlugin()])
    with resource_warnings() as found:
        del client
    assert len(found) == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_client_dropped_after_its_event_loop_ended_warns(backend: str) -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="hi"))

    async def use() -> relaykit.Client:
        client = relaykit.Client(CONFIG, plugins=[fake])
        await client.chat("fake/m", "hi")
        return client

    client = anyio.run(use, backend=backend)
    with resource_warnings() as found:
        del client
    assert len(found) == 1


async def test_closed_clients_are_collected_quietly() -> None:
    with resource_warnings() as found:
        async with relaykit.Client(CONFIG, plugins=[FakePlugin()]):
            pass
        closed = relaykit.Client(CONFIG, plugins=[FakePlugin()])
        await closed.aclose()  # never entered, but closed
        del closed
    assert found == []


def test_a_client_that_failed_to_build_is_not_reported() -> None:
    """Its constructor closed what it had made (see half_built.py): nothing is open."""

    class Refusing:
        @hookimpl
        def relaykit_exporters(self, config: object) -> list[object]:
            raise relaykit.ConfigError("no", hint="none")

    with resource_warnings() as found, pytest.raises(relaykit.ConfigError):
        relaykit.Client(CONFIG, plugins=[Refusing()])
    assert found == []
