"""A :class:`relaykit.protocols.RateLimiter` whose state lives in Redis, shared by processes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from relaykit import QuotaExceededError, RelayError
from relaykit.budgets import MICRO_USD, period_bounds, to_micro_usd
from relaykit.config import LimitConfig
from relaykit.protocols import Reservation

from .client import RedisClient
from .resp import RedisError
from .scripts import ACQUIRE, RECONCILE, RELEASE, sha1

_ADJECTIVE = {"day": "daily", "month": "monthly"}

log = logging.getLogger("relaykit.limiter")

#: unsettled USD holds remembered per limit, as relaykit.memory_limiter keeps
HOLDS_PER_KEY = 4096
#: limit keys with unsettled holds kept before a new one first drops those of periods
#: that are over (as relaykit.memory_limiter forgets keys holding nothing)
FORGET_FROM = 4096


class _Held(Reservation):
    """A reservation this limiter returned, with the ``limit`` it was charged under.

    Settling it reads the limit from here: the limiter keeps no map from limit key
    to limit, which grew by a key per caller. (A named tuple's subclass cannot add
    slots, so ``limit`` lives in the instance's ``__dict__``, for as long as the
    call holds the reservation.)
    """

    limit: LimitConfig


class RedisRateLimiter:
    """RPM, TPM and USD budgets per ``[limits]`` pattern, enforced atomically in Redis.

    Every process using the same Redis and ``prefix`` shares the limits: a
    decision is one Lua script, so however many processes ask at once, they
    together admit no more than the limit.

    Without Redis it fails closed: :meth:`acquire` raises a :class:`RelayError`.
    Settling a call that was admitted (:meth:`reconcile`, :meth:`release`) does
    not raise: the call has happened by then, and its answer must reach the
    caller. A hold that could not be settled stays in Redis (counted in
    ``unsettled``, logged as a WARNING on ``relaykit.limiter``) until it
    expires: a minute at most for the rates, the period's end for a budget.
    ``timeout`` bounds each decision (to connect, and again to read its reply).

    The rates follow the Redis server's clock, so processes with skewed clocks
    agree. ``clock`` (seconds, any origin) replaces it, for tests that must drive
    Redis, a model and the memory limiter from one clock: every process sharing
    the limits must then be given the same clock. ``wall_clock`` places budgets
    in their day or month.
    """

    supports_budgets = True

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "relaykit",
        timeout: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] | None = None,
    ) -> None:
        # a decision waits this long at most, to connect and again for its reply:
        # it is shielded from the call's cancellation (see relaykit.call_limits.CallLimits.reserve)
        self.redis = RedisClient(url, connect_timeout=timeout, reply_timeout=timeout)
        self.prefix = prefix
        self._wall_clock = wall_clock
        self._clock = clock
        # Nothing is kept per limit key but its unsettled budget holds: a reservation
        # carries the limit it was charged under (_Held), so settling it looks nothing
        # up, and a gateway with a key per caller ([limits."user=*"]) does not grow.
        # limit key -> (its budget's period, that period's id, the reservations
        # holding USD there and not yet settled, by id): a refund of a hold from a
        # period that is over is not taken off the new period's spend (see
        # _held_now). Settling drops a reservation, and a key left with none; past
        # HOLDS_PER_KEY unsettled ones (a caller that never settles), the oldest is
        # forgotten and settles as one from a period that is over: its excess is
        # charged, its refund is not. Past _holding_cap keys, a new one first drops
        # the keys whose period is over (_forget_holdings).
        self._holding: dict[str, tuple[str, str, dict[int, Reservation]]] = {}
        self._holding_cap = FORGET_FROM
        #: holds that could not be settled (Redis failed): they stay until they expire
        self.unsettled = 0

    def _key(self, key: str, what: str) -> str:
        return f"{self.prefix}:limit:{key}:{what}"

    def _now(self, args: list[Any]) -> list[Any]:
        """``args`` with the time in milliseconds after them when this limiter was
        given a ``clock`` (the scripts read Redis's TIME when it is not there)."""
        if self._clock is not None:
            args.append(self._clock() * 1000)
        return args

    async def _eval(self, script: str, keys: list[str], args: list[Any]) -> Any:
        try:
            try:
                return await self.redis.command("EVALSHA", sha1(script), len(keys), *keys, *args)
            except RedisError as e:
                if not str(e).startswith("NOSCRIPT"):
                    raise
                # First use on this server (or after SCRIPT FLUSH): send the body once.
                return await self.redis.command("EVAL", script, len(keys), *keys, *args)
        except (OSError, TimeoutError, RedisError) as e:  # ConnectionError is an OSError
            # Fail closed: without Redis nobody can tell whether the limit has room.
            raise RelayError(
                f"the Redis rate limiter at {self.redis.host}:{self.redis.port} failed: {e}",
                hint="check that Redis is running and [limiter] url points to it",
            ) from e

    async def acquire(
        self, key: str, limit: LimitConfig, tokens: int, *, cost: Decimal | None = None
    ) -> Reservation:
        """Reserve one request, ``tokens`` tokens and ``cost`` USD.

        Raise :class:`QuotaExceededError` (with ``retry_after``) when they do not fit.
        """
        (reservation,) = await self.acquire_many([(key, limit, tokens, cost)])
        return reservation

    async def acquire_many(
        self, requests: Sequence[tuple[str, LimitConfig, int, Decimal | None]]
    ) -> list[Reservation]:
        """:meth:`acquire` under several limits at once: all of them or none.

        ``requests`` holds ``(key, limit, tokens, cost)`` per limit. One script
        checks every limit and then charges them all, in one round trip; if any
        refuses, none is charged and its :class:`QuotaExceededError` is raised.
        """
        keys: list[str] = []
        args: list[Any] = []
        lefts: list[float] = []
        held: list[Decimal | None] = []
        periods: list[str] = []
        for key, limit, tokens, cost in requests:
            budget_key, left, hold, period_id = "", 0.0, None, ""
            if limit.budget_usd is not None:
                period_id, left = period_bounds(limit.period, self._wall_clock())
                budget_key = self._key(key, f"usd:{period_id}")
                hold = cost or Decimal(0)
            keys += (
                self._key(key, "rpm"),
                self._key(key, "tpm"),
                budget_key or self._key(key, "usd"),
            )
            args += (
                limit.rpm or 0,
                limit.tpm or 0,
                tokens,
                to_micro_usd(limit.budget_usd) if limit.budget_usd is not None else -1,
                to_micro_usd(hold) if hold is not None else 0,
                left,
            )
            lefts.append(left)
            held.append(hold)
            periods.append(period_id)
        self._now(args)
        code, detail, *where = await self._eval(ACQUIRE, keys, args)
        if code == 0:
            reservations: list[Reservation] = []
            for (key, limit, tokens, _), hold, period_id in zip(
                requests, held, periods, strict=True
            ):
                reservation = _Held(key, tokens if limit.tpm else 0, hold)
                reservation.limit = limit
                if hold is not None:
                    self._hold(reservation, limit.period, period_id)
                reservations.append(reservation)
            return reservations
        i = int(where[0]) if where else 0
        key, limit, tokens, _ = requests[i]
        raise self._refusal(code, detail, key, limit, tokens, lefts[i], held[i])

    def _hold(self, reservation: Reservation, period: str, period_id: str) -> None:
        """Remember ``reservation`` as holding USD in the budget period ``period_id``."""
        key = reservation.key
        holding = self._holding.get(key)
        if holding is None or holding[1] != period_id:
            # a new period: the holds of the last one are forgotten with it
            if holding is None and len(self._holding) >= self._holding_cap:
                self._forget_holdings()
            holding = self._holding[key] = (period, period_id, {})
        holds = holding[2]
        if len(holds) >= HOLDS_PER_KEY:  # never settled: forget the oldest
            del holds[next(iter(holds))]
        holds[id(reservation)] = reservation

    def _forget_holdings(self) -> None:
        """Drop the keys whose holds are of a period that is over: settling one of
        them finds no entry, as it would find one of another period, so forgetting
        changes no decision."""
        wall = self._wall_clock()
        now = {period: period_bounds(period, wall)[0] for period in _ADJECTIVE}
        self._holding = {k: h for k, h in self._holding.items() if h[1] == now[h[0]]}
        # Next time, past twice what is left: forgetting stays a small share of the work.
        self._holding_cap = max(FORGET_FROM, 2 * len(self._holding))

    @staticmethod
    def _refusal(
        code: int,
        detail: Any,
        key: str,
        limit: LimitConfig,
        tokens: int,
        left: float,
        held: Decimal | None,
    ) -> QuotaExceededError:
        detail = detail.decode() if isinstance(detail, bytes) else str(detail)
        if code == 3:
            spent = Decimal(int(float(detail))) * MICRO_USD
            return QuotaExceededError(
                f"the {_ADJECTIVE[limit.period]} budget of ${limit.budget_usd} for {key!r} is spent"
                f" (${spent.normalize()} used or held; this call may cost ${held or 0:.6f})",
                retry_after=left,
                hint="raise budget_usd in [limits] or wait for the next period",
                budget=True,
            )
        if code == 4:  # waiting for the next period would not help
            return QuotaExceededError(
                f"a call that may cost ${held or 0:.6f} can never fit the"
                f" {_ADJECTIVE[limit.period]} budget of ${limit.budget_usd} for {key!r}",
                hint="raise budget_usd in [limits] or lower max_tokens",
                budget=True,
            )
        which = "rpm" if code == 1 else "tpm"
        wait = float(detail)
        if wait < 0:
            return QuotaExceededError(
                f"a call estimated at {tokens} tokens can never fit"
                f" the tpm limit of {limit.tpm} for {key!r}",
                hint="lower max_tokens or raise the limit in [limits]",
            )
        return QuotaExceededError(
            f"{which} limit for {key!r} reached",
            retry_after=wait / 1000,
            hint="raise the limit in [limits] or retry after retry_after seconds",
        )

    async def reconcile(
        self, reservation: Reservation, actual_tokens: int, *, cost: Decimal | None = None
    ) -> None:
        """Refund or charge the difference between what was reserved and what was used.

        Only a reservation this limiter returned is settled (a copy of one knows no
        limit: it settles nothing, see :meth:`_foreign`).
        """
        limit = getattr(reservation, "limit", None)
        if limit is None:
            return self._foreign(reservation)
        tpm = limit.tpm or 0
        # (a reservation estimated at no tokens is still charged what it used)
        delta_tokens = actual_tokens - reservation.tokens if tpm else 0
        delta_usd, left = 0, 0.0
        budget_key = self._key(reservation.key, "usd")
        if reservation.cost is not None:
            period_id, left = period_bounds(limit.period, self._wall_clock())
            budget_key = self._key(reservation.key, f"usd:{period_id}")
            delta_usd = to_micro_usd(cost or Decimal(0)) - to_micro_usd(reservation.cost)
            if not self._held_now(reservation, period_id) and delta_usd < 0:
                delta_usd = 0  # a refund of a period that is over: that period keeps it
        if delta_tokens or delta_usd:
            await self._settle(
                RECONCILE,
                [self._key(reservation.key, "tpm"), budget_key],
                self._now([tpm, delta_tokens, delta_usd, left]),
                reservation.key,
            )

    async def release(self, reservation: Reservation) -> None:
        """Give back all ``reservation`` holds, its request included: the call was never sent.

        One script, so the request, the tokens and the USD come back together. Only
        a reservation this limiter returned is given back (a copy gives back nothing).
        """
        limit = getattr(reservation, "limit", None)
        if limit is None:
            return self._foreign(reservation)
        key = reservation.key
        budget_key, held = self._key(key, "usd"), 0
        if reservation.cost is not None:
            period_id, _ = period_bounds(limit.period, self._wall_clock())
            budget_key = self._key(key, f"usd:{period_id}")
            if self._held_now(reservation, period_id):  # else its period is over and keeps it
                held = to_micro_usd(reservation.cost)
        await self._settle(
            RELEASE,
            [self._key(key, "rpm"), self._key(key, "tpm"), budget_key],
            self._now([limit.rpm or 0, limit.tpm or 0, reservation.tokens, held]),
            key,
        )

    def _foreign(self, reservation: Reservation) -> None:
        """Leave a reservation this limiter did not return (a copy of one), and say so:
        it knows no limit to settle against, so its holds stay until they expire."""
        self.unsettled += 1
        log.warning(
            "could not settle a hold on %r: it is not a reservation this Redis limiter"
            " returned (settle the object acquire returned), so it stays until it expires",
            reservation.key,
        )

    def _held_now(self, reservation: Reservation, period_id: str) -> bool:
        """Whether ``reservation`` holds USD in the budget period ``period_id`` (the
        current one), forgetting it: it is being settled.

        A reservation is known by identity, the object :meth:`acquire` returned (a
        copy counts as a hold of a period that is over: its refund is dropped, never
        given twice). Refunding a period that is over would take the refund off the
        new period's spend, letting that period's calls hold more than its budget.
        """
        holding = self._holding.get(reservation.key)
        if holding is None:
            return False
        if holding[1] != period_id:
            del self._holding[reservation.key]  # its period is over
            return False
        held = holding[2].pop(id(reservation), None) is reservation
        if not holding[2]:
            del self._holding[reservation.key]
        return held

    async def _settle(self, script: str, keys: list[str], args: list[Any], limit: str) -> None:
        """Run a settling script; when Redis fails, leave the hold and say so.

        Not retried: the script may have run with its reply lost, and running it
        twice would give back twice (the limit would then admit more than it is).
        """
        try:
            await self._eval(script, keys, args)
        except RelayError as e:
            self.unsettled += 1
            log.warning("could not settle a hold on %r, which stays until it expires: %s", limit, e)

    async def aclose(self) -> None:
        """Close the connection to Redis."""
        await self.redis.aclose()
