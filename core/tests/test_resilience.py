"""Breakers, fallbacks, routing, hedging, caching and validation through the client."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    CircuitOpenError,
    ContextLengthError,
    InvalidRequestError,
    ProviderUnavailableError,
    QuotaExceededError,
    TextDelta,
)
from relaykit.routing import Target
from relaykit.testing import FakePlugin, MemoryStorage, Reply, cancel_in_flight

INSTANT = {"attempts": 1, "initial_wait": 0, "max_retry_after": 0}


def make(*plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {"storage": {"backend": "none"}, "retry": INSTANT, **sections}
    return relaykit.Client(config, plugins=plugins)


# -- circuit breakers -----------------------------------------------------------


@pytest.mark.anyio
async def test_open_circuit_fails_fast_without_calling_the_provider() -> None:
    fake = FakePlugin()
    fake.script.push(*[Reply.failure(503, "down")] * 2)
    async with make(fake, breaker={"failures": 2, "reset_after": 60}) as client:
        for _ in range(2):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("fake/m", "hi")
        with pytest.raises(CircuitOpenError) as info:
            await client.chat("fake/m", "hi")
    assert len(fake.calls) == 2, "an open circuit must not reach the provider"
    assert info.value.provider == "fake"
    assert info.value.retry_after is not None and 59 < info.value.retry_after <= 60


@pytest.mark.anyio
async def test_open_circuit_falls_back_to_the_next_target() -> None:
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(503, "down"))
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    breaker = {"failures": 1, "reset_after": 60, "cool_down": 0}  # no cool-down: keep the order
    async with make(main, backup, breaker=breaker, models=routes) as client:
        first = await client.chat("g", "one")
        second = await client.chat("g", "two")
    assert (first.provider, first.attempts) == ("backup", 2)
    assert (second.provider, second.attempts) == (
        "backup",
        2,
    )  # the open circuit counted, not called
    assert len(main.calls) == 1


@pytest.mark.anyio
async def test_a_route_whose_every_circuit_is_open_says_so_and_when_to_retry() -> None:
    # The last deployment's CircuitOpenError alone named one deployment, carried no
    # wait, and hinted "configure a fallback route" to a caller who had one.
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(503, "down"))
    backup.script.push(Reply.failure(503, "down"))
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    breaker = {"failures": 1, "reset_after": 60, "cool_down": 0}
    async with make(main, backup, breaker=breaker, models=routes) as client:
        with pytest.raises(ProviderUnavailableError):
            await client.chat("g", "one")  # both fail: both circuits open
        with pytest.raises(CircuitOpenError) as info:
            await client.chat("g", "two")
    error = info.value
    assert str(error).startswith("g: every deployment of the route has its circuit open: ")
    assert "fake/m (next trial in " in str(error) and "backup/m (next trial in " in str(error)
    assert error.retry_after is not None and 59 < error.retry_after <= 60
    assert error.hint is not None and "configure a fallback" not in error.hint
    assert "retry in " in error.hint
    assert len(main.calls) == len(backup.calls) == 1, "an open circuit sends nothing"


@pytest.mark.anyio
async def test_a_failed_deployment_cools_down_to_the_back_of_the_route() -> None:
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(503, "down"))
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    async with make(main, backup, models=routes) as client:
        await client.chat("g", "one")
        second = await client.chat("g", "two")
    assert (second.provider, second.attempts) == ("backup", 1)


@pytest.mark.anyio
async def test_caller_errors_do_not_open_the_circuit() -> None:
    fake = FakePlugin()
    fake.script.push(*[Reply.failure(400, "bad")] * 3, Reply(text="fine"))
    async with make(fake, breaker={"failures": 1}) as client:
        for _ in range(3):
            with pytest.raises(InvalidRequestError):
                await client.chat("fake/m", "hi")
        assert (await client.chat("fake/m", "hi")).text == "fine"


@pytest.mark.anyio
async def test_half_open_lets_one_trial_through_the_client() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(503), Reply(text="trial", delay=0.2), *[Reply(text="after")] * 3)
    async with make(fake, breaker={"failures": 1, "reset_after": 0.05}) as client:
        with pytest.raises(ProviderUnavailableError):
            await client.chat("fake/m", "hi")
        await anyio.sleep(0.06)
        outcomes: list[str] = []

        async def one() -> None:
            try:
                outcomes.append((await client.chat("fake/m", "hi")).text)
            except CircuitOpenError:
                outcomes.append("refused")

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
        assert sorted(outcomes) == ["refused", "refused", "trial"]
        assert (await client.chat("fake/m", "hi")).text == "after"  # closed again


@pytest.mark.anyio
async def test_our_own_quota_refusing_the_trial_leaves_the_circuit_half_open() -> None:
    """Our limiter refused before any request went out: no verdict on the deployment."""
    fake = FakePlugin()
    fake.script.push(Reply.failure(503), Reply(text="trial"))
    limits = {"fake/*": {"rpm": 1}}  # the failed call takes the only request this minute
    async with make(fake, breaker={"failures": 1, "reset_after": 0.05}, limits=limits) as client:
        with pytest.raises(ProviderUnavailableError):
            await client.chat("fake/m", "hi")
        await anyio.sleep(0.06)
        with pytest.raises(QuotaExceededError):
            await client.chat("fake/m", "hi")
        breaker = client._breaker_of(Target("fake", "m"))
        assert (breaker.state, breaker.consecutive_failures) == ("half-open", 1)
        assert len(fake.calls) == 1, "the refused call never reached the provider"


# -- fallbacks and routing -------------------------------------------------------


@pytest.mark.anyio
async def test_context_length_falls_back_only_to_a_larger_window() -> None:
    small, big = (
        FakePlugin("small", context_window=8_000),
        FakePlugin("big", context_window=128_000),
    )
    small.script.push(*[Reply.failure(400, "maximum context length is 8000 tokens")] * 2)
    routes = {
        "up": {"targets": ["small/fake-model", "big/fake-model"]},
        "down": {"targets": ["small/fake-model", "small/fake-model"]},
    }
    async with make(small, big, models=routes) as client:
        r = await client.chat("up", "a long prompt")
        assert r.provider == "big"
        with pytest.raises(ContextLengthError):
            await client.chat("down", "a long prompt")


@pytest.mark.anyio
async def test_a_model_the_deployment_does_not_serve_falls_back_and_other_4xx_do_not() -> None:
    # A retired or misspelt model at one deployment is what a route's next one is
    # for, and so is another provider when one refused the key (401); a refused
    # request (400) would be refused again, and so would the key by its own
    # provider's other deployment (see test_auth_fallbacks.py).
    retired, backup = FakePlugin("retired"), FakePlugin("backup")
    retired.script.push(Reply.failure(404, "The model `old-model` does not exist"))
    routes = {
        "g": {"targets": ["retired/old-model", "backup/m"]},
        "same": {"targets": ["retired/old-model", "retired/m"]},
    }
    async with make(retired, backup, models=routes) as client:
        r = await client.chat("g", "hi")
        assert (r.provider, r.model) == ("backup", "m")
        retired.script.push(Reply.failure(400, "no"))
        with pytest.raises(InvalidRequestError):
            await client.chat("g", "hi")
        retired.script.push(Reply.failure(401, "no"))
        r = await client.chat("g", "hi")
        assert (r.provider, r.model) == ("backup", "m")
        retired.script.push(Reply.failure(401, "no"))
        with pytest.raises(AuthenticationError):
            await client.chat("same", "hi")
    assert len(backup.calls) == 2
    assert len(retired.calls) == 4  # each refused once, never retried


@pytest.mark.anyio
async def test_our_own_quota_moves_on_to_the_next_target() -> None:
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    async with make(main, backup, models=routes, limits={"fake/*": {"rpm": 1}}) as client:
        assert (await client.chat("g", "1")).provider == "fake"
        assert (await client.chat("g", "2")).provider == "backup"


@pytest.mark.anyio
async def test_a_route_that_must_wait_everywhere_says_the_soonest_wait() -> None:
    # The first deployment asked for 3 s, the backup's own rpm limit frees in a
    # minute: the error was the backup's, so a caller honouring retry_after waited
    # a minute for a route that could serve in 3 s.
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    async with make(main, backup, models=routes, limits={"backup/*": {"rpm": 1}}) as client:
        await client.chat("backup/m", "uses the backup's minute")
        main.script.push(Reply.failure(429, "slow down", retry_after=3))
        with pytest.raises(relaykit.RateLimitError) as info:
            await client.chat("g", "hi")
    error = info.value
    assert error.provider == "fake"
    assert error.retry_after is not None and 2 < error.retry_after <= 3
    assert "every deployment of the route asked to wait" in str(error)
    assert "backup/m (" in str(error) and "fake/m (" in str(error)


@pytest.mark.anyio
async def test_a_route_whose_waits_are_not_all_known_raises_the_last_error() -> None:
    # A deployment that said no wait may be free at once: no soonest to name.
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(429, "slow down", retry_after=3))
    backup.script.push(Reply.failure(429, "slow down"))
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    async with make(main, backup, models=routes) as client:
        with pytest.raises(relaykit.RateLimitError) as info:
            await client.chat("g", "hi")
    assert (info.value.provider, info.value.retry_after) == ("backup", None)


@pytest.mark.anyio
async def test_a_deployment_that_asked_to_wait_stays_back_for_that_long() -> None:
    # Its cool-down was [breaker] cool_down whatever the 429 said, so the next
    # calls after it asked it first again (another 429 each, as LiteLLM's router
    # did before it cooled deployments down for their Retry-After).
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(429, "slow down", retry_after=30))
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    breaker = {"cool_down": 0.05}
    retry = {**INSTANT, "max_retry_after": 60}
    async with make(main, backup, models=routes, breaker=breaker, retry=retry) as client:
        assert (await client.chat("g", "1")).provider == "backup"
        await anyio.sleep(0.1)  # past the cool-down, not the wait it asked for
        assert (await client.chat("g", "2")).provider == "backup"
    assert len(main.calls) == 1


@pytest.mark.anyio
async def test_a_deployments_wait_keeps_it_back_no_longer_than_max_retry_after() -> None:
    # A Retry-After of a day would have kept it behind its route's others for a day.
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(429, "slow down", retry_after=86400))
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    retry = {**INSTANT, "max_retry_after": 0.05}
    breaker = {"cool_down": 0.01}
    async with make(main, backup, models=routes, breaker=breaker, retry=retry) as client:
        assert (await client.chat("g", "1")).provider == "backup"
        await anyio.sleep(0.1)
        assert (await client.chat("g", "2")).provider == "fake"


@pytest.mark.anyio
async def test_least_busy_spreads_concurrent_calls() -> None:
    a, b = FakePlugin("a"), FakePlugin("b")
    a.script.push(*[Reply(text="a", delay=0.1)] * 4)
    b.script.push(*[Reply(text="b", delay=0.1)] * 4)
    routes = {"g": {"targets": ["a/m", "b/m"], "strategy": "least-busy"}}
    served: list[str] = []
    async with make(a, b, models=routes) as client:

        async def one() -> None:
            served.append((await client.chat("g", "hi")).provider)

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(one)
    assert sorted(served) == ["a", "a", "b", "b"]


# -- hedging ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_hedge_takes_the_faster_answer_and_records_the_loser() -> None:
    slow, fast = FakePlugin("slow"), FakePlugin("fast")
    slow.script.push(Reply(text="slow", delay=5))
    fast.script.push(Reply(text="fast"))
    storage = MemoryStorage()
    routes = {"g": {"targets": ["slow/m", "fast/m"], "hedge_after": 0.05}}
    config_plugins = (slow, fast, storage.plugin())
    async with make(*config_plugins, models=routes, storage={"backend": "memory"}) as client:
        with anyio.fail_after(2):
            r = await client.chat("g", "race me")
    assert (r.text, r.provider) == ("fast", "fast")
    records = {rec.provider: rec for rec in storage.records.values()}
    assert records["fast"].ok and records["fast"].fallbacks == 1
    loser = records["slow"]
    assert loser.error_type == "HedgeCancelled"
    assert loser.cost is not None and loser.cost > 0


@pytest.mark.anyio
async def test_no_hedge_when_the_first_answers_in_time() -> None:
    first, second = FakePlugin("first"), FakePlugin("second")
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 1}}
    async with make(first, second, models=routes) as client:
        r = await client.chat("g", "hi")
    assert r.provider == "first" and not second.calls


@pytest.mark.anyio
async def test_a_first_target_failing_before_the_delay_falls_back_at_once() -> None:
    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(Reply.failure(503, "down"))
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 30}}
    async with make(first, second, models=routes) as client:
        with anyio.fail_after(2):
            r = await client.chat("g", "hi")
    assert (r.provider, r.attempts) == ("second", 2)


@pytest.mark.anyio
async def test_a_hedge_outlives_the_first_target_failing_after_it_started() -> None:
    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(Reply(status=503, error="down", delay=0.1))
    second.script.push(Reply(text="backup", delay=0.2))
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.02}}
    async with make(first, second, models=routes) as client:
        r = await client.chat("g", "hi")
    assert (r.text, r.provider) == ("backup", "second")


@pytest.mark.anyio
async def test_a_backup_that_wins_ends_the_first_targets_wait_to_retry() -> None:
    import stamina

    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(Reply(status=503, error="down", delay=0.05))
    second.script.push(Reply(text="backup", delay=0.2))
    storage = MemoryStorage()
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.02}}
    retry = {"attempts": 3, "initial_wait": 30, "max_wait": 60}  # it would wait 30-60 s
    with stamina.set_testing(False):
        async with make(
            first,
            second,
            storage.plugin(),
            models=routes,
            retry=retry,
            storage={"backend": "memory"},
        ) as client:
            with anyio.fail_after(5):
                r = await client.chat("g", "hi")
    assert (r.text, r.provider) == ("backup", "second")
    assert len(first.calls) == 1
    # waiting, not calling, when the backup won: no cost to record
    assert [rec.provider for rec in storage.records.values()] == ["second"]


@pytest.mark.anyio
async def test_a_backup_that_wins_while_the_first_waits_for_its_limit_stops_it_calling() -> None:
    from relaykit._hookimpl import hookimpl
    from relaykit.protocols import Reservation

    class SlowLimiter:  # decides over the network, say: only the coroutines
        async def acquire(self, key: str, limit: object, tokens: int) -> Reservation:
            if not acquired:
                acquired.append(key)
                await anyio.sleep(0.3)
            return Reservation(key, tokens)

        async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
            pass

    class LimiterPlugin:
        @hookimpl
        def relaykit_rate_limiter(self, name: str, config: object) -> SlowLimiter:
            return SlowLimiter()

    acquired: list[str] = []
    first, second = FakePlugin("first"), FakePlugin("second")
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.02}}
    async with make(
        first,
        second,
        LimiterPlugin(),
        models=routes,
        limiter={"backend": "slow"},
        limits={"*": {"rpm": 1000}},
    ) as client:
        with anyio.fail_after(5):
            r = await client.chat("g", "hi")
    assert r.provider == "second"
    assert not first.calls, "the first target must not be called once the backup has won"


@pytest.mark.anyio
async def test_a_hedged_call_fails_with_the_last_error_when_both_fail() -> None:
    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(Reply(status=503, error="first down", delay=0.1))
    second.script.push(Reply(status=500, error="second down", delay=0.2))
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.02}}
    async with make(first, second, models=routes) as client:
        with pytest.raises(ProviderUnavailableError, match="second down"):
            await client.chat("g", "hi")


@pytest.mark.anyio
async def test_the_hedge_runs_in_the_calling_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's timer task starts the backup, but in the call's own context."""
    import contextvars

    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
    slow, fast = FakePlugin("slow"), FakePlugin("fast")
    slow.script.push(Reply(text="slow", delay=5), Reply(text="slow", delay=5))
    seen: list[str] = []
    next_reply = fast.script.next

    def next_noting_who(default: Reply) -> Reply:
        seen.append(who.get())
        return next_reply(default)

    monkeypatch.setattr(fast.script, "next", next_noting_who)
    routes = {"g": {"targets": ["slow/m", "fast/m"], "hedge_after": 0.02}}
    async with make(slow, fast, models=routes) as client:

        async def one(name: str) -> str:
            who.set(name)
            return (await client.chat("g", "hi")).provider

        async with anyio.create_task_group() as tg:
            for name in ("a", "b"):
                tg.start_soon(one, name)
    assert sorted(seen) == ["a", "b"]


