"""Chaos: many concurrent calls, every resilience feature on, a misbehaving server.

Two OpenAI servers over loopback sit behind one alias (fallback, hedging) with
retries (Retry-After honoured), a circuit breaker, first-token, idle and total
timeouts, the response cache (memory in front of the SQLite storage's), the
in-memory limiter with RPM, TPM and a USD budget, the secret redactor, a SQLite
call log and a recording exporter. Each server answers from a seeded random
mix of faults; callers stream or not, break out of streams, cancel at random
points. Then, once the client has closed, the invariants of the whole system
are checked (relaykit.testing.chaos): not exact counts of outcomes that depend
on timing.

Run more seeds locally with ``RELAYKIT_CHAOS_SEEDS=1-40``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit.protocols import CallRecord, LogQuery
from relaykit.testing import OpenAIMock, RecordingExporter
from relaykit.testing.chaos import (
    Seen,
    alias_config,
    chaos_call,
    chaos_reply,
    chaos_seeds,
    check_invariants,
    count_in_flight,
    memory_budget_spent,
    two_openai_mocks,
    wait_for_closed_connections,
)

KEY = "sk-chaos-0123456789abcdef"
MODEL = "gpt-4o-mini"
ALIAS = "chaos"
#: USD per million tokens: round numbers, so the sums below are exact
PRICE = {"input": 1, "output": 2}
CALLS = 120


@pytest.fixture
def servers() -> Iterator[tuple[OpenAIMock, OpenAIMock]]:
    with two_openai_mocks(KEY) as pair:
        yield pair


def _config(primary: OpenAIMock, backup: OpenAIMock, db: Path) -> dict[str, Any]:
    return alias_config(primary, backup, db, api_key=KEY, model=MODEL, alias=ALIAS, price=PRICE)


async def _workload(
    client: relaykit.Client, seed: int, servers: tuple[OpenAIMock, OpenAIMock]
) -> list[Seen]:
    rng = random.Random(seed)
    for mock in servers:
        mock.script.push(*[chaos_reply(rng) for _ in range(CALLS * 3)])
    seen = [Seen(i, streamed=rng.random() < 0.5) for i in range(CALLS)]
    async with anyio.create_task_group() as tg:
        for s in seen:
            # a few prompts asked at temperature 0 again and again: cache hits
            if rng.random() < 0.3:
                prompt, params = f"repeat {rng.randint(0, 4)}", {"temperature": 0}
            else:
                prompt, params = f"question {s.index}", {}
            tg.start_soon(chaos_call, client, ALIAS, random.Random(rng.random()), s, prompt, params)
            await anyio.sleep(rng.uniform(0, 0.004))
    return seen


async def _stored(db: Path) -> list[CallRecord]:
    config = {"storage": {"backend": "sqlite", "path": str(db)}}
    async with relaykit.Client(config) as reader:
        assert reader.storage is not None
        return await reader.storage.query_logs(LogQuery(limit=100_000))


@pytest.mark.anyio
@pytest.mark.parametrize("seed", chaos_seeds())
async def test_invariants_hold_under_random_faults(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> None:
    primary, backup = servers
    db = tmp_path / "calls.db"
    exporter = RecordingExporter()
    caplog.set_level(logging.WARNING)
    client = relaykit.Client(_config(primary, backup, db), plugins=[exporter])
    balance = count_in_flight(client)
    with anyio.fail_after(20):
        async with client:
            seen = await _workload(client, seed, servers)
    stored = await _stored(db)
    await wait_for_closed_connections(servers)
    where = f"seed {seed}"
    errors_logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors_logged, f"{where}: {errors_logged}"
    assert KEY not in caplog.text
    spent = memory_budget_spent(client)
    check_invariants(where, client, seen, stored, exporter, servers, secrets=[KEY], spent=spent)
    assert not +balance and not -balance, f"{where}: router in flight {balance}"
