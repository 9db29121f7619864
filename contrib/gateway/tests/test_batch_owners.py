"""A batch is its creator's: the ids the gateway gives (Anthropic's and OpenAI's batch ids,
OpenAI's output and error file ids) work for the gateway key that created the batch only,
in any gateway process, and nobody's once tampered with. With each vendor's SDK, over
loopback HTTP, on the fake provider (whose batches two clients share, as processes would)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import anthropic
import openai
import pytest

import relaykit
from relaykit.testing import FakePlugin
from relaykit_gateway import GatewayKeys
from relaykit_gateway.file_store import FileStore
from relaykit_gateway.owned_ids import TAG_CHARS, id_owners
from relaykit_gateway.testing import KEY, running

pytestmark = pytest.mark.anyio

BOB = "gw-bob-0123456789abcdef"
KEYS = GatewayKeys.parse(f"alice={KEY},bob={BOB}")
CHAT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
REQUEST = {
    "custom_id": "q1",
    "params": {"model": "fake/m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
}
LINE = {"custom_id": "q1", "method": "POST", "url": CHAT, "body": REQUEST["params"]}


@asynccontextmanager
async def gateway(fake: FakePlugin, files: Path, keys: GatewayKeys = KEYS) -> AsyncIterator[str]:
    """A gateway process of its own (its own client and app) over ``fake``'s batches,
    with the file store in ``files``; yields its base URL."""
    config = {"storage": {"backend": "none"}}
    async with (
        relaykit.Client(config, plugins=[fake]) as client,
        running(client, keys=keys, files=FileStore(files)) as url,
    ):
        yield url


def claude(url: str, key: str = KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=key, max_retries=0)


def gpt(url: str, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def tampered(owned_id: str, prefix: str) -> list[str]:
    """``owned_id`` with a character of its tag changed, and with another batch put in
    place of what it carries (its tag kept)."""
    body = owned_id[len(prefix) :]
    tag, carried = body[:TAG_CHARS], body[TAG_CHARS:]
    flipped = ("A" if tag[0] != "A" else "B") + tag[1:]
    text = base64.urlsafe_b64decode(carried + "=" * (-len(carried) % 4)).decode()
    other = base64.urlsafe_b64encode((text + "9").encode()).decode().rstrip("=")
    return [prefix + flipped + carried, prefix + tag + other]


async def test_an_anthropic_batch_is_read_and_cancelled_by_its_creators_key_only(
    tmp_path: Path,
) -> None:
    fake = FakePlugin()
    fake.script.reply("hello")
    async with (
        gateway(fake, tmp_path) as url,
        gateway(fake, tmp_path) as other_process,
        claude(url) as alice,
        claude(url, BOB) as bob,
        claude(other_process) as alice_elsewhere,
    ):
        created = await alice.messages.batches.create(requests=[REQUEST])  # type: ignore[list-item]
        for refused in (
            bob.messages.batches.retrieve(created.id),
            bob.messages.batches.cancel(created.id),
            bob.messages.batches.results(created.id),
        ):
            with pytest.raises(anthropic.NotFoundError, match="no Message Batch") as caught:
                await refused
            assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        for bad in tampered(created.id, "msgbatch_"):
            with pytest.raises(anthropic.NotFoundError):
                await alice.messages.batches.retrieve(bad)
        # another key's list does not hold it; its creator's does, from any process
        assert [b.id async for b in await bob.messages.batches.list()] == []
        assert [b.id async for b in await alice_elsewhere.messages.batches.list()] == [created.id]
        # another gateway process (or this one restarted) answers alice for it
        ended = await alice_elsewhere.messages.batches.retrieve(created.id)
        assert ended.id == created.id and ended.processing_status == "ended"
        assert ended.results_url == f"{other_process}/v1/messages/batches/{created.id}/results"
        results = [r async for r in await alice.messages.batches.results(created.id)]
    assert [(r.custom_id, r.result.type) for r in results] == [("q1", "succeeded")]
    assert len(fake.calls) == 1  # bob's and the tampered requests reached no provider


async def test_an_openai_batch_and_its_files_are_its_creators_key_only(tmp_path: Path) -> None:
    fake = FakePlugin()
    fake.script.reply("hello")
    async with (
        gateway(fake, tmp_path) as url,
        gateway(fake, tmp_path) as other_process,
        gpt(url) as alice,
        gpt(url, BOB) as bob,
        gpt(other_process) as alice_elsewhere,
    ):
        uploaded = await alice.files.create(file=json.dumps(LINE).encode(), purpose="batch")
        created = await alice.batches.create(
            input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h"
        )
        with pytest.raises(openai.NotFoundError, match="No batch found"):
            await bob.batches.retrieve(created.id)
        with pytest.raises(openai.NotFoundError, match="No batch found"):
            await bob.batches.cancel(created.id)
        assert [b.id async for b in bob.batches.list()] == []
        for bad in tampered(created.id, "batch_"):
            with pytest.raises(openai.NotFoundError):
                await alice.batches.retrieve(bad)
        ended = await alice_elsewhere.batches.retrieve(created.id)
        assert ended.id == created.id and ended.status == "completed"
        output = ended.output_file_id
        assert output is not None
        for refused in (bob.files.retrieve(output), bob.files.content(output)):
            with pytest.raises(openai.NotFoundError, match="No such File object"):
                await refused
        for bad in tampered(output, "file-out_"):
            with pytest.raises(openai.NotFoundError):
                await alice.files.content(bad)
        assert [b.id async for b in alice.batches.list()] == [created.id]
        lines = (await alice.files.content(output)).text.splitlines()
    assert [json.loads(x)["custom_id"] for x in lines] == ["q1"]
    assert len(fake.calls) == 1


async def test_ids_of_an_earlier_gateway_are_a_404_that_says_how_to_read_the_batch(
    tmp_path: Path,
) -> None:
    def untagged(prefix: str, carried: str) -> str:
        return prefix + base64.urlsafe_b64encode(carried.encode()).decode().rstrip("=")

    fake = FakePlugin()
    async with gateway(fake, tmp_path) as url, claude(url) as alice, gpt(url) as alice_gpt:
        with pytest.raises(anthropic.NotFoundError, match="relaykit batch status fake/b_1"):
            await alice.messages.batches.retrieve(untagged("msgbatch_", "fake/b_1"))
        with pytest.raises(openai.NotFoundError, match="relaykit batch results fake/b_2"):
            await alice_gpt.batches.retrieve(untagged("batch_", "c:file-00:fake/b_2"))
        with pytest.raises(openai.NotFoundError, match="relaykit batch status fake/b_3"):
            await alice_gpt.files.content(untagged("file-out_", "c:fake/b_3"))
    assert not fake.calls


async def test_without_keys_batches_work_and_their_ids_are_no_keys_once_keys_are_set(
    tmp_path: Path,
) -> None:
    fake = FakePlugin()
    fake.script.reply("hello")
    async with gateway(fake, tmp_path, GatewayKeys()) as open_url, claude(open_url) as anyone:
        created = await anyone.messages.batches.create(requests=[REQUEST])  # type: ignore[list-item]
        assert (await anyone.messages.batches.retrieve(created.id)).processing_status == "ended"
    async with gateway(fake, tmp_path) as url, claude(url) as alice:
        with pytest.raises(anthropic.NotFoundError):
            await alice.messages.batches.retrieve(created.id)


def test_an_owner_shows_no_secret_and_a_new_key_value_makes_new_ids() -> None:
    alice = id_owners(KEYS)["alice"]
    assert KEY not in repr(alice) and "secret" not in repr(alice)
    again = id_owners(GatewayKeys.parse(f"alice={KEY},carol=gw-carol-0123456789abcdef"))["alice"]
    assert again.make("batch_", "c:f:x/y") == alice.make("batch_", "c:f:x/y")  # others' keys
    rotated = id_owners(GatewayKeys.parse("alice=gw-alice-rotated-0123456789"))["alice"]
    assert rotated.read(alice.make("batch_", "c:f:x/y"), "batch_") is None
    assert alice.read(alice.make("batch_", "c:f:x/y"), "batch_") == "c:f:x/y"
    assert alice.read(alice.make("batch_", "c:f:x/y"), "msgbatch_") is None
