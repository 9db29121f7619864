"""What this plugin knows about OpenAI's models: context window and USD per 1M tokens.

List prices as published on openai.com/api/pricing (standard tier). Users can
override them in config; a model missing here simply has ``cost = None``.
A model name takes the row of its longest prefix that ends at the name's end or
at a ``-`` (:func:`known_model`): dated snapshots (``gpt-4o-mini-2024-07-18``)
and variants share their family's row, but ``gpt-5.6-sol`` is not ``gpt-5``.
"""

from __future__ import annotations

from decimal import Decimal

from relaykit import ModelPrice

#: the share of the standard price a Batch API item pays: half ("Save 50% on inputs
#: and outputs with the Batch API", openai.com/api/pricing)
BATCH_SHARE = Decimal("0.5")

#: USD per web search call: the Responses API's ``web_search`` tool, "$10.00 / 1k
#: calls" for every model, the search content tokens billed at the model's input
#: price (they are in the usage's input tokens); OpenAI's pricing page, "Built-in
#: tools", as quoted on community.openai.com/t/1363698 and modelcostwatch.com
#: (checked 2026-03-12). relaykit sends that tool, never ``web_search_preview``.
#: gpt-4o-mini and gpt-4.1-mini bill a fixed block of 8,000 input tokens a call
#: for the content, which the usage may not show: their cost can read low.
WEB_SEARCH = Decimal("0.01")
#: the search preview models of Chat Completions (gpt-4o-search-preview,
#: gpt-4o-mini-search-preview): "Web search preview (non-reasoning models) $25.00
#: / 1k calls", content tokens free; every call searches once
PREVIEW_SEARCH = Decimal("0.025")


def _p(
    inp: str, out: str, cached: str | None = None, *, search: Decimal | None = WEB_SEARCH
) -> ModelPrice:
    """A chat model's price per million tokens, and per web search call (``search``;
    ``None`` for a model that does not search)."""
    return ModelPrice(
        Decimal(inp),
        Decimal(out),
        Decimal(cached) if cached else None,
        batch_share=BATCH_SHARE,
        web_search=search,
    )


def _per_image(default: str, by_kind: dict[str, str]) -> ModelPrice:
    """A model billed per image: ``default`` at its default quality and size, the
    others keyed ``"QUALITY/SIZE"``, ``"SIZE"`` or ``"QUALITY"`` (see ModelPrice)."""
    prices = {key: Decimal(usd) for key, usd in by_kind.items()}
    return ModelPrice(Decimal(0), Decimal(0), per_image=Decimal(default), image_prices=prices)


def _audio(inp: str, out: str, audio: str) -> ModelPrice:
    """A speech-to-text model's tokens: text in (the prompt), out, and audio in."""
    return ModelPrice(Decimal(inp), Decimal(out), audio_input=Decimal(audio))


def _image_tokens(text: str, cached: str, image: str, out: str) -> ModelPrice:
    """A GPT image model's tokens: text in (the prompt) and its cached rate, image in
    (an edit's images), image out."""
    return ModelPrice(Decimal(text), Decimal(out), Decimal(cached), image_input=Decimal(image))


def _per_character(usd: str) -> ModelPrice:
    """A text-to-speech model's price per character of the text spoken."""
    return ModelPrice(Decimal(0), Decimal(0), per_character=Decimal(usd))


