"""Kept Responses API answers shared by gateway processes through the real Redis here
(``[cache] backend = "redis"``): two gateways, each with its own client, sharing one
Redis are two processes' view; what Redis holds is read back raw, byte for byte.
Skipped when Redis is not running; failed under CI=true."""

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
from relaykit.key_vault import MASTER_KEY_ENV
from relaykit.testing import FakePlugin, require_service
from relaykit_gateway.kept_responses import KeptResponses, shared_store
from relaykit_gateway.keys import GatewayKeys
from relaykit_gateway.response_store import ResponseStore
from relaykit_gateway.sealed_entries import seals
from relaykit_gateway.testing import KEYS, running
from relaykit_redis.client import RedisClient

from .conftest import openai_sdk

pytestmark = pytest.mark.anyio

URL = "redis://127.0.0.1:6379/15"  # a database of its own, as relaykit-redis's tests use
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
BOB = "gw-bob-0123456789abcdef"
#: what a caller says that Redis must never show
MARKER, FAKE_SECRET = "marker-5be1d0", "sk-proj-FAKEsecret0123456789abcdef"


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
async def process(
    fake: FakePlugin, prefix: str, url: str = URL, keys: GatewayKeys = KEYS
) -> AsyncIterator[str]:
    """One gateway process: its own client (and so its own Redis connection and memory)."""
    async with (
        relaykit.Client(settings(prefix, url), plugins=[fake]) as client,
        running(client, keys) as base,
    ):
        yield base


async def raw_values(prefix: str) -> dict[bytes, bytes]:
    """Every value Redis holds under ``prefix``, as its bytes."""
    redis = RedisClient(URL)
    try:
        names = await redis.command("KEYS", f"{prefix}:*")
        assert isinstance(names, list)
        values = {}
        for name in names:
            value = await redis.command("GET", name)
            assert isinstance(name, bytes) and isinstance(value, bytes)
            values[name] = value
        return values
    finally:
        await redis.aclose()


async def test_a_response_is_continued_fetched_and_deleted_through_another_process(
    prefix: str,
) -> None:
    fake = FakePlugin()
    async with (
        process(fake, prefix) as first,
        process(fake, prefix) as second,
        openai_sdk(first) as alice_first,
        openai_sdk(second) as alice_second,
        openai_sdk(second, BOB) as bob_second,
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
        openai_sdk(first) as alice_first,
        openai_sdk(second) as alice_second,
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
        openai_sdk(base) as alice,
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
        sealed = seals(KEYS)
        writer = KeptResponses(ResponseStore(ttl=60), store, seals=sealed)
        await writer.put("alice", "resp_1", conversation, {"id": "resp_1"})
        now = KeptResponses(ResponseStore(), store, seals=sealed)
        later = KeptResponses(
            ResponseStore(), store, seals=sealed, wall_clock=lambda: time.time() + 61
        )
        assert await later.get("alice", "resp_1") is None  # past its 60 seconds
        assert await now.get("bob", "resp_1") is None
        assert await now.get("alice", "resp_1") == conversation
        assert await now.response("alice", "resp_1") == {"id": "resp_1"}
        assert now.memory.entry("alice", "resp_1") is not None  # read once, then from memory
        await writer.delete("alice", "resp_1")
        assert await now.get("alice", "resp_1") is None  # its memory copy is dropped too
        row = await store.cached_response(sealed["alice"].store_key("kept", "alice", "resp_1"))
        assert row is not None  # overwritten by a (sealed) tombstone
    assert client.cache_errors == 0


async def test_redis_holds_ciphertext_only_its_keys_value_opens(prefix: str) -> None:
    fake = FakePlugin()
    said = f"{MARKER}: my OpenAI key is {FAKE_SECRET}"
    async with (
        process(fake, prefix) as first,
        process(fake, prefix) as second,
        openai_sdk(first) as alice_first,
        openai_sdk(second) as alice_second,
    ):
        made = await alice_first.responses.create(model="fake/m", input=said)
        went_on = await alice_second.responses.create(
            model="fake/m", input="and?", previous_response_id=made.id
        )
        values = await raw_values(prefix)
        assert len(values) == 2  # the two responses, each its own entry
        for name, value in values.items():
            for plain in (MARKER, FAKE_SECRET, made.id, went_on.id, "alice", "echo"):
                assert plain.encode() not in name + value
        # a process where alice's key has a new value (the name kept) misses them
        rotated = GatewayKeys.parse("alice=gw-alice-a-brand-new-value-0123")
        async with (
            process(fake, prefix, keys=rotated) as third,
            openai_sdk(third, "gw-alice-a-brand-new-value-0123") as alice_rotated,
        ):
            with pytest.raises(openai.NotFoundError, match="not found"):
                await alice_rotated.responses.create(
                    model="fake/m", input="?", previous_response_id=went_on.id
                )
    assert len(fake.calls) == 2  # the rotated key's continuation reached no provider


async def test_a_flipped_byte_in_redis_is_a_miss(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakePlugin()
    async with process(fake, prefix) as first, openai_sdk(first) as alice_first:
        made = await alice_first.responses.create(model="fake/m", input=MARKER)
    ((name, value),) = (await raw_values(prefix)).items()
    at = len(value) - 20  # within the ciphertext, past the expiry line and the format
    other = b"B" if value[at : at + 1] == b"A" else b"A"  # still base64: the tag must catch it
    flipped = value[:at] + other + value[at + 1 :]
    redis = RedisClient(URL)
    try:
        assert await redis.command("SET", name, flipped, "PX", 60_000) == b"OK"
    finally:
        await redis.aclose()
    async with process(fake, prefix) as second, openai_sdk(second) as alice_second:
        with pytest.raises(openai.NotFoundError, match="not found"):
            await alice_second.responses.retrieve(made.id)
    assert "did not open (InvalidTag)" in caplog.text and MARKER not in caplog.text


async def test_without_gateway_keys_processes_share_under_the_master_key_only(
    prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, no_keys = FakePlugin(), GatewayKeys()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no master.key there
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    async with (
        process(fake, prefix, keys=no_keys) as first,
        process(fake, prefix, keys=no_keys) as second,
        openai_sdk(first) as first_caller,
        openai_sdk(second) as second_caller,
    ):
        made = await first_caller.responses.create(model="fake/m", input=MARKER)
        with pytest.raises(openai.NotFoundError, match="reach the gateway process"):
            await second_caller.responses.create(
                model="fake/m", input="?", previous_response_id=made.id
            )
        assert (await first_caller.responses.retrieve(made.id)).id == made.id  # its memory
    assert await raw_values(prefix) == {}  # nothing written: no key to seal it with
    monkeypatch.setenv(MASTER_KEY_ENV, "m" * 43 + "=")
    async with (
        process(fake, prefix, keys=no_keys) as first,
        process(fake, prefix, keys=no_keys) as second,
        openai_sdk(first) as first_caller,
        openai_sdk(second) as second_caller,
    ):
        made = await first_caller.responses.create(model="fake/m", input=MARKER)
        went_on = await second_caller.responses.create(
            model="fake/m", input="?", previous_response_id=made.id
        )
    assert went_on.output_text == "echo: ?"
    values = await raw_values(prefix)
    assert len(values) == 2 and not any(MARKER.encode() in v for v in values.values())


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
