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
