"""A gateway that runs for weeks keeps its per-process state bounded: the Responses API
answers it keeps for ``previous_response_id`` stay within the store's bound in memory
actually held (not only in characters of text), and streams its callers hang up on
leave nothing behind in the client."""

from __future__ import annotations

import gc
import tracemalloc

import anyio
import httpx
import pytest

import relaykit
from relaykit.testing import FakePlugin
from relaykit_gateway.response_store import ResponseStore
from relaykit_gateway.testing import KEY, running

pytestmark = pytest.mark.anyio

#: the store's bound in these tests: about ten one-word exchanges
MAX_CHARS = 30_000
SETTINGS = {
    "storage": {"backend": "none"},
    "retry": {"attempts": 1},
    "providers": {"fake": {"type": "fake"}},
}


def held_bytes(before: tracemalloc.Snapshot) -> int:
    gc.collect()
    after = tracemalloc.take_snapshot()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


async def test_kept_responses_hold_no_more_memory_than_the_store_allows() -> None:
    fake, store = FakePlugin(), ResponseStore(max_chars=MAX_CHARS)
    async with (
        relaykit.Client(SETTINGS, plugins=[fake]) as client,
        running(client, responses=store) as url,
        httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {KEY}"}) as http,
    ):

        async def converse(n: int) -> None:
            for i in range(n):
                body = {"model": "fake/m", "input": "hi", "user": f"user-{i}"}
                assert (await http.post("/v1/responses", json=body)).status_code == 200
            fake.calls.clear()

        await converse(30)  # the store is full from here on (and everything is warm)
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            await converse(100)
            held = held_bytes(before)
        finally:
            tracemalloc.stop()
        assert store._chars <= MAX_CHARS
    # What the store holds now (the entries made before tracing count as freed by no
    # one: about 30 KB) and the noise of what else the requests leave (caches warming,
    # about 50 KB). A one-word exchange holds about 2.7 KB of objects: counted as its
    # 9 characters of text alone, the 100 made here held 300 KB.
    assert held < 5 * MAX_CHARS, held


async def test_streams_hung_up_on_leave_nothing_in_flight() -> None:
    fake = FakePlugin()
    async with (
        relaykit.Client(SETTINGS, plugins=[fake]) as client,
        running(client) as url,
        httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {KEY}"}) as http,
    ):
        for i in range(50):
            fake.script.reply("a long answer " * 20)
            body = {
                "model": f"fake/m-{i}",
                "stream": True,
                "user": f"user-{i}",
                "messages": [{"role": "user", "content": "hi"}],
            }
            async with http.stream("POST", "/v1/chat/completions", json=body) as answer:
                async for _ in answer.aiter_bytes():
                    break  # the caller hangs up after the first bytes
        await client.chat("fake/m", "hi")  # a call after: the gateway still serves
        # The gateway learns of the last hang-up when its next write fails: soon, not at once
        with anyio.fail_after(10):
            while client._streams:  # noqa: ASYNC110 (the gateway's task ends it)
                await anyio.sleep(0.01)
        assert (client._streams, client._running, client._runs) == (set(), set(), set())
        assert not any(client._router.busy(t) for t in list(client._router._health))
