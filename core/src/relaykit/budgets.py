"""USD budgets per calendar period: which period a moment falls in, and estimates.

Budgets are reserve-then-reconcile like token limits: a call holds its
estimated cost (``[limits] budget_usd``) before it is sent, so concurrent calls
cannot overspend together, and the hold is corrected to the real cost after.
Periods are UTC calendar days and months, so every process sharing a budget
(through Redis) agrees on when it resets.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .response import ModelPrice, Usage

#: USD amounts are kept as integers of this unit where a store needs integers (Redis).
MICRO_USD = Decimal("0.000001")


_CURRENT: dict[str, tuple[float, float, str]] = {}  # period -> (start, end, id): a cache


def period_bounds(period: str, now: float) -> tuple[str, float]:
    """The id of the ``period`` (``"day"`` or ``"month"``) holding ``now``, and seconds left.

    Every budgeted call asks, so the current period is cached until it ends.
    """
    cached = _CURRENT.get(period)
    if cached is not None and cached[0] <= now < cached[1]:
        return cached[2], cached[1] - now
    ident, start, end = _period(period, now)
    _CURRENT[period] = (start, end, ident)
    return ident, end - now


def _period(period: str, now: float) -> tuple[str, float, float]:
    t = dt.datetime.fromtimestamp(now, dt.UTC)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
        ident = start.strftime("%Y-%m-%d")
    elif period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        ident = start.strftime("%Y-%m")
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return ident, start.timestamp(), end.timestamp()


def estimate_cost(price: ModelPrice | None, input_tokens: int, output_tokens: int) -> Decimal:
    """What a call may cost at most: its estimated prompt plus ``max_tokens`` of output.

    Unknown prices estimate zero: the hold is then settled with the actual cost
    if the provider reports one, and stays zero otherwise.
    """
    if price is None:
        return Decimal(0)
    return price.cost(Usage(input_tokens, output_tokens))


def to_micro_usd(amount: Decimal) -> int:
    """``amount`` in whole micro-dollars, rounded up (holds never under-reserve)."""
    return int((amount / MICRO_USD).to_integral_value(rounding="ROUND_CEILING"))
