"""What this plugin knows about Claude models: context window, output limit, USD per 1M tokens.

List prices as published on anthropic.com/pricing (standard tier, prompts up to
200K tokens; for Claude Haiku 5.5, which bills longer prompts at higher rates
by prompt length, up to 100K). ``cached_input`` is the cache *read* price, ``cache_write_input``
the price of a write to the default five-minute cache (1.25x input) and
``cache_write_1h_input`` that of a write to the one-hour cache (2x input).
Web search costs USD 10 per 1,000 searches on every model (the pricing page's
"Web search tool" section), on top of the tokens its results add: ``web_search``.
A model missing here has ``cost = None``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from relaykit import ModelPrice

#: USD per web search (``Usage.web_searches``): USD 10 per 1,000
WEB_SEARCH = Decimal("0.01")


class KnownModel(NamedTuple):
    """One row of the table."""

    context_window: int
    max_output_tokens: int
    price: ModelPrice


def _m(window: int, max_out: int, inp: str, out: str, cached: str, written: str) -> KnownModel:
    # One-hour cache writes cost twice the input price for every model.
    # A Message Batches item pays half of every rate ("50% of standard API prices",
    # the batch processing guide); written as the price's batch share.
    price = ModelPrice(
        Decimal(inp),
        Decimal(out),
        Decimal(cached),
        Decimal(written),
        Decimal(inp) * 2,
        batch_share=Decimal("0.5"),
        web_search=WEB_SEARCH,
    )
    return KnownModel(window, max_out, price)


ANTHROPIC_MODELS: dict[str, KnownModel] = {
    # Claude 5 (platform.claude.com/docs/en/about-claude/pricing and each model's
    # overview page, models/<name>/overview; 1M context and 128K output each). The
    # cache-read rate is not always a tenth of input: Fable 5.1 and Mythos 5.1 read
    # at 0.25, Opus 5.5 at 0.20, Sonnet 5.5 at 0.10 since Anthropic cut it from 0.20
    # on 2026-10-07 (its pricing page as re-read on 2026-10-24 by kurofune/claudit
    # and on 2026-10-16 by TheKrush/PromptFuel; older copies of the overview show
    # 0.20). Haiku 5.5 bills prompts over 100K tokens at five times these rates;
    # the row holds the common case, prompts up to 100K (see the module's note).
    "claude-fable-5-1": _m(1_000_000, 128_000, "10", "50", "0.25", "12.50"),
    "claude-fable-5": _m(1_000_000, 128_000, "10", "50", "1", "12.50"),
    "claude-mythos-5-1": _m(1_000_000, 128_000, "10", "50", "0.25", "12.50"),
    "claude-mythos-5": _m(1_000_000, 128_000, "10", "50", "1", "12.50"),
    "claude-opus-5-5": _m(1_000_000, 128_000, "4", "20", "0.20", "5"),
    "claude-opus-5": _m(1_000_000, 128_000, "5", "25", "0.50", "6.25"),
    "claude-sonnet-5-5": _m(1_000_000, 128_000, "2", "10", "0.10", "2.50"),
    "claude-sonnet-5": _m(1_000_000, 128_000, "2", "10", "0.20", "2.50"),
    "claude-haiku-5-5": _m(1_000_000, 128_000, "0.10", "0.50", "0.01", "0.125"),
    # Claude 4.6 to 4.8: legacy, still served (their overview pages: 1M context,
    # 128K output; Sonnet 4.6 at 3 and 15).
    "claude-opus-4-8": _m(1_000_000, 128_000, "5", "25", "0.50", "6.25"),
    "claude-opus-4-7": _m(1_000_000, 128_000, "5", "25", "0.50", "6.25"),
    "claude-opus-4-6": _m(1_000_000, 128_000, "5", "25", "0.50", "6.25"),
    "claude-sonnet-4-6": _m(1_000_000, 128_000, "3", "15", "0.30", "3.75"),
    "claude-opus-4-5": _m(200_000, 64_000, "5", "25", "0.50", "6.25"),
    # Opus 4.1 is retired on Anthropic's API (still served on Bedrock and Google
    # Cloud, says the pricing page); Opus 4 and Sonnet 4 were retired on 2026-06-15
    # (Anthropic's release notes, as recorded by ottto-ai/ai-provider-watch).
    "claude-opus-4-1": _m(200_000, 32_000, "15", "75", "1.50", "18.75"),
    "claude-opus-4": _m(200_000, 32_000, "15", "75", "1.50", "18.75"),
    "claude-sonnet-4-5": _m(200_000, 64_000, "3", "15", "0.30", "3.75"),
    "claude-sonnet-4": _m(200_000, 64_000, "3", "15", "0.30", "3.75"),
    # Claude 3.7 Sonnet: retired by Anthropic on 2026-02-19 (announced on
    # 2025-10-28, as thevibeworks/claude-code-docs recorded it); kept for proxies.
    "claude-3-7-sonnet": _m(200_000, 64_000, "3", "15", "0.30", "3.75"),
    "claude-haiku-4-5": _m(200_000, 64_000, "1", "5", "0.10", "1.25"),
    "claude-3-5-haiku": _m(200_000, 8_192, "0.80", "4", "0.08", "1"),
    "claude-3-haiku": _m(200_000, 4_096, "0.25", "1.25", "0.03", "0.30"),
}

# What may follow a family name and still be that model: "-0" (claude-opus-4-0),
# a snapshot date (claude-sonnet-4-5-20250929) or "-latest". Anything else
# (claude-opus-5-5 after claude-opus-5) is a different model with its own row.
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