@pytest.mark.anyio
async def test_cancelling_a_hedged_call_cancels_its_backup() -> None:
    slow, slower = FakePlugin("slow"), FakePlugin("slower")
    slow.script.push(Reply(text="slow", delay=5))
    slower.script.push(Reply(text="slower", delay=5), Reply(text="next call"))
    routes = {"g": {"targets": ["slow/m", "slower/m"], "hedge_after": 0.02}}
    async with make(slow, slower, models=routes) as client:
        # cancelled once the backup has been sent, however long the hedge took to start
        await cancel_in_flight(lambda: client.chat("g", "hi"), when=lambda: len(slower.calls) == 1)
        await anyio.wait_all_tasks_blocked()  # the backup task has wound down
        assert client._router.in_flight(Target("slower", "m")) == 0
        with anyio.fail_after(2):  # the client's task group is intact and still serves
            assert (await client.chat("slower/m", "again")).text == "next call"


@pytest.mark.anyio
async def test_a_bug_in_the_backup_reaches_the_caller_not_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, broken = FakePlugin("first"), FakePlugin("broken")
    first.script.push(Reply(status=503, error="down", delay=0.1))
    routes = {"g": {"targets": ["first/m", "broken/m"], "hedge_after": 0.02}}
    async with make(first, broken, models=routes) as client:

        async def bug(request: Any) -> Any:
            raise RuntimeError("a bug, not a provider failure")

        monkeypatch.setattr(client.provider("broken"), "chat", bug)
        with pytest.raises(RuntimeError, match="a bug"):
            await client.chat("g", "hi")
        assert (await client.chat("first/m", "still serving")).text == "echo: still serving"


