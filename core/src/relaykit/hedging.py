"""Hedged requests: when the first target is slow, also ask the next, and take the first answer.

Opt-in per route (``[models.NAME] hedge_after = 0.5`` or ``"p95"``), for
non-streamed calls only: a stream's first token is the thing a hedge would race,
and a duplicate stream would double the bill for every token.

The loser is cancelled. Providers still bill the prompt a cancelled request
had sent, so the loser is recorded too (error type ``HedgeCancelled``) with the
input-token cost it is likely to have incurred.

Most hedges never fire, so not firing must be cheap: the client's
:class:`~relaykit.hedge_timer.HedgeTimer` starts backups, and a call that ends
in time pays one cancel scope and one object, its heap entry (see
docs/benchmarks.md).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.abc

from .attempts import Attempt, run_attempts
from .errors import RelayError
from .hedge_timer import HedgeTimer, Scheduled
from .protocols import Provider
from .request import ChatRequest
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


def hedged(
    client: Client, call: _Call, attempt: Attempt[tuple[Target, T]], delay: float
) -> Awaitable[tuple[Target, T]]:
    """Run the first target; after ``delay`` without an answer, race the rest against it.

    The first target runs in the calling task inside one cancel scope. Only if
    the delay passes does the client's :class:`HedgeTimer` start the backup, as
    a task in the client's task group (a task group per call cost about as much
    again as everything else hedging does). A client used without ``async with``
    has neither, so it pays for a task group and a sleeping task per call.

    Not a coroutine itself, but one to await at once: a frame less per call.
    """
    timer = client._hedge_timer
    tg = client._tg
    if timer is not None and tg is not None:
        race = _Race(timer, client, call, attempt, tg)
        timer.add(race, delay)
        return race.run()
    return _hedged_without_timer(client, call, attempt, delay)


async def _hedged_without_timer(
    client: Client, call: _Call, attempt: Attempt[tuple[Target, T]], delay: float
) -> tuple[Target, T]:
    async with anyio.create_task_group() as tg:
        race = _Race(None, client, call, attempt, tg)
        tg.start_soon(_fire_after, delay, race)
        try:
            result = await race.run()
        finally:
            tg.cancel_scope.cancel()  # the sleeping task, and a backup that lost
    return result


class _Race(Scheduled, Generic[T]):
    """One hedged call: the first target in the caller's task, the backup in a task.

    It is its own timer entry (:class:`Scheduled`): most races never fire, so a
    race that ends in time allocates this object and one cancel scope, no more.
    """

    __slots__ = (
        "attempt",
        "backup",
        "backup_done",
        "call",
        "client",
        "context",
        "crash",
        "errors",
        "first_at",
        "primary",
        "second_at",
        "tg",
        "winner",
    )

    def __init__(
        self,
        timer: HedgeTimer | None,
        client: Client,
        call: _Call,
        attempt: Attempt[tuple[Target, T]],
        tg: anyio.abc.TaskGroup,
    ) -> None:
        self._timer = timer
        self.fire = self.start_backup
        self.client = client
        self.call = call
        self.attempt = attempt
        self.tg = tg
        # The backup is started from the timer's task but belongs to this call:
        # it runs in this call's context (its span, for one).
        self.context = contextvars.copy_context()
        self.primary = anyio.CancelScope()
        self.backup: anyio.CancelScope | None = None
        self.backup_done: anyio.Event | None = None
        self.winner: tuple[Target, T] | None = None
        self.errors: list[RelayError] | None = None  # made on the first failure
        self.crash: Exception | None = None
        # the target each branch is calling now, if any
        self.first_at: Target | None = None
        self.second_at: Target | None = None

    def start_backup(self) -> None:
        """Start racing the other targets (from the timer's task, or the sleeping one)."""
        self.fire = None
        self.call.fallbacks += 1
        self.backup = anyio.CancelScope()
        self.backup_done = anyio.Event()
        self.context.run(partial(self.tg.start_soon, self._run_backup, name="relaykit hedge"))

    async def run(self) -> tuple[Target, T]:
        """The first target, then whatever the race needs: a winner, a fallback, or an error."""
        client, call = self.client, self.call
        try:
            with self.primary:
                try:
                    result = await run_attempts(client, call, self._first, call.targets[:1])
                except RelayError as e:
                    self._failed(e)
                else:
                    if self.winner is None:  # the backup may have won just as this one finished
                        self.winner = result
        except BaseException:
            if self.backup is not None:
                self.backup.cancel()  # the caller was cancelled: so is its backup
            raise
        finally:
            if self.fire is not None:  # in time: the hedge is not needed (Scheduled.cancel)
                self.fire = None
                if self._timer is not None:
                    self._timer._dropped()
        if self.winner is None:
            if self.backup_done is None:
                call.fallbacks += 1  # failed before the delay: fall back now, without waiting
                return await run_attempts(client, call, self.attempt, call.targets[1:])
            await self.backup_done.wait()
        if self.winner is not None:
            if self.backup is not None:
                self.backup.cancel()
            for target in (self.first_at, self.second_at):  # cancelled mid-call: it cost
                if target is not None:
                    await client._record_hedge_loser(call, target)
            return self.winner
        if self.crash is not None:
            raise self.crash
        assert self.errors is not None
        raise self.errors[-1]

    def _failed(self, error: RelayError) -> None:
        if self.errors is None:
            self.errors = []
        self.errors.append(error)

    async def _run_backup(self) -> None:
        assert self.backup is not None and self.backup_done is not None
        call = self.call
        try:
            with self.backup:
                try:
                    result = await run_attempts(self.client, call, self._second, call.targets[1:])
                except RelayError as e:
                    self._failed(e)
                else:
                    if self.winner is None:
                        self.winner = result
                        self.primary.cancel()  # stops the first target's call
        except Exception as e:  # a bug: the caller raises it, the client's task group must not
            self.crash = e
        finally:
            self.backup_done.set()

    # One method per branch, each noting the target it calls while in flight (only
    # a call cancelled mid-flight is a loser that cost something): the same code
    # twice, because a shared helper would cost every attempt another coroutine.

    async def _first(self, provider: Provider, request: ChatRequest, target: Target) -> Any:
        self.first_at = target
        try:
            result = await self.attempt(provider, request, target)
        except Exception:
            self.first_at = None  # it failed by itself; a cancelled call stays: a loser
            raise
        self.first_at = None
        return result

    async def _second(self, provider: Provider, request: ChatRequest, target: Target) -> Any:
        self.second_at = target
        try:
            result = await self.attempt(provider, request, target)
        except Exception:
            self.second_at = None  # it failed by itself; a cancelled call stays: a loser
            raise
        self.second_at = None
        return result


async def _fire_after(delay: float, race: _Race[T]) -> None:
    await anyio.sleep(delay)
    if race.fire is not None:
        race.fire()
