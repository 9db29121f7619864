"""What a long-running process keeps after many calls that met faults, and after many
clients made and closed: file descriptors, threads and the client's per-call
registries come back to where they were.

Both HTTP clients: ``transport = "httpx"``, and ``"auto"`` (relaykit-aiohttp under
asyncio, httpx under trio). The calls meet connection resets, 5xx retries, total
timeouts, streams left early, streams cut by the caller's deadline, streams reset
mid-answer and hedges, against OpenAI's wire format on loopback; the log is a real
SQLite file.
"""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit.testing import OpenAIMock, Reply

KEY = "sk-mock-1234567890abcdef"
MODEL = "openai/gpt-4o-mini"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settings(mock: OpenAIMock, transport: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "storage": {"backend": "sqlite", "path": str(tmp_path / "log.db")},
        "retry": {"initial_wait": 0, "attempts": 3},
        "breaker": {"failures": 1000},
        "http": {"transport": transport},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        "models": {"hedged": {"targets": [MODEL, "openai/gpt-4o"], "hedge_after": 0.02}},
    }


async def faulty_call(client: relaykit.Client, mock: OpenAIMock, kind: int) -> None:
    """One call meeting the fault ``kind`` (0-7); its error, if any, is the caller's."""
    push = mock.script.push
    try:
        if kind == 0:
            push(Reply(connection_fault="reset"), Reply(text="ok"))
            await client.chat(MODEL, "x")
        elif kind == 1:
            push(Reply(status=503, error="busy"), Reply(text="ok"))
            await client.chat(MODEL, "x")
        elif kind == 2:
            push(Reply(delay=1.0))
            await client.chat(MODEL, "x", timeout=0.05)
        elif kind == 3:
            push(Reply(text="a b c d " * 50))
            async with client.stream(MODEL, "x") as stream:
                async for _ in stream:
                    break  # left early
        elif kind == 4:
            push(Reply(text="a b c " * 50, first_token_delay=1.0))
            with anyio.move_on_after(0.05):
                async with client.stream(MODEL, "x") as stream:
                    async for _ in stream:
                        pass
        elif kind == 5:
            push(*[Reply(text="abc", stream_fault="reset")] * 3)
            async with client.stream(MODEL, "x") as stream:
                async for _ in stream:
                    pass
        elif kind == 6:
            push(Reply(delay=0.3), Reply(text="fast"))
            await client.chat("hedged", "x")  # the backup answers, the first is cut
        else:
            push(Reply(delay=0.5))
            with anyio.move_on_after(0.02):
                await client.chat(MODEL, "x")
    except relaykit.RelayError:
        pass


def registries(client: relaykit.Client) -> dict[str, int]:
    """The sizes of the client's per-call registries (empty between calls)."""
    timer = getattr(client, "_hedge_timer", None)
    return {
        "running": len(client._running),
        "streams": len(client._streams),
        "runs": len(client._runs),
        "excused": len(client._excused),
        "hedges": len(timer._pending) + len(timer._early) if timer is not None else 0,
        "in flight": client._in_flight,
    }


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["httpx", "auto"])
async def test_faulty_calls_leave_no_descriptors_or_registrations(
    transport: str, tmp_path: Path
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        before = open_fds()
        async with relaykit.Client(settings(mock, transport, tmp_path)) as client:
            for i in range(8):  # every connection and file the client keeps, open
                await faulty_call(client, mock, i % 8)
            gc.collect()
            warm = open_fds()
            for i in range(24):
                await faulty_call(client, mock, i % 8)
            gc.collect()
            # the pool's connections come and go with the faults: a few either way
            assert open_fds() <= warm + 4
            assert set(registries(client).values()) == {0}, registries(client)
        gc.collect()
        assert open_fds() <= before


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["httpx", "auto"])
async def test_clients_made_and_closed_leave_no_threads_or_descriptors(
    transport: str, tmp_path: Path
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        config = settings(mock, transport, tmp_path)

        async def one() -> None:
            async with relaykit.Client(config) as client:
                await client.chat(MODEL, "hi")
                await faulty_call(client, mock, 3)
                await faulty_call(client, mock, 4)

        for _ in range(3):  # the worker threads anyio keeps, the imports
            await one()
        gc.collect()
        fds, threads = open_fds(), threading.active_count()
        for _ in range(15):
            await one()
        gc.collect()
        assert open_fds() <= fds
        # anyio keeps idle worker threads for a while: a few more may be waiting
        assert threading.active_count() <= threads + 2, threading.enumerate()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_clients_made_and_closed_leave_no_threads_or_descriptors(
    backend: str, tmp_path: Path
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        config = settings(mock, "auto", tmp_path)

        def one() -> None:
            with relaykit.SyncClient(config, backend=backend) as client:
                client.chat(MODEL, "hi")
                with client.stream(MODEL, "hi") as stream:
                    for _ in stream:
                        break

        one()
        gc.collect()
        fds, threads = open_fds(), threading.active_count()
        for _ in range(15):
            one()
        gc.collect()
        # the loop thread of each is gone, with its selector and the log's connection
        assert open_fds() <= fds
        assert threading.active_count() <= threads, threading.enumerate()
