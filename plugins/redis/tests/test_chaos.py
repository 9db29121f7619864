"""Chaos through relaykit-redis: clients sharing one Redis limiter and one Redis cache.

Two clients (and, in one scenario, a second process) share the Redis limiter
(a tight RPM limit on the primary, TPM and a USD budget on everything) and the
Redis response cache, in front of two OpenAI servers over loopback behind one
alias (fallback, hedging) that answer from a seeded mix of faults
(relaykit.testing.chaos). Callers chat or stream, break out, cancel. Once every
client has closed, besides ``check_invariants`` for each client:

- Redis's budget spent exactly what the records of every client cost;
- the RPM and TPM slots hold exactly what was used: every reservation settled,
  none left held (the slots start far ahead of Redis's clock so that nothing
  expires while the test runs, and what they hold at the end is exact);
- the primary never got more requests than its RPM limit admits;
- a cache hit, in any client, repeats an answer some caller got whole.

Then the same workload with Redis behind a proxy that cuts connections (before
or after Redis ran the command), stalls them and delays replies: the limiter fails closed
(a typed ``RelayError``), the cache fails open (a miss), nothing but typed
errors reaches a caller, no connection to Redis is left open and the budget
never counts less than the records cost.

Run more seeds locally with ``RELAYKIT_CHAOS_SEEDS=1-20``.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import relaykit
from relaykit import QuotaExceededError
from relaykit.budgets import MICRO_USD, period_bounds
from relaykit.config import LimitConfig
from relaykit.protocols import CallRecord, LogQuery, Reservation
from relaykit.testing import (
    MID_PERIOD,
    LimiterPlugin,
    OpenAIMock,
    RecordingExporter,
    StallingProxy,
)
from relaykit.testing.chaos import (
    ChaosScript,
    Seen,
    chaos_call,
    chaos_sections,
    chaos_seeds,
    charged_cost,
    check_invariants,
    wait_for_closed_connections,
)
from relaykit.testing.services import require_service
from relaykit.testing.tcp_proxy import Direction, Fault
from relaykit_redis import RedisClient, RedisRateLimiter

URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from anything real
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
KEY = "sk-chaos-0123456789abcdef"
GPT = "gpt-4o-mini"
ALIAS = "chaos"
#: USD per million tokens: whole micro-dollars per token, so the sums are exact
PRICE = {"input": 1, "output": 2}
#: callers per client
CALLS = 60
#: the budgets' day under the pinned wall clock (a run across midnight UTC must
#: not split its spending between two days' keys)
DAY, _ = period_bounds("day", MID_PERIOD)
#: the primary's RPM limit: a request a second, so that it refuses however slowly a
#: loaded machine runs the callers (at 600, a run stretched to 10 s never refused)
RPM = 60
#: the milliseconds its slot moves per request
INTERVAL_MS = 60_000 // RPM
#: requests the primary's slot has room for at the start (it refills one per second)
ROOM = 25
#: the TPM limit on every target: one millisecond per token
TPM = 60_000
#: how far ahead of Redis's clock each slot starts (ms): longer than any run, so
#: no slot expires or falls back to "now" and what it holds at the end is exact
TPM_AHEAD = 20_000


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test, so runs never see each other's state."""
    require_service("redis", "127.0.0.1", 6379, start=START)
    return f"chaos-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def servers() -> Iterator[tuple[OpenAIMock, OpenAIMock]]:
    with OpenAIMock(api_key=KEY) as primary, OpenAIMock(api_key=KEY) as backup:
        yield primary, backup


