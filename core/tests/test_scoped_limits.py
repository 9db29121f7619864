"""``[limits."NAME=GLOB"]``: limits and budgets per value of a call's metadata (per user,
per gateway key), each value counted apart, beside the limits on models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import QuotaExceededError
from relaykit.testing import FakePlugin, LimiterPlugin, Reply, frozen_limiter

NONE = {"storage": {"backend": "none"}, "limiter": {"backend": "frozen"}}


def client(fake: FakePlugin, limits: dict[str, Any]) -> relaykit.Client:
    # frozen: no minute passes, so a spent limit stays spent while the test runs
    limiter = LimiterPlugin(frozen_limiter())
    return relaykit.Client({**NONE, "limits": limits}, plugins=[fake, limiter])


async def call(c: relaykit.Client, user: str | None, *, stream: bool = False) -> str:
    metadata = {"user": user} if user is not None else {}
    if not stream:
        return (await c.chat("fake/m", "hi", metadata=metadata, max_tokens=10)).text
    async with c.stream("fake/m", "hi", metadata=metadata, max_tokens=10) as s:
        return "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_each_user_has_a_limit_of_their_own(stream: bool) -> None:
    fake = FakePlugin()
    async with client(fake, {"user=*": {"rpm": 2}}) as c:
        for _ in range(2):
            await call(c, "alice", stream=stream)
        with pytest.raises(QuotaExceededError, match=r"'user=alice \(user=\*\)'") as caught:
            await call(c, "alice", stream=stream)
        assert caught.value.retry_after is not None and caught.value.retry_after > 0
        # bob has his own two; calls without a user are not limited by it
        for _ in range(2):
            await call(c, "bob", stream=stream)
        for _ in range(5):
            await call(c, None, stream=stream)
    assert len(fake.calls) == 2 + 2 + 5


@pytest.mark.anyio
async def test_a_named_value_and_a_model_limit_both_apply() -> None:
    fake = FakePlugin()
    limits = {"user=alice": {"rpm": 1}, "user=*": {"rpm": 3}, "fake/*": {"rpm": 4}}
    async with client(fake, limits) as c:
        await call(c, "alice")
        with pytest.raises(QuotaExceededError, match="'user=alice'"):
            await call(c, "alice")  # her own limit, before user=* and fake/*
        for _ in range(3):
            await call(c, "bob")
        with pytest.raises(QuotaExceededError, match=r"'fake/\*'"):
            await call(c, "carol")  # the model's limit, shared by everyone, is spent
    # refused calls gave their reservations back: alice's refusal did not count for fake/*
    assert len(fake.calls) == 4


@pytest.mark.anyio
async def test_a_users_budget_is_spent_by_their_calls_only() -> None:
    fake = FakePlugin()
    # the fake's price: USD 1 per million input tokens, 2 per million output tokens
    for _ in range(3):
        fake.script.push(Reply(text="x", input_tokens=700_000, output_tokens=0))
    async with client(fake, {"user=*": {"budget_usd": "0.6"}}) as c:
        await call(c, "alice")  # $0.70 spent: more than her budget, settled after the call
        with pytest.raises(QuotaExceededError, match=r"budget of \$0\.6 for 'user=alice"):
            await call(c, "alice")
        await call(c, "bob")
    assert len(fake.calls) == 2


def test_a_scoped_pattern_is_told_from_a_model_pattern() -> None:
    from relaykit.config import is_scoped

    config = relaykit.load_config({"limits": {"gateway_key=*": {"budget_usd": "5"}}})
    assert config.limits["gateway_key=*"].budget_usd == Decimal(5)
    assert is_scoped("gateway_key=*") and is_scoped("user=alice")
    assert not is_scoped("openai/*") and not is_scoped("*")


def test_the_memory_limiter_forgets_callers_that_hold_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One key per user: a million users must not mean a million entries forever.
    from relaykit import memory_limiter
    from relaykit.config import LimitConfig

    monkeypatch.setattr(memory_limiter, "_FORGET_FROM", 100)
    now = [1000.0]
    wall = 1_700_000_000.0
    limiter = memory_limiter.MemoryRateLimiter(clock=lambda: now[0], wall_clock=lambda: wall)
    rpm = LimitConfig(rpm=2)  # one request holds its key for 30 s
    budget = LimitConfig(budget_usd=Decimal("1"))
    limiter.acquire_nowait("user=alice", rpm, 10)
    limiter.acquire_nowait("user=alice", rpm, 10)  # alice's key: held for 60 s
    for i in range(150):  # past 100 keys, nothing to forget yet: the next try is at 200
        limiter.acquire_nowait(f"user=u{i}", rpm, 10)
    assert len(limiter._rates) == 151
    now[0] += 45.0  # the users' requests have left the window; alice's second has not
    for i in range(49):
        limiter.acquire_nowait(f"user=v{i}", rpm, 10)
    assert len(limiter._rates) == 200
    limiter.acquire_nowait("user=last", rpm, 10)
    # the 150 idle users are forgotten; alice and the 50 who just came are kept
    assert len(limiter._rates) == 51
    assert limiter._rates["user=alice"].rpm_tat == 1060.0  # she still holds what she took
    limiter.acquire_nowait("user=alice", rpm, 10)  # one slot of 30 s has come free
    with pytest.raises(QuotaExceededError):
        limiter.acquire_nowait("user=alice", rpm, 10)

    budgets = memory_limiter.MemoryRateLimiter(clock=lambda: now[0], wall_clock=lambda: wall)
    for i in range(150):  # half of them spend a dollar's hold, half nothing
        budgets.acquire_nowait(f"user=u{i}", budget, 10, cost=Decimal(i % 2))
    for i in range(50):
        budgets.acquire_nowait(f"user=w{i}", budget, 10, cost=Decimal(1))
    # at 200 keys the empty budgets went: the 75 that hold a dollar, and the 50 new, stay
    assert len(budgets._budgets) == 125
    assert all(b.spent == 1 for b in budgets._budgets.values())
