"""Closing a client while calls are somewhere no provider scope holds them: waiting on a
storage-backed response cache, importing the HTTP stack. Each call's record lands
once (in the real SQLite file), its caller gets ClientClosedError, and the close
returns in bounded time."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ClientClosedError
from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.protocols import LogQuery, Reservation
from relaykit.record_spill import read_spilled
from relaykit.testing import LoopbackServer, OpenAIMock, Reply
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse
from relaykit.testing.limiters import LimiterPlugin
from relaykit_sqlite.storage import SQLiteStorage

from .conftest import MOCK_KEY

MODEL = "openai/gpt-4o-mini"


class GatedSQLiteStorage(SQLiteStorage):
    """The SQLite storage, its response cache's look-ups waiting until :attr:`release`
    is set: a database file locked by another process, a busy thread pool."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.asked = anyio.Event()
        self.release = anyio.Event()

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        self.asked.set()
        await self.release.wait()
        return await super().cached_response(key)

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        self.asked.set()
        await self.release.wait()
        return await super().cached_responses(keys)


class GatedSQLitePlugin:
    """Answers ``[storage] backend = "sqlite"`` with one :class:`GatedSQLiteStorage`
    (registered after the entry points, so asked first)."""

    def __init__(self, path: Path) -> None:
        self.storage = GatedSQLiteStorage(path)

    @relaykit.hookimpl
    def relaykit_storage(self, name: str, config: object) -> SQLiteStorage | None:
        return self.storage if name == "sqlite" else None


class SlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A module whose import takes until :attr:`release` is set: the HTTP stack's
    cold import on a loaded machine (seconds), made to last as long as a test needs."""

    NAME = "relaykit_close_races_slow_http"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.NAME:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        self.started.set()
        self.release.wait(30)  # (a safety net only: the test sets it)

    @relaykit.hookimpl
    def relaykit_http_client_modules(self, config: object) -> Sequence[str]:
        return [self.NAME]


@pytest.fixture
def slow_import() -> Iterator[SlowImport]:
    finder = SlowImport()
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        finder.release.set()  # an abandoned import thread ends too
        sys.meta_path.remove(finder)
        sys.modules.pop(SlowImport.NAME, None)


def cached_config(mock: OpenAIMock, db: Path, how: str) -> dict[str, Any]:
    return {
        "storage": {"backend": "sqlite", "path": str(db)},
        "retry": {"attempts": 1, "initial_wait": 0},
        # the response cache in the SQLite file, its look-ups not cut short
        "cache": {"enabled": True, "backend": "storage", "timeout": 30},
        # aclose's wait for calls in flight (the calls take timeout=30 each)
        "timeouts": {"total": 0.1 if how == "wait_runs_out" else 30},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": MOCK_KEY}},
    }


async def records_of(db: Path) -> list[tuple[str, str | None]]:
    """(text, error type) of each record in the SQLite file ``db``, oldest first."""
    storage = SQLiteStorage(db)
    try:
        records = await storage.query_logs(LogQuery())
    finally:
        await storage.aclose()
    return [(r.text, r.error_type) for r in reversed(records)]


async def close_as(client: relaykit.Client, how: str) -> None:
    """Close ``client`` once its wait runs out ([timeouts] total) or once its closer is
    cancelled; either way with the call in flight still waiting. Bounded: 30 s, a
    safety net only (5 s, a CI machine loaded past its cores once took longer to wind
    the client down)."""
    with anyio.fail_after(30):
        if how == "wait_runs_out":
            await client.aclose()
        else:
            with anyio.move_on_after(0.05):
                await client.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["chat", "stream", "embed"])
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_first_call_waiting_on_a_slow_cache_when_the_client_closes_is_recorded(
    openai_mock: OpenAIMock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
    kind: str,
) -> None:
    # The look-up outlasts the close: nothing cancelled it (no provider scope holds
    # it), so the close waited its 1 s wind-down and closed the call log; the look-up
    # then ended, the call met the shut client and its record arrived too late.
    db = tmp_path / "log.db"
    gated = GatedSQLitePlugin(db)
    client = relaykit.Client(cached_config(openai_mock, db, how), plugins=[gated])
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            if kind == "stream":
                async with client.stream(MODEL, "hi", cache=True, timeout=30) as s:
                    async for _ in s:
                        pass
            elif kind == "embed":
                await client.embed("openai/text-embedding-3-small", "hi", cache=True, timeout=30)
            else:
                await client.chat(MODEL, "hi", cache=True, timeout=30)
        except Exception as e:
            errors.append(e)

    try:
        async with anyio.create_task_group() as tg, client:
            tg.start_soon(one)
            await gated.storage.asked.wait()
            await close_as(client, how)
            # told by the close itself, not once the look-up ended
            (error,) = errors
            assert isinstance(error, ClientClosedError), repr(error)
    finally:
        gated.storage.release.set()
    assert not openai_mock.requests
    assert "arrived after the call log closed" not in caplog.text
    assert await records_of(db) == [("", "ClientClosedError")]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_first_call_importing_the_http_stack_when_the_client_closes_is_recorded(
    openai_mock: OpenAIMock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    slow_import: SlowImport,
    how: str,
    streamed: bool,
) -> None:
    # The look-up ends before the close; the call, the client's first, then imports
    # the HTTP stack (a worker thread): longer than the close's 1 s wind-down on a
    # loaded machine, and its record arrived after the call log closed.
    db = tmp_path / "log.db"
    gated = GatedSQLitePlugin(db)
    config = cached_config(openai_mock, db, how)
    client = relaykit.Client(config, plugins=[gated, slow_import])
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            if streamed:
                async with client.stream(MODEL, "hi", cache=True, timeout=30) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(MODEL, "hi", cache=True, timeout=30)
        except Exception as e:
            errors.append(e)

    async with anyio.create_task_group() as tg, client:
        tg.start_soon(one)
        await gated.storage.asked.wait()
        gated.storage.release.set()
        with anyio.fail_after(10):  # a safety net only
            while not slow_import.started.is_set():  # noqa: ASYNC110 (a thread)
                await anyio.sleep(0.001)
        await close_as(client, how)
        (error,) = errors  # told by the close, not once the import ended
        assert isinstance(error, ClientClosedError), repr(error)
    assert not openai_mock.requests
    assert "arrived after the call log closed" not in caplog.text
    assert await records_of(db) == [("", "ClientClosedError")]


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_fallback_weighing_context_windows_when_the_client_closes_is_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    # A context-length error falls back only to a larger window: the windows come
    # from the provider's model listing, over the network. Nothing cancelled that
    # listing: it went on past the close (over closed connections, reading a closed
    # storage), the caller got the context-length error seconds later, and the
    # record was lost.
    listing, release = threading.Event(), threading.Event()

    async def provider(request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path == "/v1/models":
            listing.set()
            await anyio.to_thread.run_sync(release.wait, 30)  # (a safety net only)
            models = [{"id": "a", "context_length": 1000}, {"id": "b", "context_length": 2000}]
            return HttpResponse.json({"object": "list", "data": models})
        error = {"message": "This model's maximum context length is 1000 tokens"}
        return HttpResponse.json({"error": {**error, "code": "context_length_exceeded"}}, 400)

    db = tmp_path / "log.db"
    errors: list[BaseException] = []
    with LoopbackServer(provider) as server:
        config: dict[str, Any] = {
            "storage": {"backend": "sqlite", "path": str(db)},
            "retry": {"attempts": 1},
            "timeouts": {"total": 0.1 if how == "wait_runs_out" else 30},
            "providers": {"openai": {"base_url": f"{server.url}/v1", "api_key": MOCK_KEY}},
            "models": {"long": {"targets": ["openai/a", "openai/b"]}},
        }
        client = relaykit.Client(config)

        async def one() -> None:
            try:
                await client.chat("long", "hi", timeout=30)
            except Exception as e:
                errors.append(e)

        try:
            async with anyio.create_task_group() as tg, client:
                tg.start_soon(one)
                with anyio.fail_after(10):  # a safety net only
                    while not listing.is_set():  # noqa: ASYNC110 (the server's thread)
                        await anyio.sleep(0.001)
                await close_as(client, how)
                (error,) = errors  # told by the close, not once the listing ended
                assert isinstance(error, ClientClosedError), repr(error)
        finally:
            release.set()
    assert "arrived after the call log closed" not in caplog.text
    assert "Unclosed" not in caplog.text  # aiohttp's session and connector
    assert await records_of(db) == [("", "ClientClosedError")]


class GatedLimiter:
    """A rate limiter that decides over the network, as relaykit-redis's does (its
    answer shielded from cancellation, so a hold is never lost on the way): each
    decision waits until :attr:`replies` is set, a Redis server slow to reply (not
    ``release``: a limiter's method of that name gives a hold back)."""

    def __init__(self) -> None:
        self.memory = MemoryRateLimiter()
        self.asked = anyio.Event()
        self.replies = anyio.Event()

    async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
        self.asked.set()
        await self.replies.wait()
        return await self.memory.acquire(key, limit, tokens)

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        await self.memory.reconcile(reservation, actual_tokens)


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_call_waiting_on_a_network_limiter_past_the_close_has_its_record_spilled(
    openai_mock: OpenAIMock, tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    # The limiter's answer is shielded (a hold taken must be settled), so the close
    # cannot cut the wait short; it waits its wind-down and closes the call log. The
    # call then meets the shut client: ClientClosedError, and its record arrived
    # after the call log closed. It was lost; it goes to the spill file instead,
    # which the next client on this storage replays into it.
    db, spill = tmp_path / "log.db", tmp_path / "spill.jsonl"
    limiter = LimiterPlugin(GatedLimiter(), name="gated")
    config: dict[str, Any] = {
        "storage": {"backend": "sqlite", "path": str(db), "spill_path": str(spill)},
        "retry": {"attempts": 1},
        "timeouts": {"total": 0.1 if how == "wait_runs_out" else 30},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
        "limiter": {"backend": "gated"},
        "limits": {"openai/*": {"rpm": 100}},
    }
    client = relaykit.Client(config, plugins=[limiter])
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            await client.chat(MODEL, "hi", timeout=30)
        except Exception as e:
            errors.append(e)

    async with anyio.create_task_group() as tg, client:
        tg.start_soon(one)
        await limiter.limiter.asked.wait()
        await close_as(client, how)
        limiter.limiter.replies.set()  # the limiter answers, after the close
    (error,) = errors  # (leaving the task group waited for the call)
    assert isinstance(error, ClientClosedError), repr(error)
    assert not openai_mock.requests
    assert "not stored" not in caplog.text
    assert [r.error_type for r in read_spilled(spill)] == ["ClientClosedError"]
    async with relaykit.Client(config, plugins=[limiter]) as replaying:
        with anyio.fail_after(10):  # a safety net only: it replays as it starts
            while replaying._call_log is not None and spill.exists():  # noqa: ASYNC110
                await anyio.sleep(0.01)
    assert await records_of(db) == [("", "ClientClosedError")]


@pytest.mark.anyio
async def test_a_caller_cancelled_as_the_close_cuts_its_cache_look_up_gets_its_own_cancellation(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    # As for a call waiting on a provider (test_shutdown.py): the caller's own
    # cancellation comes first, not the close's ClientClosedError.
    db = tmp_path / "log.db"
    gated = GatedSQLitePlugin(db)
    client = relaykit.Client(cached_config(openai_mock, db, "closer_cancelled"), plugins=[gated])
    outcome: list[str] = []
    try:
        async with anyio.create_task_group() as tg, client:
            caller = anyio.CancelScope()

            async def one() -> None:
                with caller:
                    try:
                        await client.chat(MODEL, "hi", cache=True, timeout=30)
                    except ClientClosedError:
                        outcome.append("ClientClosedError")
                        raise
                outcome.append("cancelled" if caller.cancelled_caught else "ended")

            tg.start_soon(one)
            await gated.storage.asked.wait()
            caller.cancel()  # the caller's own scope and aclose's, at once
            with anyio.move_on_after(0):
                await client.aclose()
    finally:
        gated.storage.release.set()
    assert outcome == ["cancelled"]
    assert await records_of(db) == [("", "Cancelled")]


@pytest.mark.anyio
async def test_batch_results_read_across_the_close_say_so_and_are_recorded_once(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    # A reader of batch results is not a call in flight (a loop left early would
    # hold the close for its whole timeout), so the close goes ahead under it: the
    # read then failed with "ProviderUnavailableError: connection failed", as if the
    # vendor were down, and the results read past the close were not stored.
    db, spill = tmp_path / "log.db", tmp_path / "spill.jsonl"
    config: dict[str, Any] = {
        "storage": {"backend": "sqlite", "path": str(db), "spill_path": str(spill)},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    # ~240 kB of results, served a few bytes at a time: far more than the read
    # has taken in when the client closes after the first
    items = [relaykit.BatchItem(f"item-{n}", "hi " * 2000) for n in range(40)]
    read: list[str] = []
    async with relaykit.Client(config) as client:
        batch = await client.submit_batch(MODEL, items)
        assert (await client.batch(batch.id)).done
        with pytest.raises(ClientClosedError, match="while the results of batch") as caught:
            async for result in client.batch_results(batch.id):
                read.append(result.custom_id)
                if len(read) == 1:
                    await client.aclose()
    assert batch.id in str(caught.value) and "read them again" in str(caught.value)
    assert 1 <= len(read) < len(items)
    async with relaykit.Client(config) as again:  # (replays what was spilled, too)
        assert len([r async for r in again.batch_results(batch.id)]) == len(items)
    stored = await records_of(db)
    assert len(stored) == len(items)  # each once
    assert all(error is None for _, error in stored)


@pytest.mark.anyio
async def test_closing_inside_the_clients_own_stream_block_ends_that_stream_at_once(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    # aclose waits for the streams in flight, and this one's block cannot be left
    # while its task waits in aclose: the close waited all of [timeouts] total (600 s
    # unless set), then ended the stream. It ends it at once, as the closer means.
    db = tmp_path / "log.db"
    config = {
        "storage": {"backend": "sqlite", "path": str(db)},
        "timeouts": {"total": 30},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    openai_mock.script.push(Reply(text="8 chars, then more", chunk_delay=0.05))
    texts: list[str] = []
    async with relaykit.Client(config) as client:
        with pytest.raises(ClientClosedError, match="closed"):
            async with client.stream(MODEL, "hi") as s:
                async for event in s:
                    texts.append(getattr(event, "text", ""))
                    if texts[-1]:
                        with anyio.fail_after(5):  # not the 30 s of [timeouts] total
                            await client.aclose()
    assert texts[-1] == "8 chars,"
    assert await records_of(db) == [("8 chars,", "ClientClosedError")]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["run_tools", "stream_tools"])
async def test_closing_from_a_tool_of_a_run_does_not_wait_for_that_run(
    openai_mock: OpenAIMock, tmp_path: Path, streamed: bool
) -> None:
    # aclose waits for the tool runs in flight, and this one cannot go on while its
    # tool waits in aclose: the close waited all of [timeouts] total, then shut the
    # client. It waits for the other calls only; the run then ends with
    # ClientClosedError at its next step (its first step's record written).
    db = tmp_path / "log.db"
    config = {
        "storage": {"backend": "sqlite", "path": str(db)},
        "timeouts": {"total": 30},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    openai_mock.script.push(Reply(tool_calls=(("stop", {}),)), Reply(text="done"))
    closed: list[bool] = []
    async with relaykit.Client(config) as client:

        async def stop() -> str:
            """Stop the client."""
            with anyio.fail_after(5):  # not the 30 s of [timeouts] total
                await client.aclose()
            closed.append(True)
            return "stopped"

        with pytest.raises(ClientClosedError, match="closed"):
            if streamed:
                async with client.stream_tools(MODEL, "hi", [stop]) as run:
                    async for _ in run:
                        pass
            else:
                await client.run_tools(MODEL, "hi", [stop])
    assert closed == [True]
    assert len(openai_mock.requests) == 1  # no step after the close
    assert [error for _, error in await records_of(db)] == [None]


@pytest.mark.anyio
@pytest.mark.parametrize("at", ["ToolResultEvent", "TextDelta"], ids=["between", "mid_step"])
async def test_closing_inside_the_clients_own_stream_tools_block_does_not_wait_for_it(
    openai_mock: OpenAIMock, tmp_path: Path, at: str
) -> None:
    # As for a stream: the run is in flight until its block is left, which cannot
    # happen while its task waits in aclose (it waited all of [timeouts] total).
    db = tmp_path / "log.db"
    config = {
        "storage": {"backend": "sqlite", "path": str(db)},
        "timeouts": {"total": 30},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    openai_mock.script.push(
        Reply(tool_calls=(("look", {}),)), Reply(text="8 chars, then more", chunk_delay=0.05)
    )

    async def look() -> str:
        """Look."""
        return "seen"

    async with relaykit.Client(config) as client:
        with pytest.raises(ClientClosedError, match="closed"):
            async with client.stream_tools(MODEL, "hi", [look]) as run:
                async for event in run:
                    if type(event).__name__ == at:
                        with anyio.fail_after(5):  # not the 30 s of [timeouts] total
                            await client.aclose()
    records = await records_of(db)
    assert records[0] == ("", None)  # the step that asked for the tool
    if at == "TextDelta":  # the step being read, ended by the close with what had come
        assert records[1:] == [("8 chars,", "ClientClosedError")]
    else:  # no step after the close
        assert records[1:] == [] and len(openai_mock.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("block", ["stream", "stream_tools"])
async def test_a_second_aclose_inside_a_block_the_first_waits_for_ends_the_wait(
    openai_mock: OpenAIMock, tmp_path: Path, block: str
) -> None:
    # The first aclose (another task) waits for this block; the second, inside it,
    # waited for the first: neither could end before [timeouts] total.
    db = tmp_path / "log.db"
    config = {
        "storage": {"backend": "sqlite", "path": str(db)},
        "timeouts": {"total": 30},
        "providers": {"openai": {"base_url": openai_mock.base_url, "api_key": MOCK_KEY}},
    }
    openai_mock.script.push(Reply(text="8 chars, then more", chunk_delay=0.05))
    reading = anyio.Event()

    async def look() -> str:
        """Look (never asked for)."""
        return "seen"

    async with anyio.create_task_group() as tg, relaykit.Client(config) as client:

        async def close_once_reading() -> None:  # started outside the block
            await reading.wait()
            await client.aclose()

        tg.start_soon(close_once_reading)
        with pytest.raises(ClientClosedError, match="closed"):
            opened = (
                client.stream(MODEL, "hi")
                if block == "stream"
                else client.stream_tools(MODEL, "hi", [look])
            )
            async with opened as s:
                async for event in s:
                    if getattr(event, "text", ""):
                        reading.set()
                        with anyio.fail_after(10):  # a safety net only
                            while not client._closed:  # noqa: ASYNC110 (another task)
                                await anyio.sleep(0.001)
                        with anyio.fail_after(5):  # not the 30 s of [timeouts] total
                            await client.aclose()
    assert await records_of(db) == [("8 chars,", "ClientClosedError")]
