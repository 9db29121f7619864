"""relaykit-redis against the real Redis here: atomic, shared by processes, on both backends."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

import anyio
import pytest

import relaykit
from relaykit import QuotaExceededError
from relaykit.budgets import period_bounds
from relaykit.config import LimitConfig
from relaykit.events import TextDelta
from relaykit.protocols import Reservation
from relaykit.testing import (
    MID_PERIOD,
    FakePlugin,
    LimiterPlugin,
    LoadPlugin,
    RecordingExporter,
    Reply,
    require_service,
    run_limit_workload,
)
from relaykit_redis import RedisClient, RedisRateLimiter

URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from anything real
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
#: the budgets' day under a pinned wall clock: a test run across midnight UTC
#: must not split one test's spending between two days' keys
DAY, SECONDS_LEFT = period_bounds("day", MID_PERIOD)


def pinned(prefix: str) -> RedisRateLimiter:
    """The Redis limiter whose budget clock reads :data:`MID_PERIOD` (rates keep Redis's clock)."""
    return RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: MID_PERIOD)


def pinned_plugin(prefix: str) -> LimiterPlugin[RedisRateLimiter]:
    """:func:`pinned` through the client, as ``[limiter] backend = "pinned-redis"``."""
    return LimiterPlugin(pinned(prefix), name="pinned-redis")


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test, so tests never see each other's state."""
    require_service("redis", "127.0.0.1", 6379, start=START)
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.mark.anyio
async def test_rpm_is_enforced_with_retry_after(prefix: str) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix)
    limit = LimitConfig(rpm=3)
    started = time.monotonic()
    for _ in range(3):
        await limiter.acquire("k", limit, 1)
    with pytest.raises(QuotaExceededError, match="rpm limit") as info:
        await limiter.acquire("k", limit, 1)
    elapsed = time.monotonic() - started
    # The first slot frees 20 s (60 / rpm) after it was taken: less however long the
    # four decisions took (a slow first connection on a loaded machine), not a fixed second.
    assert info.value.retry_after is not None
    assert 20 - elapsed - 0.1 <= info.value.retry_after <= 20
    await limiter.aclose()


@pytest.mark.anyio
async def test_concurrent_tasks_never_overshoot_a_tpm_limit(prefix: str) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix)
    limit = LimitConfig(tpm=10_000)
    admitted = 0

    async def one() -> None:
        nonlocal admitted
        try:
            await limiter.acquire("k", limit, 1000)
            admitted += 1
        except QuotaExceededError:
            pass

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(one)
    assert admitted == 10
    await limiter.aclose()


@pytest.mark.anyio
async def test_reconcile_refunds_tokens_and_settles_cost(prefix: str) -> None:
    limiter = pinned(prefix)
    limit = LimitConfig(tpm=1000, budget_usd=Decimal("1"))
    held = await limiter.acquire("k", limit, 900, cost=Decimal("0.9"))
    with pytest.raises(QuotaExceededError, match="tpm") as rate:
        await limiter.acquire("k", limit, 200, cost=Decimal("0.05"))
    assert not rate.value.budget  # a rate met, not a budget spent
    await limiter.reconcile(held, 100, cost=Decimal("0.1"))  # used far less than held
    await limiter.acquire("k", limit, 800, cost=Decimal("0.85"))
    with pytest.raises(QuotaExceededError, match="daily budget") as info:
        await limiter.acquire("k", limit, 1, cost=Decimal("0.1"))
    assert info.value.retry_after == SECONDS_LEFT
    assert info.value.budget
    with pytest.raises(QuotaExceededError, match="never fit") as never:
        await limiter.acquire("k", limit, 1, cost=Decimal("2"))
    assert never.value.budget
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_call_that_can_never_fit_says_so(prefix: str) -> None:
    limiter = RedisRateLimiter(URL, prefix=prefix)
    with pytest.raises(QuotaExceededError, match="never fit") as info:
        await limiter.acquire("k", LimitConfig(tpm=100), 500)
    assert info.value.retry_after is None
    assert not info.value.budget
    await limiter.aclose()


