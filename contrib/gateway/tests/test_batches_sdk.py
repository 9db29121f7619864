"""Anthropic's Message Batches API through the gateway, with Anthropic's own SDK, over
loopback HTTP: batches that reach OpenAI's Batch API (the mock) and the fake provider."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

import relaykit
from relaykit.testing import FakePlugin, OpenAIMock
from relaykit_gateway import GatewayKeys
from relaykit_gateway.anthropic_batches import gateway_id, relaykit_id
from relaykit_gateway.owned_ids import id_owners
from relaykit_gateway.testing import KEY, KEYS, running, running_over

from .conftest import anthropic_sdk

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


async def test_bad_ids_mixed_models_a_key_without_the_model_and_listing_are_refused() -> None:
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
        with pytest.raises(anthropic.NotFoundError, match="keeps no list of batches"):
            await alice.messages.batches.list()
        with pytest.raises(anthropic.APIStatusError, match="deleting a batch") as deleted:
            await alice.messages.batches.delete(gateway_id("fake/any", ALICE))
        assert deleted.value.status_code == 405
    assert not fake.calls and not fake.batch_store.batches
