"""The response cache under faults and concurrency: cut streams, racing calls,
failing stores, hits and limits, and credentials kept out of the store."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit.events import Finish
from relaykit.messages import ReasoningPart
from relaykit.testing import FakePlugin, Reply

from .conftest import Shelf, StorePlugin

#: the shape of an OpenAI project key (not a real one): the secret redactor masks it
KEY_SHAPED = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
#: a value of no known shape, masked for its label (``"api_key": "..."``)
LABELLED = "abcd1234efgh5678"


def make(*plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"initial_wait": 0.001, "attempts": 1},
        "cache": {"enabled": True},
        **sections,
    }
    return relaykit.Client(config, plugins=plugins)


async def drain(client: relaykit.Client, text: str = "q", **params: Any) -> relaykit.ChatResponse:
    async with client.stream("fake/m", text, temperature=0, **params) as s:
        async for _ in s:
            pass
    return s.response


# -- streams cut short ---------------------------------------------------------


@pytest.mark.anyio
async def test_a_stream_cancelled_mid_answer_is_not_kept() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="word " * 40, chunk_delay=0.01), Reply(text="whole"))
    async with make(fake) as client:
        with anyio.move_on_after(0.05) as scope:
            await drain(client)
        assert scope.cancelled_caught
        again = await client.chat("fake/m", "q", temperature=0)
    assert (again.cache_hit, again.text) == (False, "whole")


@pytest.mark.anyio
async def test_a_stream_that_broke_mid_answer_is_not_kept() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="word " * 40, stream_fault="error"), Reply(text="whole"))
    async with make(fake) as client:
        with pytest.raises(relaykit.StreamError):
            await drain(client)
        again = await client.chat("fake/m", "q", temperature=0)
    assert (again.cache_hit, again.text) == (False, "whole")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("sections", "params", "which"),
    [
        ({"timeouts": {"idle": 0.1}}, {}, "idle"),
        ({}, {"timeout": 0.2}, "total"),
    ],
)
async def test_a_stream_cut_by_a_timeout_is_not_kept(
    sections: dict[str, Any], params: dict[str, Any], which: str
) -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="word " * 10, chunk_delay=0.3), Reply(text="whole"))
    async with make(fake, **sections) as client:
        with pytest.raises(relaykit.RequestTimeoutError) as info:
            await drain(client, **params)
        assert info.value.which == which
        again = await client.chat("fake/m", "q", temperature=0)
    assert (again.cache_hit, again.text) == (False, "whole")


@pytest.mark.anyio
async def test_a_stream_left_right_after_its_finish_event_is_not_kept() -> None:
    # Left early, as README says: the answer was whole, but the stream did not end
    # as the caller's loop would have ended it, and no half-way rule is worth it.
    fake = FakePlugin()
    fake.script.push(Reply(text="whole answer"), Reply(text="asked again"))
    async with make(fake) as client:
        async with client.stream("fake/m", "q", temperature=0) as s:
            async for event in s:
                if isinstance(event, Finish):
                    break
        again = await client.chat("fake/m", "q", temperature=0)
    assert (again.cache_hit, again.text) == (False, "asked again")


# -- identical calls at once -------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_of_two_identical_calls_the_cancelled_one_leaves_the_other_to_fill_the_cache(
    streamed: bool,
) -> None:
    fake = FakePlugin()
    # Whichever call gets which reply, the cancelled one is cut long before its end:
    # a stream mid-answer, a call while it waits for its answer.
    delay = 0.0 if streamed else 0.3
    fake.script.push(
        Reply(text="A " * 200, chunk_delay=0.01, delay=delay),
        Reply(text="B " * 200, chunk_delay=0.01, delay=delay),
    )
    whole: list[relaykit.ChatResponse] = []
    async with make(fake) as client:

        async def call() -> relaykit.ChatResponse:
            if streamed:
                return await drain(client)
            return await client.chat("fake/m", "q", temperature=0)

        async def finished() -> None:
            whole.append(await call())

        async def cancelled() -> None:
            with anyio.move_on_after(0.1):
                await call()
                raise AssertionError("not cancelled")

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancelled)
            tg.start_soon(finished)
        hit = await client.chat("fake/m", "q", temperature=0)
        replayed = await drain(client)
    assert len(fake.calls) == 2  # no single-flight: both asked
    assert (hit.cache_hit, hit.text) == (True, whole[0].text)
    assert (replayed.cache_hit, replayed.text) == (True, whole[0].text)


# -- hits: free, and never charged to limits or budgets ---------------------


@pytest.mark.anyio
async def test_hits_reserve_nothing_and_leave_every_limit_to_real_calls() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="x", input_tokens=5, output_tokens=1), Reply(text="y"))
    limits = {"fake/*": {"tpm": 200, "rpm": 2, "budget_usd": 1}}
    prices = {"fake/m": {"input": 0.01, "output": 0.01}}
    async with make(fake, limits=limits, prices=prices) as client:
        await client.chat("fake/m", "q", temperature=0, max_tokens=50)
        # Forty hits, each of which would hold 50+ tokens and a request if it reserved.
        for _ in range(20):
            hit = await client.chat("fake/m", "q", temperature=0, max_tokens=50)
            streamed = await drain(client, max_tokens=50)
            for r in (hit, streamed):
                assert (r.cache_hit, r.cost, r.attempts) == (True, Decimal(0), 0)
        # The minute's second request is still there for a real call.
        other = await client.chat("fake/m", "another", temperature=0, max_tokens=50)
        assert not other.cache_hit
        with pytest.raises(relaykit.QuotaExceededError):
            await client.chat("fake/m", "a third", temperature=0, max_tokens=50)
    assert len(fake.calls) == 2


@pytest.mark.anyio
async def test_a_hit_from_a_sqlite_file_is_free_in_another_client(tmp_path: Path) -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="stored answer", input_tokens=7, output_tokens=3))
    storage = {"storage": {"backend": "sqlite", "path": str(tmp_path / "relaykit.db")}}
    async with make(fake, **storage) as client:
        first = await client.chat("fake/m", "q", temperature=0)
    answers = []
    for streamed in (False, True):  # a fresh process each: from the file, not memory
        async with make(fake, **storage) as client:
            if streamed:
                answers.append(await drain(client))
            else:
                answers.append(await client.chat("fake/m", "q", temperature=0))
    assert first.cost is not None and first.cost > 0
    for r in answers:
        assert (r.cache_hit, r.cost, r.attempts, r.text, r.usage, r.finish_reason) == (
            True,
            Decimal(0),
            0,
            first.text,
            first.usage,
            "stop",
        )
    assert len(fake.calls) == 1


# -- a store that fails ------------------------------------------------------


@pytest.mark.anyio
async def test_a_failing_store_leaves_streams_uncached_and_counted() -> None:
    shelf, fake = Shelf(), FakePlugin()
    shelf.failing = ConnectionError("down")
    async with relaykit.Client(
        {"storage": {"backend": "none"}, "cache": {"enabled": True, "backend": "shelf"}},
        plugins=[fake, StorePlugin(shelf)],
    ) as client:
        first = await drain(client)
        second = await drain(client)  # the memory in front of the store still answers
        assert client.cache_errors == 2  # the first lookup, and the write after it
    assert (first.text, first.cache_hit) == ("echo: q", False)
    assert (second.text, second.cache_hit) == ("echo: q", True)


# -- credentials -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_an_answer_holding_a_credential_is_kept_in_memory_but_not_in_the_store(
    tmp_path: Path, streamed: bool
) -> None:
    path = tmp_path / "relaykit.db"
    fake = FakePlugin()  # it echoes the prompt: the answer quotes the key
    own_key = "vllm-key-of-any-shape-1234"  # no known shape: masked because the client knows it
    async with make(fake, storage={"backend": "sqlite", "path": str(path)}) as client:
        client.mask_secret(own_key)
        prompts = (
            f"my key is {KEY_SHAPED}",
            f"mine is {own_key}",
            # a secret known by its label, quoted: the stored JSON escapes the quotes
            '{"api_key": "' + LABELLED + '"}',
            "no key here",
        )
        for prompt in prompts:
            first = await (
                drain(client, prompt) if streamed else client.chat("fake/m", prompt, temperature=0)
            )
            again = await client.chat("fake/m", prompt, temperature=0)
            assert (first.cache_hit, again.cache_hit, again.text) == (False, True, first.text)
    rows = [str(row) for row in sqlite3.connect(path).execute("SELECT * FROM response_cache")]
    dump = "\n".join(rows)
    assert KEY_SHAPED not in dump and own_key not in dump and LABELLED not in dump
    assert len(rows) == 1 and "no key here" in dump  # answers without one are still shared


@pytest.mark.anyio
async def test_what_records_keep_as_sent_does_not_keep_an_answer_from_the_store(
    tmp_path: Path,
) -> None:
    # A reasoning signature is the provider's opaque value, kept in records as sent;
    # one that happens to look like a key must not keep every such answer unshared.
    path = tmp_path / "relaykit.db"
    fake = FakePlugin()
    fake.script.push(Reply(text="plain", reasoning_blocks=(ReasoningPart("hm", KEY_SHAPED),)))
    async with make(fake, storage={"backend": "sqlite", "path": str(path)}) as client:
        await client.chat("fake/m", "q", temperature=0)
    rows = sqlite3.connect(path).execute("SELECT * FROM response_cache").fetchall()
    assert len(rows) == 1 and KEY_SHAPED in str(rows)
