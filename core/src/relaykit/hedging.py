"""Hedged requests: when the first target is slow, also ask the next, and take the first answer.

Opt-in per route (``[models.NAME] hedge_after = 0.5`` or ``"p95"``), for
non-streamed calls only: a stream's first token is the thing a hedge would race,
and a duplicate stream would double the bill for every token.

The loser is cancelled. Providers still bill the prompt a cancelled request
had sent, so the loser is recorded too (error type ``HedgeCancelled``) with the
input-token cost it is likely to have incurred.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.abc

from .attempts import Attempt, run_attempts
from .errors import RelayError
from .hedge_timer import Scheduled
from .routing import Target

if TYPE_CHECKING:
    from .client import Client, _Call

T = TypeVar("T")

#: the hedge delay for "p95" until enough latencies have been seen
DEFAULT_HEDGE_DELAY = 1.0


def hedge_delay(client: Client, call: _Call, setting: float | str) -> float:
    """Seconds to wait for the first target before hedging."""
    if setting == "p95":
        p95 = client._router.latency_p95(call.targets[0])
        return DEFAULT_HEDGE_DELAY if p95 is None else p95
    return float(setting)


async def hedged(
    client: Client, call: _Call, attempt: Attempt[tuple[Target, T]], delay: float
) -> tuple[Target, T]:
    """Run the first target; after ``delay`` without an answer, race the rest against it.

    The first target runs in the calling task, inside a task group that stays
    empty unless the hedge fires: the client's :class:`HedgeTimer` starts the
    backup there once the delay is up. A task group and a timer entry are the
    whole price of hedging when the first target answers in time.
    """
    winner: list[tuple[Target, T]] = []
    errors: list[RelayError] = []
    in_flight: dict[int, Target] = {}  # branch -> the target it is calling now
    backup_started = False

    def tracked(branch: int) -> Attempt[tuple[Target, T]]:
        async def run(provider, request, target):  # type: ignore[no-untyped-def]
            in_flight[branch] = target
            result = await attempt(provider, request, target)
            del in_flight[branch]
            return result

        return run

    async def backup(tg: anyio.abc.TaskGroup) -> None:
        try:
            result = await run_attempts(client, call, tracked(1), call.targets[1:])
        except RelayError as e:
            errors.append(e)
        else:
            if not winner:
                winner.append(result)
                tg.cancel_scope.cancel()  # stops the first target's call

    # The backup is started by the timer's task, but it belongs to this call:
    # it runs in this call's context (its span, for one) and task group.
    context = contextvars.copy_context()
    timer = client._hedge_timer
    async with anyio.create_task_group() as tg:

        def start_backup() -> None:
            nonlocal backup_started
            backup_started = True
            call.fallbacks += 1
            context.run(tg.start_soon, backup, tg)

        if timer is not None:
            scheduled = timer.schedule(delay, start_backup)
        else:  # the client was not entered, so it has no timer task: one task per call
            scheduled = Scheduled(None, start_backup)
            tg.start_soon(_fire_after, delay, scheduled)
        try:
            result = await run_attempts(client, call, tracked(0), call.targets[:1])
        except RelayError as e:
            errors.append(e)
        else:
            if not winner:  # the backup may have won just as this one finished
                winner.append(result)
                if backup_started:
                    tg.cancel_scope.cancel()  # stop the backup
        finally:
            scheduled.cancel()  # before the task group closes: nothing may start in it later
            if timer is None and not backup_started:
                tg.cancel_scope.cancel()  # the sleeping task
    if not winner and not backup_started:
        call.fallbacks += 1  # failed before the delay: fall back now, without waiting
        return await run_attempts(client, call, attempt, call.targets[1:])
    if winner:
        for target in in_flight.values():  # cancelled mid-call: it still cost something
            await client._record_hedge_loser(call, target)
        return winner[0]
    raise errors[-1]


async def _fire_after(delay: float, scheduled: Scheduled) -> None:
    await anyio.sleep(delay)
    if scheduled.fire is not None:
        scheduled.fire()
