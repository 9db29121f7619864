"""Anthropic's Message Batches API through the gateway, with Anthropic's own SDK, over
loopback HTTP: batches that reach OpenAI's Batch API (the mock) and the fake provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

import relaykit
from relaykit.testing import FakePlugin, OpenAIMock
from relaykit_gateway import GatewayKeys
from relaykit_gateway.anthropic_batches import gateway_id, relaykit_id
from relaykit_gateway.file_store import FileStore
from relaykit_gateway.owned_ids import id_owners
from relaykit_gateway.testing import KEY, KEYS, running, running_over

from .conftest import anthropic_sdk, openai_sdk

pytestmark = pytest.mark.anyio

BOB = "gw-bob-0123456789abcdef"
#: whom the ids the gateway gives alice are made for
ALICE = id_owners(KEYS)["alice"]


def request(custom_id: str, text: str, model: str = "openai/gpt-4o-mini") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {
            "model": model,
            "max_tokens": 50,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": text}],
        },
    }


async def test_a_batch_goes_to_openai_and_its_results_come_back_as_anthropics(
    openai_mock: OpenAIMock,
) -> None:
    openai_mock.script.reply("Paris.", input_tokens=12, output_tokens=2)
    openai_mock.script.fail(400, "no such thing")
    async with running_over(openai=openai_mock.base_url) as url, anthropic_sdk(url) as client:
        created = await client.messages.batches.create(
            requests=[request("q1", "Capital of France?"), request("q2", "Capital of Spain?")]  # type: ignore[list-item]
        )
        assert created.type == "message_batch"
        assert created.processing_status == "in_progress"
        assert created.request_counts.processing == 2
        assert created.results_url is None  # not until it ended, as Anthropic says
        batch_id = relaykit_id(created.id, ALICE)
        assert batch_id is not None and batch_id.startswith("openai/batch_")
        ended = await client.messages.batches.retrieve(created.id)
        assert ended.processing_status == "ended"
        counts = ended.request_counts
        assert (counts.processing, counts.succeeded, counts.errored) == (0, 1, 1)
        assert ended.results_url == f"{url}/v1/messages/batches/{created.id}/results"
        assert ended.ended_at is not None and ended.expires_at > ended.created_at
        results = {
            r.custom_id: r.result async for r in await client.messages.batches.results(created.id)
        }
    ok, failed = results["q1"], results["q2"]
    assert ok.type == "succeeded"
    assert [b.type for b in ok.message.content] == ["text"]
    assert ok.message.content[0].text == "Paris."  # type: ignore[union-attr]
    assert (ok.message.usage.input_tokens, ok.message.usage.output_tokens) == (12, 2)
    assert ok.message.stop_reason == "end_turn"
    assert failed.type == "errored"
    assert failed.error.error.type == "invalid_request_error"
    assert "no such thing" in failed.error.error.message
    # the items went to OpenAI as its Batch API takes them, the system prompt first
    lines = [
        json.loads(line) for line in next(iter(openai_mock.batches.files.values()))[1].splitlines()
    ]
    assert [line["custom_id"] for line in lines] == ["q1", "q2"]
    assert lines[0]["body"]["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_a_cancelled_batch_ends_with_its_items_canceled(openai_mock: OpenAIMock) -> None:
    openai_mock.hold_batches = True
    async with running_over(openai=openai_mock.base_url) as url, anthropic_sdk(url) as client:
        created = await client.messages.batches.create(requests=[request("q1", "hi")])  # type: ignore[list-item]
        cancelling = await client.messages.batches.cancel(created.id)
        assert cancelling.id == created.id
        assert cancelling.processing_status == "canceling"
        ended = await client.messages.batches.retrieve(created.id)
        assert ended.processing_status == "ended"
        counts = ended.request_counts
        # OpenAI counts the items a cancel stopped as failed: relaykit's errored
        # counts them, and the gateway cannot tell them apart without the results
        assert (counts.processing, counts.succeeded, counts.errored + counts.canceled) == (0, 0, 1)
        results = [r async for r in await client.messages.batches.results(created.id)]
    assert [(r.custom_id, r.result.type) for r in results] == [("q1", "canceled")]


async def test_the_fake_answers_with_the_key_in_the_metadata_and_params_mapped() -> None:
    fake = FakePlugin()
    fake.script.reply("one")
    fake.script.reply("two")
    config = {"storage": {"backend": "none"}, "models": {"cheap": {"targets": ["fake/m"]}}}
    tool = {"name": "look", "input_schema": {"type": "object", "properties": {}}}
    first = request("a", "first", model="cheap")
    first["params"]["tools"] = [tool]
    async with (
        relaykit.Client(config, plugins=[fake]) as rk,
        running(rk) as url,
        anthropic_sdk(url) as client,
    ):
        created = await client.messages.batches.create(
            requests=[first, request("b", "second", model="cheap")],  # type: ignore[list-item]
            extra_headers={"x-request-id": "req-7"},
        )
        await client.messages.batches.retrieve(created.id)
        texts = {
            r.custom_id: r.result.message.content[0].text  # type: ignore[union-attr]
            async for r in await client.messages.batches.results(created.id)
        }
    assert texts == {"a": "one", "b": "two"}
    sent_a, sent_b = fake.calls
    assert sent_a.model == "m" and [t.name for t in sent_a.tools] == ["look"]
    assert [(m.role, m.text) for m in sent_b.messages] == [
        ("system", "Be brief."),
        ("user", "second"),
    ]
    assert sent_a.metadata["gateway_key"] == "alice"
    assert sent_a.metadata["correlation_id"] == "req-7"


async def test_bad_ids_mixed_models_and_a_key_without_the_model_are_refused() -> None:
    fake = FakePlugin()
    keys = GatewayKeys.parse(f"alice={KEY},bob={BOB}", "bob=fake/small")
    config = {"storage": {"backend": "none"}}
    async with (
        relaykit.Client(config, plugins=[fake]) as rk,
        running(rk, keys=keys) as url,
        anthropic_sdk(url) as alice,
        anthropic_sdk(url, BOB) as bob,
    ):
        for bad in (
            "msgbatch_nope!",
            "msgbatch_" + "b3BlbmFp",
            "batch_abc",
            gateway_id("x/y", ALICE) + "A",
            gateway_id("x/y\x00", ALICE),  # decodes, but control characters name no batch
        ):
            with pytest.raises(anthropic.NotFoundError) as caught:
                await alice.messages.batches.retrieve(bad)
            assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError, match="no batch"):
            # a well-formed id of a batch the provider does not know: the provider's 404
            await alice.messages.batches.cancel(gateway_id("fake/nothing", ALICE))
        with pytest.raises(anthropic.BadRequestError) as mixed:
            await alice.messages.batches.create(
                requests=[request("a", "x", "fake/small"), request("b", "y", "fake/big")]  # type: ignore[list-item]
            )
        assert "fake/big, fake/small" in str(mixed.value) and "one batch per model" in str(
            mixed.value
        )
        with pytest.raises(anthropic.PermissionDeniedError, match="'fake/big'"):
            await bob.messages.batches.create(requests=[request("a", "x", "fake/big")])  # type: ignore[list-item]
        with pytest.raises(anthropic.APIStatusError, match="deleting a batch") as deleted:
            await alice.messages.batches.delete(gateway_id("fake/any", ALICE))
        assert deleted.value.status_code == 405
    assert not fake.calls and not fake.batch_store.batches


async def test_a_keys_batches_are_listed_newest_first_a_page_at_a_time(tmp_path: Path) -> None:
    fake = FakePlugin()
    config = {"storage": {"backend": "none"}}
    async with (
        relaykit.Client(config, plugins=[fake]) as rk,
        running(rk, files=FileStore(tmp_path)) as url,
        anthropic_sdk(url) as alice,
        anthropic_sdk(url, BOB) as bob,
        openai_sdk(url) as openai_alice,
    ):
        made = [
            (await alice.messages.batches.create(requests=[request(f"q{i}", "hi", "fake/m")])).id  # type: ignore[list-item]
            for i in range(5)
        ]
        bobs = await bob.messages.batches.create(requests=[request("q", "hi", "fake/m")])  # type: ignore[list-item]
        whole = await alice.messages.batches.list(limit=20)
        first = await alice.messages.batches.list(limit=2)
        # the SDK pages on with after_id = the page's last_id while has_more
        paged = [b async for b in await alice.messages.batches.list(limit=2)]
        second = await alice.messages.batches.list(limit=2, after_id=first.last_id or "")
        back = await alice.messages.batches.list(limit=2, before_id=second.first_id or "")
        nothing_newer = await alice.messages.batches.list(before_id=whole.data[0].id)
        listed_by_bob = [b.id for b in (await bob.messages.batches.list()).data]
        # OpenAI's batch list, kept in the same store, lists OpenAI's batches only
        openai_listed = [b.id async for b in openai_alice.batches.list()]
        with pytest.raises(anthropic.BadRequestError) as too_many:
            await alice.messages.batches.list(limit=1001)
    ids = [b.id for b in whole.data]
    assert sorted(ids) == sorted(made) and not whole.has_more
    assert (whole.first_id, whole.last_id) == (ids[0], ids[-1])
    assert all(b.type == "message_batch" and b.processing_status for b in whole.data)
    assert [b.id for b in first.data] == ids[:2] and first.has_more
    assert (first.first_id, first.last_id) == (ids[0], ids[1])
    assert [b.id for b in paged] == ids
    assert [b.id for b in second.data] == ids[2:4] and second.has_more
    assert [b.id for b in back.data] == ids[:2] and not back.has_more
    assert nothing_newer.data == [] and not nothing_newer.has_more
    assert (nothing_newer.first_id, nothing_newer.last_id) == (None, None)
    assert listed_by_bob == [bobs.id]
    assert openai_listed == []
    assert "limit" in too_many.value.message


async def test_a_batch_whose_note_cannot_be_written_is_still_made_and_its_id_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakePlugin()
    blocked = tmp_path / "files"
    blocked.write_text("a file where the store's directory should be")
    async with (
        relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as rk,
        running(rk, files=FileStore(blocked)) as url,
        anthropic_sdk(url) as client,
    ):
        created = await client.messages.batches.create(requests=[request("q", "hi", "fake/m")])  # type: ignore[list-item]
        ended = await client.messages.batches.retrieve(created.id)
    assert ended.processing_status == "ended"
    assert "left out of its key's list" in caplog.text