def _config(
    servers: tuple[OpenAIMock, OpenAIMock],
    db: Path,
    prefix: str,
    url: str = URL,
    cache_timeout: float = 5.0,
) -> dict[str, Any]:
    # A healthy Redis gets the 5 s a lookup may take: at 0.3 s a loaded CI machine
    # (load ~15) timed lookups out, the store was set aside, and no call hit the
    # cache. The stalling-proxy test sets 0.3 s, so stalls keep calls moving.
    primary, backup = servers
    return {
        **chaos_sections(db),
        "cache": {
            "enabled": True,
            "backend": "redis",
            "url": url,
            "prefix": prefix,
            "timeout": cache_timeout,
        },
        "limiter": {"backend": "pinned-redis", "url": url, "prefix": prefix},
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": KEY},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": KEY},
        },
        "models": {ALIAS: {"targets": [f"openai/{GPT}", f"backup/{GPT}"], "hedge_after": 0.15}},
        # the primary matches both: one script decides the two (acquire_many);
        # the backup matches "*" alone
        "limits": {"*": {"tpm": TPM, "budget_usd": 100}, "openai/*": {"rpm": RPM}},
        "prices": {f"openai/{GPT}": PRICE, f"backup/{GPT}": PRICE},
    }


class CountingLimiter(RedisRateLimiter):
    """The Redis limiter, counting the calls it refused (their callers may never see
    it: a refused primary falls back to the backup)."""

    def __init__(self, url: str, prefix: str, timeout: float = 5.0) -> None:
        # the budget's clock pinned (rates keep Redis's clock)
        super().__init__(url, prefix=prefix, timeout=timeout, wall_clock=lambda: MID_PERIOD)
        self.refused = 0

    async def acquire_many(
        self, requests: Sequence[tuple[str, LimitConfig, int, Decimal | None]]
    ) -> list[Reservation]:
        """:meth:`RedisRateLimiter.acquire_many`, counted."""
        try:
            return await super().acquire_many(requests)
        except QuotaExceededError:
            self.refused += 1
            raise


async def _redis(*command: Any) -> Any:
    redis = RedisClient(URL)
    try:
        return await redis.command(*command)
    finally:
        await redis.aclose()


async def _seed_slots(prefix: str) -> dict[str, float]:
    """Start the rate slots far ahead of Redis's clock; return where (server ms)."""
    seconds, micros = await _redis("TIME")
    now = int(seconds) * 1000 + int(micros) // 1000
    seeded: dict[str, float] = {
        "openai/*:rpm": now + 60_000 - INTERVAL_MS * ROOM,
        "*:tpm": now + TPM_AHEAD,
    }
    for slot, tat in seeded.items():
        await _redis("SET", f"{prefix}:limit:{slot}", str(tat), "PX", 120_000)
    return seeded


async def _slots(prefix: str) -> tuple[float, float, Decimal]:
    """The primary's RPM slot, the TPM slot and the budget's spend, read from Redis."""
    rpm = float(await _redis("GET", f"{prefix}:limit:openai/*:rpm"))
    tpm = float(await _redis("GET", f"{prefix}:limit:*:tpm"))
    return rpm, tpm, await _spent(prefix)


async def _spent(prefix: str) -> Decimal:
    """What the budget on ``*`` has spent, read from Redis."""
    return int(await _redis("GET", f"{prefix}:limit:*:usd:{DAY}") or 0) * MICRO_USD


def _arm(servers: Sequence[OpenAIMock], seed: int) -> None:
    for n, mock in enumerate(servers):
        mock.script = ChaosScript(random.Random(seed * 100 + n))


async def _caller(client: relaykit.Client, rng: random.Random, s: Seen) -> None:
    params: dict[str, Any] = {"max_tokens": 100}
    if rng.random() < 0.3:  # a few prompts asked again and again at temperature 0: hits
        prompt, params["temperature"] = f"repeat {rng.randint(0, 4)}", 0
    else:
        prompt = f"question {s.index}"
    await chaos_call(client, ALIAS, rng, s, prompt, params)


@attrs.define
class Run:
    """One client's part of a run, read once it has closed."""

    client: relaykit.Client
    seen: list[Seen]
    exporter: RecordingExporter
    limiter: CountingLimiter
    db: Path
    stored: list[CallRecord] = attrs.field(factory=list)


