"""What Claude costs on Vertex AI: Anthropic's list prices, 10% more at a regional endpoint
for the models from Claude Sonnet 4.5 on.

Google bills Claude on Vertex at Anthropic's per-token prices. Anthropic's "Claude
on Vertex AI" page, section "Global vs regional endpoints" (as of 2025-11, also
in Google's partner-model pricing): "Starting with Claude Sonnet 4.5 and all
future models, Google Vertex AI offers two endpoint types"; "Regional endpoints
include a 10% pricing premium over global endpoints"; older models (Claude
Sonnet 4, Opus 4 and earlier) keep their prices everywhere. So a regional or
multi-regional ``location`` (anything but ``global``) costs 1.1x every rate for
Sonnet 4.5, Haiku 4.5, Opus 4.5 and every later model, and the list price for
the older ones. Vertex's ids carry a version after ``@``
(``claude-sonnet-4-5@20250929``); the table is keyed without it. A model the
table lacks (``claude-3-5-sonnet-v2@20241022``) has no price: ``cost = None``.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from relaykit import ModelPrice
from relaykit_claude_models import claude_version

from .prices import KnownModel, known_model

REGIONAL_PREMIUM = Decimal("1.1")


def vertex_model(model: str) -> KnownModel | None:
    """The table row of a Vertex model id (the ``@version`` left off), if any."""
    return known_model(model.split("@", 1)[0])


def vertex_price(model: str, location: str) -> ModelPrice | None:
    """The price of ``model`` called at ``location``, if the table knows it."""
    known = vertex_model(model)
    if known is None:
        return None
    price = known.price
    if location == "global" or not _premium_applies(model.split("@", 1)[0]):
        return price
    return attrs.evolve(
        price,
        input=price.input * REGIONAL_PREMIUM,
        output=price.output * REGIONAL_PREMIUM,
        cached_input=_more(price.cached_input),
        cache_write_input=_more(price.cache_write_input),
        cache_write_1h_input=_more(price.cache_write_1h_input),
    )


def _premium_applies(model: str) -> bool:
    # Claude Sonnet 4.5 came first of the 4.5 models; every later one is 4.5 or more.
    version = claude_version(model)
    return version is not None and version >= (4, 5)


def _more(price: Decimal | None) -> Decimal | None:
    return price * REGIONAL_PREMIUM if price is not None else None
