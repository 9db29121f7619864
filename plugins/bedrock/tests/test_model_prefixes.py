"""LiteLLM's Bedrock route prefixes in a model id: ``bedrock/converse/<model>`` is the
model itself (the API chosen as for ``bedrock/<model>``); ``bedrock/invoke/<model>``
(LiteLLM's InvokeModel route) is refused before sending, naming the fix."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import pytest

from relaykit import InvalidRequestError
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS_4_7 = "global.anthropic.claude-opus-4-7"  # the Messages API


@pytest.mark.anyio
async def test_converse_prefix_is_the_model_itself(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        r = await client.chat(f"bedrock/converse/{HAIKU}", "hi")
        async with client.stream(f"bedrock/converse/{HAIKU}", "hi") as s:
            async for _ in s:
                pass
        tokens = await client.count_tokens(f"bedrock/converse/{HAIKU}", "hi")
    paths = [request.path for request in mock.requests]
    model = quote(HAIKU, safe="")
    assert paths == [
        f"/model/{model}/converse",
        f"/model/{model}/converse-stream",
        f"/model/{model}/count-tokens",
    ]
    assert r.text == s.response.text == "echo: hi"
    assert tokens.exact and tokens.input_tokens > 0
    # priced as the model is
    assert r.cost is not None and r.cost > Decimal(0)


@pytest.mark.anyio
async def test_converse_prefix_keeps_the_route_the_model_takes(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.chat(f"bedrock/converse/{OPUS_4_7}", "hi")
    assert mock.requests[-1].path == "/anthropic/v1/messages"
    assert mock.requests[-1].json()["model"] == OPUS_4_7


@pytest.mark.anyio
async def test_invoke_prefix_is_refused_naming_the_model_id(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="invoke/") as info:
            await client.chat(f"bedrock/invoke/{HAIKU}", "hi")
    assert info.value.param == "model" and info.value.status is None
    assert f"'bedrock/{HAIKU}'" in str(info.value.hint)
    assert mock.requests == []
