"""The client's hedge timer: fires due entries from one task, skips cancelled ones."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import pytest

from relaykit.hedge_timer import HedgeTimer, Scheduled

# These tests wait for what they assert on (an entry fired, the timer asleep)
# instead of sleeping for a while first: on a loaded machine the loop can stall
# past several deadlines at once, and trio then runs the woken tasks in either
# order, so "after 0.1 s the 0.15 s entry has not fired" did not always hold.
#: a safety net only: every wait here ends in milliseconds
PATIENCE = 10


class Fired(list[str]):
    """The names of the entries that fired, in order; :meth:`wait_for` a count."""

    def __init__(self) -> None:
        super().__init__()
        self._grew = anyio.Event()
        self.at: dict[str, float] = {}  # when each fired, on the event loop's clock

    def fire(self, name: str) -> Callable[[], None]:
        """A function for :meth:`HedgeTimer.schedule` that records ``name``."""

        def fire() -> None:
            self.at[name] = anyio.current_time()
            self.append(name)
            self._grew.set()

        return fire

    async def wait_for(self, count: int) -> None:
        with anyio.fail_after(PATIENCE):
            while len(self) < count:
                await self._grew.wait()
                self._grew = anyio.Event()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Return once ``condition()`` holds; it changes in the timer's task."""
    with anyio.fail_after(PATIENCE):
        while not condition():  # noqa: ASYNC110 (the timer's task has nothing to signal with)
            await anyio.sleep(0.001)


async def asleep(timer: HedgeTimer) -> None:
    """Return once the timer's task is napping (its first look at the entries done)."""
    await wait_until(lambda: timer._nap is not None)


@pytest.mark.anyio
async def test_fires_in_deadline_order_and_skips_cancelled_entries() -> None:
    timer = HedgeTimer()
    fired = Fired()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        timer.schedule(0.15, fired.fire("late"))
        dropped = timer.schedule(0.02, fired.fire("dropped"))
        timer.schedule(0.05, fired.fire("early"))  # earlier than the first: wakes sooner
        dropped.cancel()
        await fired.wait_for(2)
        assert fired == ["early", "late"]
        timer.close()


@pytest.mark.anyio
async def test_an_earlier_deadline_moves_the_sleep_forward() -> None:
    timer = HedgeTimer()
    fired = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        timer.schedule(30, lambda: None)
        await asleep(timer)  # until 30 s from now
        timer.schedule(0.02, fired.set)
        with anyio.fail_after(PATIENCE):  # far less than 30 s
            await fired.wait()
        timer.close()


@pytest.mark.anyio
async def test_cancelling_the_earliest_lets_the_next_fire_on_time() -> None:
    timer = HedgeTimer()
    fired = Fired()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        await asleep(timer)
        start = anyio.current_time()
        first = timer.schedule(0.02, fired.fire("cancelled"))
        timer.schedule(0.05, fired.fire("next"))
        first.cancel()
        await fired.wait_for(1)
        timer.close()
    assert fired == ["next"] and fired.at["next"] - start >= 0.05


@pytest.mark.anyio
async def test_close_ends_the_task_and_nothing_fires() -> None:
    timer = HedgeTimer()
    fired = Fired()
    with anyio.fail_after(PATIENCE):
        async with anyio.create_task_group() as tg:
            tg.start_soon(timer.run)
            await asleep(timer)
            # No checkpoint between the two: the entry cannot be due before the close.
            timer.schedule(0.05, fired.fire("after close"))
            timer.close()
    await anyio.sleep(0.1)  # past the entry's deadline
    assert fired == []


@pytest.mark.anyio
async def test_entries_due_together_fire_in_deadline_order_and_none_is_kept() -> None:
    timer = HedgeTimer()
    fired = Fired()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        await asleep(timer)
        # added latest-first, all due before the timer next looks
        timer.schedule(0.003, fired.fire("third"))
        timer.schedule(0.002, fired.fire("second"))
        first = timer.schedule(0.001, fired.fire("first"))
        kept = timer.schedule(30, fired.fire("never"))
        time.sleep(0.01)  # noqa: ASYNC251 - blocks the loop on purpose: all three due at once
        await fired.wait_for(3)
        assert fired == ["first", "second", "third"]
        first.cancel()  # after it fired: a no-op
        kept.cancel()
        # a finished or cancelled entry is not held on to (a call's objects hang off it)
        assert timer._pending == {} and timer._early == []
        timer.close()


@pytest.mark.anyio
async def test_a_wake_looks_at_the_first_entries_only() -> None:
    # Calls add entries in deadline order: a wake with nothing due must not walk
    # every call in flight (with thousands of hedged calls and a short p95 delay
    # the timer wakes often).
    looked = 0

    class Counting(dict):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            nonlocal looked
            for key in super().__iter__():
                looked += 1
                yield key

        def items(self):  # type: ignore[no-untyped-def]
            return ((key, self[key]) for key in self)

        def values(self):  # type: ignore[no-untyped-def]
            return (self[key] for key in self)

    timer = HedgeTimer()
    timer._pending = Counting()
    fired = Fired()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        await asleep(timer)
        first = timer.schedule(0.02, fired.fire("cancelled"))
        # Due long after the wake (0.5 s was overrun on a loaded machine, and all fired).
        rest = [timer.schedule(30 + i * 1e-6, fired.fire(str(i))) for i in range(3000)]
        first.cancel()  # the timer still wakes at its deadline, to find nothing due
        await wait_until(lambda: looked > 0)  # it woke (and is napping again)
        assert fired == []
        assert 0 < looked <= 5
        for entry in rest:
            entry.cancel()
        timer.close()


@pytest.mark.anyio
async def test_a_delay_counts_from_since_on_either_loops_clock() -> None:
    # trio's clock is not time.monotonic() (it keeps an offset): there add() took
    # the delay from now and dropped since, so a hedge waited the call's time
    # before it (a cache look-up, the HTTP stack's warm-up) on top of its delay.
    timer = HedgeTimer()
    fired = Fired()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        await asleep(timer)
        added = anyio.current_time()
        timer.add(Scheduled(timer, fired.fire("hedge")), 5.0, time.monotonic() - 4.9)
        await fired.wait_for(1)
        timer.close()
    assert fired.at["hedge"] - added < 1.0, "5 s counted from 4.9 s ago is due in 0.1 s"
