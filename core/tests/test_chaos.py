"""Chaos: many concurrent calls, every resilience feature on, a misbehaving server.

Two OpenAI servers over loopback sit behind one alias (fallback, hedging) with
retries (Retry-After honoured), a circuit breaker, first-token, idle and total
timeouts, the response cache (memory in front of the SQLite storage's), the
in-memory limiter with RPM, TPM and a USD budget, the secret redactor, a SQLite
call log and a recording exporter. Each server answers from a seeded random
mix of faults; callers stream or not, break out of streams, cancel at random
points. Then, once the client has closed, the invariants of the whole system
are checked: not exact counts of outcomes that depend on timing.

Run more seeds locally with ``RELAYKIT_CHAOS_SEEDS=1-40``.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import relaykit
from relaykit.metrics import CACHE_HITS, ERRORS, FALLBACKS, REQUESTS, RETRIES, observe
from relaykit.protocols import CallRecord, LogQuery
from relaykit.testing import OpenAIMock, RecordingExporter, Reply

KEY = "sk-chaos-0123456789abcdef"
MODEL = "gpt-4o-mini"
ALIAS = "chaos"
#: USD per million tokens: round numbers, so the sums below are exact
PRICE = {"input": 1, "output": 2}
CALLS = 120


def _seeds() -> list[int]:
    """CI runs three seeds; ``RELAYKIT_CHAOS_SEEDS=1-40`` (or ``3,9``) runs others."""
    raw = os.environ.get("RELAYKIT_CHAOS_SEEDS", "")
    if not raw:
        return [1, 2, 3]
    if "-" in raw:
        low, high = raw.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in raw.split(",")]


def _fault(rng: random.Random) -> Reply:
    """One server-side behaviour, drawn from a mix weighted towards success.

    A stream fault on a non-streamed request is ignored by the mock (it answers
    whole), so every kind can be drawn for every request.
    """
    text = " ".join(
        rng.choice(("alpha", "beta", "gamma", "delta")) for _ in range(rng.randint(1, 12))
    )
    kind = rng.choices(
        [
            "ok",
            "slow",
            "500",
            "503",
            "429",
            "reset",
            "drop",
            "stream_reset",
            "truncate",
            "stream_error",
            "late_first_token",
            "idle_gap",
        ],
        weights=[40, 6, 5, 4, 5, 3, 3, 2, 3, 3, 2, 2],
    )[0]
    if kind == "ok":
        return Reply(text=text)
    if kind == "slow":  # past the hedge delay, within the timeouts
        return Reply(text=text, delay=0.2)
    if kind in ("500", "503"):
        return Reply.failure(int(kind))
    if kind == "429":
        return Reply.failure(429, "slow down", retry_after=0.05)
    if kind == "reset":
        return Reply(connection_fault="reset")
    if kind == "drop":
        return Reply(text=text, stream_fault="drop")
    if kind == "stream_reset":
        return Reply(text=text, stream_fault="reset")
    if kind == "truncate":
        return Reply(text=text, stream_fault="truncate")
    if kind == "stream_error":
        return Reply(text=text, stream_fault="error")
    if kind == "late_first_token":
        return Reply(text=text, first_token_delay=0.5)
    return Reply(text=text + " " + text, chunk_delay=0.4)  # two pieces or more, 0.4 s apart


@attrs.define
class Seen:
    """What one caller saw: the response, the error, or a cancellation."""

    index: int
    streamed: bool
    outcome: str = "pending"  # "ok", "error", "cancelled", "broke" (left a stream early)
    response: relaykit.ChatResponse | None = None
    error: BaseException | None = None
    #: whether every event of the stream (or the whole answer) arrived
    complete: bool = False


@pytest.fixture
def servers() -> Iterator[tuple[OpenAIMock, OpenAIMock]]:
    with OpenAIMock(api_key=KEY) as primary, OpenAIMock(api_key=KEY) as backup:
        yield primary, backup


def _config(primary: OpenAIMock, backup: OpenAIMock, db: Path) -> dict[str, Any]:
    return {
        "storage": {"backend": "sqlite", "path": str(db)},
        "cache": {"enabled": True, "backend": "storage"},
        "retry": {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.02, "max_retry_after": 0.1},
        "breaker": {"failures": 4, "reset_after": 0.2, "cool_down": 0},
        "timeouts": {"connect": 2, "first_token": 0.3, "idle": 0.3, "total": 2},
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": KEY},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": KEY},
        },
        "models": {ALIAS: {"targets": [f"openai/{MODEL}", f"backup/{MODEL}"], "hedge_after": 0.15}},
        "limits": {"*": {"rpm": 100_000, "tpm": 50_000_000, "budget_usd": 100}},
        "prices": {f"openai/{MODEL}": PRICE, f"backup/{MODEL}": PRICE},
    }


async def _one_call(
    client: relaykit.Client, rng: random.Random, seen: Seen, prompt: str, params: dict[str, Any]
) -> None:
    """One caller: chat or stream, maybe breaking out or cancelling at a random point."""
    cancel_after = rng.uniform(0.0, 0.4) if rng.random() < 0.15 else None
    break_after = rng.randint(0, 2) if seen.streamed and rng.random() < 0.1 else None
    metadata = {"correlation_id": f"chaos-{seen.index}"}
    with anyio.CancelScope() as scope:
        if cancel_after is not None:
            scope.deadline = anyio.current_time() + cancel_after
        try:
            if not seen.streamed:
                seen.response = await client.chat(ALIAS, prompt, metadata=metadata, **params)
                seen.outcome, seen.complete = "ok", True
                return
            async with client.stream(ALIAS, prompt, metadata=metadata, **params) as s:
                events = 0
                async for _ in s:
                    events += 1
                    if break_after is not None and events > break_after:
                        break
                else:
                    seen.complete = True
            seen.response = s.response
            seen.outcome = "ok" if seen.complete else "broke"
        except relaykit.RelayError as e:
            seen.outcome, seen.error = "error", e
        except Exception as e:  # anything else reaching a caller is a defect
            seen.outcome, seen.error = "foreign", e
    if scope.cancelled_caught and seen.outcome == "pending":
        seen.outcome = "cancelled"


async def _workload(
    client: relaykit.Client, seed: int, servers: tuple[OpenAIMock, OpenAIMock]
) -> list[Seen]:
    rng = random.Random(seed)
    for mock in servers:
        mock.script.push(*[_fault(rng) for _ in range(CALLS * 3)])
    seen = [Seen(i, streamed=rng.random() < 0.5) for i in range(CALLS)]
    async with anyio.create_task_group() as tg:
        for s in seen:
            # a few prompts asked at temperature 0 again and again: cache hits
            if rng.random() < 0.3:
                prompt, params = f"repeat {rng.randint(0, 4)}", {"temperature": 0}
            else:
                prompt, params = f"question {s.index}", {}
            tg.start_soon(_one_call, client, random.Random(rng.random()), s, prompt, params)
            await anyio.sleep(rng.uniform(0, 0.004))
    return seen


async def _stored(db: Path) -> list[CallRecord]:
    config = {"storage": {"backend": "sqlite", "path": str(db)}}
    async with relaykit.Client(config) as reader:
        assert reader.storage is not None
        return await reader.storage.query_logs(LogQuery(limit=100_000))


def _spent(client: relaykit.Client) -> Decimal:
    limiter: Any = client._limiter
    return sum((b.spent for b in limiter._budgets.values()), Decimal(0))


@pytest.mark.anyio
@pytest.mark.parametrize("seed", _seeds())
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
    balance = _count_in_flight(client)
    with anyio.fail_after(20):
        async with client:
            seen = await _workload(client, seed, servers)
    stored = await _stored(db)
    # The servers run in threads of their own: give them a moment to see the closes
    # (polled: their counters are plain numbers another thread sets, no event).
    with anyio.move_on_after(2):
        while any(mock.server.stats.connections_open for mock in servers):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    _check(seed, client, seen, exporter, stored, servers, caplog)
    # the router's own count stops at zero, so a stream ended twice would not show there
    assert not +balance and not -balance, f"seed {seed}: router in flight {balance}"


def _count_in_flight(client: relaykit.Client) -> Counter[str]:
    """Count the router's starts and ends per target, without its floor at zero."""
    router = client._router
    balance: Counter[str] = Counter()
    started, finished = router.started, router.finished

    def counted_start(target: Any) -> None:
        balance[str(target)] += 1
        started(target)

    def counted_finish(target: Any, **kw: Any) -> None:
        balance[str(target)] -= 1
        finished(target, **kw)

    router.started = counted_start  # type: ignore[method-assign]
    router.finished = counted_finish  # type: ignore[method-assign]
    return balance