@pytest.mark.anyio
async def test_the_client_uses_it_through_the_hook(prefix: str) -> None:
    fake = FakePlugin()
    fake.script.push(*[Reply(text="x", input_tokens=1, output_tokens=1)] * 3)
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "redis", "url": URL, "prefix": prefix},
        "limits": {"fake/*": {"rpm": 2}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/m", "1")
        await client.chat("fake/m", "2")
        with pytest.raises(QuotaExceededError):
            await client.chat("fake/m", "3")


@pytest.mark.anyio
async def test_two_clients_share_each_callers_own_limit(prefix: str) -> None:
    # [limits."gateway_key=*"]: one bucket per caller, shared by every process
    fake = FakePlugin()
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "redis", "url": URL, "prefix": prefix},
        "limits": {"gateway_key=*": {"rpm": 3}},
    }
    alice, bob = {"gateway_key": "alice"}, {"gateway_key": "bob"}
    async with (
        relaykit.Client(config, plugins=[fake]) as one,
        relaykit.Client(config, plugins=[fake]) as other,
    ):
        await one.chat("fake/m", "1", metadata=alice)
        await other.chat("fake/m", "2", metadata=alice)
        await one.chat("fake/m", "3", metadata=alice)
        with pytest.raises(QuotaExceededError, match=r"'gateway_key=alice \(gateway_key=\*\)'"):
            await other.chat("fake/m", "4", metadata=alice)
        for client in (one, other, one):
            await client.chat("fake/m", "5", metadata=bob)
    assert len(fake.calls) == 6


@pytest.mark.anyio
async def test_several_limits_are_one_decision_all_or_nothing(prefix: str) -> None:
    # A call matching "*" and "fake/*" is decided by one script in one round
    # trip; refused by "fake/*", it charges "*" nothing either.
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "pinned-redis"},
        "limits": {"*": {"tpm": 1000, "budget_usd": "1"}, "fake/*": {"rpm": 1}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), pinned_plugin(prefix)]) as client:
        limiter = client._limiter
        assert isinstance(limiter, RedisRateLimiter)
        pipeline = await limiter.redis.pipeline()
        sent: list[bytes] = []
        send = pipeline._conn.send

        async def counting_send(data: bytes) -> None:
            sent.append(data)
            await send(data)

        pipeline._conn.send = counting_send  # type: ignore[method-assign]
        started = time.monotonic()
        first = await client.chat("fake/m", "hi", max_tokens=100)  # reserves 100, uses 3
        acquires = [d for d in sent if b"EVAL" in d and b"limit:*:rpm" in d]
        assert len(acquires) == 1 and b"limit:fake/*:rpm" in acquires[0]
        with pytest.raises(QuotaExceededError, match=r"rpm limit for 'fake/\*'"):
            await client.chat("fake/m", "hi", max_tokens=100)
        assert first.cost is not None
        # Only the first call's 3 tokens and cost are held under "*": 997 more fit.
        star = client.config.limits["*"]
        await limiter.acquire("*", star, 997, cost=Decimal(1) - first.cost)
        # and then none: but tpm 1000 refills 1 token per 60 ms, which a loaded
        # machine spends between two awaits, so ask for more than can have refilled
        # by then (a second's worth to spare)
        refilled = (time.monotonic() - started + 1) * 1000 / 60
        with pytest.raises(QuotaExceededError):
            await limiter.acquire("*", star, int(refilled) + 1)


@pytest.mark.anyio
async def test_concurrent_commands_share_one_pipelined_connection(prefix: str) -> None:
    redis = RedisClient(URL)
    replies: dict[int, object] = {}

    async def one(i: int) -> None:
        replies[i] = await redis.command("ECHO", f"{prefix}-{i}")

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)
    assert replies == {i: f"{prefix}-{i}".encode() for i in range(200)}
    await redis.aclose()


@pytest.mark.anyio
async def test_cancelled_waiters_do_not_disturb_the_others(prefix: str) -> None:
    redis = RedisClient(URL)
    results: list[object] = []

    async def one(i: int, cancel: bool) -> None:
        with anyio.CancelScope() as scope:
            if cancel:
                scope.cancel()  # cancelled before or while waiting for its reply
            results.append(await redis.command("ECHO", str(i)))

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(one, i, i % 3 == 0)
    assert sorted(int(r) for r in results) == [i for i in range(100) if i % 3]  # type: ignore[call-overload]
    assert await redis.command("PING") == b"PONG"
    await redis.aclose()