@pytest.mark.anyio
async def test_hedging_without_entering_the_client() -> None:
    slow, fast = FakePlugin("slow"), FakePlugin("fast")
    slow.script.push(Reply(text="slow", delay=5))
    routes = {"g": {"targets": ["slow/m", "fast/m"], "hedge_after": 0.02}}
    client = make(slow, fast, models=routes)
    try:
        with anyio.fail_after(2):
            assert (await client.chat("g", "hi")).provider == "fast"
        assert (await client.chat("g", "again")).provider == "slow"  # in time: no hedge
    finally:
        await client.aclose()
    assert len(fast.calls) == 1


def test_hedge_after_is_validated() -> None:
    with pytest.raises(relaykit.ConfigError, match="hedge_after"):
        relaykit.load_config({"models": {"g": {"targets": ["a/b", "c/d"], "hedge_after": "soon"}}})
    with pytest.raises(relaykit.ConfigError, match="two targets"):
        relaykit.load_config({"models": {"g": {"targets": ["a/b"], "hedge_after": 1}}})


# -- the response cache ----------------------------------------------------------


@pytest.mark.anyio
async def test_deterministic_requests_are_cached() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="first", input_tokens=10, output_tokens=5), Reply(text="second"))
    async with make(fake, cache={"enabled": True}) as client:
        a = await client.chat("fake/m", "hi", temperature=0)
        b = await client.chat("fake/m", "hi", temperature=0, metadata={"user": "x"})
    assert (a.text, a.cache_hit) == ("first", False)
    assert (b.text, b.cache_hit, b.cost) == ("first", True, Decimal(0))
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_sampled_requests_and_cache_false_bypass_the_cache() -> None:
    fake = FakePlugin()
    async with make(fake, cache={"enabled": True}) as client:
        await client.chat("fake/m", "hi")
        await client.chat("fake/m", "hi")
        await client.chat("fake/m", "hi", temperature=0)
        r = await client.chat("fake/m", "hi", temperature=0, cache=False)
    assert not r.cache_hit
    assert len(fake.calls) == 4


