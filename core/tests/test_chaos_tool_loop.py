"""Chaos in the tool loop: many concurrent run_tools and stream_tools loops, faults at any turn.

Two OpenAI servers over loopback sit behind one alias (fallback, hedging), with
retries, a breaker, timeouts, the response cache, the in-memory limiter with
a USD budget, a SQLite call log and a recording exporter
(relaykit.testing.chaos.chaos_sections). Each server draws every answer from
a seeded mix of faults, and some of its successes ask for tools (one to
three calls, each with a key of its own): a fast async tool, a slow one, a
sync one (in a worker thread) and one that raises (its message holds the API
key, which must be scrubbed). Loops run the whole way, stop at max_steps,
stream and leave early, raise a tool's exception (``tool_errors="raise"``) or
are cancelled at random points.

Then, once the client has closed (``check_loop_invariants``): every model call
of every loop has exactly one record, all in the loop's own conversation, and
the records say what the loop saw; the budget spent what the records cost; no
tool call ran twice or unasked, none outlived its loop; only typed errors (or
a tool's own exception, raised as asked) reached a caller; nothing in flight.

Run more seeds locally with ``RELAYKIT_CHAOS_SEEDS=1-40``.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import relaykit
from relaykit.messages import ToolCall, ToolResultPart
from relaykit.protocols import LogQuery
from relaykit.testing import OpenAIMock, RecordingExporter
from relaykit.testing.chaos import (
    ChaosScript,
    LoopSeen,
    ToolLedger,
    alias_config,
    chaos_seeds,
    chaos_tool_loop,
    check_loop_invariants,
    count_in_flight,
    count_model_calls,
    memory_budget_spent,
    two_openai_mocks,
    wait_for_closed_connections,
)

KEY = "sk-chaos-0123456789abcdef"
MODEL = "gpt-4o-mini"
ALIAS = "chaos"
#: USD per million tokens: round numbers, so the sums are exact
PRICE = {"input": 1, "output": 2}
LOOPS = 32
#: the loops of a run that must end well, for its invariants to have been checked
ENOUGH_OK = LOOPS // 4
MAX_STEPS = 4


class ToolBoom(Exception):
    """What the failing tool raises."""


def _tools(ledger: ToolLedger) -> list[Any]:
    async def lookup(key: str) -> str:
        """Look a key up."""
        with ledger.running(key):
            await anyio.lowlevel.checkpoint()
            return f"value of {key}"

    async def slow_lookup(key: str, seconds: float) -> str:
        """Look a key up, slowly."""
        with ledger.running(key):
            await anyio.sleep(seconds)
            return f"slow value of {key}"

    def blocking_lookup(key: str) -> str:
        """Look a key up in a blocking way (a worker thread)."""
        with ledger.running(key):
            time.sleep(0.005)
            return f"blocking value of {key}"

    async def failing_lookup(key: str) -> str:
        """Fail to look a key up."""
        with ledger.running(key):
            await anyio.lowlevel.checkpoint()
            raise ToolBoom(f"no {key} with {KEY}")

    return [lookup, slow_lookup, blocking_lookup, failing_lookup]


def _tool_calls(rng: random.Random) -> tuple[tuple[str, dict[str, Any]], ...]:
    """Nearly half the successes ask for one to three tools, each call with a key of its own."""
    if rng.random() >= 0.45:
        return ()
    calls = []
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(("lookup", "slow_lookup", "blocking_lookup", "failing_lookup"))
        args: dict[str, Any] = {"key": f"k{rng.getrandbits(48):012x}"}
        if name == "slow_lookup":
            args["seconds"] = round(rng.uniform(0.01, 0.3), 3)
        calls.append((name, args))
    return tuple(calls)


def _key_of(call: ToolCall) -> str:
    """The ledger key of a call (a call whose arguments were cut short has none)."""
    return str(call.arguments.get("key", call.raw_arguments))


@pytest.fixture
def servers() -> Iterator[tuple[OpenAIMock, OpenAIMock]]:
    with two_openai_mocks(KEY) as pair:
        yield pair


def _config(primary: OpenAIMock, backup: OpenAIMock, db: Path) -> dict[str, Any]:
    config = alias_config(primary, backup, db, api_key=KEY, model=MODEL, alias=ALIAS, price=PRICE)
    # A loop needs every one of its up to four steps answered, and streams broken
    # after their first piece count against the breaker now: at the mix's fault rate
    # four failures in a row opened both circuits often enough that some seeds left
    # 4 of 32 loops ending well (the invariants are checked on those).
    config["breaker"] = {**config["breaker"], "failures": 8}
    return config


async def _run(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
    *,
    close_at: int | None = None,
) -> list[LoopSeen]:
    """Start :data:`LOOPS` loops a few ms apart (closing the client before loop
    ``close_at`` starts, if given, once the loops before it are under way),
    then check the invariants."""
    caplog.set_level(logging.WARNING)
    for n, mock in enumerate(servers):
        mock.script = ChaosScript(random.Random(seed * 100 + n), tool_calls=_tool_calls)
    db = tmp_path / "calls.db"
    exporter = RecordingExporter()
    ledger = ToolLedger()
    tools = _tools(ledger)
    client = relaykit.Client(_config(*servers, db), plugins=[exporter])
    balance = count_in_flight(client)
    calls = count_model_calls(client)
    rng = random.Random(seed)
    seen = [
        LoopSeen(i, streamed=rng.random() < 0.5, raises=rng.random() < 0.2) for i in range(LOOPS)
    ]

    async def loop(s: LoopSeen, prompt: str, params: dict[str, Any], r: random.Random) -> None:
        await chaos_tool_loop(
            client,
            ALIAS,
            r,
            s,
            prompt,
            tools,
            ledger,
            max_steps=MAX_STEPS,
            tool_exceptions=(ToolBoom,),
            params=params,
        )

    with anyio.fail_after(30):
        async with client, anyio.create_task_group() as tg:
            for s in seen:
                params: dict[str, Any] = {"max_tokens": 200}
                if rng.random() < 0.3:  # asked again and again at temperature 0: cache hits
                    prompt, params["temperature"] = f"repeat {rng.randint(0, 3)}", 0
                else:
                    prompt = f"question {s.index}"
                if s.index == close_at:
                    await anyio.sleep(0.1)  # the loops started are in their runs now
                    tg.start_soon(client.aclose)
                    # closing (aclose's first step) before the next loop starts
                    while not client._closed:
                        await anyio.lowlevel.checkpoint()
                tg.start_soon(loop, s, prompt, params, random.Random(rng.random()))
                await anyio.sleep(rng.uniform(0, 0.004))
    async with relaykit.Client({"storage": {"backend": "sqlite", "path": str(db)}}) as reader:
        assert reader.storage is not None
        stored = await reader.storage.query_logs(LogQuery(limit=100_000))
    await wait_for_closed_connections(servers)
    where = f"seed {seed}"
    errors_logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors_logged, f"{where}: {errors_logged}"
    assert KEY not in caplog.text
    check_loop_invariants(
        where,
        client,
        seen,
        stored,
        exporter,
        servers,
        calls,
        ledger,
        key_of=_key_of,
        max_steps=MAX_STEPS,
        secrets=[KEY],
        spent=memory_budget_spent(client),
    )
    assert not +balance and not -balance, f"{where}: router in flight {balance}"
    # a failing tool is reported the documented way: an error result, its type and
    # message, the key scrubbed (tool_errors="send"), or its exception raised
    for s in seen:
        for message in s.run.messages if s.run is not None else ():
            for part in message.content:
                if isinstance(part, ToolResultPart) and part.content.startswith("ToolBoom"):
                    assert part.is_error and KEY not in part.content, f"{where}: {s.index}"
    return seen


@pytest.mark.anyio
@pytest.mark.parametrize("seed", chaos_seeds())
async def test_tool_loops_hold_their_invariants_under_random_faults(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> None:
    seen = await _run(servers, tmp_path, caplog, seed)
    outcomes = Counter(s.outcome for s in seen)
    if outcomes["ok"] < ENOUGH_OK:
        # A loaded machine times out more (one run had 3 of 32 ok beside a CPU-bound
        # job): the faults are the seed's, the timing is not. The seed again, on fresh
        # mocks, its invariants checked again, must leave successes to check.
        caplog.clear()
        again = tmp_path / "again"
        again.mkdir()
        with two_openai_mocks(KEY) as fresh:
            seen = await _run(fresh, again, caplog, seed)
        outcomes = Counter(s.outcome for s in seen)
    # About 60% of loops end well over seeds 1-20: this only checks that the mix left
    # successes to check, not how many.
    assert outcomes["ok"] >= ENOUGH_OK, f"seed {seed}: {outcomes}"
    # the loops went through several steps, as the mix should have them
    assert any(s.run is not None and len(s.steps()) >= 2 for s in seen), seed


@pytest.mark.anyio
@pytest.mark.parametrize("seed", chaos_seeds((1,)))
async def test_tool_loops_hold_their_invariants_when_the_client_closes_under_them(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> None:
    """Closed midway: a loop started once the client is closing is refused
    (ClientClosedError); the loops under way go on to their ends (aclose waits
    for tool runs and lets their steps through): only a new run of theirs is refused."""
    close_at = LOOPS // 2
    seen = await _run(servers, tmp_path, caplog, seed, close_at=close_at)
    for s in seen[close_at:]:
        assert isinstance(s.error, relaykit.ClientClosedError), (seed, s.index, s.error)
    before = [(s.outcome, type(s.error).__name__) for s in seen[:close_at]]
    assert ("ok", "NoneType") in before, (seed, before)
    # a loop under way is refused only when it starts a run of its own after the
    # close (one stopped at max_steps is handed back to go on: chaos_tool_loop), or
    # once aclose's wait ([timeouts] total) is over: a loop still going then (a slow
    # machine, a seed's faults) is cut off, as documented
    refused = [
        s.index
        for s in seen[:close_at]
        if isinstance(s.error, relaykit.ClientClosedError) and not s.prior and not s.after_shutdown
    ]
    assert not refused, (seed, refused)
