"""What this plugin knows about Gemini models: context window and USD per 1M tokens.

List prices from ai.google.dev/gemini-api/docs/pricing (paid tier, text input).
Gemini 2.5 Pro charges more for prompts over 200k tokens; :class:`ModelPrice`
has no tiers, so the table holds the price of the common case (prompts up to
200k). Thinking tokens are billed as output, which is how relaykit counts them.
Embedding models bill input tokens only (text input for the multimodal
``gemini-embedding-2``, which is all relaykit sends). ``text-embedding-004``
is left out: Google retired it on 14 January 2026.
A model missing here simply has ``cost = None``.

Audio input costs more than text on some models (``audio_input``: 2.5 Flash
1.00 a million against 0.30 for text, 2.5 Flash-Lite 0.30, 2.0 Flash 0.70);
2.5 Pro bills audio as text. The TTS models bill their text input at
``input`` and the audio they speak at ``output``, all of their output being
audio. Gemini 3.1 Flash TTS Preview and the 3.8 TTS models are left out
until their prices are settled (3.8's are launch prices, to double in 2027).

Grounding with Google Search (``web_search=``) adds a price per search
(``ModelPrice.web_search``): USD 14 a thousand search queries on Gemini 3, USD 35
a thousand grounded prompts on Gemini 2.x (the pricing page, as the reports of
2026 quote it). The free allowances (a monthly 5,000 prompts on Gemini 3, 1,500 a
day on 2.x, shared by the project) are not counted: ``cost`` is what the searches
cost once they are used up. The chat rows of the TTS, image and embedding models
have no search price.

Image models are priced per image (:meth:`relaykit.ModelPrice.image_price`,
keyed by the resolution, relaykit's ``quality`` for them). The Gemini image
models bill tokens, but every image of a resolution costs the same number of
image output tokens, at an image rate ten times their text rate (3 Pro Image:
USD 120 a million for images, 12 for text and thinking); :class:`ModelPrice`
has one output rate, so their images are priced as Google states them per image
(1290 tokens at USD 30 a million is 2.5 Flash Image's USD 0.039), their chat
(text) by their text rates, and ``usage`` still carries the tokens Google
counted. An edit's input images bill at each model's input rate, as text does
(3 Pro Image: USD 0.0011 an image, 560 tokens at 2 a million), so these rows
need no ``image_input``; priced per image, their input tokens are not counted
in ``cost`` (a fraction of a cent an image).
"""

from __future__ import annotations

from decimal import Decimal

from relaykit import ModelPrice

#: USD per search query Gemini 3 bills for Grounding with Google Search ("$14 /
#: 1,000 search queries", ai.google.dev pricing), and per grounded prompt on Gemini
#: 2.x ("$35 / 1,000 grounded prompts"); ``Usage.web_searches`` counts each its way
#: (:mod:`relaykit_gemini.grounding`)
SEARCH_QUERY = "0.014"
GROUNDED_PROMPT = "0.035"


def _p(
    inp: str,
    out: str,
    cached: str | None = None,
    audio: str | None = None,
    search: str | None = None,
) -> ModelPrice:
    return ModelPrice(
        Decimal(inp),
        Decimal(out),
        Decimal(cached) if cached else None,
        audio_input=Decimal(audio) if audio else None,
        batch_share=Decimal("0.5"),  # batch mode: "50% of the standard cost" (ai.google.dev)
        web_search=Decimal(search) if search else None,
    )


def _per_image(
    each: str, inp: str = "0", out: str = "0", others: dict[str, str] | None = None
) -> ModelPrice:
    """A model whose images cost ``each`` at 1K, ``others`` at other resolutions
    (``{"2K": "0.101"}``), and its text ``inp`` and ``out`` a million tokens."""
    return ModelPrice(
        Decimal(inp),
        Decimal(out),
        per_image=Decimal(each),
        image_prices={k: Decimal(v) for k, v in (others or {}).items()},
    )