@pytest.mark.anyio
@pytest.mark.parametrize("enabled", [True, False])
async def test_cache_true_on_a_call_caches_a_sampled_request(enabled: bool) -> None:
    # deterministic_only picks what the cache takes when the call does not say; an
    # explicit cache=True is the caller asking for a replay, sampled or not.
    fake = FakePlugin()
    fake.script.push(Reply(text="first"), Reply(text="second"), Reply(text="third"))
    async with make(fake, cache={"enabled": enabled}) as client:
        a = await client.chat("fake/m", "hi", temperature=0.7, cache=True)
        b = await client.chat("fake/m", "hi", temperature=0.7, cache=True)
        async with client.stream("fake/m", "hi", temperature=0.7, cache=True) as s:
            async for _ in s:
                pass
        # without cache=True, a sampled request still goes to the provider
        c = await client.chat("fake/m", "hi", temperature=0.7)
    assert (a.text, a.cache_hit) == ("first", False)
    assert (b.text, b.cache_hit) == ("first", True)
    assert (s.response.text, s.response.cache_hit) == ("first", True)
    assert (c.text, c.cache_hit) == ("second", False)
    assert len(fake.calls) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["no", 0, 1, "false"])
@pytest.mark.parametrize("call", ["chat", "stream", "embed"])
async def test_cache_other_than_true_false_or_none_is_refused(value: object, call: str) -> None:
    # bool("no") is True: read as truthy, cache="no" would have cached the call
    fake = FakePlugin()
    async with make(fake, cache={"enabled": True}) as client:
        with pytest.raises(InvalidRequestError, match="`cache` must be True, False or None") as e:
            if call == "chat":
                await client.chat("fake/m", "hi", cache=value)
            elif call == "stream":
                async with client.stream("fake/m", "hi", cache=value):
                    pass
            else:
                await client.embed("fake/emb", "hi", cache=value)
    assert e.value.param == "cache"
    assert fake.calls == [] and fake.embeddings == []


