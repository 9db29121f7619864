"""Price overrides from config, and USD budgets: reserve an estimate, settle the real cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import anyio
import pytest

import relaykit
from relaykit import QuotaExceededError
from relaykit.budgets import estimate_cost, hold_rates, period_bounds
from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.response import ModelPrice, Usage
from relaykit.testing import MID_PERIOD, FakePlugin, LimiterPlugin, Reply, frozen_limiter

NONE = {"storage": {"backend": "none"}}
#: the frozen limiter (relaykit.testing): no budget period ends while a test runs
FROZEN = {**NONE, "limiter": {"backend": "frozen"}}


@pytest.mark.anyio
async def test_config_prices_override_the_plugins() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="x", input_tokens=1_000_000, output_tokens=1_000_000))
    fake.script.push(Reply(text="x", input_tokens=1_000_000, output_tokens=1_000_000))
    config = {
        **NONE,
        "prices": {"fake/cheap": {"input": 0.5, "output": "1.25", "cached_input": 0.1}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        assert (await client.chat("fake/cheap", "hi")).cost == Decimal("1.75")
        assert (await client.chat("fake/other", "hi")).cost == Decimal("3")  # the plugin's 1 + 2


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"gpt-4o": {"input": 1, "output": 2}}, "provider/model"),
        ({"openai/gpt-4o": {"input": 1}}, "needs output"),
        ({"openai/gpt-4o": {"input": 1, "output": 2, "cache": 1}}, "cached_input"),
        ({"openai/gpt-4o": {"input": 1, "output": 2, "cache_write": 1}}, "cache_write_input"),
        ({"openai/gpt-4o": {"input": 1, "output": 2, "cache_write_input": "x"}}, "number"),
        ({"openai/gpt-4o": {"input": -1, "output": 2}}, ">= 0"),
    ],
)
def test_bad_prices_are_config_errors(prices: dict[str, object], message: str) -> None:
    with pytest.raises(relaykit.ConfigError, match=message):
        relaykit.load_config({"prices": prices})


def test_budget_config_is_validated() -> None:
    config = relaykit.load_config({"limits": {"openai/*": {"budget_usd": 10, "period": "month"}}})
    assert config.limits["openai/*"].budget_usd == Decimal("10")
    with pytest.raises(relaykit.ConfigError, match="period must be 'day' or 'month', not 'week'"):
        relaykit.load_config({"limits": {"openai/*": {"budget_usd": 10, "period": "week"}}})


def test_periods_are_utc_calendar_days_and_months() -> None:
    now = dt.datetime(2026, 2, 28, 23, 0, tzinfo=dt.UTC).timestamp()
    assert period_bounds("day", now) == ("2026-02-28", 3600.0)
    assert period_bounds("month", now) == ("2026-02", 3600.0)


@pytest.mark.anyio
async def test_a_budget_refuses_calls_once_spent_with_retry_after_the_period() -> None:
    fake = FakePlugin()  # USD 1 / 2 per million input / output tokens
    for _ in range(3):
        fake.script.push(
            Reply(text="x", input_tokens=200_000, output_tokens=200_000)
        )  # USD 0.60 each
    config = {**FROZEN, "limits": {"fake/*": {"budget_usd": 1}}}
    async with relaykit.Client(config, plugins=[fake, LimiterPlugin(frozen_limiter())]) as client:
        await client.chat("fake/m", "hi", max_tokens=1000)
        await client.chat("fake/m", "hi", max_tokens=1000)  # held 0.002, but 0.60 was spent...
        with pytest.raises(QuotaExceededError, match="daily budget") as info:
            await client.chat("fake/m", "hi", max_tokens=1000)  # ...and now 1.20 > 1
    _, seconds_left = period_bounds("day", MID_PERIOD)
    assert info.value.retry_after == seconds_left  # the wait until the next UTC day


def test_concurrent_reservations_never_overspend() -> None:
    async def main() -> int:
        limiter = frozen_limiter()
        limit = LimitConfig(budget_usd=Decimal("1"))
        admitted = 0

        async def one() -> None:
            nonlocal admitted
            try:
                await limiter.acquire("k", limit, 0, cost=Decimal("0.3"))
                admitted += 1
            except QuotaExceededError:
                pass

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
        return admitted

    assert anyio.run(main) == 3


def test_reconcile_settles_the_real_cost() -> None:
    async def main() -> None:
        limiter = frozen_limiter()
        limit = LimitConfig(budget_usd=Decimal("1"))
        held = await limiter.acquire("k", limit, 0, cost=Decimal("0.9"))
        with pytest.raises(QuotaExceededError):
            await limiter.acquire("k", limit, 0, cost=Decimal("0.2"))
        await limiter.reconcile(held, 0, cost=Decimal("0.1"))
        await limiter.acquire("k", limit, 0, cost=Decimal("0.8"))

    anyio.run(main)


@pytest.mark.anyio
async def test_a_limiter_without_budgets_is_a_config_error() -> None:
    from relaykit import hookimpl

    class Plain:
        async def acquire(self, key: object, limit: object, tokens: int) -> None: ...
        async def reconcile(self, reservation: object, actual_tokens: int) -> None: ...

    class Plugin:
        @hookimpl
        def relaykit_rate_limiter(self, name: str, config: object) -> Plain:
            return Plain()

    config = {**NONE, "limiter": {"backend": "plain"}, "limits": {"x/*": {"budget_usd": 1}}}
    with pytest.raises(relaykit.ConfigError, match="does not enforce budget_usd"):
        relaykit.Client(config, plugins=[Plugin()])


def test_a_call_that_can_never_fit_says_so() -> None:
    async def main() -> None:
        with pytest.raises(QuotaExceededError, match="can never fit") as info:
            await MemoryRateLimiter().acquire("k", LimitConfig(tpm=100), 500)
        assert info.value.retry_after is None

    anyio.run(main)


def test_credentials_in_plugin_config_stay_out_of_reprs() -> None:
    config = relaykit.load_config(
        {
            "limiter": {"backend": "redis", "url": "redis://app:s3cr3t-pass@10.0.0.5:6379/0"},
            "exporters": {"otlp": {"headers": {"Authorization": "Bearer abcdefghijklmnop"}}},
        }
    )
    text = repr(config)
    assert "s3cr3t-pass" not in text
    assert "abcdefghijklmnop" not in text


@pytest.mark.anyio
async def test_a_limit_that_refuses_gives_back_what_earlier_limits_reserved() -> None:
    # Two patterns match: "*" reserves tokens and USD, then "fake/*" refuses on
    # rpm. The refused call must not keep what "*" reserved for it.
    config = {
        **FROZEN,
        "limits": {
            "*": {"tpm": 250, "budget_usd": "0.001"},
            "fake/*": {"rpm": 1},
        },
    }
    async with relaykit.Client(
        config, plugins=[FakePlugin(), LimiterPlugin(frozen_limiter())]
    ) as client:
        first = await client.chat("fake/m", "hi", max_tokens=100)  # reserves 100 tokens, uses 3
        assert first.usage.total_tokens == 3 and first.cost is not None
        with pytest.raises(QuotaExceededError, match="rpm"):
            await client.chat("fake/m", "hi", max_tokens=100)
        limiter: MemoryRateLimiter = client._limiter  # type: ignore[assignment]
        # 3 used + 200 fits in 250 only if the refused call's 100 went back, and
        # the rest of the budget only if the refused call's hold went back too.
        await limiter.acquire(
            "*", client.config.limits["*"], 200, cost=Decimal("0.001") - first.cost
        )


@pytest.mark.anyio
@pytest.mark.parametrize("now", [197.88038770899684, 217.73981363033076, 26.043659963669096])
async def test_a_full_limit_admits_exactly_its_size_whatever_the_clock_reads(now: float) -> None:
    # At these clock readings `now + 60 - 60 > now` in floating point: the limiter
    # once refused the first call of an rpm=1 limit on a machine booted minutes ago.
    limiter = MemoryRateLimiter(clock=lambda: now)
    await limiter.acquire("k", LimitConfig(rpm=1), 0)
    with pytest.raises(QuotaExceededError, match="rpm"):
        await limiter.acquire("k", LimitConfig(rpm=1), 0)
    await limiter.acquire("t", LimitConfig(tpm=60), 60)  # a whole minute of tokens at once
    with pytest.raises(QuotaExceededError, match="tpm"):
        await limiter.acquire("t", LimitConfig(tpm=60), 1)


@pytest.mark.parametrize(
    ("input_price", "output_price"),
    [
        ("1", "2"),
        ("0.075", "0.3"),
        ("2.5", "10"),
        ("0", "0"),
        ("0.333333333333333333333333333", "1.777777777777777777777777777"),  # 27 digits
        ("123456.789", "0.000001"),
    ],
)
@pytest.mark.parametrize(("prompt", "output"), [(0, 0), (1, 1), (1000, 256), (987_654, 32_768)])
def test_a_hold_costs_exactly_what_the_price_charges_for_that_usage(
    input_price: str, output_price: str, prompt: int, output: int
) -> None:
    # The hold multiplies per-token rates (the price moved six places): the digits,
    # and so any rounding to the context's 28, are those of ModelPrice.cost.
    price = ModelPrice(Decimal(input_price), Decimal(output_price))
    expected = price.cost(Usage(prompt, output))
    per_input, per_output = hold_rates(price)
    assert prompt * per_input + output * per_output == expected
    assert estimate_cost(price, prompt, output) == expected
    assert estimate_cost(None, prompt, output) == 0