@pytest.mark.anyio
async def test_a_reply_that_never_comes_breaks_the_connection_not_the_client(prefix: str) -> None:
    redis = RedisClient(URL, reply_timeout=0.2)
    with anyio.move_on_after(0.05), pytest.raises(ConnectionError):
        await redis.command("BLPOP", f"{prefix}:never", 5)  # blocks server-side past the timeout
    assert await redis.command("PING") == b"PONG"  # a fresh connection
    await redis.aclose()


@pytest.mark.anyio
async def test_an_unreachable_redis_is_a_clear_error() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    with pytest.raises(relaykit.RelayError, match=r"Redis rate limiter at 127\.0\.0\.1:1 failed"):
        await limiter.acquire("k", LimitConfig(rpm=1), 1)
    await limiter.aclose()


HAMMER = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    import anyio
    from relaykit import QuotaExceededError
    from relaykit.config import LimitConfig
    from relaykit.testing import MID_PERIOD
    from relaykit_redis import RedisRateLimiter

    url, prefix, backend, processes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    limits = {
        "tpm": (LimitConfig(tpm=10_000), 1000, None),
        "budget": (LimitConfig(budget_usd=Decimal("1")), 0, Decimal("0.01")),
    }

    async def main():
        # the budget's day pinned: a run across midnight UTC must not start a new one
        limiter = RedisRateLimiter(url, prefix=prefix, wall_clock=lambda: MID_PERIOD)
        admitted = {name: 0 for name in limits}
        # Every process starts together: the test says go once all are ready, and
        # ready means running, with the event loop's library imported and Redis
        # connected. Ready before anyio.run was not enough: under load the first
        # process to go took all 100 admissions while trio still imported.
        await limiter.acquire("warm-up", LimitConfig(tpm=10**9), 1)
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)

        async def attempt(name):
            limit, tokens, cost = limits[name]
            try:
                await limiter.acquire(name, limit, tokens, cost=cost)
                admitted[name] += 1
            except QuotaExceededError:
                pass

        # 10 rounds of 4 tasks per limit, in step with the other processes: none
        # starts a round before all have finished the one before (a barrier on a
        # Redis counter). Free-running, a process the scheduler favoured on a
        # loaded machine could take every admission before another ran at all.
        for round_ in range(10):
            async with anyio.create_task_group() as tg:
                for name in limits:
                    for _ in range(4):
                        tg.start_soon(attempt, name)
            barrier = f"{prefix}:barrier:{round_}"
            await limiter.redis.command("INCR", barrier)
            await limiter.redis.command("EXPIRE", barrier, 120)
            while int(await limiter.redis.command("GET", barrier)) < processes:
                await anyio.sleep(0.001)  # another process is still in this round
        await limiter.aclose()
        print(admitted["tpm"], admitted["budget"])

    anyio.run(main, backend=backend)
    """
)


BACKENDS = ("asyncio", "trio", "asyncio", "trio")


def run_together(script: str, argvs: list[list[str]]) -> list[str]:
    """Run ``script`` once per argv, all at once; return each process's output.

    Each script prints ``ready`` and waits for a line on stdin before its run.
    A start time agreed in advance was not enough: on a loaded machine one
    interpreter took longer to start than the margin and found the limits
    already spent, so nothing competed.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n", p.communicate(timeout=60)[1]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outputs.append(out)
    return outputs


def test_four_processes_together_admit_exactly_the_limit(prefix: str) -> None:
    """4 processes x 4 tasks x 10 rounds of tries at each limit (160 in all); the limits
    admit 10 and 100 in total.

    The processes go in step, round by round: the first round's 16 budget tries
    all fit, so every process is admitted some, and the rest compete.

    The TPM limit refills 1,000 tokens every 6 s, far longer than the run, so
    "exactly" is exact; the budget's day is pinned, so it never refills.
    """
    argvs = [[URL, prefix, backend, str(len(BACKENDS))] for backend in BACKENDS]
    outputs = run_together(HAMMER, argvs)
    results = [tuple(int(x) for x in out.split()) for out in outputs]
    assert sum(r[0] for r in results) == 10
    assert sum(r[1] for r in results) == 100
    assert all(r[1] for r in results), results  # every process took part