@pytest.mark.anyio
async def test_a_cached_answer_replays_as_a_stream() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="cached words " * 10, tool_calls=(("f", {"x": 1}),)))
    async with make(fake, cache={"enabled": True}) as client:
        original = await client.chat("fake/m", "hi", seed=1)
        async with client.stream("fake/m", "hi", seed=1) as s:
            deltas = [e.text async for e in s if isinstance(e, TextDelta)]
    assert "".join(deltas) == original.text
    assert s.response.cache_hit and s.response.tool_calls == original.tool_calls
    assert len(fake.calls) == 1
    # a replayed stream has a first token of its own, in the time the hit took
    ttft, latency = s.response.time_to_first_token, s.response.latency
    assert ttft is not None and latency is not None and 0 <= ttft <= latency


@pytest.mark.anyio
async def test_a_streamed_answer_fills_the_cache() -> None:
    fake = FakePlugin()
    async with make(fake, cache={"enabled": True}) as client:
        async with client.stream("fake/m", "hi", temperature=0) as s:
            async for _ in s:
                pass
        r = await client.chat("fake/m", "hi", temperature=0)
    assert r.cache_hit and r.text == s.response.text
    # the stream's first-token time is not the hit's: a hit that is not streamed has none
    assert s.response.time_to_first_token is not None
    assert r.time_to_first_token is None


