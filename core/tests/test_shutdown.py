"""Closing a client while calls are in flight: they finish, their records are written,
and anything after the close gets a typed error."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ClientClosedError
from relaykit.events import TextDelta
from relaykit.protocols import CallRecord, LogQuery
from relaykit.testing import FakePlugin, LoopbackServer, MemoryStorage, OpenAIMock, Reply
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse

from .conftest import MOCK_KEY

INSTANT = {"attempts": 1, "initial_wait": 0, "max_retry_after": 0}


class DatabaseLikeStorage(MemoryStorage):
    """Refuses writes once closed, as a real database connection does; may write slowly."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        if self.closed:
            raise RuntimeError("write to a closed storage")
        if self.delay:
            await anyio.sleep(self.delay)
        await super().write_batch(records)


async def reached_the_provider(fake: FakePlugin, calls: int) -> None:
    """Return once the provider has been called ``calls`` times.

    Waited for, not slept for: after a fixed 0.02 s a slow machine may not
    have run the calls' tasks yet, and closing then refuses them instead.
    """
    with anyio.fail_after(10):  # a safety net only
        while len(fake.calls) < calls:  # noqa: ASYNC110 (the calls run in other tasks)
            await anyio.sleep(0.001)


def make(fake: FakePlugin, storage: MemoryStorage, **storage_config: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "memory", **storage_config},
        "retry": INSTANT,
    }
    return relaykit.Client(config, plugins=[fake, storage.plugin()])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("write_delay", "queue_size"), [(0.0, 10_000), (0.05, 1)], ids=["roomy", "backpressure"]
)
async def test_closing_with_calls_in_flight_lets_them_finish_and_writes_their_records(
    write_delay: float, queue_size: int
) -> None:
    fake, storage = FakePlugin(), DatabaseLikeStorage(write_delay)
    fake.script.push(Reply(text="warm"), *[Reply(text="answer", delay=0.1)] * 5)
    answers: list[str] = []
    async with anyio.create_task_group() as tg:
        async with make(fake, storage, queue_size=queue_size) as client:
            await client.chat("fake/m", "warm up")  # builds the provider

            async def one() -> None:
                answers.append((await client.chat("fake/m", "hi")).text)

            for _ in range(5):
                tg.start_soon(one)
            await reached_the_provider(fake, 1 + 5)  # all five are waiting for it
        # leaving the block waited for them
        assert answers == ["answer"] * 5
    assert storage.closed
    assert len(storage.records) == 6


@pytest.mark.anyio
async def test_closing_waits_for_a_stream_in_flight() -> None:
    fake, storage = FakePlugin(), DatabaseLikeStorage()
    fake.script.push(Reply(text="a stream of several chunks", chunk_delay=0.02))
    async with anyio.create_task_group() as tg, make(fake, storage) as client:
        started = anyio.Event()

        async def read() -> None:
            async with client.stream("fake/m", "hi") as s:
                started.set()
                async for _ in s:
                    pass

        tg.start_soon(read)
        await started.wait()
    assert [r.text for r in storage.records.values()] == ["a stream of several chunks"]


@pytest.mark.anyio
async def test_a_closer_that_stops_waiting_still_closes_and_cancels_the_late_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, storage = FakePlugin(), DatabaseLikeStorage()
    # Late by far more than the closer waits (0.05 s): at 0.2 s a loaded machine
    # could stall past the answer while closing, and the call then made the close.
    fake.script.push(Reply(text="warm"), Reply(text="late", delay=1))
    errors: list[Exception] = []
    async with anyio.create_task_group() as tg:
        client = make(fake, storage)
        async with client:
            await client.chat("fake/m", "warm up")

            async def one() -> None:
                try:
                    await client.chat("fake/m", "hi")
                except ClientClosedError as e:
                    errors.append(e)

            tg.start_soon(one)
            await reached_the_provider(fake, 2)
            with anyio.move_on_after(0.05):
                await client.aclose()  # gives up waiting, then closes anyway
            assert storage.closed
            # Cancelled before the storage closed: the caller was told, the record kept.
            assert len(errors) == 1
    assert sorted(str(r.error_type) for r in storage.records.values()) == [
        "ClientClosedError",
        "None",
    ]
    assert "arrived after the call log closed" not in caplog.text


