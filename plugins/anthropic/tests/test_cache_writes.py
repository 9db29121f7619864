"""Prompt-cache writes over loopback: counted from the wire, priced at the write price."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import QuotaExceededError, Usage
from relaykit.testing import LimiterPlugin, frozen_limiter, one_try_config
from relaykit_anthropic import wire
from relaykit_anthropic.prices import ANTHROPIC_MODELS
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"
MILLION = 1_000_000
# 1M prompt tokens: 300k read from the cache, 200k written to it, 500k plain; 100k out.
CACHED_CALL: dict[str, Any] = {
    "input_tokens": MILLION,
    "output_tokens": 100_000,
    "cached_input_tokens": 300_000,
    "cache_write_input_tokens": 200_000,
}


@asynccontextmanager
async def client(
    mock: AnthropicMock, *plugins: object, **config: Any
) -> AsyncIterator[relaykit.Client]:
    settings = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY}}, **config)
    async with relaykit.Client(settings, plugins=[*plugins]) as c:
        yield c


async def call(c: relaykit.Client, streamed: bool) -> relaykit.ChatResponse:
    if not streamed:
        return await c.chat(MODEL, "the long shared prompt", max_tokens=10)
    async with c.stream(MODEL, "the long shared prompt", max_tokens=10) as s:
        async for _ in s:
            pass
    return s.response


def test_usage_counts_cache_writes_as_input_and_the_one_hour_ones_apart() -> None:
    raw = {
        "input_tokens": 6,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "cache_creation": {"ephemeral_5m_input_tokens": 15, "ephemeral_1h_input_tokens": 5},
        "output_tokens": 50,
    }
    assert wire.usage(raw) == Usage(
        126, 50, 100, cache_write_input_tokens=20, cache_write_1h_input_tokens=5
    )
    # Before the API split writes by TTL, and when it sends no split: all five-minute.
    del raw["cache_creation"]
    assert wire.usage(raw) == Usage(126, 50, 100, cache_write_input_tokens=20)


def test_the_price_table_has_the_five_minute_and_one_hour_write_prices() -> None:
    # anthropic.com/pricing: 5-minute cache writes cost 1.25x input (Haiku 3: $0.30),
    # one-hour writes 2x input.
    for name, row in ANTHROPIC_MODELS.items():
        expected = row.price.input * Decimal("1.25")
        if name == "claude-3-haiku":
            expected = Decimal("0.30")
        assert row.price.cache_write_input == expected, name
        assert row.price.cache_write_1h_input == row.price.input * 2, name


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_cost_charges_cache_writes_at_the_write_price(
    mock: AnthropicMock, streamed: bool
) -> None:
    mock.script.reply("ok", **CACHED_CALL)
    async with client(mock) as c:
        r = await call(c, streamed)
    assert r.usage == Usage(MILLION, 100_000, 300_000, cache_write_input_tokens=200_000)
    # Sonnet 4.5 per million: $3 input, $0.30 cache reads, $3.75 cache writes, $15 output
    assert r.cost == Decimal("1.5") + Decimal("0.09") + Decimal("0.75") + Decimal("1.5")


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_one_hour_cache_writes_are_charged_the_one_hour_price(
    mock: AnthropicMock, streamed: bool
) -> None:
    mock.script.reply("ok", **CACHED_CALL, cache_write_1h_input_tokens=50_000)
    async with client(mock) as c:
        r = await call(c, streamed)
    assert r.usage == Usage(
        MILLION,
        100_000,
        300_000,
        cache_write_input_tokens=200_000,
        cache_write_1h_input_tokens=50_000,
    )
    # Sonnet 4.5 per million: $3 input, $0.30 reads, $3.75 5-minute writes, $6 1-hour
    # writes, $15 output
    assert r.cost == (
        Decimal("1.5") + Decimal("0.09") + Decimal("0.5625") + Decimal("0.3") + Decimal("1.5")
    )


def test_the_mock_splits_writes_by_ttl_as_the_api_does(mock: AnthropicMock) -> None:
    mock.script.reply("ok", **CACHED_CALL, cache_write_1h_input_tokens=50_000)
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    usage = httpx.post(f"{mock.base_url}/v1/messages", json=body, headers=headers).json()["usage"]
    # Anthropic's input_tokens leaves out cache reads and writes; writes split by TTL.
    assert (usage["input_tokens"], usage["cache_creation_input_tokens"]) == (500_000, 200_000)
    assert usage["cache_creation"] == {
        "ephemeral_5m_input_tokens": 150_000,
        "ephemeral_1h_input_tokens": 50_000,
    }


@pytest.mark.anyio
async def test_a_config_price_sets_the_one_hour_write_price(mock: AnthropicMock) -> None:
    mock.script.reply("ok", **CACHED_CALL, cache_write_1h_input_tokens=200_000)
    prices = {MODEL: {"input": 2, "output": 10, "cache_write_1h_input": "5"}}
    async with client(mock, prices=prices) as c:
        r = await c.chat(MODEL, "the long shared prompt", max_tokens=10)
    # every write went to the one-hour cache; reads cost the input price (no cached_input)
    assert r.cost == Decimal("1.6") + Decimal("1") + Decimal("1")


@pytest.mark.anyio
async def test_a_config_price_sets_the_write_price(mock: AnthropicMock) -> None:
    mock.script.reply("ok", **CACHED_CALL)
    prices = {MODEL: {"input": 2, "output": 10, "cache_write_input": "4.5"}}
    async with client(mock, prices=prices) as c:
        r = await c.chat(MODEL, "the long shared prompt", max_tokens=10)
    # no cached_input in the override: reads cost the input price
    assert r.cost == Decimal("1.6") + Decimal("0.9") + Decimal("1")


@pytest.mark.anyio
async def test_a_budget_is_charged_the_write_price(mock: AnthropicMock) -> None:
    # 1M prompt tokens all written to the cache: $3.75 at the write price,
    # $3 at the input price, which would leave room under $3.50 for another call.
    mock.script.reply("ok", input_tokens=MILLION, output_tokens=0, cache_write_input_tokens=MILLION)
    limits = {"anthropic/*": {"budget_usd": "3.5"}}
    # a limiter whose clocks never move: the day's budget cannot reset between the calls
    frozen, limiter = LimiterPlugin(frozen_limiter()), {"backend": "frozen"}
    async with client(mock, frozen, limits=limits, limiter=limiter) as c:
        r = await c.chat(MODEL, "the long shared prompt", max_tokens=10)
        assert r.cost == Decimal("3.75")
        with pytest.raises(QuotaExceededError, match="daily budget"):
            await c.chat(MODEL, "again", max_tokens=10)
