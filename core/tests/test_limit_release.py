"""Limits keep only what was sent: a refused call, or one that never reached the
provider, gives its request back; one that reached it counts, even if it failed."""

from __future__ import annotations

import socket
from collections import Counter
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import relaykit
from relaykit import CircuitOpenError, InvalidRequestError, QuotaExceededError
from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.protocols import Reservation
from relaykit.response import ModelPrice
from relaykit.testing import FROZEN_NOW as T0  # the frozen limiter's rate clock
from relaykit.testing import (
    FakePlugin,
    LimiterPlugin,
    LoadPlugin,
    Reply,
    frozen_limiter,
    run_limit_workload,
)

#: what a workload's calls can come to (see run_limit_workload)
OUTCOMES = {"answered", "refused", "failed", "cancelled"}


def make(*plugins: object, limits: dict[str, Any], **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "limiter": {"backend": "frozen"},
        "limits": limits,
        **sections,
    }
    return relaykit.Client(config, plugins=[*plugins])


def requests_held(limiter: MemoryRateLimiter, key: str) -> float:
    """How many requests ``key``'s rpm limit counts (the frozen clock never lets one expire)."""
    rates = limiter._rates[key]
    return (rates.rpm_tat - T0) / rates.rpm_interval


@pytest.mark.anyio
async def test_a_call_a_later_limit_refuses_gives_the_earlier_limit_its_request_back() -> None:
    frozen = LimiterPlugin(frozen_limiter())
    limits = {"*": {"rpm": 10, "tpm": 6000}, "fake/*": {"rpm": 1, "budget_usd": "1"}}
    async with make(FakePlugin(), frozen, limits=limits) as client:
        await client.chat("fake/m", "hi", max_tokens=100)
        for _ in range(3):
            with pytest.raises(QuotaExceededError, match=r"rpm limit for 'fake/\*'"):
                await client.chat("fake/m", "hi", max_tokens=100)
    limiter = frozen.limiter
    assert requests_held(limiter, "*") == 1  # was 4: one per refused call
    assert limiter._rates["*"].tpm_tat == T0 + 3 * 60 / 6000  # only the answer's 3 tokens
    assert limiter._budgets["fake/*"].spent == Decimal("0.000005")  # 3 tokens at $1-2/M


@pytest.mark.anyio
async def test_a_request_the_provider_received_counts_even_when_it_failed() -> None:
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(Reply.failure(503), Reply.failure(400))
    async with make(fake, frozen, limits={"*": {"rpm": 10}}) as client:
        with pytest.raises(relaykit.ProviderUnavailableError):
            await client.chat("fake/m", "hi")
        with pytest.raises(InvalidRequestError):
            await client.chat("fake/m", "hi")
    assert requests_held(frozen.limiter, "*") == 2


@pytest.mark.anyio
async def test_a_request_the_provider_plugin_could_not_encode_gives_its_request_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = LimiterPlugin(frozen_limiter())
    limits = {"*": {"rpm": 10, "tpm": 6000, "budget_usd": "1"}}
    async with make(FakePlugin(), frozen, limits=limits) as client:

        async def cannot_encode(request: object) -> None:
            raise InvalidRequestError("cannot send an image by URL", param="content")

        monkeypatch.setattr(client.provider("fake"), "chat", cannot_encode)
        with pytest.raises(InvalidRequestError, match="image by URL"):
            await client.chat("fake/m", "hi", max_tokens=100)
    limiter = frozen.limiter
    assert requests_held(limiter, "*") == 0
    assert limiter._rates["*"].tpm_tat == T0
    assert limiter._budgets["*"].spent == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_request_that_could_not_connect_gives_its_request_back(streamed: bool) -> None:
    frozen = LimiterPlugin(frozen_limiter())
    providers = {"openai": {"base_url": f"http://127.0.0.1:{closed_port()}/v1", "api_key": "k"}}
    async with make(frozen, limits={"*": {"rpm": 1, "tpm": 6000}}, providers=providers) as client:
        for _ in range(3):  # rpm = 1: a second counted request would be refused
            with pytest.raises(relaykit.ProviderUnavailableError, match="could not connect"):
                if streamed:
                    async with client.stream("openai/m", "hi", max_tokens=10) as s:
                        async for _ in s:
                            pass
                else:
                    await client.chat("openai/m", "hi", max_tokens=10)
    assert requests_held(frozen.limiter, "*") == 0
    assert frozen.limiter._rates["*"].tpm_tat == T0


@pytest.mark.anyio
async def test_an_open_breaker_reserves_nothing() -> None:
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    fake.script.push(Reply.failure(503))
    breaker = {"failures": 1, "reset_after": 60}
    async with make(fake, frozen, limits={"*": {"rpm": 10}}, breaker=breaker) as client:
        with pytest.raises(relaykit.ProviderUnavailableError):
            await client.chat("fake/m", "hi")
        for _ in range(3):
            with pytest.raises(CircuitOpenError):
                await client.chat("fake/m", "hi")
    assert requests_held(frozen.limiter, "*") == 1  # the request that was sent


