"""A cancelled scope around ``async with relaykit.Client()``: what the client runs for its
calls in its own task group (the hedge timer, hedges' backups) is not lost with it.

``with anyio.move_on_after(t):`` around the client cancels the client's task
group as well as the block. A call the block shields from that cancellation
(to finish it whatever the timeout says) goes on, and so must what it relies on
until the client closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import relaykit
from relaykit.routing import Target
from relaykit.testing import FakePlugin, RecordingExporter, Reply

from .conftest import WaitingLimiterPlugin

ROUTES: dict[str, Any] = {
    "g": {"targets": ["first/m", "second/m"], "hedge_after": 0.05},
    "f": {"targets": ["first/m", "second/m"]},
}
HEDGED: dict[str, Any] = {
    "storage": {"backend": "none"},
    "retry": {"attempts": 1},
    "models": ROUTES,
}


async def warmed_up(client: relaykit.Client) -> None:
    """Build both providers first: the first call of each imports its HTTP stack."""
    await client.chat("first/m", "warm up")
    await client.chat("second/m", "warm up")


@pytest.mark.anyio
async def test_a_call_shielded_in_a_cancelled_client_scope_still_hedges() -> None:
    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(Reply(text="x"), Reply(text="primary", delay=5))
    second.script.push(Reply(text="x"), Reply(text="backup"))
    answers: list[Any] = []
    with anyio.fail_after(10), anyio.CancelScope() as outer:  # (a safety net only)
        async with relaykit.Client(HEDGED, plugins=[first, second]) as client:
            await warmed_up(client)
            outer.cancel()  # a timeout around the client fires...
            with anyio.CancelScope(shield=True):  # ...and this call is to finish all the same
                answers.append(await client.chat("g", "hi"))
    # The hedge timer, in the client's task group, still started the backup on time.
    assert [a.text for a in answers] == ["backup"]


@pytest.mark.anyio
async def test_a_backup_running_when_the_client_scope_is_cancelled_still_answers() -> None:
    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(Reply(text="x"), Reply(status=503, error="down", delay=0.5))
    second.script.push(Reply(text="x"), Reply(text="backup", delay=0.2))
    answers: list[Any] = []
    with anyio.fail_after(10):  # (a safety net only)
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as outer:
                async with relaykit.Client(HEDGED, plugins=[first, second]) as client:
                    await warmed_up(client)

                    async def cancel_once_the_backup_runs() -> None:
                        while len(second.calls) < 2:  # noqa: ASYNC110 (it runs in another task)
                            await anyio.sleep(0.001)
                        outer.cancel()

                    tg.start_soon(cancel_once_the_backup_runs)
                    with anyio.CancelScope(shield=True):
                        answers.append(await client.chat("g", "hi"))
    # The backup, a task in the client's task group, was not cancelled with it: the
    # call got its answer rather than the first target's 503 (with no fallback tried).
    assert [a.text for a in answers] == ["backup"]
    assert len(first.calls) == 2, "the first target was asked too"


async def cancel_around_the_client(
    use: Callable[[relaykit.Client], Awaitable[object]],
    client: relaykit.Client,
    when: Callable[[], bool],
) -> None:
    """Run ``use(client)`` inside ``async with client``, inside a scope that is cancelled
    once ``when()`` holds and every task waits; fail unless the cancellation alone
    came out of it."""
    outer = anyio.CancelScope()
    failures: list[BaseException] = []

    async def in_the_scope() -> None:
        try:
            with outer:
                async with client:
                    await use(client)
        except BaseException as e:  # (anything but the cancellation is a bug)
            failures.append(e)
            raise

    with anyio.fail_after(10):  # (a safety net only)
        async with anyio.create_task_group() as tg:
            tg.start_soon(in_the_scope)
            await anyio.wait_all_tasks_blocked()
            while not when():
                await anyio.sleep(0.001)
                await anyio.wait_all_tasks_blocked()
            outer.cancel()
    assert failures == [] and outer.cancelled_caught


async def read_the_stream(client: relaykit.Client) -> None:
    async with client.stream("first/m", "hi") as stream:
        async for _ in stream:
            pass


async def hedged_chat(client: relaykit.Client) -> None:
    await warmed_up(client)
    await client.chat("g", "hi")


#: what the call is doing when the scope around the client is cancelled: the call,
#: its scripted replies (first's, second's), when it has got there, its attempts
MID_CALL: dict[
    str, tuple[Any, list[Reply], list[Reply], Callable[[FakePlugin, FakePlugin], bool], int]
] = {
    "mid-stream": (
        read_the_stream,
        [Reply(text="a first piece, and the rest", chunk_delay=5)],
        [],
        lambda first, second: bool(first.calls),
        1,
    ),
    "in a retry's backoff": (
        lambda client: client.chat("first/m", "hi"),
        [Reply(status=503, error="down")],
        [],
        lambda first, second: len(first.calls) == 1,
        3,
    ),
    "falling back": (
        lambda client: client.chat("f", "hi"),
        [Reply(status=503, error="down")],
        [Reply(text="slow", delay=5)],
        lambda first, second: bool(second.calls),
        1,
    ),
    "hedging": (
        hedged_chat,
        [Reply(text="x"), Reply(text="slow", delay=5)],
        [Reply(text="x"), Reply(text="slow", delay=5)],
        lambda first, second: len(second.calls) == 2,
        1,
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("stage", list(MID_CALL))
async def test_a_call_cancelled_with_its_client_scope_hands_back_its_holds_and_is_recorded(
    stage: str,
) -> None:
    use, first_replies, second_replies, arrived, attempts = MID_CALL[stage]
    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(*first_replies)
    second.script.push(*second_replies)
    limits, exported = WaitingLimiterPlugin(), RecordingExporter()
    config = {
        **HEDGED,
        "retry": {"attempts": attempts, "initial_wait": 5, "max_wait": 5},
        "limiter": {"backend": "waiting"},
        "limits": {"*": {"tpm": 100_000}},
    }
    client = relaykit.Client(config, plugins=[first, second, limits, exported])
    await cancel_around_the_client(use, client, lambda: arrived(first, second))
    assert limits.limiter.held == 0
    assert client._router.in_flight(Target("first", "m")) == 0
    assert client._router.in_flight(Target("second", "m")) == 0
    assert [r.error_type for r in exported.records if not r.ok] == ["Cancelled"]
