"""What this plugin knows about OpenAI's models: context window and USD per 1M tokens.

List prices as published on openai.com/api/pricing (standard tier). Users can
override them in config; a model missing here simply has ``cost = None``.
"""

from __future__ import annotations

from decimal import Decimal

from relaykit import ModelPrice


def _p(inp: str, out: str, cached: str | None = None) -> ModelPrice:
    return ModelPrice(Decimal(inp), Decimal(out), Decimal(cached) if cached else None)


OPENAI_MODELS: dict[str, tuple[int | None, ModelPrice | None]] = {
    "gpt-4o": (128_000, _p("2.50", "10.00", "1.25")),
    "gpt-4o-mini": (128_000, _p("0.15", "0.60", "0.075")),
    "gpt-4.1": (1_047_576, _p("2.00", "8.00", "0.50")),
    "gpt-4.1-mini": (1_047_576, _p("0.40", "1.60", "0.10")),
    "gpt-4.1-nano": (1_047_576, _p("0.10", "0.40", "0.025")),
    "gpt-5": (400_000, _p("1.25", "10.00", "0.125")),
    "gpt-5-mini": (400_000, _p("0.25", "2.00", "0.025")),
    "gpt-5-nano": (400_000, _p("0.05", "0.40", "0.005")),
    "o3": (200_000, _p("2.00", "8.00", "0.50")),
    "o3-mini": (200_000, _p("1.10", "4.40", "0.55")),
    "o4-mini": (200_000, _p("1.10", "4.40", "0.275")),
    # served only by the Responses API (an entry each, or the prefix match would
    # give o3-pro o3's price and gpt-5-pro gpt-5's)
    "o1-pro": (200_000, _p("150.00", "600.00")),
    "o3-pro": (200_000, _p("20.00", "80.00")),
    "gpt-5-pro": (400_000, _p("15.00", "120.00")),
    "gpt-5-codex": (400_000, _p("1.25", "10.00", "0.125")),
    "codex-mini-latest": (200_000, _p("1.50", "6.00", "0.375")),
    # embeddings: input tokens only (the window is the longest text embedded)
    "text-embedding-3-small": (8_192, _p("0.02", "0")),
    "text-embedding-3-large": (8_192, _p("0.13", "0")),
    "text-embedding-ada-002": (8_192, _p("0.10", "0")),
}
