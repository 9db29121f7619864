"""What this plugin knows about common Bedrock models: context window and USD per 1M tokens.

On-demand list prices from aws.amazon.com/bedrock/pricing (US East). A model is
called by its id (``amazon.nova-pro-v1:0``) or through a cross-region inference
profile that prefixes a geography (``us.``, ``eu.``, ``apac.``) or ``global.``;
all of them find the same entry here.

Claude 4.5 models and later are listed at their ``global.`` price; Bedrock
charges 10% more for them in-region and through geographic profiles, which
:func:`lookup` applies. From Claude 4.5 on, Bedrock's global price is
Anthropic's list price (AWS's pricing page; Opus 4.7 at USD 5 and 25 and
Sonnet 4.6 at 3 and 15 as clauder-navi.com quotes it), so the rows for Claude
4.6 to 5.5, Fable and Mythos repeat anthropic.com/pricing (platform.claude.com's
pricing and model overview pages, read 2026-12-02: 1M context each, Opus 4.7's
confirmed by AWS's model card). Fable 5.1 and Mythos 5.1 read the cache at
0.25, Opus 5.5 at 0.20, Sonnet 5.5 at 0.10; Haiku 5.5's row is its price for
prompts up to 100K tokens (longer ones bill at five times that). A model with
no published price (Fable 5.2, Mythos 5.2) has no row, and no price.

Claude's prompt-cache writes cost 1.25x input (``cache_write_input``) and
those to the one-hour cache 2x input (``cache_write_1h_input``), as at
Anthropic; other models' writes carry no surcharge (unset: the input price).
The reranker models bill queries, not tokens (``per_search``): a query ranks
up to 100 documents, and one with more counts as several (see
:mod:`relaykit_bedrock.rerank`). The image models bill per image, by quality
and size for Amazon's (see :mod:`relaykit_bedrock.image_prices`). Users can
override prices in config; a model missing here simply has ``cost = None``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from relaykit import ModelPrice

from .image_prices import NOVA_CANVAS, TITAN_IMAGE_V2, per_image

#: Prefixes of cross-region inference profile ids.
PROFILE_PREFIXES = ("us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")
_REGIONAL_PREMIUM = Decimal("1.1")
# What may follow a row's key: a snapshot date, a version (-v1, -v2:0), a throughput (:18k).
_SUFFIX = re.compile(r"(-\d{8})?(-v\d+)?(:[\w.]+)*")


def _p(inp: str, out: str, cached: str | None = None, written: str | None = None) -> ModelPrice:
    return ModelPrice(
        Decimal(inp),
        Decimal(out),
        Decimal(cached) if cached else None,
        Decimal(written) if written else None,
        # Claude's one-hour cache writes cost twice the input price; others have none.
        Decimal(inp) * 2 if written else None,
    )


def _per_query(usd: str) -> ModelPrice:
    # Billed per query: the tokens a rerank sends cost nothing of their own.
    return ModelPrice(Decimal(0), Decimal(0), per_search=Decimal(usd))


# model id prefix: (context window, price, whether the 10% regional premium applies)
BEDROCK_MODELS: dict[str, tuple[int | None, ModelPrice | None, bool]] = {
    # Claude in Amazon Bedrock (the Messages API; see claude_api.py), and Claude 4.6.
    "anthropic.claude-fable-5-1": (1_000_000, _p("10", "50", "0.25", "12.50"), True),
    "anthropic.claude-fable-5": (1_000_000, _p("10", "50", "1", "12.50"), True),
    "anthropic.claude-mythos-5-1": (1_000_000, _p("10", "50", "0.25", "12.50"), True),
    "anthropic.claude-mythos-5": (1_000_000, _p("10", "50", "1", "12.50"), True),
    "anthropic.claude-opus-5-5": (1_000_000, _p("4", "20", "0.20", "5"), True),
    "anthropic.claude-opus-5": (1_000_000, _p("5", "25", "0.50", "6.25"), True),
    "anthropic.claude-sonnet-5-5": (1_000_000, _p("2", "10", "0.10", "2.50"), True),
    "anthropic.claude-sonnet-5": (1_000_000, _p("2", "10", "0.20", "2.50"), True),
    "anthropic.claude-haiku-5-5": (1_000_000, _p("0.10", "0.50", "0.01", "0.125"), True),
    "anthropic.claude-opus-4-8": (1_000_000, _p("5", "25", "0.50", "6.25"), True),
    "anthropic.claude-opus-4-7": (1_000_000, _p("5", "25", "0.50", "6.25"), True),
    "anthropic.claude-opus-4-6": (1_000_000, _p("5", "25", "0.50", "6.25"), True),
    "anthropic.claude-sonnet-4-6": (1_000_000, _p("3", "15", "0.30", "3.75"), True),
    "anthropic.claude-opus-4-5": (200_000, _p("5.00", "25.00", "0.50", "6.25"), True),
    "anthropic.claude-sonnet-4-5": (200_000, _p("3.00", "15.00", "0.30", "3.75"), True),
    "anthropic.claude-haiku-4-5": (200_000, _p("1.00", "5.00", "0.10", "1.25"), True),
    # Claude Sonnet 4's dated id only: a bare "anthropic.claude-sonnet-4-" would
    # give Sonnet 4.6 (anthropic.claude-sonnet-4-6) Sonnet 4's price.
    "anthropic.claude-sonnet-4-20250514": (200_000, _p("3.00", "15.00", "0.30", "3.75"), False),
    "anthropic.claude-3-7-sonnet": (200_000, _p("3.00", "15.00", "0.30", "3.75"), False),
    "anthropic.claude-3-5-haiku": (200_000, _p("0.80", "4.00", "0.08", "1.00"), False),
    "amazon.nova-premier-v1": (1_000_000, _p("2.50", "12.50"), False),
    "amazon.nova-pro-v1": (300_000, _p("0.80", "3.20", "0.20"), False),
    "amazon.nova-lite-v1": (300_000, _p("0.06", "0.24", "0.015"), False),
    "amazon.nova-micro-v1": (128_000, _p("0.035", "0.14", "0.00875"), False),
    "meta.llama3-3-70b-instruct-v1": (128_000, _p("0.72", "0.72"), False),
    "meta.llama3-1-8b-instruct-v1": (128_000, _p("0.22", "0.22"), False),
    "meta.llama3-1-70b-instruct-v1": (128_000, _p("0.72", "0.72"), False),
    "mistral.mistral-large-2407-v1": (128_000, _p("2.00", "6.00"), False),
    # Embedding models bill input tokens only; the window is the longest text they take.
    "amazon.titan-embed-text-v2": (8_192, _p("0.02", "0"), False),
    "amazon.titan-embed-text-v1": (8_192, _p("0.10", "0"), False),
    "cohere.embed-english-v3": (512, _p("0.10", "0"), False),
    "cohere.embed-multilingual-v3": (512, _p("0.10", "0"), False),
    "cohere.embed-v4": (128_000, _p("0.12", "0"), False),
    # Rerankers: USD per query (1,000 queries: Cohere Rerank 3.5 USD 2.00, Amazon
    # Rerank 1.0 USD 1.00); the window is Cohere's per document, query included.
    "cohere.rerank-v3-5": (4_096, _per_query("0.002"), False),
    "amazon.rerank-v1": (None, _per_query("0.001"), False),
    # Image models: USD per image (see image_prices.py); they have no context window.
    "amazon.nova-canvas-v1": (None, NOVA_CANVAS, False),
    "amazon.titan-image-generator-v2": (None, TITAN_IMAGE_V2, False),
    "stability.sd3-5-large-v1": (None, per_image("0.08"), False),
    "stability.stable-image-ultra-v1": (None, per_image("0.14"), False),
    "stability.stable-image-core-v1": (None, per_image("0.04"), False),
}


def split_profile(model: str) -> tuple[str | None, str]:
    """``("us.", "anthropic.claude-...")`` for a profile id; ``(None, model)`` otherwise."""
    for prefix in PROFILE_PREFIXES:
        if model.startswith(prefix):
            return prefix, model[len(prefix) :]
    return None, model


def base_model(model: str) -> str:
    """The foundation model id inside ``model``: a model id, an inference profile id or
    the ARN of either (``arn:...:foundation-model/amazon.titan-...`` ends in the id)."""
    return split_profile(model.rsplit("/", 1)[-1])[1]


def lookup(model: str) -> tuple[int | None, ModelPrice | None]:
    """Context window and price of ``model`` (a model id, an inference profile id, or
    the ARN of either: it ends in the id)."""
    prefix, base = split_profile(model.rsplit("/", 1)[-1])
    # Dated snapshots (...-20250929-v1:0) share their family's entry: longest prefix wins,
    # and only a date, version or throughput suffix may follow it (claude-opus-5-5 is not
    # claude-opus-5, nor claude-fable-5-2 claude-fable-5).
    best: tuple[int | None, ModelPrice | None, bool] = (None, None, False)
    best_len = 0
    for key, info in BEDROCK_MODELS.items():
        rest = base[len(key) :]
        if base.startswith(key) and _SUFFIX.fullmatch(rest) and len(key) > best_len:
            best, best_len = info, len(key)
    window, price, premium = best
    if price is not None and premium and prefix != "global.":
        price = ModelPrice(
            price.input * _REGIONAL_PREMIUM,
            price.output * _REGIONAL_PREMIUM,
            _premium(price.cached_input),
            _premium(price.cache_write_input),
            _premium(price.cache_write_1h_input),
        )
    return window, price


def _premium(price: Decimal | None) -> Decimal | None:
    return price * _REGIONAL_PREMIUM if price is not None else None
