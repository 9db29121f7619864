"""Kept Responses API answers shared by gateway processes through the real Redis here
(``[cache] backend = "redis"``): two gateways, each with its own client, sharing one
Redis are two processes' view. Skipped when Redis is not running; failed under CI=true."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

import relaykit
from relaykit import Message
from relaykit.testing import FakePlugin, require_service
from relaykit_gateway.kept_responses import KeptResponses, _key, shared_store
from relaykit_gateway.response_store import ResponseStore
from relaykit_gateway.testing import KEY, running

pytestmark = pytest.mark.anyio

URL = "redis://127.0.0.1:6379/15"  # a database of its own, as relaykit-redis's tests use
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
BOB = "gw-bob-0123456789abcdef"


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test, so tests never see each other's entries."""
    require_service("redis", "127.0.0.1", 6379, start=START)
    return f"test-{uuid.uuid4().hex[:12]}"


def settings(prefix: str, url: str = URL) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "cache": {"backend": "redis", "url": url, "prefix": prefix, "timeout": 0.5},
    }


@asynccontextmanager
async def process(fake: FakePlugin, prefix: str, url: str = URL) -> AsyncIterator[str]:
    """One gateway process: its own client (and so its own Redis connection and memory)."""
    async with (
        relaykit.Client(settings(prefix, url), plugins=[fake]) as client,
        running(client) as base,
    ):
        yield base


def sdk(base: str, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


async def test_a_response_is_continued_fetched_and_deleted_through_another_process(
    prefix: str,
) -> None:
    fake = FakePlugin()
    async with (
        process(fake, prefix) as first,
        process(fake, prefix) as second,
        sdk(first) as alice_first,
        sdk(second) as alice_second,
        sdk(second, BOB) as bob_second,
    ):
        made = await alice_first.responses.create(model="fake/m", input="my PIN is 1234")
        again = await alice_second.responses.retrieve(made.id)
        assert (again.id, again.output_text) == (made.id, "echo: my PIN is 1234")
        went_on = await alice_second.responses.create(
            model="fake/m", input="what was it?", previous_response_id=made.id
        )
        assert went_on.output_text == "echo: what was it?"
        # the second process sent the conversation the first one kept
        assert [(m.role, m.text) for m in fake.calls[-1].messages] == [
            ("user", "my PIN is 1234"),
            ("assistant", "echo: my PIN is 1234"),
            ("user", "what was it?"),
        ]
        # another key's caller reaches nothing, in either process
        for bob_sees in (
            bob_second.responses.retrieve(made.id),
            bob_second.responses.create(model="fake/m", input="?", previous_response_id=made.id),
        ):
            with pytest.raises(openai.NotFoundError):
                await bob_sees
        # a delete through the second process reaches the first, which kept it in memory
        await alice_second.responses.delete(made.id)
        with pytest.raises(openai.NotFoundError, match="not found"):
            await alice_first.responses.retrieve(made.id)
        with pytest.raises(openai.NotFoundError, match="send the whole conversation"):
            await alice_first.responses.create(
                model="fake/m", input="hi", previous_response_id=made.id
            )
        # the continuation, kept by the second process, is the first one's to go on from
        streamed = await alice_first.responses.create(
            model="fake/m", input="and now?", previous_response_id=went_on.id, stream=True
        )
        async for _ in streamed:
            pass
    assert len(fake.calls) == 3  # bob's and the refused continuations reached no provider
    assert [m.text for m in fake.calls[-1].messages][-2:] == ["echo: what was it?", "and now?"]


async def test_a_conversation_too_big_for_redis_stays_in_its_process(prefix: str) -> None:
    fake = FakePlugin()
    big = "x" * (300 * 1024)  # with its echo, past relaykit-redis's 512 KiB a value
    async with (
        process(fake, prefix) as first,
        process(fake, prefix) as second,
        sdk(first) as alice_first,
        sdk(second) as alice_second,
    ):
        made = await alice_first.responses.create(model="fake/m", input=big)
        with pytest.raises(openai.NotFoundError, match="not found"):
            await alice_second.responses.retrieve(made.id)
        went_on = await alice_first.responses.create(
            model="fake/m", input="short", previous_response_id=made.id
        )
    assert went_on.output_text == "echo: short"


async def test_a_failing_store_fails_no_call_and_the_memory_answers(fake: FakePlugin) -> None:
    # nothing listens on port 1: every store read and write fails at once
    async with (
        relaykit.Client(settings("unused", "redis://127.0.0.1:1/0"), plugins=[fake]) as client,
        running(client) as base,
        sdk(base) as alice,
    ):
        made = await alice.responses.create(model="fake/m", input="hello")
        went_on = await alice.responses.create(
            model="fake/m", input="again", previous_response_id=made.id
        )
        assert (await alice.responses.retrieve(made.id)).id == made.id
        await alice.responses.delete(made.id)
        with pytest.raises(openai.NotFoundError):
            await alice.responses.retrieve(made.id)
        assert client.cache_errors > 0
    assert went_on.output_text == "echo: again"


async def test_an_entry_lives_as_long_as_the_memory_keeps_it_and_a_delete_removes_its_text(
    prefix: str,
) -> None:
    conversation = (Message.user("my PIN is 1234"), Message.assistant("noted"))
    async with relaykit.Client(settings(prefix)) as client:
        store = shared_store(client)
        assert store is not None
        writer = KeptResponses(ResponseStore(ttl=60), store)
        await writer.put("alice", "resp_1", conversation, {"id": "resp_1"})
        now = KeptResponses(ResponseStore(), store)
        later = KeptResponses(ResponseStore(), store, wall_clock=lambda: time.time() + 61)
        assert await later.get("alice", "resp_1") is None  # past its 60 seconds
        assert await now.get("bob", "resp_1") is None
        assert await now.get("alice", "resp_1") == conversation
        assert await now.response("alice", "resp_1") == {"id": "resp_1"}
        assert now.memory.entry("alice", "resp_1") is not None  # read once, then from memory
        await writer.delete("alice", "resp_1")
        assert await now.get("alice", "resp_1") is None  # its memory copy is dropped too
        row = await store.cached_response(_key("kept", "alice", "resp_1"))
        assert row is not None and "1234" not in row[1]  # overwritten: the text is gone
    assert client.cache_errors == 0


async def test_the_storage_backends_cache_and_memory_keep_no_responses(tmp_path: Path) -> None:
    # the storage backend's cache would put conversations in the call log's database
    logs = {"backend": "sqlite", "path": str(tmp_path / "logs.db")}
    for config in (
        {"storage": logs, "cache": {"backend": "storage"}},
        {"storage": {"backend": "none"}, "cache": {"backend": "memory"}},
    ):
        async with relaykit.Client(config) as client:
            assert shared_store(client) is None
            assert (client.cache_store is None) == (config["cache"]["backend"] == "memory")