@pytest.mark.anyio
async def test_cache_hits_are_recorded() -> None:
    storage = MemoryStorage()
    async with make(
        FakePlugin(), storage.plugin(), cache={"enabled": True}, storage={"backend": "memory"}
    ) as c:
        await c.chat("fake/m", "hi", temperature=0)
        await c.chat("fake/m", "hi", temperature=0)
    assert [r.cache_hit for r in storage.records.values()] == [False, True]


# -- validation ------------------------------------------------------------------


@pytest.mark.anyio
async def test_size_guard_refuses_before_sending() -> None:
    fake = FakePlugin()
    async with make(fake, validation={"max_chars": 100}) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat("fake/m", "x" * 101)
    assert "101 characters" in str(info.value) and "limit of 100" in str(info.value)
    assert info.value.param == "messages"
    assert not fake.calls


@pytest.mark.anyio
async def test_size_guard_default_is_a_million_characters() -> None:
    async with make(FakePlugin()) as client:
        await client.chat("fake/m", "x" * 1_000_000)
        with pytest.raises(InvalidRequestError, match="1,000,001"):
            await client.chat("fake/m", "x" * 1_000_001)


# -- what is retried -------------------------------------------------------------


@pytest.mark.anyio
async def test_retry_on_chooses_which_failures_are_retried() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(429, "slow"), Reply.failure(503, "down"), Reply(text="ok"))
    retry = {"attempts": 3, "initial_wait": 0, "max_retry_after": 0, "on": ["unavailable"]}
    async with make(fake, retry=retry) as client:
        with pytest.raises(relaykit.RateLimitError):
            await client.chat("fake/m", "hi")  # 429 is not in `on`
        assert (await client.chat("fake/m", "hi")).attempts == 2  # 503 is