async def _stored(db: Path) -> list[CallRecord]:
    async with relaykit.Client({"storage": {"backend": "sqlite", "path": str(db)}}) as reader:
        assert reader.storage is not None
        return await reader.storage.query_logs(LogQuery(limit=100_000))


async def _run_clients(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    prefix: str,
    seed: int,
    *,
    clients: int = 2,
    url: str = URL,
    limiter_timeout: float = 5.0,
    cache_timeout: float = 5.0,
) -> list[Run]:
    """:data:`CALLS` callers on each of ``clients`` clients at once, a few ms apart."""
    runs = []
    for n in range(clients):
        db = tmp_path / f"calls-{n}.db"
        exporter = RecordingExporter()
        config = _config(servers, db, prefix, url, cache_timeout)
        limiter = CountingLimiter(url, prefix, limiter_timeout)
        plugins = [exporter, LimiterPlugin(limiter, name="pinned-redis")]
        client = relaykit.Client(config, plugins=plugins)
        # callers of client n are numbered from n * 1000: one correlation id per call
        seen = [Seen(n * 1000 + i, streamed=False) for i in range(CALLS)]
        runs.append(Run(client, seen, exporter, limiter, db))
    rng = random.Random(seed)
    for run in runs:
        for s in run.seen:
            s.streamed = rng.random() < 0.5

    async def drive(run: Run, rng: random.Random) -> None:
        async with run.client, anyio.create_task_group() as tg:
            for s in run.seen:
                tg.start_soon(_caller, run.client, random.Random(rng.random()), s)
                await anyio.sleep(rng.uniform(0, 0.006))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for run in runs:
                tg.start_soon(drive, run, random.Random(rng.random()))
    for run in runs:
        run.stored = await _stored(run.db)
    await wait_for_closed_connections(servers)
    return runs


def _check_clients(
    where: str,
    runs: Sequence[Run],
    servers: Sequence[OpenAIMock],
    caplog: pytest.LogCaptureFixture,
    *,
    other_answers: Sequence[str] = (),
) -> None:
    """``check_invariants`` for each client, a cache hit in one counting answers the
    others' callers got whole (``other_answers`` adds those of other processes)."""
    errors_logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors_logged, f"{where}: {errors_logged}"
    assert KEY not in caplog.text
    whole = [*other_answers, *(a for run in runs for a in whole_answers(run.seen))]
    for n, run in enumerate(runs):
        check_invariants(
            f"{where}, client {n}",
            run.client,
            run.seen,
            run.stored,
            run.exporter,
            servers,
            secrets=[KEY],
            whole_elsewhere=whole,
        )


def whole_answers(seen: Sequence[Seen]) -> list[str]:
    """The ids of the answers callers got whole from a provider (not from the cache)."""
    return [
        s.response.id
        for s in seen
        if s.outcome == "ok" and s.complete and s.response and not s.response.cache_hit
    ]


def _chat_requests(mock: OpenAIMock) -> int:
    return sum(1 for r in mock.requests if r.path.endswith("/chat/completions"))


def _check_slots(
    where: str,
    seeded: dict[str, float],
    slots: tuple[float, float, Decimal],
    records: Sequence[CallRecord],
    primary: OpenAIMock,
    elapsed_ms: float,
) -> None:
    rpm_slot, tpm_slot, spent = slots
    # -- the budget spent exactly what the records cost
    charged = charged_cost(records)
    assert spent == charged, f"{where}: budget {spent} != records {charged}"
    # -- TPM: every reservation settled to what its call used (no hold left over)
    # (a call or hedge's loser cut off mid-call settled with its prompt's estimate,
    # which its record carries)
    used = sum(r.usage.input_tokens + r.usage.output_tokens for r in records if r.cost)
    held = round(tpm_slot - seeded["*:tpm"])  # one ms per token
    assert held == used, f"{where}: the TPM slot holds {held} tokens, the records used {used}"
    # -- RPM: never over-admitted; the slot holds a request per admitted attempt
    admitted = round((rpm_slot - seeded["openai/*:rpm"]) / INTERVAL_MS)
    got = _chat_requests(primary)
    bound = ROOM + int(elapsed_ms / INTERVAL_MS) + 1  # GCRA: the room, then one per interval
    assert got <= admitted <= bound, f"{where}: primary got {got}, admitted {admitted} > {bound}"


