"""What this plugin knows about Claude models: context window, output limit, USD per 1M tokens.

List prices as published on anthropic.com/pricing (standard tier, prompts up to
200K tokens). ``cached_input`` is the cache *read* price, ``cache_write_input``
the price of a write to the default five-minute cache (1.25x input) and
``cache_write_1h_input`` that of a write to the one-hour cache (2x input).
A model missing here has ``cost = None``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from relaykit import ModelPrice


class KnownModel(NamedTuple):
    """One row of the table."""

    context_window: int
    max_output_tokens: int
    price: ModelPrice


def _m(window: int, max_out: int, inp: str, out: str, cached: str, written: str) -> KnownModel:
    # One-hour cache writes cost twice the input price for every model.
    price = ModelPrice(
        Decimal(inp), Decimal(out), Decimal(cached), Decimal(written), Decimal(inp) * 2
    )
    return KnownModel(window, max_out, price)


ANTHROPIC_MODELS: dict[str, KnownModel] = {
    "claude-opus-4-5": _m(200_000, 64_000, "5", "25", "0.50", "6.25"),
    "claude-opus-4-1": _m(200_000, 32_000, "15", "75", "1.50", "18.75"),
    "claude-opus-4": _m(200_000, 32_000, "15", "75", "1.50", "18.75"),
    "claude-sonnet-4-5": _m(200_000, 64_000, "3", "15", "0.30", "3.75"),
    "claude-sonnet-4": _m(200_000, 64_000, "3", "15", "0.30", "3.75"),
    "claude-3-7-sonnet": _m(200_000, 64_000, "3", "15", "0.30", "3.75"),
    "claude-haiku-4-5": _m(200_000, 64_000, "1", "5", "0.10", "1.25"),
    "claude-3-5-haiku": _m(200_000, 8_192, "0.80", "4", "0.08", "1"),
    "claude-3-haiku": _m(200_000, 4_096, "0.25", "1.25", "0.03", "0.30"),
}

# What may follow a family name and still be that model: "-0" (claude-opus-4-0),
# a snapshot date (claude-sonnet-4-5-20250929) or "-latest". Anything else
# (claude-opus-4-6) is a different model whose price we do not know.
_SUFFIX = re.compile(r"(-0)?(-\d{8})?(-latest)?")


def known_model(model: str) -> KnownModel | None:
    """The table row for ``model`` (an alias or a dated snapshot), if any."""
    best: KnownModel | None = None
    best_len = 0
    for family, info in ANTHROPIC_MODELS.items():
        if (
            model.startswith(family)
            and len(family) > best_len
            and _SUFFIX.fullmatch(model[len(family) :])
        ):
            best, best_len = info, len(family)
    return best