# name prefix: (input token limit, price); the longest matching prefix wins, so
# "gemini-2.5-flash-lite-preview-09-2025" is priced as flash-lite, not flash.
GEMINI_MODELS: dict[str, tuple[int | None, ModelPrice | None]] = {
    # Gemini 3.x (ai.google.dev/gemini-api/docs/pricing, paid tier, text input, as
    # transcribed on 2026-10-07 by api-evangelist/deepmind, and for 3 Flash quoted
    # on 2026-07-04 by factquire.com): 3.5 Flash 1.50 and 9.00; 3.5 Flash-Lite 0.30
    # and 2.50; 3.1 Pro Preview 2.00 and 12.00 (prompts up to 200k; 4.00 and 18.00
    # above); 3.1 Flash-Lite 0.25 and 1.50; 3 Flash Preview 0.50 and 3.00 (cached
    # 0.05). Context-cache rates unread for the others: their cached tokens are
    # priced as input. Windows from Google's Gemini 3.5 Flash guide
    # (docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-5-flash;
    # 3.5 Flash-Lite's unread). Gemini 3.6 and 3.8 Flash are left out: their
    # introductory prices end on 2026-12-31. The prefixes match -preview names too.
    "gemini-3.5-flash": (1_048_576, _p("1.50", "9.00", search=SEARCH_QUERY)),
    "gemini-3.5-flash-lite": (None, _p("0.30", "2.50", search=SEARCH_QUERY)),
    "gemini-3.1-pro": (1_048_576, _p("2.00", "12.00", search=SEARCH_QUERY)),
    "gemini-3.1-flash-lite": (1_048_576, _p("0.25", "1.50", search=SEARCH_QUERY)),
    "gemini-3-flash": (1_048_576, _p("0.50", "3.00", "0.05", search=SEARCH_QUERY)),
    # Google shut gemini-2.5-pro and gemini-2.5-flash down on 2026-12-01 (its
    # deprecations page, read on 2026-11-10 by aideprecations.com): requests to
    # them are since routed to gemini-3.8-flash and gemini-3.5-flash-lite and billed
    # at those models' rates. Gemini 2.0 Flash and Flash-Lite were shut down on
    # 2026-06-01 (firebase.google.com/docs/ai-logic, updated 2026-06-18). Kept for
    # proxies that still serve them (Vertex AI keeps its own schedule).
    "gemini-2.5-pro": (1_048_576, _p("1.25", "10.00", "0.125", search=GROUNDED_PROMPT)),
    "gemini-2.5-flash": (
        1_048_576,
        _p("0.30", "2.50", "0.03", audio="1.00", search=GROUNDED_PROMPT),
    ),
    "gemini-2.5-flash-lite": (
        1_048_576,
        _p("0.10", "0.40", "0.01", audio="0.30", search=GROUNDED_PROMPT),
    ),
    "gemini-2.0-flash": (
        1_048_576,
        _p("0.10", "0.40", "0.025", audio="0.70", search=GROUNDED_PROMPT),
    ),
    "gemini-2.0-flash-lite": (1_048_576, _p("0.075", "0.30", search=GROUNDED_PROMPT)),
    # Text to speech: text in, audio out (ai.google.dev pricing, "Gemini 2.5 Flash
    # Preview TTS" 0.50 and 10.00, "Gemini 2.5 Pro Preview TTS" 1.00 and 20.00);
    # longer than the chat models' prefixes, so they win over them.
    "gemini-2.5-flash-preview-tts": (8_192, _p("0.50", "10.00")),
    "gemini-2.5-pro-preview-tts": (8_192, _p("1.00", "20.00")),
    "gemini-embedding-001": (2_048, _p("0.15", "0")),
    "gemini-embedding-2": (8_192, _p("0.20", "0")),
    # Imagen is left out: Google shut it down on 2026-08-17 (see shutdowns.py).
    # Gemini image models: USD per image = image tokens x the image output rate
    # (ai.google.dev pricing): 2.5 Flash Image 1290 tokens at 30 a million (its row
    # lists image output only: its text is priced as 2.5 Flash's); 3 Pro Image 1120
    # tokens (1K, 2K) or 2000 (4K) at 120, text 2 in and 12 out; 3.1 Flash Image 747
    # (512), 1120 (1K), 1680 (2K) or 2520 (4K) at 60, text 0.50 in and 3 out.
    # The prefixes match the -preview names too.
    "gemini-2.5-flash-image": (32_768, _per_image("0.039", "0.30", "2.50")),
    "gemini-3-pro-image": (65_536, _per_image("0.134", "2", "12", {"4K": "0.24"})),
    "gemini-3.1-flash-image": (
        131_072,
        _per_image("0.067", "0.50", "3", {"512": "0.045", "2K": "0.101", "4K": "0.151"}),
    ),
}


def known_model(model: str) -> tuple[int | None, ModelPrice | None]:
    """Context window and price of ``model``, matched by its longest known prefix."""
    best: tuple[int | None, ModelPrice | None] = (None, None)
    best_len = 0
    for prefix, info in GEMINI_MODELS.items():
        if model.startswith(prefix) and len(prefix) > best_len:
            best, best_len = info, len(prefix)
    return best
