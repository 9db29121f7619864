"""After ``fork()`` (gunicorn --preload, multiprocessing's fork start method) the child works.

Each test forks for real; the child runs an event loop of its own (asyncio or
trio) and must finish in time (``in_forked_child`` kills a hung child and fails).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

import relaykit
from relaykit import fork_safety
from relaykit.fork_safety import after_fork_in_child
from relaykit.protocols import CallRecord
from relaykit.testing import FakePlugin, OpenAIMock, Reply
from relaykit.testing.forking import ChildHung, in_forked_child, needs_fork
from relaykit.testing.memory_storage import MemoryStorage

pytestmark = needs_fork

backends = pytest.mark.parametrize("backend", ["asyncio", "trio"])


class Owner:
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    def reset(self) -> None:
        self.seen.append(self.name)

    def fail(self) -> None:
        raise RuntimeError("this reset fails")


def test_resets_run_in_the_child_alone_in_order_and_survive_a_failing_one() -> None:
    seen: list[str] = []
    first, second = Owner("first", seen), Owner("second", seen)
    after_fork_in_child(first, Owner.reset)
    after_fork_in_child(first, Owner.fail)  # logged; the others still run
    after_fork_in_child(second, Owner.reset)

    def child() -> None:
        assert seen == ["first", "second"]

    in_forked_child(child)
    assert seen == []  # the parent runs none


def test_an_owner_that_is_gone_is_forgotten() -> None:
    seen: list[str] = []
    owner = Owner("gone", seen)
    after_fork_in_child(owner, Owner.reset)
    # (counting all entries would race other tests' owners the collection frees too)
    [token] = [t for t, (ref, _) in fork_safety._resets.items() if ref() is owner]
    del owner
    gc.collect()
    assert token not in fork_safety._resets

    def child() -> None:
        assert seen == []

    in_forked_child(child)


def test_a_hung_child_fails_the_test_instead_of_hanging_it() -> None:
    with pytest.raises(ChildHung):
        in_forked_child(lambda: __import__("time").sleep(10), timeout=0.2)


class Cyclic:
    """Garbage only the collector frees (it refers to itself), as an unclosed
    ``sqlite3.Connection`` is on Python 3.11 (its statement cache refers back to it)."""

    def __init__(self, finalized_in: list[int]) -> None:
        self.me = self
        self.finalized_in = finalized_in

    def __del__(self) -> None:
        self.finalized_in.append(os.getpid())


def test_the_child_never_finalizes_garbage_it_inherited() -> None:
    # Finalizing it in the child could block for good: closing a SQLite connection
    # takes SQLite's process-wide mutexes, which a parent's thread may have held at
    # the fork. The parent still collects it.
    finalized_in: list[int] = []
    was_enabled = gc.isenabled()
    gc.disable()  # so the garbage is still there at the fork
    try:
        Cyclic(finalized_in)

        def child() -> None:
            gc.collect()
            assert finalized_in == []

        in_forked_child(child)
        assert gc.isenabled() is False  # left as it was
    finally:
        if was_enabled:
            gc.enable()
    gc.collect()
    assert finalized_in == [os.getpid()]


@backends
def test_a_child_opens_http_connections_of_its_own(backend: str) -> None:
    with OpenAIMock() as mock:
        config = {
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": "sk-test"}},
        }
        mock.script.push(Reply(text="parent"), Reply(text="child"))
        with relaykit.SyncClient(config, backend=backend) as client:
            assert client.chat("openai/gpt-4o-mini", "hi").text == "parent"
            assert mock.server.stats.connections_opened == 1  # pooled, kept alive

            def child() -> None:
                assert client.chat("openai/gpt-4o-mini", "hi").text == "child"
                client.close()

            in_forked_child(child)
        # The child's request came on a connection of its own, never on the parent's.
        assert mock.server.stats.requests == 2
        assert mock.server.stats.connections_opened == 2


class GatedStorage(MemoryStorage):
    """Holds the parent's writes until ``open`` (so records wait in the call log's queue)."""

    def __init__(self) -> None:
        super().__init__()
        self.open = False

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        while not self.open:  # noqa: ASYNC110 (set from another thread, or in the child)
            await anyio.sleep(0.005)
        await super().write_batch(records)


def texts(storage: MemoryStorage) -> list[str]:
    return [r.messages[0].text for r in storage.records.values()]


@backends
def test_a_sync_client_works_in_the_child_and_leaves_the_parents_queue_alone(
    backend: str,
) -> None:
    storage = GatedStorage()
    with relaykit.SyncClient(
        {"storage": {"backend": "memory"}},
        plugins=[FakePlugin(), storage.plugin()],
        backend=backend,
    ) as client:
        client.chat("fake/m", "parent, written")  # the call log's writer now waits on the gate
        client.chat("fake/m", "parent, queued")

        def child() -> None:
            storage.open = True
            # Its loop thread is the parent's: without one of its own, this waited forever.
            assert client.chat("fake/m", "child").text
            client.close()
            assert texts(storage) == ["child"]  # the parent's queued records are the parent's

        try:
            in_forked_child(child)
        finally:
            storage.open = True
    assert texts(storage) == ["parent, written", "parent, queued"]


@backends
def test_a_client_entered_in_the_parent_logs_the_childs_calls_unentered(backend: str) -> None:
    storage = GatedStorage()
    config = {"storage": {"backend": "memory"}}
    with start_blocking_portal(backend) as portal:
        client = portal.call(lambda: _build(config, [FakePlugin(), storage.plugin()]))
        with portal.wrap_async_context_manager(client):
            portal.call(client.chat, "fake/m", "parent, written")
            portal.call(client.chat, "fake/m", "parent, queued")

            def child() -> None:
                storage.open = True
                # The call log's writer task is the parent loop's: queued for it, the
                # record would never be written here.
                anyio.run(client.chat, "fake/m", "child", backend=backend)
                assert texts(storage) == ["child"]

            try:
                in_forked_child(child)
            finally:
                storage.open = True
    assert texts(storage) == ["parent, written", "parent, queued"]


async def _build(config: dict[str, Any], plugins: list[object]) -> relaykit.Client:
    return relaykit.Client(config, plugins=plugins)


@backends
def test_a_listing_in_flight_at_the_fork_does_not_hold_the_childs_listings(backend: str) -> None:
    config = {"storage": {"backend": "none"}}
    with relaykit.SyncClient(config, plugins=[FakePlugin()], backend=backend) as client:
        catalog = client._ready("models")[1]._catalog
        lock = catalog._locks.setdefault("fake", anyio.Lock())
        portal = client._portal
        assert portal is not None
        release = threading.Event()

        async def fetching() -> None:  # as a parent's task fetching the listing holds it
            async with lock:
                await anyio.to_thread.run_sync(release.wait)

        held = portal.start_task_soon(fetching)
        while not lock.locked():
            time.sleep(0.002)

        def child() -> None:
            assert client.models("fake")

        try:
            in_forked_child(child)
        finally:
            release.set()
            held.result(5)