def test_retry_on_names_are_checked() -> None:
    with pytest.raises(relaykit.ConfigError, match="did you mean 'timeout'"):
        relaykit.load_config({"retry": {"on": ["timeouts"]}})
    assert relaykit.load_config({"retry": {"on": "rate_limit, timeout"}}).retry.on == (
        "rate_limit",
        "timeout",
    )


@pytest.mark.anyio
async def test_fallback_across_vendors_translates_the_request() -> None:
    """OpenAI fails; the same request goes to Anthropic in Anthropic's own wire format."""
    from relaykit.testing import OpenAIMock
    from relaykit_anthropic.testing import AnthropicMock

    oa_key, an_key = "sk-fallback-0123456789abcdef", "sk-ant-fallback-0123456789"
    with OpenAIMock(api_key=oa_key) as oa, AnthropicMock(api_key=an_key) as an:
        oa.script.fail(503, "down")
        config = {
            "storage": {"backend": "none"},
            "retry": INSTANT,
            "providers": {
                "openai": {"base_url": oa.base_url, "api_key": oa_key},
                "anthropic": {"base_url": an.base_url, "api_key": an_key},
            },
            "models": {"g": {"targets": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]}},
        }
        messages = [
            relaykit.Message.system("Be brief."),
            relaykit.Message.user("Capital of France?"),
        ]
        async with relaykit.Client(config) as client:
            r = await client.chat("g", messages, max_tokens=20, temperature=0)
        body = an.last_request.json()
    assert (r.provider, r.model, r.text) == (
        "anthropic",
        "claude-haiku-4-5",
        "echo: Capital of France?",
    )
    assert body["model"] == "claude-haiku-4-5"
    assert body["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert body["messages"][-1]["role"] == "user"
    assert (body["max_tokens"], body["temperature"]) == (20, 0)


def test_a_wait_no_retry_ends_is_not_the_routes_soonest() -> None:
    # OpenAI's 429 for a used-up quota (x-should-retry: false) may still carry a
    # Retry-After; after it, no wait serves the call, so it is not what to wait for.
    from relaykit.attempts import _soonest

    now = time.monotonic()
    broke = relaykit.RateLimitError("quota", provider="a", model="m", retry_after=1)
    broke.should_retry = False
    limited = relaykit.RateLimitError("slow", provider="b", model="m", retry_after=20)
    assert _soonest([(broke, now), (limited, now)]) is limited
    assert _soonest([(limited, now), (broke, now)]) is limited
    assert limited.retry_after is not None and 19 < limited.retry_after <= 20
    assert "b/m (20.0s)" in str(limited) and "a/m" not in str(limited)
    both_broke = relaykit.RateLimitError("quota", provider="c", model="m", retry_after=1)
    both_broke.should_retry = False
    assert _soonest([(broke, now), (both_broke, now)]) is both_broke
