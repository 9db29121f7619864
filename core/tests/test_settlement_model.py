"""Every hold a limit takes is settled exactly once, with what the vendors billed,
however the calls end (relaykit.testing.settlement_workload), under asyncio and trio.

Hypothesis picks a mix of endings (answered, retried 5xx, 400, fallback, hedge,
stream left early or broken, cancellation, timeout, cache hit, invalid output),
chat or stream, run together through the memory limiter on frozen clocks: taken
inline (its synchronous twins) and as a limiter that decides over the network.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import relaykit
from relaykit.testing import FROZEN_NOW as T0
from relaykit.testing import frozen_limiter
from relaykit.testing.settlement_workload import (
    ENDINGS,
    Billing,
    Ledger,
    run_settlement_workload,
    settlement_config,
)

#: 60/1024 s a request and 60/2**20 s a token: exact in binary, so the arrival times are
RATES: dict[str, Any] = {"rpm": 1024, "tpm": 2**20}
#: one limit (the client's inline path), or two on every call and one per
#: ``metadata["user"]`` on some (its general one)
LIMITS: dict[str, dict[str, Any]] = {
    "one": {"*": {**RATES, "budget_usd": "10"}},
    "two": {"*": RATES, "*/m": {**RATES, "budget_usd": "10"}, "user=*": {"budget_usd": "1"}},
    # tight enough to refuse some calls (a refused one holds nothing)
    "tight": {"*": {"rpm": 16, "tpm": 4096, "budget_usd": "0.003"}, "user=*": {"rpm": 4}},
}

CALLS = st.lists(
    st.tuples(
        st.sampled_from(ENDINGS),
        st.booleans(),
        st.integers(0, 500),
        st.integers(0, 500),
    ),
    min_size=1,
    max_size=8,
)


async def settle(calls: list[tuple[str, bool, int, int]], nowait: bool, limits: str) -> None:
    billing, ledger = Billing(), Ledger(frozen_limiter(), nowait=nowait)
    config = settlement_config(LIMITS[limits])
    async with relaykit.Client(config, plugins=[*billing.plugins, ledger.plugin]) as client:
        with anyio.fail_after(5):
            await run_settlement_workload(client, billing, calls)
    assert ledger.problems(billing.billed) == []
    limiter, billed = ledger.limiter, billing.billed
    # and the limiter's own state says the same
    rpm, tpm = (16, 4096) if limits == "tight" else (1024, 2**20)
    for key in ("*", "*/m") if limits == "two" else ("*",):
        assert limiter._rates[key].rpm_tat == T0 + billed.requests * (60 / rpm)
        assert limiter._rates[key].tpm_tat == T0 + billed.tokens * (60 / tpm)
    budgeted = "*/m" if limits == "two" else "*"
    assert limiter._budgets[budgeted].spent == billed.cost


@pytest.mark.parametrize("limits", sorted(LIMITS))
@pytest.mark.parametrize("nowait", [True, False], ids=["inline", "waiting"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(calls=CALLS)
def test_every_hold_is_settled_once_with_what_was_billed(
    anyio_backend: str, nowait: bool, limits: str, calls: list[tuple[str, bool, int, int]]
) -> None:
    anyio.run(settle, calls, nowait, limits, backend=anyio_backend)