@pytest.mark.anyio
async def test_closed_client_raises_a_typed_error_for_chats_and_streams() -> None:
    fake, storage = FakePlugin(), DatabaseLikeStorage()
    async with make(fake, storage) as client:
        made_before = client.stream("fake/m", "hi")
    with pytest.raises(ClientClosedError, match="closed"):
        await client.chat("fake/m", "hi")
    with pytest.raises(ClientClosedError):
        client.stream("fake/m", "hi")
    with pytest.raises(ClientClosedError):
        async with made_before:
            pass
    assert not fake.calls


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_closed_sync_client_raises_a_typed_error(backend: str) -> None:
    config = {"storage": {"backend": "none"}}
    client = relaykit.SyncClient(config, plugins=[FakePlugin()], backend=backend)
    with client:
        assert client.chat("fake/m", "hi").text == "echo: hi"
    with pytest.raises(ClientClosedError):
        client.chat("fake/m", "hi")
    with pytest.raises(ClientClosedError):
        client.stream("fake/m", "hi")


# -- over loopback HTTP, records in a real SQLite file


def http_config(mock: OpenAIMock, db: Path) -> dict[str, Any]:
    return {
        "storage": {"backend": "sqlite", "path": str(db)},
        "retry": INSTANT,
        "providers": {"openai": {"base_url": mock.base_url, "api_key": MOCK_KEY}},
    }


async def stored_texts(config: dict[str, Any]) -> list[str]:
    """The texts of the records in the config's SQLite file, oldest first."""
    async with relaykit.Client(config) as reader:
        assert reader.storage is not None
        records = await reader.storage.query_logs(LogQuery())
    return [r.text for r in reversed(records)]


async def requests_reach(mock: OpenAIMock, count: int) -> None:
    """Return once ``mock`` has received ``count`` requests (the calls run in other tasks)."""
    with anyio.fail_after(10):  # a safety net only
        while len(mock.requests) < count:  # noqa: ASYNC110
            await anyio.sleep(0.001)


async def until_closing(client: relaykit.Client) -> None:
    with anyio.fail_after(10):
        while not client._closed:  # noqa: ASYNC110  # (aclose runs in another task)
            await anyio.sleep(0.001)


async def until_shut_down(client: relaykit.Client) -> None:
    """Return once aclose's wait for calls in flight is over (it runs in another task)."""
    with anyio.fail_after(10):  # a safety net only
        while not client._shut:  # noqa: ASYNC110
            await anyio.sleep(0.001)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["run_tools", "stream_tools"])