@pytest.mark.anyio
async def test_release_gives_back_the_request_the_tokens_and_the_usd(prefix: str) -> None:
    limiter = pinned(prefix)
    limit = LimitConfig(rpm=2, tpm=1000, budget_usd=Decimal("1"))
    for _ in range(5):  # without the request back, the second round would be refused
        held = await limiter.acquire("k", limit, 900, cost=Decimal("0.9"))
        await limiter.release(held)
    await limiter.acquire("k", limit, 1000, cost=Decimal("1"))  # all the tokens and USD
    await limiter.acquire("k", limit, 0, cost=Decimal("0"))  # the second request
    with pytest.raises(QuotaExceededError, match="rpm limit"):
        await limiter.acquire("k", limit, 0, cost=Decimal("0"))
    await limiter.aclose()


# Two overlapping limits, as the workload's calls see them. Their slots start far
# ahead of the server's clock (SEEDS, milliseconds ahead), so nothing expires while
# the test runs and a few dozen requests fill them: what the slots hold at the end
# is then exactly the seed plus what was sent.
WORKLOAD_LIMITS = {
    "*": {"rpm": 600, "tpm": 60_000},  # 100 ms per request, 1 ms per token
    "load/*": {"rpm": 600, "budget_usd": "0.01"},
}
SEEDS = {"*:rpm": 55_000, "*:tpm": 50_000, "load/*:rpm": 57_000}


async def seed_slots(prefix: str) -> dict[str, int]:
    """Set each seeded slot's arrival time; return them (server milliseconds)."""
    redis = RedisClient(URL)
    clock: Any = await redis.command("TIME")  # [seconds, microseconds], as bytes
    seconds, micros = clock
    now = int(seconds) * 1000 + int(micros) // 1000
    seeded = {slot: now + ahead for slot, ahead in SEEDS.items()}
    for slot, tat in seeded.items():
        await redis.command("SET", f"{prefix}:limit:{slot}", str(tat), "PX", 120_000)
    await redis.aclose()
    return seeded


async def check_slots(prefix: str, seeded: dict[str, int], sent: tuple[int, int, int]) -> None:
    """The slots hold the seeds plus ``sent`` (requests, tokens, micro-USD), exactly."""
    requests, tokens, micro_usd = sent
    redis = RedisClient(URL)
    held = {
        slot: float(cast(bytes, await redis.command("GET", f"{prefix}:limit:{slot}")))
        for slot in seeded
    }
    spent: Any = await redis.command("GET", f"{prefix}:limit:load/*:usd:{DAY}")
    await redis.aclose()
    assert held == {
        "*:rpm": seeded["*:rpm"] + 100 * requests,
        "*:tpm": seeded["*:tpm"] + tokens,
        "load/*:rpm": seeded["load/*:rpm"] + 100 * requests,
    }
    assert int(spent or 0) == micro_usd


def workload_config(prefix: str) -> dict[str, object]:
    """The workload's config, for :func:`pinned_plugin` (``url`` and ``prefix`` for a child)."""
    return {
        "storage": {"backend": "none"},
        "limiter": {"backend": "pinned-redis", "url": URL, "prefix": prefix},
        "limits": WORKLOAD_LIMITS,
        "retry": {"attempts": 2, "initial_wait": 0, "max_wait": 0},
        "breaker": {"failures": 4, "reset_after": 0.02},
    }


@pytest.mark.anyio
async def test_under_a_random_load_redis_holds_exactly_what_was_sent(prefix: str) -> None:
    # As core's test_limit_release: the interleaving is the event loop's, so which
    # outcomes one seed produces depends on it (a breaker opened early leaves
    # nothing to refuse); the seeds together must produce every outcome, or the
    # workload tested too little. Each seed's slots must hold exactly what was sent.
    seen: Counter[str] = Counter()
    for seed in (1, 2, 3):
        key_prefix = f"{prefix}-{seed}"
        seeded = await seed_slots(key_prefix)
        load = LoadPlugin()
        plugins = [load, pinned_plugin(key_prefix)]
        async with relaykit.Client(workload_config(key_prefix), plugins=plugins) as client:
            seen += await run_limit_workload(client, seed=seed, calls=80)
        sent = (load.sent.requests, load.sent.tokens, load.sent.micro_usd)
        await check_slots(key_prefix, seeded, sent)
    assert set(seen) == {"answered", "refused", "failed", "cancelled"}, seen