# -- 1: two clients in one process -------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("seed", chaos_seeds(default=(1, 2)))
async def test_two_clients_share_the_redis_limiter_and_cache(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
    seed: int,
) -> None:
    caplog.set_level(logging.WARNING)
    _arm(servers, seed)
    seeded = await _seed_slots(prefix)
    started = time.monotonic()
    runs = await _run_clients(servers, tmp_path, prefix, seed)
    elapsed_ms = (time.monotonic() - started) * 1000
    where = f"seed {seed}"
    _check_clients(where, runs, servers, caplog)
    records = [r for run in runs for r in run.stored]
    _check_slots(where, seeded, await _slots(prefix), records, servers[0], elapsed_ms)
    assert sum(run.limiter.refused for run in runs), f"{where}: the RPM limit never refused"
    assert any(s.response and s.response.cache_hit for run in runs for s in run.seen), where


# -- 1b: and a second process -----------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, random, sys
    from pathlib import Path
    import anyio
    import relaykit
    from relaykit.protocols import LogQuery
    from relaykit.testing import LimiterPlugin, RecordingExporter
    from relaykit.testing.chaos import Seen, chaos_call, check_invariants

    config, backend, seed, key = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, sys.argv[5])
    from test_chaos import CALLS, CountingLimiter, _caller

    async def main():
        limiter = CountingLimiter(config["limiter"]["url"], config["limiter"]["prefix"])
        exporter = RecordingExporter()
        plugins = [exporter, LimiterPlugin(limiter, name="pinned-redis")]
        client = relaykit.Client(config, plugins=plugins)
        rng = random.Random(seed)
        seen = [Seen(9000 + i, streamed=rng.random() < 0.5) for i in range(CALLS)]
        async with client:
            await limiter.redis.command("PING")  # ready: the loop running, Redis connected
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            async with anyio.create_task_group() as tg:
                for s in seen:
                    tg.start_soon(_caller, client, random.Random(rng.random()), s)
                    await anyio.sleep(rng.uniform(0, 0.006))
        storage = {"storage": config["storage"]}
        async with relaykit.Client(storage) as reader:
            stored = await reader.storage.query_logs(LogQuery(limit=100_000))
        hits = [s.response.id for s in seen if s.response and s.response.cache_hit]
        # a hit here may repeat another process's answer: the test checks those
        check_invariants(f"child {seed}", client, seen, stored, exporter, [], secrets=[key],
                         whole_elsewhere=hits)
        whole = [s.response.id for s in seen
                 if s.outcome == "ok" and s.complete and s.response and not s.response.cache_hit]
        print(json.dumps({"hits": hits, "whole": whole, "refused": limiter.refused}))

    anyio.run(main, backend=backend)
    """
)


@pytest.mark.parametrize("seed", chaos_seeds(default=(1,)))
def test_two_processes_share_the_redis_limiter_and_cache(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
    seed: int,
) -> None:
    """A client in a child process on trio, two here on asyncio, all at once.

    Not an anyio test: one run covers both event loops, one in each process.
    """
    caplog.set_level(logging.WARNING)
    _arm(servers, seed)
    db = tmp_path / "child.db"
    argv = [json.dumps(_config(servers, db, prefix)), "trio", str(seed + 1000), KEY]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *argv, str(Path(__file__).parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "ready\n", child.communicate(timeout=30)[1]
        # seeded once the child is ready: the RPM bound counts from here
        seeded = anyio.run(_seed_slots, prefix)
        started = time.monotonic()
        child.stdin.write("go\n")
        child.stdin.flush()
        runs = anyio.run(_run_clients, servers, tmp_path, prefix, seed)
        out, err = child.communicate(timeout=30)
        elapsed_ms = (time.monotonic() - started) * 1000
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    theirs = json.loads(out)
    where = f"seed {seed}"
    _check_clients(where, runs, servers, caplog, other_answers=theirs["whole"])
    whole = {a for run in runs for a in whole_answers(run.seen)} | set(theirs["whole"])
    assert set(theirs["hits"]) <= whole, f"{where}: the child hit a never-whole answer"
    records = [r for run in runs for r in run.stored] + anyio.run(_stored, db)
    _check_slots(where, seeded, anyio.run(_slots, prefix), records, servers[0], elapsed_ms)
    refused = theirs["refused"] + sum(run.limiter.refused for run in runs)
    assert refused, f"{where}: the RPM limit never refused"


# -- 2: Redis itself misbehaves ----------------------------------------------------


class RedisFaults:
    """Seeded faults for a :class:`~relaykit.testing.StallingProxy` in front of Redis.

    Each chunk of commands or replies may be delayed, or the connection cut in its
    stead: a command cut never reaches Redis; a reply cut is lost after Redis ran
    the command (a script charged the limits, its answer never arrives). A cut is
    a reset or a close, drawn. A stalled connection stays open and passes nothing
    more, either way: a Redis that hangs.
    """

    def __init__(
        self, rng: random.Random, *, cut: float = 0.03, delay: float = 0.1, stall: float = 0.0
    ) -> None:
        self._rng = rng
        self._cut, self._delay, self._stall = cut, delay, stall
        self.cuts = {"command": 0, "reply": 0, "stall": 0}

    def __call__(self, direction: Direction) -> Fault:
        x = self._rng.random()
        if x < self._cut:
            self.cuts["command" if direction == "to_server" else "reply"] += 1
            return self._rng.choice(("reset", "close"))
        if x < self._cut + self._stall:
            self.cuts["stall"] += 1
            return "stall"
        if x < self._cut + self._stall + self._delay:
            return self._rng.uniform(0.005, 0.05)
        return "pass"


@pytest.mark.anyio
@pytest.mark.parametrize("seed", chaos_seeds(default=(1,)))
async def test_a_redis_that_drops_connections_fails_limits_closed_and_the_cache_open(
    servers: tuple[OpenAIMock, OpenAIMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
    seed: int,
) -> None:
    caplog.set_level(logging.WARNING)
    _arm(servers, seed)
    faults = RedisFaults(random.Random(seed), stall=0.01)
    with StallingProxy("127.0.0.1", 6379, faults=faults) as proxy:
        # the limiter's decisions are shielded from the calls' cancellations: a
        # stalled connection holds them for the limiter's timeout (5 s unless set)
        url = f"redis://127.0.0.1:{proxy.port}/15"
        runs = await _run_clients(
            servers, tmp_path, prefix, seed, url=url, limiter_timeout=0.3, cache_timeout=0.3
        )
        left_open = await proxy.wait_closed()
        cuts = dict(faults.cuts)
    where = f"seed {seed}"
    assert not left_open, f"{where}: {left_open} connections to Redis left open"
    _check_clients(where, runs, servers, caplog)
    seen = [s for run in runs for s in run.seen]
    limiter_failed = [s for s in seen if "Redis rate limiter" in str(s.error)]
    # the limiter failed closed: a typed RelayError (check_invariants: nothing else)
    assert limiter_failed, f"{where}: no call met a Redis fault ({cuts})"
    assert [s for s in seen if s.outcome == "ok"], f"{where}: nothing was answered"
    # the budget never counts less than the records cost: an answer lost on the
    # way back leaves its charge (the limiter cannot tell), never the reverse
    records = [r for run in runs for r in run.stored]
    spent = await _spent(prefix)
    charged = charged_cost(records)
    assert spent >= charged, f"{where}: budget {spent} < records {charged}"
