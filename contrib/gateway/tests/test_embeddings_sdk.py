"""OpenAI's own SDK embedding through the gateway, over loopback HTTP, as its users would."""

from __future__ import annotations

import base64
import struct
from typing import Any

import openai
import pytest

from relaykit.testing import FakePlugin, RecordingExporter, mock_embedding_tokens, mock_vector
from relaykit_gateway.testing import KEYS

from .conftest import gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

TEXTS = ["The cat sat on the mat", "A dog barked", "relaykit"]


@pytest.mark.parametrize("decoder", ["numpy", "array"])
async def test_the_sdks_default_base64_decodes_to_the_exact_vectors(
    fake: FakePlugin, decoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it with numpy when
    # it can, else with the standard library's array: both must read our bytes.
    monkeypatch.setattr("openai.resources.embeddings.has_numpy", lambda: decoder == "numpy")
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        r = await client.embeddings.create(model="fake/emb", input=TEXTS)
    assert [d.embedding for d in r.data] == [list(mock_vector(text)) for text in TEXTS]
    assert [d.index for d in r.data] == [0, 1, 2]
    assert r.model == "emb"
    tokens = sum(map(mock_embedding_tokens, TEXTS))
    assert (r.usage.prompt_tokens, r.usage.total_tokens) == (tokens, tokens)
    (request,) = fake.embeddings
    assert request.inputs == tuple(TEXTS)
    assert request.extra == {}  # encoding_format is the gateway's to apply, not the provider's


async def test_floats_asked_for_come_as_floats_and_dimensions_shorten_them(
    fake: FakePlugin,
) -> None:
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        floats = await client.embeddings.create(
            model="fake/emb", input="hello", encoding_format="float", dimensions=5
        )
        raw = await client.embeddings.create(
            model="fake/emb", input="hello", encoding_format="base64"
        )
    assert floats.data[0].embedding == list(mock_vector("hello", 5))
    # asked for explicitly, base64 reaches the caller as the string it is
    encoded: Any = raw.data[0].embedding
    assert struct.unpack("<8f", base64.b64decode(encoded)) == mock_vector("hello")
    assert [r.dimensions for r in fake.embeddings] == [5, None]


async def test_input_type_and_user_ride_along_and_the_call_is_logged_under_the_key(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        await client.embeddings.create(
            model="fake/emb",
            input=TEXTS,
            user="end-user-7",
            extra_body={"input_type": "document"},
            extra_headers={"x-request-id": "req-42"},
        )
    (request,) = fake.embeddings
    assert request.input_type == "document"
    assert request.metadata["user"] == "end-user-7"
    (record,) = records.records
    assert record.operation == "embeddings"
    assert record.correlation_id == "req-42"
    assert record.params["metadata"]["gateway_key"] == "alice"
    assert record.params["inputs"] == len(TEXTS)


async def test_refusals_reach_the_sdk_as_its_typed_errors(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url:
        async with openai_sdk(url) as client:
            with pytest.raises(openai.BadRequestError, match="token ids") as tokens:
                await client.embeddings.create(model="fake/emb", input=[[15339, 1917]])
            # named as the SDK's caller sent it: OpenAI's `input`, not relaykit's `inputs`
            with pytest.raises(
                openai.BadRequestError, match=r"^Error code: 400 - .*'input is empty"
            ) as empty:
                await client.embeddings.create(model="fake/emb", input=[])
        async with openai_sdk(url, key="gw-mallory-0123456789abcdef") as stranger:
            with pytest.raises(openai.AuthenticationError, match="not a gateway key"):
                await stranger.embeddings.create(model="fake/emb", input="hi")
    assert tokens.value.param == "input"
    assert empty.value.param == "input"
    assert fake.embeddings == []


async def test_each_gateway_keys_limit_counts_its_embeddings_too(fake: FakePlugin) -> None:
    from relaykit.testing import LimiterPlugin, frozen_limiter

    limits = {"limiter": {"backend": "frozen"}, "limits": {"gateway_key=*": {"rpm": 1}}}
    limiter = LimiterPlugin(frozen_limiter())  # no minute passes while the test runs
    async with gateway_over(fake, limiter, **limits) as url:
        bob_key = KEYS.keys[1][1].reveal()
        async with openai_sdk(url) as alice, openai_sdk(url, key=bob_key) as bob:
            await alice.embeddings.create(model="fake/emb", input="hi")
            with pytest.raises(openai.RateLimitError, match="gateway_key=alice") as caught:
                await alice.embeddings.create(model="fake/emb", input="hi again")
            await bob.embeddings.create(model="fake/emb", input="hi")
    assert int(caught.value.response.headers["retry-after"]) > 0
    assert len(fake.embeddings) == 2