WORKLOAD = textwrap.dedent(
    """
    import json, sys
    import anyio
    import relaykit
    from relaykit.testing import MID_PERIOD, LimiterPlugin, LoadPlugin, run_limit_workload
    from relaykit_redis import RedisRateLimiter

    config, backend, seed = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    async def main():
        load = LoadPlugin()
        url, prefix = config["limiter"]["url"], config["limiter"]["prefix"]
        # the budget's day pinned, as in the test's own process
        limiter = RedisRateLimiter(url, prefix=prefix, wall_clock=lambda: MID_PERIOD)
        plugins = [load, LimiterPlugin(limiter, name="pinned-redis")]
        async with relaykit.Client(config, plugins=plugins) as client:
            # Every process starts together: ready means running, with the event
            # loop's library imported and Redis connected (as in HAMMER); ready
            # before anyio.run let one process start while another still imported.
            await limiter.redis.command("PING")
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            outcomes = await run_limit_workload(client, seed=seed, calls=60)
        sent = load.sent
        print(json.dumps([sent.requests, sent.tokens, sent.micro_usd, outcomes]))

    anyio.run(main, backend=backend)
    """
)


def test_four_processes_under_a_random_load_hold_exactly_what_they_sent(prefix: str) -> None:
    """4 processes run the workload at once against the same limits; the slots end
    holding exactly what all of them sent, and the limits refused some calls."""
    seeded = anyio.run(seed_slots, prefix)
    config = json.dumps(workload_config(prefix))
    outputs = run_together(
        WORKLOAD, [[config, backend, str(seed)] for seed, backend in enumerate(BACKENDS)]
    )
    results = [json.loads(out) for out in outputs]
    sent = tuple(sum(r[i] for r in results) for i in range(3))
    outcomes = {name for r in results for name in r[3]}
    assert outcomes == {"answered", "refused", "failed", "cancelled"}, results
    anyio.run(check_slots, prefix, seeded, sent)


DAY2 = 1_764_547_200.0  # 2025-12-01T00:00:00Z


@pytest.mark.anyio
async def test_a_hold_settled_after_its_period_ended_lands_in_the_new_one(prefix: str) -> None:
    # As in relaykit's memory limiter: what a call used beyond its hold counts in
    # the period it was settled in, even before anything was held there.
    wall = [DAY2 - 1]
    limiter = RedisRateLimiter(URL, prefix=prefix, wall_clock=lambda: wall[0])
    limit = LimitConfig(budget_usd=Decimal("1"))
    late = await limiter.acquire("k", limit, 0, cost=Decimal("0.5"))
    wall[0] = DAY2 + 1
    await limiter.reconcile(late, 0, cost=Decimal("0.7"))  # 0.2 more than it held
    await limiter.acquire("k", limit, 0, cost=Decimal("0.8"))  # 0.2 + 0.8: the day is spent
    with pytest.raises(QuotaExceededError, match="daily budget"):
        await limiter.acquire("k", limit, 0, cost=Decimal("0.000001"))
    refund = await limiter.acquire("j", limit, 0, cost=Decimal("0.5"))
    wall[0] = DAY2 + 86_400 + 1
    await limiter.reconcile(refund, 0, cost=Decimal("0.1"))  # a refund: nothing to take back
    await limiter.acquire("j", limit, 0, cost=Decimal("1"))
    await limiter.aclose()


class GoneOnceAdmitted(RedisRateLimiter):
    """The Redis limiter whose Redis goes away as soon as it has admitted a call."""

    async def acquire_many(
        self, requests: Sequence[tuple[str, LimitConfig, int, Decimal | None]]
    ) -> list[Reservation]:
        """Admit as usual, then lose Redis: the call's settling finds nothing there."""
        admitted = await super().acquire_many(requests)
        self.redis.port = 1  # nothing listens there: every reconnect is refused
        await self.redis.aclose()
        return admitted