OPENAI_MODELS: dict[str, tuple[int | None, ModelPrice | None]] = {
    "gpt-4o": (128_000, _p("2.50", "10.00", "1.25")),
    "gpt-4o-mini": (128_000, _p("0.15", "0.60", "0.075")),
    # Chat Completions' search models (each call one search, see WEB_SEARCH): the
    # token prices of their base models (gpt-4o 2.50 and 10.00, gpt-4o-mini 0.15 and
    # 0.60, gpt-5 1.25 and 10.00, OpenAI's pricing page and OpenRouter's model
    # pages); gpt-5-search-api is a reasoning model, billed as the web_search tool.
    # An entry each, or the prefix match would price them as gpt-4o without searches.
    "gpt-4o-search-preview": (128_000, _p("2.50", "10.00", search=PREVIEW_SEARCH)),
    "gpt-4o-mini-search-preview": (128_000, _p("0.15", "0.60", search=PREVIEW_SEARCH)),
    "gpt-5-search-api": (128_000, _p("1.25", "10.00", "0.125")),
    "gpt-4.1": (1_047_576, _p("2.00", "8.00", "0.50")),
    "gpt-4.1-mini": (1_047_576, _p("0.40", "1.60", "0.10")),
    "gpt-4.1-nano": (1_047_576, _p("0.10", "0.40", "0.025")),
    "gpt-5": (400_000, _p("1.25", "10.00", "0.125")),
    "gpt-5-mini": (400_000, _p("0.25", "2.00", "0.025")),
    "gpt-5-nano": (400_000, _p("0.05", "0.40", "0.005")),
    # The GPT-5.x releases (developers.openai.com/api/docs/pricing, standard tier,
    # context under 270K tokens): 5.1 1.25 (cached 0.125) and 10.00 out; 5.2 1.75
    # (0.175) and 14.00; 5.4 2.50 (0.25) and 15.00, its mini 0.75 (0.075) and 4.50,
    # its nano 0.20 (0.02) and 1.25; 5.5 5.00 (0.50) and 30.00. The pro models take
    # no cached input: 5.2-pro 21.00 and 168.00, 5.4-pro and 5.5-pro 30.00 and
    # 180.00. As read from that page on 2026-06-04 (tokenmix.ai), in June 2026
    # (morphllm.com) and for 5.1, 5.2 and 5.2-pro from the GPT-5.2 launch page
    # (benchlm.ai), which agree. A name matches a row only at a "-" (see
    # known_model), so gpt-5.6-sol is not priced as gpt-5 and has no price here.
    "gpt-5.1": (400_000, _p("1.25", "10.00", "0.125")),
    "gpt-5.2": (400_000, _p("1.75", "14.00", "0.175")),
    "gpt-5.2-pro": (400_000, _p("21.00", "168.00")),
    "gpt-5.4": (1_050_000, _p("2.50", "15.00", "0.25")),
    "gpt-5.4-mini": (400_000, _p("0.75", "4.50", "0.075")),
    "gpt-5.4-nano": (400_000, _p("0.20", "1.25", "0.02")),
    "gpt-5.4-pro": (1_050_000, _p("30.00", "180.00")),
    "gpt-5.5": (1_050_000, _p("5.00", "30.00", "0.50")),
    "gpt-5.5-pro": (1_050_000, _p("30.00", "180.00")),
    # Variants whose price we could not check on OpenAI's pages: a row without a
    # price, so that the prefix match does not give them their base model's
    # (gpt-5.1-codex-mini is not gpt-5.1's price; the deep research models cost
    # several times o3's and o4-mini's). Their cost stays None.
    "gpt-5.1-codex-mini": (400_000, None),
    "o3-deep-research": (200_000, None),
    "o4-mini-deep-research": (200_000, None),
    "o3": (200_000, _p("2.00", "8.00", "0.50")),
    "o3-mini": (200_000, _p("1.10", "4.40", "0.55")),
    "o4-mini": (200_000, _p("1.10", "4.40", "0.275")),
    # served only by the Responses API (an entry each, or the prefix match would
    # give o3-pro o3's price and gpt-5-pro gpt-5's)
    "o1-pro": (200_000, _p("150.00", "600.00")),
    "o3-pro": (200_000, _p("20.00", "80.00")),
    "gpt-5-pro": (400_000, _p("15.00", "120.00")),
    # OpenAI's model page for gpt-5-codex now says "Shut down"
    # (developers.openai.com/api/docs/models/gpt-5-codex); kept for proxies.
    "gpt-5-codex": (400_000, _p("1.25", "10.00", "0.125")),
    "codex-mini-latest": (200_000, _p("1.50", "6.00", "0.375")),
    # embeddings: input tokens only (the window is the longest text embedded)
    "text-embedding-3-small": (8_192, _p("0.02", "0", search=None)),
    "text-embedding-3-large": (8_192, _p("0.13", "0", search=None)),
    "text-embedding-ada-002": (8_192, _p("0.10", "0", search=None)),
    # speech to text (developers.openai.com/api/docs/pricing): whisper-1 is billed
    # per minute of audio, USD 0.006; the gpt-4o transcribe models per token: audio
    # input USD 6.00 (mini 3.00) per million, text input (the prompt) 2.50 (1.25),
    # output 10.00 (5.00), which OpenAI estimates as USD 0.006 (0.003) a minute.
    # (The audio rate is in OpenAI's cookbook too: "gpt-4o-transcription is $2.50
    # text in, $10.00 text out and $6.00 audio input all per 1M tokens".)
    "whisper-1": (None, ModelPrice(Decimal(0), Decimal(0), per_minute=Decimal("0.006"))),
    "gpt-4o-transcribe": (16_000, _audio("2.50", "10.00", "6.00")),
    "gpt-4o-mini-transcribe": (16_000, _audio("1.25", "5.00", "3.00")),
    # image generation and edits. The GPT image models bill tokens: the prompt's
    # at the text input price, the images an edit sends at the image input price
    # (image_input: the answer's input_tokens_details.image_tokens), the images
    # drawn at the image output price. USD per million, text in (cached) / image
    # in / image out:
    # - gpt-image-2 (snapshot gpt-image-2-2026-04-21): 5.00 (1.25) / 8.00 / 30.00,
    #   as xairouter.com's model page quotes OpenAI's model and pricing pages (its
    #   "Standard Pricing" line; OpenAI's own gpt-image-2 page names no rates in the
    #   copy we could read).
    # - gpt-image-1.5: 5.00 (1.25) / 8.00 / 32.00, OpenAI's standard-tier table as
    #   imagine.art quotes it (2026-03-27); llmreference.com (refreshed 2026-05-10)
    #   lists the same 8.00 in and 32.00 out.
    # - gpt-image-1-mini: 2.00 (0.20) / 2.50 / 8.00, OpenAI's model page
    #   (developers.openai.com/de-DE/api/docs/models/gpt-image-1-mini).
    # - gpt-image-1: 5.00 (1.25) / 10.00 / 40.00, OpenAI's model page
    #   (developers.openai.com/ja-JP/api/docs/models/gpt-image-1, which says OpenAI
    #   retired the model on 2026-10-23; kept for Azure OpenAI and proxies).
    # Cached image input (2.00, 0.25, 2.50) has no field here: the Images API
    # answer counts no cached tokens. Output tokens count every output token at the
    # image price; gpt-image-1.5 also bills text output (its reasoning, 10.00),
    # which the answer's output_tokens_details.text_tokens would tell apart.
    "gpt-image-1": (None, _image_tokens("5.00", "1.25", "10.00", "40.00")),
    "gpt-image-1-mini": (None, _image_tokens("2.00", "0.20", "2.50", "8.00")),
    "gpt-image-1.5": (None, _image_tokens("5.00", "1.25", "8.00", "32.00")),
    "gpt-image-2": (None, _image_tokens("5.00", "1.25", "8.00", "30.00")),
    # DALL-E is billed per image by quality and size (OpenAI's pricing page, before
    # OpenAI retired both models on 2026-05-12; Azure OpenAI still serves them):
    # dall-e-3 standard 1024x1024 0.04, 1024x1792 or 1792x1024 0.08; hd 0.08 and
    # 0.12; dall-e-2 1024x1024 0.020, 512x512 0.018, 256x256 0.016.
    "dall-e-3": (
        None,
        _per_image(
            "0.04",
            {
                "1024x1792": "0.08",
                "1792x1024": "0.08",
                "hd": "0.08",
                "hd/1024x1792": "0.12",
                "hd/1792x1024": "0.12",
            },
        ),
    ),
    "dall-e-2": (None, _per_image("0.020", {"512x512": "0.018", "256x256": "0.016"})),
    # text to speech. tts-1 and tts-1-hd are billed per character of input: USD 15
    # and 30 a million (OpenAI's pricing page, as listed by apio.sh/apis/openai-tts
    # and llmreference.com/model/tts-1). gpt-4o-mini-tts bills tokens, text in at
    # USD 0.60 and audio out at 12.00 a million, "estimated cost $0.015 / minute"
    # (the pricing page, as quoted on community.openai.com/t/1151816); its answer
    # counts no tokens, so relaykit prices it per character, as an estimate: 0.015
    # a minute at about 915 characters a minute (4,096 characters spoke 268 s in
    # sanand0's measurement, github.com/sanand0/blog posts/2025/openai-tts-cost.md),
    # USD 16 a million. An entry each, or gpt-4o-mini-tts would match gpt-4o-mini.
    "tts-1": (None, _per_character("0.000015")),
    "tts-1-hd": (None, _per_character("0.00003")),
    "gpt-4o-mini-tts": (None, _per_character("0.000016")),
    # moderation: "The moderation endpoint is free to use" (OpenAI's moderation
    # guide), so a call costs USD 0, not an unknown amount. Prefixes: the aliases
    # (omni-moderation-latest) and the snapshots (omni-moderation-2024-09-26).
    "omni-moderation": (None, _p("0", "0", search=None)),
    "text-moderation": (None, _p("0", "0", search=None)),
}


def known_model(
    table: dict[str, tuple[int | None, ModelPrice | None]], model: str
) -> tuple[int | None, ModelPrice | None]:
    """Context window and price of ``model`` in ``table``: the row of its longest
    prefix that ends where the name ends or at a ``-``; ``(None, None)`` if none."""
    best: tuple[int | None, ModelPrice | None] = (None, None)
    best_len = 0
    for prefix, info in table.items():
        if (
            len(prefix) > best_len
            and model.startswith(prefix)
            and model[len(prefix) : len(prefix) + 1] in ("", "-")
        ):
            best, best_len = info, len(prefix)
    return best
