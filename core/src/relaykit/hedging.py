"""Hedged requests: when the first target is slow, also ask the next, and take the first answer.

Opt-in per route (``[models.NAME] hedge_after = 0.5`` or ``"p95"``), for
non-streamed calls only: a stream's first token is the thing a hedge would race,
and a duplicate stream would double the bill for every token.

The loser is cancelled. Providers still bill the prompt a cancelled request
had sent, so the loser is recorded too (error type ``HedgeCancelled``) with the
input-token cost it is likely to have incurred.

A first target that fails before the delay ends the race: the call goes on as
an unhedged route would (attempts.py), its retries first, then the next target
if the failure says another could do better; one whose failure asked for a
wait (a 429's Retry-After) is put off, the others asked at once.

Most hedges never fire, so not firing must be cheap: the client's
:class:`~relaykit.hedge_timer.HedgeTimer` starts backups, and a call that ends
in time pays one object, its timer entry, and no cancel scope of its own (see
:class:`_Race` and docs/benchmarks.md).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from functools import partial
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from .attempts import asks_to_wait, first_attempt, route_fallbacks, run_attempts
from .errors import RelayError
from .hedge_timer import HedgeTimer, Scheduled
from .protocols import Provider
from .request import ChatRequest
from .response import ChatResponse
from .routing import Target

if TYPE_CHECKING:
    from .client import Client, _Call

#: what a race hands back: the target that answered, and its answer
Answer = tuple[Target, ChatResponse]

#: the hedge delay for "p95" until enough latencies have been seen
DEFAULT_HEDGE_DELAY = 1.0


def hedge_delay(client: Client, call: _Call, setting: float | str) -> float:
    """Seconds to wait for the first target before hedging."""
    if type(setting) is float:  # a fixed delay, as the config holds one
        return setting
    if setting == "p95":
        p95 = client._router.latency_p95(call.targets[0])
        return DEFAULT_HEDGE_DELAY if p95 is None else p95
    return float(setting)


def hedged(client: Client, call: _Call, delay: float) -> Awaitable[Answer]:
    """Run the first target; after ``delay`` without an answer, race the rest against it.

    The first target runs in the calling task. Only if the delay passes does the
    client's :class:`HedgeTimer` start the backup, as a task in the client's task
    group (a task group per call cost about as much again as everything else
    hedging does). A client used without ``async with`` has neither, so it pays
    for a task group and a sleeping task per call.

    Not a coroutine itself, but one to await at once: a frame less per call.
    """
    timer = client._hedge_timer
    tg = client._tg
    if timer is not None and tg is not None:
        race = _Race(timer, client, call, tg)
        timer.add(race, delay, call.started)  # the delay counts from the call's start
        return race.run()
    return _hedged_without_timer(client, call, delay)


async def _hedged_without_timer(client: Client, call: _Call, delay: float) -> Answer:
    async with anyio.create_task_group() as tg:
        race = _Race(None, client, call, tg)
        tg.start_soon(_fire_after, delay, race)
        try:
            result = await race.run()
        finally:
            tg.cancel_scope.cancel()  # the sleeping task, and a backup that lost
    return result


class HedgeLost(BaseException):
    """Ends the first target's attempt when the backup has won and cancelled it.

    Raised by :meth:`Client._attempt` in place of the cancellation its timeout
    scope caught. Not an ``Exception``, as a cancellation is not: nothing on the
    way takes it for a failure (the breaker and the router give no verdict).
    """


class _Race(Scheduled):
    """One hedged call: the first target in the caller's task, the backup in a task.

    It is its own timer entry (:class:`Scheduled`): most races never fire, so a
    race that ends in time allocates this object, no more. The first attempt on
    the first target runs in its own timeout scope (see ``Client._attempt``),
    which the backup cancels if it wins: no scope of the race's own, which cost
    more than everything else here together (a scope made, entered and left
    takes about 2 µs under asyncio, 4-5 µs under trio). Only the first target's
    retries, after a failure, run in a scope of the race's.
    """

    __slots__ = (
        "backup",
        "backup_done",
        "call",
        "client",
        "context",
        "crash",
        "errors",
        "late",
        "primary",
        "put_off",
        "tg",
        "winner",
    )

    def __init__(
        self,
        timer: HedgeTimer | None,
        client: Client,
        call: _Call,
        tg: anyio.abc.TaskGroup,
    ) -> None:
        self._timer = timer
        self.fire = self.start_backup
        self.client = client
        self.call = call
        self.tg = tg
        # The backup is started from the timer's task but belongs to this call:
        # it runs in this call's context (its span, for one).
        self.context = contextvars.copy_context()
        #: what the backup cancels when it wins: the first attempt's timeout scope,
        #: then the race's scope around the first target's retries
        self.primary: anyio.CancelScope | None = None
        self.backup: anyio.CancelScope | None = None
        self.backup_done: anyio.Event | None = None
        self.winner: Answer | None = None
        self.errors: list[RelayError] | None = None  # made on the first failure
        self.crash: Exception | None = None
        #: answers that arrived after the other branch had won: billed, unused
        self.late: list[Answer] | None = None
        #: the first target's failure asked for a wait and was not retried in place:
        #: the route's others are asked first (see :meth:`_first_again`)
        self.put_off = False

    def start_backup(self) -> None:
        """Start racing the other targets (from the timer's task, or the sleeping one)."""
        self.fire = None
        self.call.fallbacks += 1
        self.backup = backup = self._scope()
        if self._timer is not None:
            # A task in the client's task group, which a cancelled scope around
            # ``async with Client()`` cancels too, while this call (shielded by its
            # caller) goes on: only the race (_stop_backup) and the client's close
            # (its attempts' scopes) end it, and the call's deadline bounds it.
            backup.shield = True
        self.backup_done = anyio.Event()
        self.context.run(partial(self.tg.start_soon, self._run_backup, name="relaykit hedge"))

    def _scope(self) -> anyio.CancelScope:
        scopes = self.client._scopes  # an entered client makes scopes without asking anyio
        return scopes.plain() if scopes is not None else anyio.CancelScope()

    async def run(self) -> Answer:
        """The first target, then whatever the race needs: a winner, a fallback, or an error."""
        client, call = self.client, self.call
        target = call.targets[0]
        try:
            try:
                response = await first_attempt(client, call, self._first_try, target)
            except RelayError as e:
                result = await self._first_again(e)
            except HedgeLost:
                result = None
            else:
                result = (target, response)
                if self.backup is None:  # no hedge fired, as nearly always: nothing raced it
                    return result
            if result is not None:
                if self.winner is None:
                    self.winner = result
                else:  # the backup won just now, as this answer came
                    self._late(result)
        except BaseException:
            await self._abandon()  # the caller was cancelled: so is its backup
            raise
        finally:
            if self.fire is not None:  # in time: the hedge is not needed (Scheduled.cancel)
                self.fire = None
                if self._timer is not None:
                    self._timer._dropped(self)
        if self.winner is None:
            if self.backup_done is None:
                # Failed, retries and all, before the delay: fall back now, without
                # waiting, if the failure says another deployment could do better
                # (a 400 would be refused by every one), as an unhedged route does;
                # the whole route is passed so that a route whose every circuit is
                # open, or which must wait everywhere, says so as one error.
                assert self.errors is not None
                return await run_attempts(
                    client,
                    call,
                    self._rest,
                    call.targets,
                    failed=self.errors[-1],
                    retried=not self.put_off,
                )
            try:
                await self.backup_done.wait()
            except BaseException:
                await self._abandon()  # the caller gave up waiting: so does its backup
                raise
        if self.winner is not None:
            # Cancelled, and waited for: a backup whose answer was on its way when
            # the first target won may still bring it, and that answer was billed.
            await self._stop_backup()
            # Every attempt cut off mid-call, its request sent, cost its prompt
            # (Client._cut_off noted it in call.cut, and its hold kept that much): the
            # other branch's, cancelled as this one won, and one the total timeout
            # cut off as the winner's answer came (its hold settling over the network,
            # say). One cancelled before sending (waiting on a limiter) cost nothing.
            cut = call.cut[2] if call.cut is not None else ()
            # Shielded: the race is decided, and a record waiting for room in the call
            # log's queue is kept even if cancelled (call_log's overflow). A caller
            # cancelled here would have the call recorded Cancelled with call.cut, the
            # losers' estimates a second time, and the winner's billed answer in no
            # record at all. The cancellation comes once the winner is recorded.
            with anyio.CancelScope(shield=True):
                for loser in cut:
                    await client._outcomes.record_hedge_loser(call, loser)
                for loser, answer in self.late or ():
                    await client._outcomes.record_hedge_loser(call, loser, answer)
            return self.winner
        if self.crash is not None:
            raise self.crash
        assert self.errors is not None
        error = self.errors[-1]
        # Both sides of the race failed: a prompt too long for each, or refused by
        # their content filters, goes on to the fallbacks the route names for it, as
        # an unhedged call's does (run_attempts).
        more, kind = route_fallbacks(client, call, error)
        if more:
            call.fallbacks += 1
            return await run_attempts(client, call, self._rest, more, fallbacks_for=kind)
        raise error

    async def _stop_backup(self) -> None:
        """Cancel the backup, if it started, and wait until it has wound down.

        Waiting (shielded, as the caller is being cancelled) means nothing of
        this call still runs once the caller sees the cancellation.
        """
        if self.backup is not None and self.backup_done is not None:
            self.backup.cancel()
            with anyio.CancelScope(shield=True):
                await self.backup_done.wait()

    async def _abandon(self) -> None:
        """The caller was cancelled: stop the backup, and record what the race was
        answered with meanwhile. An answer that came as the caller was cancelled
        (the backup's, winning while it was being stopped) was billed and charged
        to the budget, but the call's own record is ``Cancelled``, without it: so
        each such answer gets a record of its own, as a late one does."""
        await self._stop_backup()
        unused = [*([self.winner] if self.winner is not None else []), *(self.late or ())]
        with anyio.CancelScope(shield=True):  # being cancelled: the records still go out
            for target, answer in unused:
                await self.client._outcomes.record_hedge_loser(
                    self.call, target, answer, "answered as its caller cancelled: billed, not used"
                )

    async def _first_again(self, error: RelayError) -> Answer | None:
        """The first target after its first attempt failed: its retries, if any, in a
        scope the backup cancels if it wins. ``None`` when it failed or lost."""
        if self.winner is not None:
            return None  # the backup won meanwhile: no retry
        call = self.call
        if (
            self.backup is None
            and len(call.targets) > 1
            and asks_to_wait(error, self.client.config.retry)
        ):
            # A wait asked for (a 429's Retry-After) before the hedge fired: not waited
            # out here, as an unhedged route does not; the fallback (run) asks the
            # others at once, and this one again after them, once its wait is over.
            self.put_off = True
            self._failed(error)
            return None
        with self._scope() as self.primary:
            try:
                return await run_attempts(
                    self.client, self.call, self._rest, self.call.targets[:1], failed=error
                )
            except RelayError as e:
                self._failed(e)
        return None

    def _late(self, answer: Answer) -> None:
        """Keep an answer that came after the race was won: the provider billed it,
        and the budget has charged it, so the loser's record carries it whole."""
        if self.late is None:
            self.late = []
        self.late.append(answer)

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
                    result = await run_attempts(self.client, call, self._rest, call.targets[1:])
                except RelayError as e:
                    self._failed(e)
                else:
                    if self.winner is None:
                        self.winner = result
                        if self.primary is not None:
                            self.primary.cancel()  # stops the first target's call
                    else:
                        self._late(result)
        except Exception as e:  # a bug: the caller raises it, the client's task group must not
            self.crash = e
        finally:
            self.backup_done.set()

    def _first_try(
        self, provider: Provider, request: ChatRequest, target: Target
    ) -> Awaitable[ChatResponse]:
        """The first attempt on the first target, raced: ``Client._attempt``'s coroutine
        (a bound method, not a partial with keywords to merge on every call)."""
        return self.client._attempt(provider, request, target, self.call, self)

    async def _rest(self, provider: Provider, request: ChatRequest, target: Target) -> Answer:
        """An attempt in either branch after the first: the first target's retries, or
        the rest of the route (raced, or once the first target failed before the delay)."""
        return target, await self.client._attempt(provider, request, target, self.call)


async def _fire_after(delay: float, race: _Race) -> None:
    await anyio.sleep(delay)
    if race.fire is not None:
        race.fire()
