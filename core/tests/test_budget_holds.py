"""A budgeted limit's hold, through the client: what a call in flight holds, and what
it leaves once it ends (answered, failed, cancelled: the prompt a cancelled call sent
stays charged), chat and stream alike.

The fake provider charges USD 1 per million input tokens and 2 per million
output tokens; the limiter's clocks never move, so nothing expires, no budget
period ends (at midnight UTC, say) while a test runs, and the state left is exact.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import QuotaExceededError
from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.response import ModelPrice
from relaykit.testing import FROZEN_NOW as T0
from relaykit.testing import (
    FakePlugin,
    LimiterPlugin,
    Reply,
    cancel_in_flight,
    frozen_limiter,
)

#: 4,000 characters: the limits estimate a quarter of them, 1,000 prompt tokens
PROMPT = "word " * 800


def make(*plugins: object, limits: dict[str, Any]) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "limiter": {"backend": "frozen"},
        "limits": limits,
    }
    return relaykit.Client(config, plugins=[*plugins])


async def call(client: relaykit.Client, streamed: bool, **params: Any) -> relaykit.ChatResponse:
    if not streamed:
        return await client.chat("fake/m", PROMPT, **params)
    async with client.stream("fake/m", PROMPT, **params) as s:
        async for _ in s:
            pass
    return s.response


async def admitted_of(client: relaykit.Client, n: int, streamed: bool, **params: Any) -> int:
    """How many of ``n`` calls started together the limits let through."""
    admitted = 0

    async def one() -> None:
        nonlocal admitted
        try:
            await call(client, streamed, **params)
        except QuotaExceededError:
            return
        admitted += 1

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return admitted


STREAMED = pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])


@pytest.mark.anyio
@STREAMED
async def test_a_hold_prices_the_output_estimate_at_the_output_price(streamed: bool) -> None:
    # Each call may cost 1,000 prompt tokens at $1/M plus 1,000 output tokens at
    # $2/M: $0.003. Two of them do not fit $0.005, though they would if the
    # output were held at the input price ($0.002 each).
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    for _ in range(2):
        fake.script.push(Reply(text="x", input_tokens=1000, output_tokens=1000, delay=0.05))
    async with make(fake, frozen, limits={"*": {"budget_usd": "0.005"}}) as client:
        assert await admitted_of(client, 2, streamed, max_tokens=1000) == 1
    assert frozen.limiter._budgets["*"].spent == Decimal("0.003")


@pytest.mark.anyio
async def test_a_hold_without_max_tokens_prices_the_default_output_estimate() -> None:
    # No max_tokens: 256 output tokens are held, at $2/M, beside the prompt's 1,000 at $1/M.
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(Reply(text="x", delay=5))
    client = make(fake, frozen, limits={"*": {"budget_usd": "1"}})
    async with client, anyio.create_task_group() as tg:
        tg.start_soon(client.chat, "fake/m", PROMPT)
        await anyio.wait_all_tasks_blocked()
        assert frozen.limiter._budgets["*"].spent == Decimal("0.001512")
        tg.cancel_scope.cancel()
    # cancelled in flight: the output's hold goes back, the prompt's stays (billed)
    assert frozen.limiter._budgets["*"].spent == Decimal("0.001")


@pytest.mark.anyio
@STREAMED
async def test_concurrent_budgeted_calls_never_overspend_and_settle_what_they_used(
    streamed: bool,
) -> None:
    # Holds of $0.0012 (1,000 prompt + 100 output tokens): ten fit $0.012, so
    # ten of the twenty calls started together run; each then uses $0.0005.
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    for _ in range(20):
        fake.script.push(Reply(text="x", input_tokens=300, output_tokens=100, delay=0.05))
    # 60/960 and 60/983,040 s are exact in binary: the sums below are too
    limits = {"*": {"rpm": 960, "tpm": 983_040, "budget_usd": "0.012"}}
    async with make(fake, frozen, limits=limits) as client:
        assert await admitted_of(client, 20, streamed, max_tokens=100) == 10
    limiter = frozen.limiter
    assert limiter._budgets["*"].spent == Decimal("0.005")  # ten answers at $0.0005
    rates = limiter._rates["*"]
    assert rates.rpm_tat == T0 + 10 * (60 / 960)  # the ten requests sent, not the refused
    assert rates.tpm_tat == T0 + 10 * 400 * (60 / 983_040)  # the tokens they used


@pytest.mark.anyio
@STREAMED
async def test_a_budgeted_call_that_failed_after_sending_keeps_its_request_only(
    streamed: bool,
) -> None:
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(Reply.failure(400))
    limits = {"*": {"rpm": 10, "tpm": 6000, "budget_usd": "1"}}
    async with make(fake, frozen, limits=limits) as client:
        with pytest.raises(relaykit.InvalidRequestError):
            await call(client, streamed, max_tokens=100)
    limiter = frozen.limiter
    assert limiter._rates["*"].rpm_tat == T0 + 60 / 10  # it reached the provider
    assert limiter._rates["*"].tpm_tat == T0  # no tokens used
    assert limiter._budgets["*"].spent == 0  # and nothing spent


@pytest.mark.anyio
@STREAMED
async def test_a_budgeted_call_cancelled_in_flight_keeps_its_prompt_only(streamed: bool) -> None:
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(Reply(text="too late", delay=5, first_token_delay=5))
    limits = {"*": {"rpm": 10, "tpm": 6000, "budget_usd": "1"}}
    async with make(fake, frozen, limits=limits) as client:
        # cancelled once the provider has the call (its hold taken), not after 50 ms
        await cancel_in_flight(
            lambda: call(client, streamed, max_tokens=100), when=lambda: bool(fake.calls)
        )
    # The provider had the prompt and bills it: 1,000 estimated tokens ($0.001) stay
    # counted; the output's hold goes back.
    limiter = frozen.limiter
    assert limiter._rates["*"].tpm_tat == pytest.approx(T0 + 1000 * 60 / 6000)
    assert limiter._budgets["*"].spent == Decimal("0.001")


@pytest.mark.anyio
async def test_a_hedged_call_keeps_the_winners_cost_and_both_requests() -> None:
    slow, fast, frozen = FakePlugin("slow"), FakePlugin("fast"), LimiterPlugin(frozen_limiter())
    slow.script.push(Reply(text="late", input_tokens=1000, output_tokens=1000, delay=5))
    fast.script.push(Reply(text="x", input_tokens=300, output_tokens=100))
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "frozen"},
        "limits": {"*": {"rpm": 960, "budget_usd": "1"}},
        "models": {"g": {"targets": ["slow/m", "fast/m"], "hedge_after": 0.02}},
    }
    async with relaykit.Client(config, plugins=[slow, fast, frozen]) as client:
        with anyio.fail_after(5):
            response = await client.chat("g", PROMPT, max_tokens=100)
    assert response.provider == "fast"
    limiter = frozen.limiter
    # the winner's $0.0005, and the prompt the cancelled loser was billed ($0.001)
    assert limiter._budgets["*"].spent == Decimal("0.0015")
    assert limiter._rates["*"].rpm_tat == T0 + 2 * (60 / 960)  # both reached a provider


@pytest.mark.anyio
async def test_a_budget_without_a_known_price_holds_nothing_and_stays_unspent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    async with make(fake, frozen, limits={"*": {"budget_usd": "0.000001"}}) as client:
        monkeypatch.setattr(client.provider("fake"), "price", lambda model: None)
        for _ in range(3):
            response = await client.chat("fake/m", PROMPT, max_tokens=1000)
    assert response.cost is None
    assert frozen.limiter._budgets["*"].spent == 0


@pytest.mark.anyio
async def test_a_price_the_plugin_learns_later_is_held_from_then_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A plugin may know a price only once it has listed its models: a deployment
    # first seen without one must not keep holding nothing.
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(Reply(text="x", input_tokens=0, output_tokens=0), Reply(text="x", delay=5))
    client = make(fake, frozen, limits={"*": {"budget_usd": "1"}})
    async with client, anyio.create_task_group() as tg:
        provider = client.provider("fake")
        monkeypatch.setattr(provider, "price", lambda model: None)
        await client.chat("fake/m", PROMPT, max_tokens=1000)
        monkeypatch.setattr(provider, "price", lambda model: ModelPrice(Decimal(1), Decimal(2)))
        tg.start_soon(lambda: client.chat("fake/m", PROMPT, max_tokens=1000))
        await anyio.wait_all_tasks_blocked()
        assert frozen.limiter._budgets["*"].spent == Decimal("0.003")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_price_from_config_is_the_one_held() -> None:
    # [prices] says $10/M output: 1,000 output tokens hold $0.01 beside the prompt's $0.001.
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(Reply(text="x", delay=5))
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "frozen"},
        "limits": {"*": {"budget_usd": "1"}},
        "prices": {"fake/m": {"input": 1, "output": 10}},
    }
    client = relaykit.Client(config, plugins=[fake, frozen])
    async with client, anyio.create_task_group() as tg:
        tg.start_soon(lambda: client.chat("fake/m", PROMPT, max_tokens=1000))
        await anyio.wait_all_tasks_blocked()
        assert frozen.limiter._budgets["*"].spent == Decimal("0.011")
        tg.cancel_scope.cancel()
    assert frozen.limiter._budgets["*"].spent == Decimal("0.001")  # the prompt, billed


DAY1 = 1_764_460_800.0  # 2025-11-30T00:00:00Z
DAY2 = DAY1 + 86_400


def test_a_budget_starts_from_zero_in_a_new_period() -> None:
    wall = [DAY1 + 10]
    limiter = MemoryRateLimiter(clock=lambda: T0, wall_clock=lambda: wall[0])
    limit = LimitConfig(budget_usd=Decimal("1"))
    limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.8"))
    with pytest.raises(QuotaExceededError, match="daily budget") as info:
        limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.3"))
    assert info.value.retry_after == 86_400 - 10
    assert info.value.budget  # a budget spent, not a rate met (the gateway's 429s differ)
    wall[0] = DAY2 + 5
    limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.3"))
    assert limiter._budgets["k"].spent == Decimal("0.3")


def test_a_refusal_says_whether_a_budget_or_a_rate_refused() -> None:
    """``QuotaExceededError.budget``: a budget spent or never fitting (waiting for the
    next period or a bigger budget cures it) is not a rate met or never fitting."""
    limiter = MemoryRateLimiter(clock=lambda: T0, wall_clock=lambda: DAY1 + 10)
    refusals: list[QuotaExceededError] = []
    for limit, tokens, cost in [
        (LimitConfig(rpm=1), 0, None),
        (LimitConfig(tpm=10), 50, None),
        (LimitConfig(budget_usd=Decimal("1")), 0, Decimal("0.6")),
        (LimitConfig(budget_usd=Decimal("1")), 0, Decimal("5")),
    ]:
        key = f"k{len(refusals)}"
        with contextlib.suppress(QuotaExceededError):
            limiter.acquire_nowait(key, limit, tokens, cost=cost)
        with pytest.raises(QuotaExceededError) as info:
            limiter.acquire_nowait(key, limit, tokens, cost=cost)
        refusals.append(info.value)
    assert [(e.budget, "budget" in e.message) for e in refusals] == [
        (False, False),
        (False, False),
        (True, True),
        (True, True),
    ]


def test_a_hold_settled_after_the_period_ended_lands_its_excess_in_the_new_one() -> None:
    wall = [DAY2 - 1]
    limiter = MemoryRateLimiter(clock=lambda: T0, wall_clock=lambda: wall[0])
    limit = LimitConfig(budget_usd=Decimal("1"))
    early = limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.5"))
    late = limiter.acquire_nowait("k", limit, 0, cost=Decimal("0.2"))
    wall[0] = DAY2 + 1
    limiter.reconcile_nowait(early, 0, cost=Decimal("0.7"))  # used 0.2 more than it held
    assert limiter._budgets["k"].spent == Decimal("0.2")
    # a refund of 0.1 to the old day: the old day keeps it, the new one's spend stays
    # (see tests/test_limiter_settling.py for the overshoot it would allow)
    limiter.reconcile_nowait(late, 0, cost=Decimal("0.1"))
    assert limiter._budgets["k"].spent == Decimal("0.2")


def test_a_key_whose_period_changes_counts_in_the_new_period() -> None:
    limiter = MemoryRateLimiter(clock=lambda: T0, wall_clock=lambda: DAY1 + 10)
    daily = LimitConfig(budget_usd=Decimal("1"), period="day")
    monthly = LimitConfig(budget_usd=Decimal("1"), period="month")
    limiter.acquire_nowait("k", daily, 0, cost=Decimal("0.9"))
    limiter.acquire_nowait("k", monthly, 0, cost=Decimal("0.9"))  # another period: from zero
    with pytest.raises(QuotaExceededError, match="monthly budget"):
        limiter.acquire_nowait("k", monthly, 0, cost=Decimal("0.2"))


def test_settled_holds_are_forgotten_at_once() -> None:
    limiter = MemoryRateLimiter(clock=lambda: T0, wall_clock=lambda: DAY1 + 10)
    limit = LimitConfig(budget_usd=Decimal("100"))
    for _ in range(50):
        limiter.reconcile_nowait(limiter.acquire_nowait("k", limit, 0, cost=Decimal("1")), 0)
        anyio.run(limiter.release, limiter.acquire_nowait("k", limit, 0, cost=Decimal("1")))
    assert limiter._budgets["k"].holding == {}
    assert limiter._budgets["k"].spent == Decimal("0")


def test_holds_never_settled_are_capped_oldest_first_and_their_refund_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A caller that acquires and never settles must not grow the limiter for a month.
    monkeypatch.setattr("relaykit.memory_limiter._HOLDS_PER_KEY", 3)
    limiter = MemoryRateLimiter(clock=lambda: T0, wall_clock=lambda: DAY1 + 10)
    limit = LimitConfig(budget_usd=Decimal("100"))
    held = [limiter.acquire_nowait("k", limit, 0, cost=Decimal("1")) for _ in range(10)]
    budget = limiter._budgets["k"]
    assert list(budget.holding.values()) == held[-3:]
    assert budget.spent == Decimal("10")
    limiter.reconcile_nowait(held[0], 0, cost=Decimal("0.25"))  # forgotten: no refund
    assert budget.spent == Decimal("10")
    limiter.reconcile_nowait(held[1], 0, cost=Decimal("1.5"))  # forgotten: its excess counts
    assert budget.spent == Decimal("10.5")
    limiter.reconcile_nowait(held[-1], 0, cost=Decimal("0.25"))  # remembered: refunded
    assert budget.spent == Decimal("9.75")
    assert len(budget.holding) == 2


class GatedLimiter:
    """The frozen memory limiter behind a gate: ``acquire`` answers once it opens
    (a shared limiter slow to answer); no synchronous twins."""

    supports_budgets = True

    def __init__(self) -> None:
        self.limiter = frozen_limiter()
        self.asked = anyio.Event()
        self.gate = anyio.Event()

    async def acquire(self, key: str, limit: Any, tokens: int, **kw: Any) -> Any:
        self.asked.set()
        await self.gate.wait()
        return self.limiter.acquire_nowait(key, limit, tokens, **kw)

    async def reconcile(self, reservation: Any, actual: int, **kw: Any) -> None:
        self.limiter.reconcile_nowait(reservation, actual, **kw)

    async def release(self, reservation: Any) -> None:
        await self.limiter.release(reservation)


@pytest.mark.anyio
@STREAMED
async def test_a_call_its_limiter_admits_after_the_client_shut_down_is_not_sent(
    streamed: bool,
) -> None:
    # As a chat, a stream admitted only once its client has shut down (the close
    # stopped waiting for it) sends nothing and gives its limits everything back.
    # The stream went out anyway, after the close; failing there (a 503, billed
    # nothing), it was charged its prompt's estimate.
    gated = GatedLimiter()
    fake, plugin = FakePlugin(), LimiterPlugin(gated)
    fake.script.push(Reply.failure(503))
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "limiter": {"backend": "frozen"},
        "limits": {"*": {"rpm": 10, "tpm": 6000, "budget_usd": "1"}},
    }
    client = relaykit.Client(config, plugins=[fake, plugin])
    failed: list[BaseException] = []

    async def gated_call() -> None:
        try:
            await call(client, streamed, max_tokens=100)
        except relaykit.RelayError as e:
            failed.append(e)

    async with anyio.create_task_group() as tg:
        async with client:
            tg.start_soon(gated_call)
            await gated.asked.wait()
            with anyio.CancelScope() as closing:
                closing.cancel()  # the close stops waiting for the call in flight
                await client.aclose()
        gated.gate.set()
    assert [type(e) for e in failed] == [relaykit.ClientClosedError]
    assert fake.calls == []  # nothing went out
    limiter = gated.limiter
    assert limiter._rates["*"].rpm_tat == T0  # the request given back
    assert limiter._rates["*"].tpm_tat == T0
    assert limiter._budgets["*"].spent == 0


@pytest.mark.anyio
async def test_a_stream_retried_after_its_first_token_timeout_keeps_the_first_prompt() -> None:
    # The first attempt reached the vendor, which bills its prompt however it ended:
    # the retried stream's budget keeps that prompt's estimate and the answer's cost.
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(
        Reply(text="late", delay=5), Reply(text="x", input_tokens=300, output_tokens=100)
    )
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0},
        "timeouts": {"first_token": 0.05},
        "limiter": {"backend": "frozen"},
        "limits": {"*": {"rpm": 10, "tpm": 6000, "budget_usd": "1"}},
    }
    async with relaykit.Client(config, plugins=[fake, frozen]) as client:
        with anyio.fail_after(5):
            response = await call(client, True, max_tokens=100)
    assert len(fake.calls) == 2
    limiter = frozen.limiter
    assert limiter._rates["*"].rpm_tat == T0 + 2 * (60 / 10)  # both reached the provider
    # the first's prompt (1,000 tokens, $0.001) and the answer's 400 tokens ($0.0005)
    assert limiter._rates["*"].tpm_tat == pytest.approx(T0 + 1400 * 60 / 6000)
    assert response.cost == Decimal("0.0005")
    assert limiter._budgets["*"].spent == Decimal("0.0015")
