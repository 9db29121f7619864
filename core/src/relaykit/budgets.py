"""USD budgets per calendar period: which period a moment falls in, and estimates.

Budgets are reserve-then-reconcile like token limits: a call holds its
estimated cost (``[limits] budget_usd``) before it is sent, so concurrent calls
cannot overspend together, and the hold is corrected to the real cost after.
Periods are UTC calendar days and months, so every process sharing a budget
(through Redis) agrees on when it resets.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .response import ModelPrice

__all__ = ["MICRO_USD", "period_bounds", "period_span", "to_micro_usd"]

#: USD amounts are kept as integers of this unit where a store needs integers (Redis).
MICRO_USD = Decimal("0.000001")


_CURRENT: dict[str, tuple[float, float, str]] = {}  # period -> (start, end, id): a cache


def period_bounds(period: str, now: float) -> tuple[str, float]:
    """The id of the ``period`` (``"day"`` or ``"month"``) holding ``now``, and seconds left.

    Every budgeted call asks, so the current period is cached until it ends.
    """
    ident, _, end = period_span(period, now)
    return ident, end - now


def period_span(period: str, now: float) -> tuple[str, float, float]:
    """The id, start and end (epoch seconds) of the ``period`` holding ``now``.

    For a store that keeps the span beside its amount and asks again only once
    ``now`` leaves it (the memory limiter).
    """
    cached = _CURRENT.get(period)
    if cached is not None and cached[0] <= now < cached[1]:
        return cached[2], cached[0], cached[1]
    ident, start, end = _period(period, now)
    _CURRENT[period] = (start, end, ident)
    return ident, start, end


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


#: USD per million tokens (a price) to USD per token: an exact shift of the decimal point
_PER_TOKEN = Decimal("0.000001")
_UNPRICED = (Decimal(0), Decimal(0))


def hold_rates(price: ModelPrice | None) -> tuple[Decimal, Decimal]:
    """USD per prompt token and per output token that a budget's hold charges.

    Prompt tokens at the input price, output tokens at the output price (which
    is higher: holding them at the input price would under-reserve). Worked out
    once per deployment (the client keeps them with its limits), so a call's
    hold is two multiplications and an addition, with no :class:`~relaykit.Usage` built.
    The sum is exactly :meth:`ModelPrice.cost` of a usage without prompt-cache
    tokens: multiplying by 10^-6 only moves the decimal point, so the digits
    and their rounding are the same. Unknown prices hold zero.
    """
    if price is None:
        return _UNPRICED
    return price.input * _PER_TOKEN, price.output * _PER_TOKEN


def estimate_cost(price: ModelPrice | None, input_tokens: int, output_tokens: int) -> Decimal:
    """What a call may cost at most: its estimated prompt plus ``max_tokens`` of output.

    Unknown prices estimate zero: the hold is then settled with the actual cost
    if the provider reports one, and stays zero otherwise.
    """
    per_input, per_output = hold_rates(price)
    return input_tokens * per_input + output_tokens * per_output


def to_micro_usd(amount: Decimal) -> int:
    """``amount`` in whole micro-dollars, rounded up (holds never under-reserve)."""
    return int((amount / MICRO_USD).to_integral_value(rounding="ROUND_CEILING"))