@pytest.mark.anyio
async def test_an_answer_is_not_lost_when_redis_goes_away_before_it_is_settled(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The provider answered and billed: a limiter that cannot settle the hold leaves
    # it held (fail closed), and the caller still gets the answer, recorded a success.
    fake = FakePlugin()
    fake.script.push(*[Reply(text="answer", input_tokens=3, output_tokens=5)] * 2)
    exporter = RecordingExporter()
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "gone"},
        "limits": {"fake/*": {"tpm": 10_000, "budget_usd": 1}},
        "prices": {"fake/m": {"input": 1, "output": 2}},
    }
    caplog.set_level(logging.WARNING, logger="relaykit.limiter")
    for streamed in (False, True):
        limiter = GoneOnceAdmitted(URL, prefix=f"{prefix}-{streamed}")
        plugins = [fake, exporter, LimiterPlugin(limiter, name="gone")]
        async with relaykit.Client(config, plugins=plugins) as client:
            if streamed:
                async with client.stream("fake/m", "hi", max_tokens=50) as s:
                    text = "".join([e.text async for e in s if isinstance(e, TextDelta)])
            else:
                text = (await client.chat("fake/m", "hi", max_tokens=50)).text
        assert text == "answer"
        assert limiter.unsettled == 1, streamed
    assert [(r.error_type, r.cost) for r in exporter.records] == [(None, Decimal("0.000013"))] * 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "could not settle" in warnings[0], warnings


@pytest.mark.anyio
async def test_a_call_never_sent_keeps_its_own_error_when_redis_cannot_take_the_hold_back(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The provider refused the connection (nothing sent): the limiter gives the hold
    # back, fails to reach Redis, and the caller still sees why the call failed.
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "gone"},
        "providers": {"openai": {"base_url": "http://127.0.0.1:1/v1", "api_key": "sk-test"}},
        "retry": {"attempts": 1},
        "limits": {"openai/*": {"rpm": 5, "tpm": 10_000}},
    }
    limiter = GoneOnceAdmitted(URL, prefix=prefix)
    caplog.set_level(logging.WARNING, logger="relaykit.limiter")
    async with relaykit.Client(config, plugins=[LimiterPlugin(limiter, name="gone")]) as client:
        with pytest.raises(relaykit.ProviderUnavailableError):
            await client.chat("openai/gpt-4o-mini", "hi")
    assert limiter.unsettled == 1
    assert "could not settle" in caplog.text


@pytest.mark.anyio
async def test_a_hedges_loser_cut_off_mid_call_is_charged_its_prompt(prefix: str) -> None:
    # The loser reached its provider, which bills the prompt it received: the budget
    # keeps the prompt's estimate, as the loser's record carries it, so the records
    # add up to what Redis spent (1,000 estimated tokens at $1/M: $0.001).
    from relaykit.budgets import MICRO_USD
    from relaykit.testing import MemoryStorage, OpenAIMock

    key = "sk-redis-hedge-0123456789"
    price = {"input": 1, "output": 2}
    storage = MemoryStorage()
    with OpenAIMock(api_key=key) as slow, OpenAIMock(api_key=key) as fast:
        slow.script.push(Reply(text="slow", delay=5))
        config = {
            "storage": {"backend": "memory"},
            "limiter": {"backend": "pinned-redis"},
            "limits": {"*": {"budget_usd": "10"}},
            "providers": {
                "openai": {"base_url": slow.base_url, "api_key": key},
                "backup": {"type": "openai", "base_url": fast.base_url, "api_key": key},
            },
            "prices": {"openai/gpt-4o-mini": price, "backup/gpt-4o-mini": price},
            "models": {
                "g": {"targets": ["openai/gpt-4o-mini", "backup/gpt-4o-mini"], "hedge_after": 0.05}
            },
        }
        plugins = [pinned_plugin(prefix), storage.plugin()]
        async with relaykit.Client(config, plugins=plugins) as client:
            with anyio.fail_after(3):
                response = await client.chat("g", "word " * 800, max_tokens=100)
            redis = RedisClient(URL)
            raw: Any = await redis.command("GET", f"{prefix}:limit:*:usd:{DAY}")
            spent = int(raw or 0) * MICRO_USD
            await redis.aclose()
    assert response.provider == "backup" and response.cost is not None
    loser = next(r for r in storage.records.values() if r.error_type == "HedgeCancelled")
    assert loser.cost == Decimal("0.001")
    assert spent == response.cost + loser.cost
    assert spent == sum((r.cost or Decimal(0) for r in storage.records.values()), Decimal(0))
