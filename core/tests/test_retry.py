"""Retries on stamina: backoff, Retry-After, the total timeout, test mode, instrumentation."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import stamina
from hypothesis import given, settings
from hypothesis import strategies as st

import relaykit
from relaykit import ProviderUnavailableError, RateLimitError
from relaykit.config import RetryConfig
from relaykit.errors import CircuitOpenError, InvalidRequestError, RequestTimeoutError
from relaykit.retry import wait_before_retry
from relaykit.testing import FakePlugin, Reply, cancel_in_flight, instant_retries

KEY = "sk-retry-secret-0123456789abcdef"


def make(*plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {"storage": {"backend": "none"}, **sections}
    return relaykit.Client(config, plugins=plugins)


@pytest.fixture
def no_test_mode() -> Iterator[None]:
    """Whatever another test left behind, stamina is in its normal mode here."""
    with stamina.set_testing(False):
        yield


# -- the on-hook, as a function ------------------------------------------------------


def test_the_hook_does_not_retry_past_max_retry_after() -> None:
    # Clamped to 2 s, the retry came long before the hour the server asked for.
    config = RetryConfig(max_retry_after=2)
    error = RateLimitError("slow down", retry_after=3600)
    assert wait_before_retry(error, 1, config, remaining=7200) is False
    assert wait_before_retry(RateLimitError("x", retry_after=2), 1, config, 600) == 2
    assert wait_before_retry(RateLimitError("x", retry_after=0.5), 1, config, 600) == 0.5
    # 0: at once, whatever the Retry-After (as documented for tests)
    assert wait_before_retry(error, 1, RetryConfig(max_retry_after=0), 600) == 0.0


def test_the_hook_waits_a_server_errors_retry_after_too() -> None:
    # A 503 with Retry-After: the OpenAI SDK waits it before retrying any status.
    config = RetryConfig(max_retry_after=60, initial_wait=0.5)
    busy = ProviderUnavailableError("busy", status=503, retry_after=7)
    assert wait_before_retry(busy, 1, config, remaining=600) == 7
    assert wait_before_retry(busy, 1, RetryConfig(max_retry_after=2), remaining=600) is False


def test_the_hook_stops_when_the_wait_does_not_fit_the_total_timeout() -> None:
    config = RetryConfig(max_retry_after=60, initial_wait=1, max_wait=10)
    assert wait_before_retry(RateLimitError("x", retry_after=30), 1, config, remaining=29) is False
    # backoff: stamina may wait up to initial * 2**(n-1) + initial (its jitter), capped
    unavailable = ProviderUnavailableError("down", status=503)
    assert wait_before_retry(unavailable, 1, config, remaining=2.5) is True
    assert wait_before_retry(unavailable, 1, config, remaining=2.0) is False
    assert wait_before_retry(unavailable, 3, config, remaining=4.5) is False  # up to 5 s
    assert wait_before_retry(unavailable, 9, config, remaining=10.5) is True  # max_wait caps
    # in stamina's test mode nothing is waited, so anything fits
    assert wait_before_retry(RateLimitError("x", retry_after=30), 1, config, 1, testing=True) == 0


def test_the_hook_survives_a_retry_number_past_float_range() -> None:
    # initial_wait * (2 ** (n - 1) + 1) with an int power raised OverflowError from
    # stamina's hook once n passed ~1025 (attempts is not capped): stamina's own
    # backoff computes in floats and caps at max_wait, and so does the bound now.
    config = RetryConfig(attempts=5000, initial_wait=0.5, max_wait=10)
    unavailable = ProviderUnavailableError("down", status=503)
    assert wait_before_retry(unavailable, 1100, config, remaining=10.5) is True
    assert wait_before_retry(unavailable, 4000, config, remaining=9.5) is False


@settings(max_examples=300, deadline=None)
@given(
    retry_after=st.none() | st.floats(0, 1e12),
    status=st.sampled_from([429, 503, 529, None]),
    attempt=st.integers(1, 3000),
    initial=st.floats(0, 5),
    max_wait=st.floats(0, 60),
    cap=st.floats(0, 120),
    remaining=st.floats(0, 1e6) | st.just(math.inf),
)
def test_the_hooks_wait_never_outlasts_the_call_or_the_caps(
    retry_after: float | None,
    status: int | None,
    attempt: int,
    initial: float,
    max_wait: float,
    cap: float,
    remaining: float,
) -> None:
    config = RetryConfig(
        attempts=5000, initial_wait=initial, max_wait=max_wait, max_retry_after=cap
    )
    error: RateLimitError | ProviderUnavailableError = (
        RateLimitError("x", status=429, retry_after=retry_after)
        if status == 429
        else ProviderUnavailableError("x", status=status, retry_after=retry_after)
    )
    decision = wait_before_retry(error, attempt, config, remaining)
    if decision is False:
        return
    if decision is True:  # stamina's backoff: at most initial * 2**(n-1) + its jitter, capped
        assert retry_after is None
        longest = min(max_wait, initial * 2.0 ** min(attempt - 1, 1000) + initial)
        assert longest < remaining
        return
    assert retry_after is not None
    assert 0 <= decision <= cap and decision <= retry_after
    assert decision < remaining, "a retry must not sleep past the call's total timeout"


def test_the_hook_retries_only_what_on_names() -> None:
    config = RetryConfig(on=("unavailable",))
    assert wait_before_retry(ProviderUnavailableError("x", status=503), 1, config, 600) is True
    assert wait_before_retry(ProviderUnavailableError("reset"), 1, config, 600) is False
    assert wait_before_retry(RateLimitError("x"), 1, config, 600) is False
    assert wait_before_retry(RequestTimeoutError("x", which="idle"), 1, RetryConfig(), 600) is True
    assert wait_before_retry(CircuitOpenError("open"), 1, RetryConfig(), 600) is False
    assert wait_before_retry(InvalidRequestError("bad"), 1, RetryConfig(), 600) is False
    assert wait_before_retry(KeyboardInterrupt(), 1, RetryConfig(), 600) is False


# -- through the client --------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("no_test_mode")
async def test_retries_back_off_exponentially() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(503), Reply.failure(503), Reply(text="third"))
    retry = {"attempts": 3, "initial_wait": 0.05, "max_wait": 5}
    async with make(fake, retry=retry) as client:
        started = anyio.current_time()
        r = await client.chat("fake/m", "hi")
        waited = anyio.current_time() - started
    assert (r.text, r.attempts) == ("third", 3)
    assert waited >= 0.05 + 0.1  # at least initial_wait, then twice that


@pytest.mark.anyio
@pytest.mark.usefixtures("no_test_mode")
async def test_stamina_drives_the_retries() -> None:
    """Switching stamina off switches relaykit's retries off: it is stamina's loop."""
    fake = FakePlugin()
    fake.script.push(Reply.failure(503, "down"), Reply(text="never asked"))
    stamina.set_active(False)
    try:
        async with make(fake, retry={"attempts": 3, "initial_wait": 0}) as client:
            with pytest.raises(ProviderUnavailableError):
                await client.chat("fake/m", "hi")
    finally:
        stamina.set_active(True)
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_instant_retries_skip_every_wait_but_keep_the_attempts() -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply.failure(429, "slow", retry_after=30), Reply.failure(503), Reply(text="third")
    )
    retry = {"attempts": 3, "initial_wait": 10, "max_wait": 60, "max_retry_after": 60}
    async with make(fake, retry=retry) as client:
        with instant_retries(), anyio.fail_after(2):
            r = await client.chat("fake/m", "hi")
        assert not stamina.is_testing(), "leaving the block ends test mode"
    assert (r.text, r.attempts) == ("third", 3)


@pytest.mark.anyio
async def test_instant_retries_cap_attempts() -> None:
    fake = FakePlugin()
    fake.script.push(*[Reply.failure(503)] * 5, Reply(text="too late"))
    async with make(fake, retry={"attempts": 5}) as client:
        with instant_retries(attempts=2), pytest.raises(ProviderUnavailableError):
            await client.chat("fake/m", "hi")
    assert len(fake.calls) == 2


@pytest.mark.anyio
@pytest.mark.usefixtures("no_test_mode")
async def test_a_retry_after_past_the_total_timeout_fails_fast_and_says_so() -> None:
    # Raised at once with the 429's own message, the error did not say why no
    # retry was made: the caller could not tell a wait too long from no retries.
    fake = FakePlugin()
    fake.script.push(Reply.failure(429, "slow down", retry_after=30), Reply(text="never asked"))
    async with make(fake, retry={"attempts": 3, "max_retry_after": 60}) as client:
        with anyio.fail_after(1), pytest.raises(RateLimitError) as info:
            await client.chat("fake/m", "hi", timeout=5)
    error = info.value
    assert error.retry_after == 30
    assert error.hint is not None
    assert "asked to wait 30.0s" in error.hint and "total timeout" in error.hint
    assert len(fake.calls) == 1


@pytest.mark.anyio
@pytest.mark.usefixtures("no_test_mode")
async def test_an_open_circuit_falls_back_without_waiting() -> None:
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(503, "down"))
    async with make(
        main,
        backup,
        retry={"attempts": 3, "initial_wait": 30, "max_wait": 30},
        breaker={"failures": 1, "reset_after": 60},
        models={"g": {"targets": ["fake/m", "backup/m"]}},
    ) as client:
        with anyio.fail_after(2):  # the 30 s backoff would be pointless: the circuit is open
            r = await client.chat("g", "hi")
    assert (r.provider, r.attempts) == ("backup", 2)
    assert len(main.calls) == 1


@pytest.mark.anyio
@pytest.mark.usefixtures("no_test_mode")
async def test_cancelled_while_waiting_to_retry() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(503, "down"))
    async with make(fake, retry={"attempts": 3, "initial_wait": 30, "max_wait": 30}) as client:
        # cancelled once the failed attempt is in and the 30 s backoff has begun
        await cancel_in_flight(
            lambda: client.chat("fake/m", "hi"), when=lambda: len(fake.calls) == 1
        )
        fake.script.push(Reply(text="fine"))
        assert (await client.chat("fake/m", "hi")).text == "fine"
    assert len(fake.calls) == 2


@pytest.mark.anyio
@pytest.mark.usefixtures("no_test_mode")
async def test_stamina_instrumentation_stays_quiet_about_our_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No WARNING per retry from stamina's logger; relaykit says it once, at DEBUG, keyless."""
    fake = FakePlugin()
    fake.script.push(Reply.failure(429, f"slow down, {KEY}", retry_after=0), Reply(text="ok"))
    caplog.set_level(logging.DEBUG)
    async with make(fake, retry={"attempts": 2, "initial_wait": 0}) as client:
        assert (await client.chat("fake/m", "hi")).attempts == 2
    ours = [r for r in caplog.records if r.name == "relaykit.retry"]
    assert [r.getMessage() for r in ours] == [
        "retrying fake/m in 0.00s after RateLimitError (retry 1)"
    ]
    assert not [r for r in caplog.records if r.name == "stamina"]
    assert KEY not in caplog.text


@pytest.mark.anyio
@pytest.mark.usefixtures("no_test_mode")
async def test_a_programs_own_stamina_hooks_see_only_its_own_retries() -> None:
    seen: list[str] = []
    stamina.instrumentation.set_on_retry_hooks([lambda details: seen.append(details.name)])
    try:
        fake = FakePlugin()
        fake.script.push(Reply.failure(503), Reply(text="ok"))
        async with make(fake, retry={"attempts": 2, "initial_wait": 0}) as client:
            assert (await client.chat("fake/m", "hi")).attempts == 2
        assert seen == []
        tries = 0
        async for attempt in stamina.retry_context(
            on=ValueError, attempts=2, wait_initial=0, wait_jitter=0
        ):
            with attempt:
                tries += 1
                if tries == 1:
                    raise ValueError("once")
        assert seen == ["<context block>"]
    finally:
        stamina.instrumentation.set_on_retry_hooks(None)  # stamina's defaults again
