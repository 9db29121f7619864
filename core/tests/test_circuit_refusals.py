"""What a refusal by an open circuit does to a route: nothing was sent, so the
deployment is kept back only until its circuit lets a trial through, and a retry
never waits its backoff to be refused. Real timing, kept small; the margins are
a tenth of a second or more, for a loaded machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import stamina

import relaykit
from relaykit.routing import Target
from relaykit.testing import FakePlugin, Reply

ROUTE = {"g": {"targets": ["fake/m", "backup/m"]}}
MAIN = Target("fake", "m")


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``, not for a guess at how long it takes on a loaded machine."""
    with anyio.fail_after(5):
        while not condition():  # noqa: ASYNC110 (state of other tasks, no event to wait on)
            await anyio.sleep(0.002)


def make(*plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "models": ROUTE,
        **sections,
    }
    return relaykit.Client(config, plugins=plugins)


@pytest.mark.anyio
async def test_a_refusal_keeps_a_deployment_back_until_its_trial_not_a_cool_down_more() -> None:
    # The refusal at 1.6 s cooled the deployment down for 1.5 s more, to 3.1 s,
    # though its circuit let a trial through at 2.4 s: a call at 2.6 s skipped it.
    # (Each step has a margin of 0.5 s or more, so a loaded machine's slow call
    # cannot move one across another's boundary.)
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(503, "down"), Reply(text="main"))
    breaker = {"failures": 1, "reset_after": 2.4, "cool_down": 1.5}
    async with make(main, backup, breaker=breaker) as client:
        assert (await client.chat("g", "one")).provider == "backup"  # main fails: open
        start = client._breaker_of(MAIN)._opened_at  # the times count from the failure
        assert start is not None
        await anyio.sleep(1.6 - (time.monotonic() - start))
        second = await client.chat("g", "two")  # main out of cool-down, its circuit open
        assert (second.provider, second.attempts) == ("backup", 2)
        third = await client.chat("g", "three")  # kept back until the trial: not asked
        assert (third.provider, third.attempts) == ("backup", 1)
        assert time.monotonic() - start < 2.4, "too slow to test: the trial is due"
        await anyio.sleep(2.6 - (time.monotonic() - start))
        fourth = await client.chat("g", "four")  # the circuit lets a trial through
        assert (fourth.provider, fourth.text) == ("fake", "main")
    assert len(main.calls) == 2


@pytest.mark.anyio
async def test_a_refusal_while_a_trial_is_in_flight_leaves_the_deployment_first() -> None:
    # A call refused because another call's trial was in flight put the deployment in
    # cool-down: the trial succeeded, yet the route skipped it for the cool-down
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(503, "down"), Reply(text="trial", delay=0.2), Reply(text="main"))
    breaker = {"failures": 1, "reset_after": 0.05, "cool_down": 2}
    async with make(main, backup, breaker=breaker) as client:
        assert (await client.chat("g", "one")).provider == "backup"  # main fails: open
        # main's own failure cooled it down: wait that out with a shorter one
        client._router._health[MAIN].cool_until = 0.0
        await anyio.sleep(0.06)  # half-open
        answers: dict[str, str] = {}

        async def ask(name: str) -> None:
            answers[name] = (await client.chat("g", name)).provider

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "trial")
            await until(lambda: len(main.calls) == 2)  # the trial reached main
            tg.start_soon(ask, "refused")  # main's trial in flight: the backup answers
        assert answers == {"trial": "fake", "refused": "backup"}
        after = await client.chat("g", "after")  # closed again: main first
        assert (after.provider, after.text) == ("fake", "main")


@pytest.mark.anyio
async def test_a_retry_goes_to_the_next_deployment_at_once_while_a_trial_is_in_flight() -> None:
    # A call admitted before the circuit opened fails after another call's trial has
    # started: its retry waited its backoff (1-2 s), was refused, then fell back
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(
        Reply(status=503, error="down", delay=0.3),  # the late failure
        Reply(status=503, error="down", delay=0.02),  # opens the circuit
        Reply(text="trial", delay=0.6),
    )
    breaker = {"failures": 1, "reset_after": 0.05, "cool_down": 0}
    retry = {"attempts": 3, "initial_wait": 1, "max_wait": 2}
    took: dict[str, tuple[str, float]] = {}

    async def ask(client: relaykit.Client, name: str) -> None:
        start = time.monotonic()
        provider = (await client.chat("g", name)).provider
        took[name] = (provider, time.monotonic() - start)

    with stamina.set_testing(False):
        async with (
            make(main, backup, breaker=breaker, retry=retry) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(ask, client, "late")
            await until(lambda: len(main.calls) == 1)
            tg.start_soon(ask, client, "opener")
            await until(lambda: client._breaker_of(MAIN)._opened_at is not None)
            await anyio.sleep(0.06)  # half-open
            tg.start_soon(ask, client, "trial")
    assert took["trial"][0] == "fake" and took["late"][0] == "backup"
    # at once is ~0.3 s (the late failure's delay); a backoff would add 1 s or more
    assert took["late"][1] < 1.0, f"the late call waited its backoff: {took['late'][1]:.2f} s"
    assert len(main.calls) == 3, "the refused retry sent nothing"
