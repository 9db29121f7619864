"""What this plugin knows about Gemini models: context window and USD per 1M tokens.

List prices from ai.google.dev/gemini-api/docs/pricing (paid tier, text input).
Gemini 2.5 Pro charges more for prompts over 200k tokens; :class:`ModelPrice`
has no tiers, so the table holds the price of the common case (prompts up to
200k). Thinking tokens are billed as output, which is how relaykit counts them.
Embedding models bill input tokens only (text input for the multimodal
``gemini-embedding-2``, which is all relaykit sends). ``text-embedding-004``
is left out: Google retired it on 14 January 2026.
A model missing here simply has ``cost = None``.
"""

from __future__ import annotations

from decimal import Decimal

from relaykit import ModelPrice


def _p(inp: str, out: str, cached: str | None = None) -> ModelPrice:
    return ModelPrice(Decimal(inp), Decimal(out), Decimal(cached) if cached else None)


# name prefix: (input token limit, price); the longest matching prefix wins, so
# "gemini-2.5-flash-lite-preview-09-2025" is priced as flash-lite, not flash.
GEMINI_MODELS: dict[str, tuple[int | None, ModelPrice | None]] = {
    "gemini-2.5-pro": (1_048_576, _p("1.25", "10.00", "0.125")),
    "gemini-2.5-flash": (1_048_576, _p("0.30", "2.50", "0.03")),
    "gemini-2.5-flash-lite": (1_048_576, _p("0.10", "0.40", "0.01")),
    "gemini-2.0-flash": (1_048_576, _p("0.10", "0.40", "0.025")),
    "gemini-2.0-flash-lite": (1_048_576, _p("0.075", "0.30")),
    "gemini-embedding-001": (2_048, _p("0.15", "0")),
    "gemini-embedding-2": (8_192, _p("0.20", "0")),
}


def known_model(model: str) -> tuple[int | None, ModelPrice | None]:
    """Context window and price of ``model``, matched by its longest known prefix."""
    best: tuple[int | None, ModelPrice | None] = (None, None)
    best_len = 0
    for prefix, info in GEMINI_MODELS.items():
        if model.startswith(prefix) and len(prefix) > best_len:
            best, best_len = info, len(prefix)
    return best
