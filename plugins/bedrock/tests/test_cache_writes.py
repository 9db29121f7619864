"""Prompt-cache writes over loopback: counted from Converse usage, priced at the write price."""

from __future__ import annotations

from decimal import Decimal

import pytest

import relaykit
from relaykit import Usage
from relaykit.testing import Reply
from relaykit_bedrock import wire
from relaykit_bedrock.prices import BEDROCK_MODELS, lookup
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

MILLION = 1_000_000


def test_usage_counts_cache_writes_as_input() -> None:
    data = {
        "inputTokens": 10,
        "outputTokens": 7,
        "cacheReadInputTokens": 100,
        "cacheWriteInputTokens": 20,
    }
    assert wire.usage(data) == Usage(130, 7, 100, cache_write_input_tokens=20)


def test_usage_counts_one_hour_writes_from_the_cache_details() -> None:
    # Converse's TokenUsage.cacheDetails: the writes by TTL, one-hour first.
    data = {
        "inputTokens": 10,
        "outputTokens": 7,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 20,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 15}, {"ttl": "5m", "inputTokens": 5}],
    }
    assert wire.usage(data) == Usage(
        30, 7, cache_write_input_tokens=20, cache_write_1h_input_tokens=15
    )


def test_claude_write_prices_are_one_and_a_quarter_and_two_input_and_others_the_input() -> None:
    # aws.amazon.com/bedrock/pricing: Claude cache writes at 1.25x input (one-hour
    # writes 2x, as at Anthropic); Nova writes carry no surcharge (unset: the input price).
    for name, (_, price, _) in BEDROCK_MODELS.items():
        assert price is not None
        if name.startswith("anthropic."):
            assert price.cache_write_input == price.input * Decimal("1.25"), name
            assert price.cache_write_1h_input == price.input * 2, name
        else:
            assert (price.cache_write_input, price.cache_write_1h_input) == (None, None), name
    _, regional = lookup("us.anthropic.claude-haiku-4-5-20251001-v1:0")
    assert regional is not None  # the 10% premium of a geographic profile applies too
    assert regional.cache_write_input == Decimal("1.25") * Decimal("1.1")
    assert regional.cache_write_1h_input == Decimal("2") * Decimal("1.1")


SONNET = "bedrock/global.anthropic.claude-sonnet-4-5-20250929-v1:0"


async def call(client: relaykit.Client, streamed: bool) -> relaykit.ChatResponse:
    """One call to Sonnet 4.5 (global), through Converse or ConverseStream."""
    if not streamed:
        return await client.chat(SONNET, "the long shared prompt")
    async with client.stream(SONNET, "the long shared prompt") as s:
        async for _ in s:
            pass
    return s.response


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["converse", "converse-stream"])
async def test_cost_charges_cache_writes_at_the_write_price(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    mock.script.push(
        Reply(
            text="ok",
            input_tokens=MILLION,
            output_tokens=100_000,
            cached_input_tokens=300_000,
            cache_write_input_tokens=200_000,
        )
    )
    async with make_client() as client:
        r = await call(client, streamed)
    assert r.usage == Usage(MILLION, 100_000, 300_000, cache_write_input_tokens=200_000)
    # Sonnet 4.5 (global) per million: $3 input, $0.30 reads, $3.75 writes, $15 output
    assert r.cost == Decimal("1.5") + Decimal("0.09") + Decimal("0.75") + Decimal("1.5")


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["converse", "converse-stream"])
async def test_one_hour_cache_writes_are_charged_the_one_hour_price(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    mock.script.push(
        Reply(
            text="ok",
            input_tokens=MILLION,
            output_tokens=0,
            cache_write_input_tokens=MILLION,
            cache_write_1h_input_tokens=400_000,
        )
    )
    async with make_client() as client:
        r = await call(client, streamed)
    assert r.usage == Usage(
        MILLION, 0, cache_write_input_tokens=MILLION, cache_write_1h_input_tokens=400_000
    )
    # Sonnet 4.5 (global) per million: $3.75 five-minute writes, $6 one-hour writes
    assert r.cost == Decimal("2.25") + Decimal("2.4")
