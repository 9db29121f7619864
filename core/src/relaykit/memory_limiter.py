"""The built-in in-process rate limiter: GCRA over requests and tokens per minute,
plus USD budgets per calendar day or month.

GCRA keeps one number per key (the theoretical arrival time), so a check is O(1)
and there is no window edge where a burst slips through. Reservations are
charged in full when acquired and corrected on reconcile, so N concurrent calls
can never together exceed the limit (the overshoot LiteLLM's TPM limit had).
``acquire`` never awaits between checking and charging, so under one event
loop the check-and-charge is atomic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from .budgets import period_bounds
from .config import LimitConfig
from .errors import QuotaExceededError
from .protocols import Reservation

_PERIOD = 60.0
_ADJECTIVE = {"day": "daily", "month": "monthly"}


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
        self._tat: dict[str, float] = {}  # "key|rpm" / "key|tpm" -> theoretical arrival time
        self._interval: dict[str, float] = {}  # slot -> seconds one unit occupies
        # key -> (period, period id, USD held or spent in it)
        self._spent: dict[str, tuple[str, str, Decimal]] = {}

    @staticmethod
    def _admit(tat: float, limit: int, amount: int, now: float) -> float:
        """Seconds to wait before ``amount`` fits under ``limit``; 0 when it fits."""
        if amount > limit:
            return float("inf")  # would never fit, however long the caller waits
        new_tat = max(tat, now) + _PERIOD / limit * amount
        allowed_at = new_tat - _PERIOD  # the burst tolerance is the whole period
        return max(0.0, allowed_at - now)

    async def acquire(
        self, key: str, limit: LimitConfig, tokens: int, *, cost: Decimal | None = None
    ) -> Reservation:
        """Reserve one request, ``tokens`` tokens and ``cost`` USD, or raise
        :class:`QuotaExceededError` with ``retry_after``."""
        now = self._clock()
        checks = []
        if limit.rpm:
            checks.append((f"{key}|rpm", limit.rpm, 1))
        if limit.tpm:
            checks.append((f"{key}|tpm", limit.tpm, tokens))
        for slot, lim, amount in checks:
            wait = self._admit(self._tat.get(slot, now), lim, amount, now)
            if wait > 0:
                which = slot.rsplit("|", 1)[1]
                if wait == float("inf"):
                    raise QuotaExceededError(
                        f"a call estimated at {amount} tokens can never fit the {which} limit of"
                        f" {lim} for {key!r}",
                        hint="lower max_tokens or raise the limit in [limits]",
                    )
                raise QuotaExceededError(
                    f"{which} limit for {key!r} reached",
                    retry_after=wait,
                    hint="raise the limit in [limits] or retry after retry_after seconds",
                )
        held: Decimal | None = None
        if limit.budget_usd is not None:
            held = cost or Decimal(0)
            spent = self._spent_now(key, limit.period)
            if spent + held > limit.budget_usd:
                _, left = period_bounds(limit.period, self._wall_clock())
                raise QuotaExceededError(
                    f"the {_ADJECTIVE[limit.period]} budget of ${limit.budget_usd}"
                    f" for {key!r} is spent"
                    f" (${spent} used or held; this call may cost ${held:.6f})",
                    retry_after=left,
                    hint="raise budget_usd in [limits] or wait for the next period",
                )
        # Everything fits: charge it all together, so a refusal never leaves half a charge.
        for slot, lim, amount in checks:
            self._interval[slot] = _PERIOD / lim
            self._tat[slot] = max(self._tat.get(slot, now), now) + self._interval[slot] * amount
        if held is not None:
            self._add_spent(key, limit.period, held)
        return Reservation(key, tokens if limit.tpm else 0, held)

    async def reconcile(
        self, reservation: Reservation, actual_tokens: int, *, cost: Decimal | None = None
    ) -> None:
        """Refund or charge the difference between reserved and used tokens and USD."""
        slot = f"{reservation.key}|tpm"
        interval = self._interval.get(slot)
        if interval and reservation.tokens:
            self._tat[slot] += (actual_tokens - reservation.tokens) * interval
        budget = self._spent.get(reservation.key)
        if reservation.cost is not None and budget is not None:
            self._add_spent(reservation.key, budget[0], (cost or Decimal(0)) - reservation.cost)

    def _spent_now(self, key: str, period: str) -> Decimal:
        ident, _ = period_bounds(period, self._wall_clock())
        current = self._spent.get(key)
        return current[2] if current and current[1] == ident else Decimal(0)

    def _add_spent(self, key: str, period: str, amount: Decimal) -> None:
        ident, _ = period_bounds(period, self._wall_clock())
        # A hold settled after the period rolled over lands in the new period;
        # never let a refund push it below zero (that would be free budget).
        self._spent[key] = (period, ident, max(Decimal(0), self._spent_now(key, period) + amount))
