"""SyncClient as scripts, notebooks and threaded servers use it: Ctrl-C, many threads,
a running event loop in the caller's thread, closing, and the errors it raises.

Over loopback HTTP (the OpenAI mock), records in a real SQLite file. Ctrl-C is a real
SIGINT sent to the main thread (as a terminal sends it), which interrupts its wait.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ClientClosedError, QuotaExceededError, RateLimitError, TextDelta
from relaykit.protocols import CallRecord, LogQuery
from relaykit.routing import Target
from relaykit.testing import OpenAIMock, Reply

from .conftest import MOCK_KEY
from .test_cancellation import WaitingLimiterPlugin

BACKENDS = ["asyncio", "trio"]
MODEL = "openai/gpt-4o-mini"
TARGET = Target("openai", "gpt-4o-mini")


def config(mock: OpenAIMock, db: Path | None = None, **sections: Any) -> dict[str, Any]:
    storage = {"backend": "none"} if db is None else {"backend": "sqlite", "path": str(db)}
    return {
        "storage": storage,
        "retry": {"attempts": 1},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": MOCK_KEY}},
        **sections,
    }


LIMITED = {"limiter": {"backend": "waiting"}, "limits": {"*": {"tpm": 100_000}}}


def records(db: Path) -> list[CallRecord]:
    """The call records in ``db``, oldest first."""
    async def read() -> list[Any]:
        async with relaykit.Client({"storage": {"backend": "sqlite", "path": str(db)}}) as c:
            assert c.storage is not None
            return list(reversed(await c.storage.query_logs(LogQuery())))

    return anyio.run(read)


@contextmanager
def ctrl_c_once(when: Callable[[], bool]) -> Iterator[None]:
    """Send SIGINT to the main thread once ``when()`` holds, as a terminal's Ctrl-C does."""
    main = threading.get_ident()
    assert main == threading.main_thread().ident, "signals reach the main thread only"
    stop = threading.Event()

    def interrupt() -> None:
        deadline = time.monotonic() + 10  # a safety net only
        while not when():
            if stop.wait(0.005) or time.monotonic() > deadline:
                return
        time.sleep(0.05)  # the main thread is waiting on the loop by now
        signal.pthread_kill(main, signal.SIGINT)

    sender = threading.Thread(target=interrupt)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join()


# -- Ctrl-C -----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_during_chat_cancels_the_call_in_the_loop(
    openai_mock: OpenAIMock, tmp_path: Path, backend: str
) -> None:
    db = tmp_path / "log.db"
    limiter = WaitingLimiterPlugin()
    with relaykit.SyncClient(
        config(openai_mock, db, **LIMITED), plugins=[limiter], backend=backend
    ) as client:
        openai_mock.script.push(Reply(text="too late", delay=5))
        started = time.monotonic()
        with ctrl_c_once(lambda: bool(openai_mock.requests)), pytest.raises(KeyboardInterrupt):
            client.chat(MODEL, "interrupted")
        assert time.monotonic() - started < 3  # promptly, not after the answer
        # Cancelled in the loop, not left running: what it held is back already.
        assert limiter.limiter.held == 0
        assert client._client is not None
        assert client._client._router.in_flight(TARGET) == 0
        assert client._client._in_flight == 0
        # A notebook cell run again: the client still works.
        assert client.chat(MODEL, "again").text == "echo: again"
    first, second = records(db)
    assert first.error_type == "Cancelled"
    assert second.error_type is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_while_a_stream_opens_cancels_it_and_close_does_not_wait_for_it(
    openai_mock: OpenAIMock, tmp_path: Path, backend: str
) -> None:
    db = tmp_path / "log.db"
    limiter = WaitingLimiterPlugin()
    client = relaykit.SyncClient(
        config(openai_mock, db, **LIMITED), plugins=[limiter], backend=backend
    )
    with client:
        openai_mock.script.push(Reply(text="too late", first_token_delay=5))
        with ctrl_c_once(lambda: bool(openai_mock.requests)), pytest.raises(KeyboardInterrupt):
            with client.stream(MODEL, "interrupted") as s:  # waits for the first event
                pytest.fail(f"entered: {s}")
        assert limiter.limiter.held == 0
        with client.stream(MODEL, "again") as s:
            assert "".join(e.text for e in s if isinstance(e, TextDelta)) == "echo: again"
        # Before, the stream's task waited for an exit that never came: close hung.
        closing = threading.Thread(target=client.close, daemon=True)
        started = time.monotonic()
        closing.start()
        closing.join(10)
        assert not closing.is_alive(), "close() hung on the interrupted stream"
        assert time.monotonic() - started < 3
    first, second = records(db)
    assert first.error_type == "Cancelled"
    assert second.error_type is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_while_iterating_a_stream_ends_it_as_cancelled(
    openai_mock: OpenAIMock, tmp_path: Path, backend: str
) -> None:
    db = tmp_path / "log.db"
    limiter = WaitingLimiterPlugin()
    with relaykit.SyncClient(
        config(openai_mock, db, **LIMITED), plugins=[limiter], backend=backend
    ) as client:
        openai_mock.script.push(Reply(text="one two three", chunk_delay=5))
        seen: list[str] = []
        with ctrl_c_once(lambda: bool(seen)), pytest.raises(KeyboardInterrupt):
            with client.stream(MODEL, "interrupted") as s:
                for event in s:
                    if isinstance(event, TextDelta):
                        seen.append(event.text)
        assert len(seen) == 1  # the rest was 5 s away
        assert limiter.limiter.held == 0
        assert client._client is not None and client._client._in_flight == 0
        assert s.response.text == seen[0]  # what had arrived
        assert client.chat(MODEL, "again").text == "echo: again"
    first, second = records(db)
    # A cancellation, as Ctrl-C is under asyncio.run: not "the caller's code raised".
    assert first.error_type == "Cancelled"
    assert second.error_type is None
    assert openai_mock.server.stats.streams_abandoned == 1