def _check(
    seed: int,
    client: relaykit.Client,
    seen: list[Seen],
    exporter: RecordingExporter,
    stored: list[CallRecord],
    servers: tuple[OpenAIMock, OpenAIMock],
    caplog: pytest.LogCaptureFixture,
) -> None:
    where = f"seed {seed}"
    # -- nothing but relaykit's typed errors reaches a caller; nothing logged at ERROR
    foreign = [(s.index, repr(s.error)) for s in seen if s.outcome == "foreign"]
    assert not foreign, f"{where}: untyped errors reached callers: {foreign}"
    assert not [s for s in seen if s.outcome == "pending"], where
    errors_logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors_logged, f"{where}: {errors_logged}"
    assert KEY not in caplog.text

    # -- storage and the exporter saw the same records
    exported = exporter.records
    missing = Counter(r.id for r in exported) - Counter(r.id for r in stored)
    assert not missing, (
        where,
        [(r.error_type, r.correlation_id, r.streamed) for r in exported if r.id in missing],
    )
    assert not any(KEY in repr(r) for r in stored), f"{where}: a key reached a record"

    # -- each call has exactly one record, besides its hedges' losers (hedging.py:
    # "the loser is recorded too (error type HedgeCancelled)", its id the call's + "-hedge-")
    by_call: dict[str, list[CallRecord]] = {}
    for record in stored:
        by_call.setdefault(record.correlation_id or "", []).append(record)
    for s in seen:
        records = by_call.pop(f"chaos-{s.index}", [])
        final = [r for r in records if r.error_type != "HedgeCancelled"]
        assert len(final) == 1, f"{where}: call {s.index} ({s.outcome}) has records {final}"
        _matches(where, s, final[0])
        losers = [r for r in records if r.error_type == "HedgeCancelled"]
        assert all(r.id.startswith(f"{final[0].id}-hedge-") for r in losers), where
    assert not by_call, f"{where}: records of no call: {list(by_call)}"

    # -- the budget spent what the records cost. A hedge's loser cancelled mid-call is
    # recorded with the prompt cost it likely ran up, an estimate the budget never
    # charges (its attempt settles with no answer: Client._attempt), so it is left
    # out; one whose answer came after the race was won carries that answer (and
    # its response id), which the budget charged.
    charged = sum(
        (
            r.cost or Decimal(0)
            for r in stored
            if r.error_type != "HedgeCancelled" or r.response_id is not None
        ),
        Decimal(0),
    )
    assert _spent(client) == charged, f"{where}: budget {_spent(client)} != records {charged}"

    # -- nothing is held or in flight once the client has closed
    router = client._router
    for target in router._health:
        assert router.in_flight(target) == 0, f"{where}: {target} still in flight"
    assert client._in_flight == 0, where
    for mock in servers:
        assert mock.server.stats.connections_open == 0, f"{where}: connections left open"

    # -- the metrics derived from the records agree with them
    counts: Counter[str] = Counter()
    for event in exporter.events:
        for obs in observe(event):
            counts[obs.instrument.name] += int(obs.value)
    assert counts[REQUESTS.name] == len(stored), where
    assert counts[ERRORS.name] == sum(1 for r in stored if r.error_type is not None), where
    assert counts[RETRIES.name] == sum(max(0, r.attempts - 1) for r in stored), where
    # (storage keeps no fallbacks column: the exporter's records have them)
    assert counts[FALLBACKS.name] == sum(r.fallbacks for r in exported), where
    assert counts[CACHE_HITS.name] == sum(1 for r in stored if r.cache_hit), where

    # -- a cache hit repeats an answer a caller got whole, never a partial or failed one
    whole = {
        s.response.id
        for s in seen
        if s.outcome == "ok" and s.complete and s.response and not s.response.cache_hit
    }
    for s in seen:
        if s.response is not None and s.response.cache_hit:
            assert s.response.id in whole, f"{where}: call {s.index} hit a never-whole answer"
            if s.complete:  # (a caller may break out of a replayed stream too)
                assert s.response.finish_reason == "stop", f"{where}: call {s.index}"


def _matches(where: str, s: Seen, record: CallRecord) -> None:
    """The record says what the caller saw."""
    label = (
        f"{where}: call {s.index} ({s.outcome}, streamed={s.streamed}):"
        f" {record.error_type} {record.error_message}"
    )
    if s.outcome in ("ok", "broke"):
        assert record.error_type is None, label
        assert s.response is not None
        assert record.usage == s.response.usage, label
        assert record.cost == s.response.cost, label
        assert record.cache_hit == s.response.cache_hit, label
        if s.outcome == "broke":  # a break is the caller's choice: a success, cut short
            assert record.finish_reason in ("other", "stop"), label
    elif s.outcome == "error":
        assert s.error is not None
        assert record.error_type == type(s.error).__name__, label
        partial = getattr(s.error, "partial", None)
        if partial is not None:
            assert record.usage == partial.usage, label
    else:  # cancelled
        assert record.error_type == "Cancelled", label
