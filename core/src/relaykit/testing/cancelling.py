"""Cancel a call while it is in flight, at a point the test names rather than after a delay.

``with anyio.move_on_after(0.05): await client.chat(...)`` cancels wherever the
call has got to after 50 ms: on a loaded machine that may be before the request
went out, and the test then checks something else than it says. This waits
until every other task is blocked (the call is waiting: on a slow reply, a
retry's backoff, a hedge's backup) and ``when()`` holds, then cancels::

    fake.script.push(Reply(text="slow", delay=5))
    await cancel_in_flight(lambda: client.chat("fake/m", "hi"), when=lambda: len(fake.calls) == 1)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable


async def cancel_in_flight(
    call: Callable[[], Awaitable[object]],
    *,
    when: Callable[[], bool] = lambda: True,
    give_up_after: float = 10.0,
) -> None:
    """Run ``call()`` and cancel it once all other tasks wait and ``when()`` is true.

    Fails the test if the call ends before that (it was never cancelled in
    flight), if the cancellation does not come back out of the call as a
    cancellation (an error raised instead propagates), or if ``when()`` has not
    held within ``give_up_after`` seconds (a safety net, not a measurement).
    """
    import anyio

    finished = False
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_when_ready() -> None:
                with anyio.fail_after(give_up_after):
                    await anyio.wait_all_tasks_blocked()
                    while not when():
                        await anyio.sleep(0.001)  # a task of the call's is still starting
                        await anyio.wait_all_tasks_blocked()
                scope.cancel()

            tg.start_soon(cancel_when_ready)
            await call()
            finished = True
            tg.cancel_scope.cancel()
    assert not finished, "the call ended before it could be cancelled in flight"
    assert scope.cancelled_caught, "the cancellation did not come out of the call as itself"
