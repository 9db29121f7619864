"""The client's hedge timer: fires due entries from one task, skips cancelled ones."""

from __future__ import annotations

import time

import anyio
import pytest

from relaykit.hedge_timer import HedgeTimer


@pytest.mark.anyio
async def test_fires_in_deadline_order_and_skips_cancelled_entries() -> None:
    timer = HedgeTimer()
    fired: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        timer.schedule(0.15, lambda: fired.append("late"))
        dropped = timer.schedule(0.02, lambda: fired.append("dropped"))
        timer.schedule(0.05, lambda: fired.append("early"))  # earlier than the first: wakes sooner
        dropped.cancel()
        await anyio.sleep(0.1)
        assert fired == ["early"]
        await anyio.sleep(0.1)
        assert fired == ["early", "late"]
        timer.close()


@pytest.mark.anyio
async def test_an_earlier_deadline_moves_the_sleep_forward() -> None:
    timer = HedgeTimer()
    fired = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        timer.schedule(30, lambda: None)
        await anyio.sleep(0.01)  # the timer is asleep until 30 s from now
        timer.schedule(0.02, fired.set)
        with anyio.fail_after(2):
            await fired.wait()
        timer.close()


@pytest.mark.anyio
async def test_cancelling_the_earliest_lets_the_next_fire_on_time() -> None:
    timer = HedgeTimer()
    fired: list[float] = []
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        await anyio.sleep(0.01)  # the timer is asleep
        first = timer.schedule(0.02, lambda: fired.append(-1))
        timer.schedule(0.05, lambda: fired.append(anyio.current_time() - start))
        first.cancel()
        await anyio.sleep(0.2)
        timer.close()
    assert len(fired) == 1 and fired[0] >= 0.05


@pytest.mark.anyio
async def test_close_ends_the_task_and_nothing_fires() -> None:
    timer = HedgeTimer()
    fired: list[int] = []
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(timer.run)
            timer.schedule(0.05, lambda: fired.append(1))
            await anyio.sleep(0.01)  # the timer is asleep
            timer.close()
    await anyio.sleep(0.1)
    assert fired == []


@pytest.mark.anyio
async def test_entries_due_together_fire_in_deadline_order_and_none_is_kept() -> None:
    timer = HedgeTimer()
    fired: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        await anyio.sleep(0.01)  # the timer is asleep
        # added latest-first, all due before the timer next looks
        timer.schedule(0.003, lambda: fired.append("third"))
        timer.schedule(0.002, lambda: fired.append("second"))
        first = timer.schedule(0.001, lambda: fired.append("first"))
        kept = timer.schedule(30, lambda: fired.append("never"))
        time.sleep(0.01)  # noqa: ASYNC251 - blocks the loop on purpose: all three due at once
        await anyio.sleep(0.1)
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
    fired: list[int] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(timer.run)
        await anyio.sleep(0.01)  # the timer is asleep
        first = timer.schedule(0.02, lambda: fired.append(-1))
        rest = [timer.schedule(0.5 + i * 1e-6, lambda i=i: fired.append(i)) for i in range(3000)]
        first.cancel()  # the timer still wakes at its deadline, to find nothing due
        await anyio.sleep(0.1)
        assert fired == []
        assert 0 < looked <= 5
        for entry in rest:
            entry.cancel()
        timer.close()
