"""The built-in in-process rate limiter: GCRA over requests and tokens per minute,
plus USD budgets per calendar day or month.

GCRA keeps one number per key (the theoretical arrival time), so a check is O(1)
and there is no window edge where a burst slips through. Reservations are
charged in full when acquired and corrected on reconcile, so N concurrent calls
can never together exceed the limit (the overshoot LiteLLM's TPM limit had).
Nothing here waits, so under one event loop the check-and-charge is atomic, and
the limiter offers the synchronous ``acquire_nowait`` and ``reconcile_nowait``
the client calls instead of the coroutines (see
:class:`relaykit.protocols.RateLimiter`): a call then builds no coroutine for
its limits. ``release`` gives a whole reservation back, the request included,
for a call that never reached the provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import NoReturn

from .budgets import period_span
from .config import LimitConfig
from .errors import QuotaExceededError
from .protocols import Reservation

_PERIOD = 60.0
#: slack for float rounding in the GCRA test: a microsecond, as relaykit-redis allows, far
#: below any real wait and above float resolution at a monotonic clock of years
_EPSILON = 1e-6
_ADJECTIVE = {"day": "daily", "month": "monthly"}
_ZERO = Decimal(0)
#: keys held before a new one first drops those that hold nothing
_FORGET_FROM = 4096
#: unsettled USD holds remembered per key: past it, the oldest is forgotten (see _Budget)
_HOLDS_PER_KEY = 4096


class _Budget:
    """USD held or spent under one key in its current period (mutable: one per key).

    It keeps the period's span, so a call asks for the period again only once
    the wall clock leaves it (or the key's limit changes period), not every time.
    ``holding`` keeps the reservations charged in this period and not yet settled,
    by id: a refund of any other (its period is over) is not this period's to take.
    Settling (reconcile, release) drops a reservation from it; a new period empties
    it. A caller that acquires and never settles would grow it until the period
    ends (up to a month), so it keeps the newest ``_HOLDS_PER_KEY`` only: a
    reservation forgotten that way is settled as one from a period that is over
    (what it used beyond its hold is charged, its refund is not), which errs
    toward refusing, never toward spending past the budget.
    """

    __slots__ = ("end", "holding", "ident", "period", "spent", "start")

    def __init__(self, period: str, now: float) -> None:
        self.ident = ""
        self.spent = _ZERO
        self.holding: dict[int, Reservation] = {}
        self.move(period, now)

    def move(self, period: str, now: float) -> None:
        """Count in the ``period`` holding ``now`` from here on; a new period starts from zero."""
        ident, self.start, self.end = period_span(period, now)
        self.period = period
        if ident != self.ident:
            self.ident, self.spent, self.holding = ident, _ZERO, {}


class _Rates:
    """The GCRA state of one key: the theoretical arrival times of requests and of
    tokens, and the seconds one of each occupies under ``limit``. One object per
    key rather than a dict per number: a call then looks its key up once, and
    divides nothing while the key's limit stays the same object."""

    __slots__ = ("limit", "rpm", "rpm_interval", "rpm_tat", "tpm", "tpm_interval", "tpm_tat")

    def __init__(self, limit: LimitConfig, now: float) -> None:
        self.rpm_tat = now
        self.tpm_tat = now
        self.use(limit)

    def use(self, limit: LimitConfig) -> None:
        """Measure against ``limit`` from now on (0.0: that limit is not set)."""
        self.limit = limit
        self.rpm = limit.rpm or 0
        self.tpm = limit.tpm or 0
        self.rpm_interval = _PERIOD / limit.rpm if limit.rpm else 0.0
        self.tpm_interval = _PERIOD / limit.tpm if limit.tpm else 0.0


_new_reservation = tuple.__new__


class MemoryRateLimiter:
    """Implements :class:`relaykit.protocols.RateLimiter` within one process."""

    supports_budgets = True

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock  # budgets follow calendar periods, so wall time
        self._rates: dict[str, _Rates] = {}  # GCRA state per key
        self._budgets: dict[str, _Budget] = {}
        # Keys come from callers too (one per user under [limits."user=*"]): past
        # these sizes, a new key first drops the keys that hold nothing (_forget_rates,
        # _forget_budgets)
        self._rates_cap = self._budgets_cap = _FORGET_FROM

    async def acquire(
        self, key: str, limit: LimitConfig, tokens: int, *, cost: Decimal | None = None
    ) -> Reservation:
        """Reserve one request, ``tokens`` tokens and ``cost`` USD, or raise
        :class:`QuotaExceededError` with ``retry_after``."""
        return self.acquire_nowait(key, limit, tokens, cost=cost)

    def acquire_nowait(
        self, key: str, limit: LimitConfig, tokens: int, *, cost: Decimal | None = None
    ) -> Reservation:
        """:meth:`acquire`, synchronously: this limiter decides without waiting."""
        now = self._clock()
        rates = self._rates.get(key)
        if rates is None:
            if len(self._rates) >= self._rates_cap:
                self._forget_rates(now)
            rates = self._rates[key] = _Rates(limit, now)
        elif rates.limit is not limit:  # another config's limit under the same key
            rates.use(limit)
        # GCRA: a unit of a limit L per minute occupies 60/L seconds; it fits while
        # the theoretical arrival time, pushed by the request, stays within one
        # period (the burst tolerance) of now.
        # The test is on the wait, built from differences: `now + 60 - 60 > now` can
        # hold in floating point, and refused a lone first call of an rpm=1 limit.
        rpm_interval = rates.rpm_interval
        if rpm_interval:
            rpm_ahead = rates.rpm_tat - now
            # (a conditional, not max(): this runs on every call)
            rpm_ahead = (rpm_ahead if rpm_ahead > 0.0 else 0.0) + rpm_interval
            if rpm_ahead - _PERIOD > _EPSILON:
                self._refuse(key, limit, rates, tokens, cost, now)
        tpm_interval = rates.tpm_interval
        if tpm_interval:
            tpm_ahead = rates.tpm_tat - now
            tpm_ahead = (tpm_ahead if tpm_ahead > 0.0 else 0.0) + tpm_interval * tokens
            if tpm_ahead - _PERIOD > _EPSILON or tokens > rates.tpm:
                self._refuse(key, limit, rates, tokens, cost, now)
        held: Decimal | None = None
        budget = None
        if limit.budget_usd is not None:
            held = cost or _ZERO
            wall = self._wall_clock()
            budget = self._budgets.get(key)
            if budget is None:
                if len(self._budgets) >= self._budgets_cap:
                    self._forget_budgets(wall)
                budget = self._budgets[key] = _Budget(limit.period, wall)
            elif not budget.start <= wall < budget.end or budget.period != limit.period:
                budget.move(limit.period, wall)
            spent = budget.spent
            total = spent + held  # kept for the charge below: a Decimal addition less
            if total > limit.budget_usd:
                self._refuse(key, limit, rates, tokens, cost, now)
        # Everything fits: charge it all together, so a refusal never leaves half a charge.
        if rpm_interval:
            rates.rpm_tat = now + rpm_ahead
        if tpm_interval:
            rates.tpm_tat = now + tpm_ahead
        # tuple.__new__: Reservation's own __new__ is a Python function, a frame more
        reservation = _new_reservation(Reservation, (key, tokens if tpm_interval else 0, held))
        if budget is not None:
            budget.spent = total
            holding = budget.holding
            if len(holding) >= _HOLDS_PER_KEY:  # the oldest unsettled hold is forgotten
                del holding[next(iter(holding))]
            holding[id(reservation)] = reservation
        return reservation

    def _forget_rates(self, now: float) -> None:
        """Drop the keys whose arrival times have passed: such a key admits what a
        new one would, so forgetting it changes no decision."""
        self._rates = {k: r for k, r in self._rates.items() if r.rpm_tat > now or r.tpm_tat > now}
        # Next time, past twice what is left: forgetting stays a small share of the work.
        self._rates_cap = max(_FORGET_FROM, 2 * len(self._rates))

    def _forget_budgets(self, wall: float) -> None:
        """Drop the budgets with nothing spent or held in the period they count in
        (a new key starts from zero too)."""
        self._budgets = {
            k: b for k, b in self._budgets.items() if b.spent > _ZERO and b.start <= wall < b.end
        }
        self._budgets_cap = max(_FORGET_FROM, 2 * len(self._budgets))

    def _refuse(
        self,
        key: str,
        limit: LimitConfig,
        rates: _Rates,
        tokens: int,
        cost: Decimal | None,
        now: float,
    ) -> NoReturn:
        """Raise the refusal of a request that does not fit (the slow path: it charges nothing).

        Every limit is asked, not only the first that refused: a request that can
        never fit says so, and ``retry_after`` is the longest wait, after which the
        same request fits (waiting out only the rpm's, a tpm or a budget that is
        also full would refuse it again).
        """
        if rates.tpm and tokens > rates.tpm:  # would never fit, however long the caller waits
            raise QuotaExceededError(
                f"a call estimated at {tokens} tokens can never fit the tpm limit of"
                f" {rates.tpm} for {key!r}",
                hint="lower max_tokens or raise the limit in [limits]",
            )
        held = cost or _ZERO
        if limit.budget_usd is not None and held > limit.budget_usd:
            raise QuotaExceededError(
                f"a call that may cost ${held:.6f} can never fit the"
                f" {_ADJECTIVE[limit.period]} budget of ${limit.budget_usd} for {key!r}",
                hint="raise budget_usd in [limits] or lower max_tokens",
                budget=True,
            )
        waits: list[tuple[float, str]] = []
        for which, tat, interval, amount in (
            ("rpm", rates.rpm_tat, rates.rpm_interval, 1),
            ("tpm", rates.tpm_tat, rates.tpm_interval, tokens),
        ):
            if interval:
                wait = max(tat - now, 0.0) + interval * amount - _PERIOD
                if wait > _EPSILON:
                    waits.append((wait, f"{which} limit for {key!r} reached"))
        budget = self._budgets.get(key)
        if limit.budget_usd is not None and budget is not None:
            wall = self._wall_clock()
            if not budget.start <= wall < budget.end or budget.period != limit.period:
                budget.move(
                    limit.period, wall
                )  # as acquire_nowait does (a rate may have refused first)
            if budget.spent + held > limit.budget_usd:
                waits.append(
                    (
                        budget.end - wall,
                        f"the {_ADJECTIVE[limit.period]} budget of ${limit.budget_usd}"
                        f" for {key!r} is spent"
                        f" (${budget.spent} used or held; this call may cost ${held:.6f})",
                    )
                )
        wait, message = max(waits)
        rate = message.endswith("reached")  # else the budget's wait is the longest
        raise QuotaExceededError(
            message,
            retry_after=wait,
            hint="raise the limit in [limits] or retry after retry_after seconds"
            if rate
            else "raise budget_usd in [limits] or wait for the next period",
            budget=not rate,
        )

    async def reconcile(
        self, reservation: Reservation, actual_tokens: int, *, cost: Decimal | None = None
    ) -> None:
        """Refund or charge the difference between reserved and used tokens and USD."""
        self.reconcile_nowait(reservation, actual_tokens, cost=cost)

    def reconcile_nowait(
        self, reservation: Reservation, actual_tokens: int, *, cost: Decimal | None = None
    ) -> None:
        """:meth:`reconcile`, synchronously."""
        key, tokens, held = reservation
        if actual_tokens != tokens:
            rates = self._rates.get(key)
            if rates is not None and rates.tpm_interval:
                if actual_tokens > tokens:
                    # A larger real usage is charged from now, as an admission would
                    # be: added to an arrival time long past, it would vanish.
                    now = self._clock()
                    if rates.tpm_tat < now:
                        rates.tpm_tat = now
                rates.tpm_tat += (actual_tokens - tokens) * rates.tpm_interval
        if held is not None:
            budget = self._budgets.get(key)
            if budget is not None:
                wall = self._wall_clock()
                if not budget.start <= wall < budget.end:
                    budget.move(budget.period, wall)
                delta = (cost or _ZERO) - held
                if budget.holding.pop(id(reservation), None) is reservation or delta > _ZERO:
                    # A hold settled after its period ended: what it used beyond the hold
                    # lands in the new period, its refund not (the old period keeps it:
                    # taken off the new one's spend, it would be free budget). A copy of
                    # the reservation counts as such a hold: a refund dropped, never doubled.
                    spent = budget.spent + delta
                    budget.spent = spent if spent > _ZERO else _ZERO

    async def release(self, reservation: Reservation) -> None:
        """Give back all ``reservation`` holds, its request included: the call was never sent."""
        key = reservation.key
        rates = self._rates.get(key)
        if rates is not None and rates.rpm_interval:
            # GCRA: the request's slot comes off the arrival time. Below now it is
            # harmless (acquire counts from now), so a late release banks nothing.
            rates.rpm_tat -= rates.rpm_interval
        self.reconcile_nowait(reservation, 0, cost=_ZERO)
