"""A SyncClient left open is not kept alive until exit: collected, it is reported
(a ``ResourceWarning``) and closed, its loop thread stopped and its records written.

Each open SyncClient used to register a bound method with ``atexit``, which held
it, its loop thread, its client and their connections until the process ended.
One still alive at exit is closed then, as before (test_sync_client.py runs that
in a subprocess).
"""

from __future__ import annotations

import gc
import threading
import time
import warnings
import weakref
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

import relaykit
from relaykit import hookimpl, sync_client
from relaykit.testing import FakePlugin, MemoryStorage, RecordingExporter, Reply


class Storing:
    """Brings a memory storage, as relaykit-sqlite brings SQLite."""

    def __init__(self) -> None:
        self.storage = MemoryStorage()

    @hookimpl
    def relaykit_storage(self, name: str, config: Any) -> Any:
        return self.storage if name == "memory" else None


def wait_until(done: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        time.sleep(0.01)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_sync_client_dropped_unclosed_is_collected_warned_about_and_closed(
    backend: str,
) -> None:
    fake, storing = FakePlugin(), Storing()
    fake.script.push(Reply(text="left open"))
    before = set(threading.enumerate())
    client = relaykit.SyncClient(
        {"storage": {"backend": "memory"}}, plugins=[fake, storing], backend=backend
    )
    client.__enter__()
    loop_threads = set(threading.enumerate()) - before
    assert loop_threads
    assert client.chat("fake/m", "hi").text == "left open"
    gone = weakref.ref(client)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        del client
        gc.collect()
    assert gone() is None  # not held until exit
    [warning] = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert "SyncClient was garbage collected without being closed" in str(warning.message)
    # closed in a thread of its own: the loop thread ends, the record is written
    wait_until(lambda: not any(thread.is_alive() for thread in loop_threads))
    [record] = storing.storage.records.values()
    assert record.ok


def test_a_closed_sync_client_is_collected_without_a_warning() -> None:
    client = relaykit.SyncClient({"storage": {"backend": "none"}}, plugins=[FakePlugin()])
    with client:
        pass
    gone = weakref.ref(client)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        del client
        gc.collect()
    assert gone() is None
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_between_building_and_entering_the_client_closes_it(
    backend: str, interrupt: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing once the client is built and before its block is entered: the
    client (its exporters, connections, call log) is closed, not dropped open."""
    exporter = RecordingExporter()
    built: list[relaykit.Client] = []
    held = sync_client._Held

    def interrupted(portal: BlockingPortal, cm: Any) -> Any:
        if isinstance(cm, relaykit.Client):
            built.append(cm)
            raise interrupt()
        return held(portal, cm)

    monkeypatch.setattr(sync_client, "_Held", interrupted)
    client = relaykit.SyncClient(
        {"storage": {"backend": "none"}}, plugins=[FakePlugin(), exporter], backend=backend
    )
    with pytest.raises(interrupt):
        client.__enter__()
    [made] = built
    assert exporter.closed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        built.clear()
        del made
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    monkeypatch.undo()
    with client:  # not left half-open: it may be entered again
        pass