async def test_closing_waits_for_a_tool_run_between_steps(
    openai_mock: OpenAIMock, tmp_path: Path, streamed: bool
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    openai_mock.script.push(Reply(tool_calls=(("lookup", {"key": "k"}),)), Reply(text="done"))
    in_tool, release = anyio.Event(), anyio.Event()

    async def lookup(key: str) -> str:
        """Look a key up."""
        in_tool.set()
        await release.wait()
        return f"value of {key}"

    texts: list[str] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:

            async def run() -> None:
                if streamed:
                    async with client.stream_tools("openai/gpt-4o-mini", "hi", [lookup]) as r:
                        async for _ in r:
                            pass
                    texts.append(r.run.text)
                else:
                    texts.append(
                        (await client.run_tools("openai/gpt-4o-mini", "hi", [lookup])).text
                    )

            tg.start_soon(run)
            await in_tool.wait()  # between the steps: the first has ended
            tg.start_soon(client.aclose)  # from another task than the run's
            await until_closing(client)
            with pytest.raises(ClientClosedError):  # a new call is refused meanwhile
                await client.chat("openai/gpt-4o-mini", "new")
            with pytest.raises(ClientClosedError):
                async with client.stream_tools("openai/gpt-4o-mini", "new", [lookup]):
                    pass
            release.set()
        # leaving the block waited for the run: its second step was made
        assert texts == ["done"]
    assert await stored_texts(config) == ["", "done"]


@pytest.mark.anyio
async def test_a_tool_run_step_after_the_client_shut_down_gets_a_typed_error(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    openai_mock.script.push(Reply(tool_calls=(("lookup", {"key": "k"}),)), Reply(text="done"))
    in_tool, release = anyio.Event(), anyio.Event()

    async def lookup(key: str) -> str:
        """Look a key up."""
        in_tool.set()
        await release.wait()
        return key

    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:

            async def run() -> None:
                try:
                    await client.run_tools("openai/gpt-4o-mini", "hi", [lookup])
                except Exception as e:
                    errors.append(e)

            tg.start_soon(run)
            await in_tool.wait()
            with anyio.move_on_after(0.01):
                await client.aclose()  # gives up waiting: shut down under the run
            release.set()
    (error,) = errors
    assert isinstance(error, ClientClosedError)  # not a failure in a closed HTTP pool
    assert len(openai_mock.requests) == 1
    assert await stored_texts(config) == [""]


@pytest.mark.anyio
async def test_a_second_aclose_returns_once_the_client_is_closed(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    openai_mock.script.push(Reply(text="warm"), Reply(text="late", delay=0.2))
    answers: list[str] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            await client.chat("openai/gpt-4o-mini", "warm up")

            async def one() -> None:
                answers.append((await client.chat("openai/gpt-4o-mini", "hi")).text)

            tg.start_soon(one)
            await requests_reach(openai_mock, 2)
            tg.start_soon(client.aclose)
            await until_closing(client)
            await client.aclose()  # (a second, in another task: waits for the first)
            assert answers == ["late"]
            # closed: the call log drained into the file
            assert await stored_texts(config) == ["warm", "late"]


@pytest.mark.anyio
async def test_closing_while_another_task_reads_a_stream_over_http(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    openai_mock.script.push(Reply(text="one two three four five six", chunk_delay=0.02))
    texts: list[str] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            reading = anyio.Event()

            async def read() -> None:
                async with client.stream("openai/gpt-4o-mini", "hi") as s:
                    async for _ in s:
                        reading.set()
                texts.append(s.response.text)

            tg.start_soon(read)
            await reading.wait()
            await client.aclose()  # waits for the reader's stream
            assert texts == ["one two three four five six"]
    assert await stored_texts(config) == texts


class Boom(Exception):
    """The block's own error."""


@pytest.mark.anyio
async def test_leaving_the_block_by_an_exception_waits_for_calls_and_raises_it_unwrapped(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    openai_mock.script.push(Reply(text="warm"), Reply(text="late", delay=0.1))
    answers: list[str] = []
    async with anyio.create_task_group() as tg:
        with pytest.raises(Boom):  # itself, not an ExceptionGroup
            async with relaykit.Client(config) as client:
                await client.chat("openai/gpt-4o-mini", "warm up")

                async def one() -> None:
                    answers.append((await client.chat("openai/gpt-4o-mini", "hi")).text)

                tg.start_soon(one)
                await requests_reach(openai_mock, 2)
                raise Boom
        assert answers == ["late"]  # the call in flight finished first
    assert await stored_texts(config) == ["warm", "late"]


# -- a call still in flight when aclose's wait is over


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])  # auto: aiohttp's under asyncio
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_call_in_flight_when_the_wait_is_over_is_cancelled_and_recorded(
    openai_mock: OpenAIMock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    transport: str,
    how: str,
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    config["http"] = {"transport": transport}
    if how == "wait_runs_out":
        config["timeouts"] = {"total": 0.1}  # aclose's wait; the call has its own
    openai_mock.script.push(Reply(text="warm"), Reply(text="late", delay=10))
    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            # its own timeout: [timeouts] total is aclose's 0.1 s wait here, which a
            # loaded machine's first call (connection, TLS) can go past
            await client.chat("openai/gpt-4o-mini", "warm up", timeout=30)

            async def one() -> None:
                try:
                    await client.chat("openai/gpt-4o-mini", "hi", timeout=30)
                except Exception as e:
                    errors.append(e)

            tg.start_soon(one)
            await requests_reach(openai_mock, 2)
            with anyio.fail_after(5):  # not the call's 10 s
                if how == "wait_runs_out":
                    await client.aclose()
                else:
                    with anyio.move_on_after(0.05):
                        await client.aclose()
            # the caller was told why, before the connections closed under it
            (error,) = errors
            assert isinstance(error, ClientClosedError)
            assert "closed while this call was in flight" in str(error)
    assert "arrived after the call log closed" not in caplog.text
    assert "Unclosed" not in caplog.text  # aiohttp's session and connector
    async with relaykit.Client(config) as reader:
        assert reader.storage is not None
        records = await reader.storage.query_logs(LogQuery())
    assert [(r.text, r.error_type) for r in reversed(records)] == [
        ("warm", None),
        ("", "ClientClosedError"),
    ]


@pytest.mark.anyio
async def test_a_caller_cancelled_while_the_client_closes_gets_its_own_cancellation(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    openai_mock.script.push(Reply(text="warm"), Reply(text="late", delay=10))
    outcome: list[str] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            await client.chat("openai/gpt-4o-mini", "warm up")
            caller = anyio.CancelScope()

            async def one() -> None:
                with caller:
                    try:
                        await client.chat("openai/gpt-4o-mini", "hi")
                    except ClientClosedError:
                        outcome.append("ClientClosedError")
                        raise
                outcome.append("cancelled" if caller.cancelled_caught else "ended")

            tg.start_soon(one)
            await requests_reach(openai_mock, 2)
            caller.cancel()  # the caller's own scope and aclose's, at once
            with anyio.move_on_after(0):
                await client.aclose()
    assert outcome == ["cancelled"]


@pytest.mark.anyio
async def test_a_tools_embed_during_the_close_goes_ahead_as_its_chats_do(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    config = http_config(openai_mock, tmp_path / "log.db")
    openai_mock.script.push(
        Reply(tool_calls=(("lookup", {"key": "k"}),)), Reply(), Reply(text="done")
    )
    in_tool, closing = anyio.Event(), anyio.Event()

    async def lookup(key: str) -> str:
        """Look a key up, by its embedding."""
        in_tool.set()
        await closing.wait()
        response = await client.embed("openai/text-embedding-3-small", key)
        return f"{len(response.vectors)} vector"

    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:

            async def run() -> None:
                run = await client.run_tools("openai/gpt-4o-mini", "hi", [lookup])
                assert run.text == "done"
                assert "1 vector" in str(run.messages[-2].content)

            tg.start_soon(run)
            await in_tool.wait()  # in flight: the close waits for the run
            tg.start_soon(client.aclose)
            await until_closing(client)
            closing.set()
    assert len(openai_mock.requests) == 3


# -- a stream, or a retry's wait, still going when aclose's wait is over


async def records_of(config: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(text, error type) of each record in the config's SQLite file, oldest first."""
    async with relaykit.Client(config) as reader:
        assert reader.storage is not None
        records = await reader.storage.query_logs(LogQuery())
    return [(r.text, r.error_type) for r in reversed(records)]


async def close_as(client: relaykit.Client, how: str) -> None:
    """Close ``client`` once its wait runs out ([timeouts] total) or once its closer
    is cancelled; either way well before the calls in flight would end."""
    with anyio.fail_after(5):  # the stalled replies take 10 s
        if how == "wait_runs_out":
            await client.aclose()
        else:
            with anyio.move_on_after(0.05):
                await client.aclose()


def stalling_config(openai_mock: OpenAIMock, tmp_path: Path, transport: str, how: str) -> Any:
    config = http_config(openai_mock, tmp_path / "log.db")
    config["http"] = {"transport": transport}
    # The calls take timeout=30 each; aclose waits [timeouts] total for them.
    config["timeouts"] = {"total": 0.1 if how == "wait_runs_out" else 30, "idle": 30}
    return config


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])  # auto: aiohttp's under asyncio
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_stream_read_when_the_wait_is_over_is_ended_and_recorded(
    openai_mock: OpenAIMock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    transport: str,
    how: str,
) -> None:
    config = stalling_config(openai_mock, tmp_path, transport, how)
    openai_mock.script.push(Reply(text="warm"), Reply(text="8 chars, then more", chunk_delay=10))
    errors: list[BaseException] = []
    texts: list[str] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            # timeout=30: [timeouts] total (0.1 s) is aclose's wait here, and a loaded
            # machine takes longer than that over the first connection
            await client.chat("openai/gpt-4o-mini", "warm up", timeout=30)
            reading = anyio.Event()

            async def read() -> None:
                try:
                    async with client.stream("openai/gpt-4o-mini", "hi", timeout=30) as s:
                        async for event in s:
                            texts.append(getattr(event, "text", ""))
                            reading.set()
                except Exception as e:
                    errors.append(e)

            tg.start_soon(read)
            await reading.wait()
            await close_as(client, how)
            with anyio.fail_after(5):  # the reader is woken, not left for the idle timeout
                while not errors:  # noqa: ASYNC110 (the reader runs in another task)
                    await anyio.sleep(0.001)
    (error,) = errors
    assert isinstance(error, ClientClosedError), repr(error)
    assert "arrived after the call log closed" not in caplog.text
    assert "Unclosed" not in caplog.text  # aiohttp's session and connector
    arrived = "".join(texts)
    assert arrived == "8 chars,"  # the first piece; the next is 10 s away
    assert await records_of(config) == [("warm", None), (arrived, "ClientClosedError")]


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])  # auto: aiohttp's under asyncio
async def test_a_stream_held_open_without_reading_is_recorded_when_the_client_closes(
    openai_mock: OpenAIMock, tmp_path: Path, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    config = stalling_config(openai_mock, tmp_path, transport, "closer_cancelled")
    openai_mock.script.push(Reply(text="8 chars, then more", chunk_delay=10))
    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            opened, closed = anyio.Event(), anyio.Event()

            async def hold() -> None:
                async with client.stream("openai/gpt-4o-mini", "hi", timeout=30) as s:
                    while not isinstance(await s.__anext__(), TextDelta):
                        pass  # up to the first piece of text
                    opened.set()
                    await closed.wait()  # the caller is busy elsewhere meanwhile
                    try:
                        await s.__anext__()
                    except Exception as e:
                        errors.append(e)

            tg.start_soon(hold)
            await opened.wait()
            await close_as(client, "closer_cancelled")
            # recorded by the close itself: the caller has not read on yet
            assert await records_of(config) == [("8 chars,", "ClientClosedError")]
            closed.set()
    (error,) = errors
    assert isinstance(error, ClientClosedError)
    assert "arrived after the call log closed" not in caplog.text
    assert "Unclosed" not in caplog.text  # aiohttp's session and connector


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_stream_waiting_for_its_first_token_when_the_wait_is_over_is_cancelled(
    openai_mock: OpenAIMock, tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    config = stalling_config(openai_mock, tmp_path, "httpx", how)
    config["timeouts"]["first_token"] = 30
    openai_mock.script.push(Reply(text="warm"), Reply(text="late", first_token_delay=10))
    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            await client.chat("openai/gpt-4o-mini", "warm up", timeout=30)  # not aclose's 0.1 s

            async def read() -> None:
                try:
                    async with client.stream("openai/gpt-4o-mini", "hi", timeout=30) as s:
                        async for _ in s:
                            pass
                except Exception as e:
                    errors.append(e)

            tg.start_soon(read)
            await requests_reach(openai_mock, 2)
            await close_as(client, how)
            (error,) = errors  # told before the connections closed under it
            assert isinstance(error, ClientClosedError), repr(error)
    assert "arrived after the call log closed" not in caplog.text
    assert await records_of(config) == [("warm", None), ("", "ClientClosedError")]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_retry_waiting_out_retry_after_when_the_wait_is_over_is_cancelled(
    openai_mock: OpenAIMock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
    streamed: bool,
) -> None:
    config = stalling_config(openai_mock, tmp_path, "httpx", how)
    config["retry"] = {"attempts": 3, "max_retry_after": 60}
    openai_mock.script.push(Reply(text="warm"), Reply(status=429, retry_after=10), Reply())
    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            await client.chat("openai/gpt-4o-mini", "warm up", timeout=30)  # not aclose's 0.1 s

            async def one() -> None:
                try:
                    if streamed:
                        async with client.stream("openai/gpt-4o-mini", "hi", timeout=30) as s:
                            async for _ in s:
                                pass
                    else:
                        await client.chat("openai/gpt-4o-mini", "hi", timeout=30)
                except Exception as e:
                    errors.append(e)

            tg.start_soon(one)
            await requests_reach(openai_mock, 2)
            await anyio.sleep(0.05)  # into the 10 s Retry-After wait
            await close_as(client, how)
            (error,) = errors
            assert isinstance(error, ClientClosedError), repr(error)
    assert len(openai_mock.requests) == 2  # not retried after the close
    assert "arrived after the call log closed" not in caplog.text
    assert await records_of(config) == [("warm", None), ("", "ClientClosedError")]


class GatedCacheStore(MemoryStorage):
    """A response cache store (MemoryStorage's cache methods) whose look-ups wait
    until :attr:`release` is set: a store waiting on a lock, or a busy thread pool."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = anyio.Event()
        self.release = anyio.Event()

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        self.asked.set()
        await self.release.wait()
        return await super().cached_response(key)

    @relaykit.hookimpl
    def relaykit_response_cache(self, name: str, config: object) -> Any:
        return self if name == "slow" else None


@pytest.mark.anyio
async def test_a_call_waiting_on_the_cache_when_the_wait_is_over_is_recorded() -> None:
    # Nothing of this call is waiting on a provider when aclose's wait runs out, so
    # there is nothing to cancel: closing must still wait (bounded) for it to end,
    # or its record reaches a call log that has closed, and is lost.
    fake, storage, store = FakePlugin(), DatabaseLikeStorage(), GatedCacheStore()
    config: dict[str, Any] = {
        "storage": {"backend": "memory"},
        "retry": INSTANT,
        "cache": {"enabled": True, "backend": "slow"},
        "timeouts": {"total": 0.05},  # aclose's wait; the call has its own
    }
    errors: list[BaseException] = []
    client = relaykit.Client(config, plugins=[fake, storage.plugin(), store])

    async def one() -> None:
        try:
            await client.chat("fake/m", "hi", temperature=0, timeout=30)
        except Exception as e:
            errors.append(e)

    async def answer_once_shut_down() -> None:
        # The look-up ends once aclose's wait is over, not after a fixed sleep: on a
        # loaded machine both timers ran out together and the call could go first.
        await until_shut_down(client)
        store.release.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg, client:
            # Not the client's first call: that one imports the HTTP stack after the
            # look-up (a worker thread, seconds under load), past aclose's 1 s for
            # calls to record themselves. (Not cached: no look-up to wait on.)
            await client.chat("fake/m", "warm")
            tg.start_soon(one)
            await store.asked.wait()
            tg.start_soon(answer_once_shut_down)
    (error,) = errors
    assert isinstance(error, ClientClosedError)
    assert [r.error_type for r in storage.records.values()] == [None, "ClientClosedError"]


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])  # auto: aiohttp's under asyncio
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_batch_submit_in_flight_when_the_wait_is_over_is_cancelled_as_a_chat_is(
    openai_mock: OpenAIMock, tmp_path: Path, transport: str, how: str
) -> None:
    # As a chat waiting on a provider: cancelled once aclose's wait is over, with
    # ClientClosedError, before the connections close (it went on over closed ones:
    # a connection error, once closing had waited a second more for it).
    config = stalling_config(openai_mock, tmp_path, transport, how)
    config["storage"] = {"backend": "none"}
    openai_mock.batch_script.push(Reply(), Reply(delay=10))  # the file, then the create
    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        client = relaykit.Client(config)
        async with client:
            await client.chat("openai/gpt-4o-mini", "warm up", timeout=30)

            async def submit() -> None:
                try:
                    await client.submit_batch(
                        "openai/gpt-4o-mini", [relaykit.BatchItem("a", "hi")], timeout=30
                    )
                except Exception as e:
                    errors.append(e)

            tg.start_soon(submit)
            await requests_reach(openai_mock, 3)  # the warm-up, the file, the create
            await close_as(client, how)
            (closed,) = errors  # told before the connections closed under it
            assert isinstance(closed, ClientClosedError), repr(closed)
            # The create was sent: the batch may exist, and the error says where to look.
            assert "may have been created" in closed.message and not closed.retryable


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])  # auto: aiohttp's under asyncio
@pytest.mark.parametrize("how", ["wait_runs_out", "closer_cancelled"])
async def test_a_model_listing_in_flight_when_the_wait_is_over_is_cancelled_as_a_chat_is(
    transport: str, how: str
) -> None:
    # A listing waiting on a provider is a call too: closing waits for it, then
    # cancels it with ClientClosedError before the connections close (it was not
    # waited for at all, and failed as the connections closed under it).
    asked = threading.Event()

    async def slow_listing(request: HttpRequest) -> HttpResponse:
        asked.set()
        await anyio.sleep(10)
        return HttpResponse.json({"object": "list", "data": []})

    errors: list[BaseException] = []
    with LoopbackServer(slow_listing) as server:
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "http": {"transport": transport},
            "timeouts": {"total": 0.1 if how == "wait_runs_out" else 30},
            "providers": {"slow": {"type": "openai", "base_url": f"{server.url}/v1"}},
        }
        async with anyio.create_task_group() as tg:
            client = relaykit.Client(config, env={"OPENAI_API_KEY": MOCK_KEY})
            async with client:

                async def listing() -> None:
                    try:
                        await client.models("slow")
                    except Exception as e:
                        errors.append(e)

                tg.start_soon(listing)
                with anyio.fail_after(10):  # (a safety net only)
                    while not asked.is_set():  # noqa: ASYNC110 (the server runs in a thread)
                        await anyio.sleep(0.001)
                await close_as(client, how)
                (closed,) = errors  # told before the connections closed under it
                assert isinstance(closed, ClientClosedError), repr(closed)