class LaggingLimiter:
    """A shared limiter whose server charges at once but answers late: the
    answer can be lost to a cancellation after the charge."""

    def __init__(self) -> None:
        self.limits = frozen_limiter()
        self.released = 0
        self.charged = anyio.Event()  # the server has charged
        self.answered = anyio.Event()  # its answer arrives (the test says when)

    async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
        reservation = self.limits.acquire_nowait(key, limit, tokens)
        self.charged.set()
        await self.answered.wait()
        return reservation

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        await anyio.lowlevel.checkpoint()
        self.limits.reconcile_nowait(reservation, actual_tokens)

    async def release(self, reservation: Reservation) -> None:
        await anyio.lowlevel.checkpoint()
        await self.limits.release(reservation)
        self.released += 1


@pytest.mark.anyio
async def test_a_call_cancelled_while_a_shared_limiter_answers_gives_back_what_it_got() -> None:
    lagging, fake = LimiterPlugin(LaggingLimiter()), FakePlugin()
    async with make(fake, lagging, limits={"*": {"rpm": 10, "tpm": 6000}}) as client:
        # Cancelled once the server has charged and before its answer arrives, not
        # after a fixed 0.01 s against a 0.05 s answer: a slow machine could still be
        # on its way to the limiter then (nothing to give back), or past the answer.
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def give_up_once_charged() -> None:
                    await lagging.limiter.charged.wait()
                    scope.cancel()
                    lagging.limiter.answered.set()

                tg.start_soon(give_up_once_charged)
                with anyio.fail_after(10):  # a safety net only
                    await client.chat("fake/m", "hi", max_tokens=100)
        assert scope.cancelled_caught
    assert lagging.limiter.released == 1
    assert not fake.calls  # never sent
    assert requests_held(lagging.limiter.limits, "*") == 0
    assert lagging.limiter.limits._rates["*"].tpm_tat == T0


class CountedPrice(ModelPrice):
    """A price that counts how often a cost is worked out with it."""

    costs = 0

    def cost(self, usage: relaykit.Usage, **kinds: Any) -> Decimal:
        CountedPrice.costs += 1
        return super().cost(usage, **kinds)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("limits", "budgeted"),
    [
        ({"*": {"budget_usd": "1"}}, "*"),
        ({"*": {"rpm": 100}, "fake/*": {"tpm": 10_000, "budget_usd": "1"}}, "fake/*"),
    ],
    ids=["one-limit", "two-limits"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_budgeted_call_works_its_cost_out_once(
    limits: dict[str, Any], budgeted: str, streamed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, frozen = FakePlugin(), LimiterPlugin(frozen_limiter())
    price = CountedPrice(Decimal("1"), Decimal("2"))
    async with make(fake, frozen, limits=limits) as client:
        monkeypatch.setattr(client.provider("fake"), "price", lambda model: price)
        CountedPrice.costs = 0
        fake.script.push(Reply(text="x", input_tokens=1000, output_tokens=500))
        if streamed:
            async with client.stream("fake/m", "hi", max_tokens=600) as s:
                async for _ in s:
                    pass
            response = s.response
        else:
            response = await client.chat("fake/m", "hi", max_tokens=600)
    assert response.cost == Decimal("0.002")
    # one actual cost for both the budget and the response (the hold multiplies the
    # price's per-token rates: budgets.hold_rates)
    assert CountedPrice.costs == 1
    assert frozen.limiter._budgets[budgeted].spent == Decimal("0.002")


@pytest.mark.anyio
async def test_under_a_random_load_the_limits_hold_exactly_what_was_sent() -> None:
    # Two overlapping limits (RPM+TPM, RPM+budget) on a clock that never moves,
    # so nothing expires: the state must be exactly one request per attempt the
    # provider received, the tokens and USD its answers used. Three seeds at
    # least; the interleaving is the event loop's, so which outcomes one seed
    # produces depends on it (a breaker opened early leaves nothing to refuse:
    # on a loaded machine, three seeds in a row saw no refusal), so more seeds run
    # until every outcome has been seen, or the workload tested too little.
    seen: Counter[str] = Counter()
    for seed in range(1, 13):
        if seed > 3 and set(seen) == OUTCOMES:
            break
        load, frozen = LoadPlugin(), LimiterPlugin(frozen_limiter())
        limits = {
            "*": {"rpm": 64, "tpm": 61_440},  # 60/64 and 60/61440 s are exact in binary
            "load/*": {"rpm": 48, "budget_usd": "0.01"},
        }
        sections = {
            "retry": {"attempts": 2, "initial_wait": 0, "max_wait": 0},
            "breaker": {"failures": 4, "reset_after": 0.02},
        }
        async with make(load, frozen, limits=limits, **sections) as client:
            seen += await run_limit_workload(client, seed=seed, calls=80)
        sent, limiter = load.sent, frozen.limiter
        assert requests_held(limiter, "*") == sent.requests, seed
        assert requests_held(limiter, "load/*") == sent.requests, seed
        assert limiter._rates["*"].tpm_tat == T0 + sent.tokens * (60 / 61_440), seed
        assert limiter._budgets["load/*"].spent == sent.cost, seed
    assert set(seen) == OUTCOMES, seen
