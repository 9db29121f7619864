"""The built-in in-process rate limiter: GCRA over requests and tokens per minute.

GCRA keeps one number per key (the theoretical arrival time), so a check is O(1)
and there is no window edge where a burst slips through. Reservations are
charged in full when acquired and corrected on reconcile, so N concurrent calls
can never together exceed the limit (the overshoot LiteLLM's TPM limit had).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .config import LimitConfig
from .errors import QuotaExceededError
from .protocols import Reservation

_PERIOD = 60.0


class MemoryRateLimiter:
    """Implements :class:`relaykit.protocols.RateLimiter` within one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}  # "key|rpm" / "key|tpm" -> theoretical arrival time
        self._interval: dict[str, float] = {}  # slot -> seconds one unit occupies

    def _admit(self, slot: str, limit: int, amount: int, now: float) -> float:
        """Seconds to wait before ``amount`` fits under ``limit``; 0 when it fits."""
        interval = _PERIOD / limit
        tat = max(self._tat.get(slot, now), now)
        new_tat = tat + interval * amount
        allowed_at = new_tat - _PERIOD  # the burst tolerance is the whole period
        return max(0.0, allowed_at - now) if amount <= limit else float("inf")

    async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
        """Reserve one request and ``tokens`` tokens, or raise :class:`QuotaExceededError`."""
        now = self._clock()
        checks = []
        if limit.rpm:
            checks.append((f"{key}|rpm", limit.rpm, 1))
        if limit.tpm:
            checks.append((f"{key}|tpm", limit.tpm, tokens))
        waits = [self._admit(slot, lim, amount, now) for slot, lim, amount in checks]
        wait = max(waits, default=0.0)
        if wait > 0:
            which = checks[waits.index(wait)][0].rsplit("|", 1)[1]
            raise QuotaExceededError(
                f"{which} limit for {key!r} reached",
                retry_after=None if wait == float("inf") else wait,
                hint="raise the limit in [limits] or retry after retry_after seconds",
            )
        # Both fit: charge them together, so a refusal never leaves half a charge.
        for slot, lim, amount in checks:
            tat = max(self._tat.get(slot, now), now)
            self._interval[slot] = _PERIOD / lim
            self._tat[slot] = tat + self._interval[slot] * amount
        return Reservation(key, tokens if limit.tpm else 0)

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        """Refund or charge the difference between reserved and used tokens."""
        slot = f"{reservation.key}|tpm"
        interval = self._interval.get(slot)
        if interval and reservation.tokens:
            self._tat[slot] += (actual_tokens - reservation.tokens) * interval
