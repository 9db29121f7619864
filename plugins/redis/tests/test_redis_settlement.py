"""relaykit-redis: every hold a call takes is settled once, with what the vendors billed,
however the calls end (relaykit.testing.settlement_workload), as the memory limiter
(core/tests/test_settlement_model.py), against the real Redis here.

The rates follow Redis's own clock, which a test cannot pin: the ledger checks what
each hold was settled with, and the budget's spend is read back from Redis exactly.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import relaykit
from relaykit.budgets import period_bounds
from relaykit.testing import MID_PERIOD, require_service
from relaykit.testing.settlement_workload import (
    ENDINGS,
    Billing,
    Ledger,
    run_settlement_workload,
    settlement_config,
)
from relaykit_redis import RedisClient, RedisRateLimiter

URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from anything real
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
DAY, _ = period_bounds("day", MID_PERIOD)
RATES: dict[str, Any] = {"rpm": 6000, "tpm": 6_000_000}
#: one limit (each call one script), or two and one per ``metadata["user"]`` (all
#: decided in one round trip)
LIMITS: dict[str, dict[str, Any]] = {
    "one": {"*": {**RATES, "budget_usd": "10"}},
    "two": {"*": RATES, "*/m": {**RATES, "budget_usd": "10"}, "user=*": {"budget_usd": "1"}},
    # tight enough to refuse some calls (a refused one holds nothing)
    "tight": {"*": {"rpm": 16, "tpm": 4096, "budget_usd": "0.003"}, "user=*": {"rpm": 4}},
}

CALLS = st.lists(
    st.tuples(st.sampled_from(ENDINGS), st.booleans(), st.integers(0, 500), st.integers(0, 500)),
    min_size=1,
    max_size=8,
)


async def settle(calls: list[tuple[str, bool, int, int]], limits: str) -> None:
    prefix = f"settle-{uuid.uuid4().hex[:12]}"
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: MID_PERIOD)
    billing, ledger = Billing(), Ledger(limiter)
    config = settlement_config(LIMITS[limits])
    async with relaykit.Client(config, plugins=[*billing.plugins, ledger.plugin]) as client:
        with anyio.fail_after(10):
            await run_settlement_workload(client, billing, calls)
    assert ledger.problems(billing.billed) == []
    redis = RedisClient(URL)
    budgeted = "*/m" if limits == "two" else "*"
    spent: Any = await redis.command("GET", f"{prefix}:limit:{budgeted}:usd:{DAY}")
    await redis.aclose()
    assert int(spent or 0) == billing.billed.micro_usd


@pytest.mark.parametrize("limits", sorted(LIMITS))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(calls=CALLS)
def test_every_hold_is_settled_once_with_what_was_billed(
    anyio_backend: str, limits: str, calls: list[tuple[str, bool, int, int]]
) -> None:
    require_service("redis", "127.0.0.1", 6379, start=START)
    anyio.run(settle, calls, limits, backend=anyio_backend)
