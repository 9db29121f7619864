"""What comes back: :class:`ChatResponse`, :class:`Usage`, and model metadata.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeAlias

import attrs

from .messages import Message, ReasoningPart, TextPart, ToolCall
from .web_search import Citation

__all__ = [
    "NO_USAGE",
    "ChatResponse",
    "FinishReason",
    "ModelInfo",
    "ModelPrice",
    "TokenCount",
    "TokenLogprob",
    "Usage",
    "no_usage",
    "reasoning_fields",
    "tokens_unreported",
]

FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter", "other"]


@attrs.frozen
class TokenCount:
    """The input tokens a prompt would use (:meth:`relaykit.Client.count_tokens`).

    ``exact`` when the provider counted them, as it bills them (system prompt,
    tools and images included); otherwise ``input_tokens`` is an estimate, a
    quarter of the prompt's characters, as rate limits estimate a call.
    """

    input_tokens: int
    exact: bool = True


@attrs.frozen
class Usage:
    """Token counts, following the OpenTelemetry GenAI conventions.

    ``input_tokens`` includes ``cached_input_tokens`` (prompt tokens read from
    the provider's prompt cache) and ``cache_write_input_tokens`` (prompt
    tokens written to it, which Anthropic and Claude on Bedrock bill above the
    input price); ``output_tokens`` includes ``reasoning_tokens``.
    ``cache_write_1h_input_tokens`` are those of the writes that went to a
    one-hour cache (Anthropic's ``"ttl": "1h"``), which cost more again.
    ``web_searches`` are the web searches the vendor billed (``web_search=`` on a
    chat; Gemini 2.x bills one per grounded answer, whatever it searched).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    #: After the first four, so positional ``Usage(in, out, cached, reasoning)`` keeps its meaning.
    cache_write_input_tokens: int = 0
    #: Part of ``cache_write_input_tokens``.
    cache_write_1h_input_tokens: int = 0
    web_searches: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_input_tokens + other.cache_write_input_tokens,
            self.cache_write_1h_input_tokens + other.cache_write_1h_input_tokens,
            self.web_searches + other.web_searches,
        )


#: The usage of an answer whose vendor reported none: :class:`ChatResponse`'s default.
#: A provider plugin returns this very object (``usage=NO_USAGE``, or no ``usage=``
#: at all), not an equal ``Usage()``, when the vendor's answer had no usage (an
#: OpenAI-compatible server that omits it, Ollama without eval counts); the client
#: then charges its estimate of what was billed, marked ``usage_estimated``
#: (:mod:`relaykit.billed_usage`). A usage the vendor reported, zero included,
#: is kept as it came. Told apart by identity (``usage is NO_USAGE``): one test
#: on the hot path. A ``UsageUpdate(NO_USAGE)`` in a stream likewise reports none.
NO_USAGE = Usage()

#: per count of searches, the usage of an answer that ran them but reported no tokens
_SEARCHES_ONLY: dict[int, Usage] = {}


def no_usage(web_searches: int = 0) -> Usage:
    """The usage of an answer that reported no token counts: :data:`NO_USAGE`, or,
    when the answer shows it ran ``web_searches`` billed web searches (an OpenAI
    search model's citations, Gemini's grounding) though it carried no usage object,
    a usage with those searches only. The client charges its estimate of the tokens
    for either (marked ``usage_estimated``) and keeps the searches, whose fees were
    billed. Told apart by identity, as ``NO_USAGE`` is (:func:`tokens_unreported`):
    one object per count of searches."""
    if not web_searches:
        return NO_USAGE
    usage = _SEARCHES_ONLY.get(web_searches)
    if usage is None:
        usage = _SEARCHES_ONLY[web_searches] = Usage(web_searches=web_searches)
    return usage


def tokens_unreported(usage: Usage) -> bool:
    """Whether ``usage`` says the vendor reported no token counts (:func:`no_usage`)."""
    return usage is NO_USAGE or (
        usage.web_searches > 0 and _SEARCHES_ONLY.get(usage.web_searches) is usage
    )


_MILLION = Decimal(1_000_000)  # prices are per million tokens
_PICO = Decimal("1e-12")


def _tidy(usd: Decimal) -> Decimal:
    """``usd`` to a millionth of a cent, without trailing zeros: minutes of audio are
    seconds over 60, rarely a finite decimal (12.25 s at USD 0.006 a minute is
    0.001225, not 0.00122499999999999996)."""
    usd = usd.quantize(_PICO)
    return usd.quantize(1) if usd == usd.to_integral_value() else usd.normalize()


@attrs.frozen
class ModelPrice:
    """USD per million tokens (and per search, per minute of audio or per image, for
    the models billed that way).

    ``cached_input`` prices prompt-cache reads and ``cache_write_input``
    prompt-cache writes (to Anthropic's default five-minute cache); either one
    unset means the plain ``input`` price. ``cache_write_1h_input`` prices the
    writes to a one-hour cache (``Usage.cache_write_1h_input_tokens``); unset,
    they cost what other writes cost. ``per_search`` is USD per search unit
    (Cohere's rerank: a query with up to 100 documents); a price with it bills
    searches, not input tokens. ``per_minute`` is USD per minute of audio
    (OpenAI's whisper-1); a price with it bills the minutes it is given, and
    tokens only when it is given none. ``audio_input`` prices audio input
    tokens (OpenAI's gpt-4o-transcribe bills them above text tokens) and
    ``image_input`` image input tokens (the images an edit sends to OpenAI's GPT
    image models, billed above text tokens); unset, they cost what other input
    tokens cost.

    ``per_character`` is USD per character of text spoken (OpenAI's tts-1:
    USD 15 a million); a price with it bills the characters it is given.

    ``web_search`` is USD per web search the model ran (``Usage.web_searches``:
    USD 0.01 at Anthropic and OpenAI), on top of the tokens; unset, searches
    cost nothing beyond the tokens they add to the prompt.

    ``batch_share`` is the share of this price a batch item pays
    (:meth:`relaykit.Client.submit_batch`): ``Decimal("0.5")`` for the half
    price OpenAI, Anthropic and Gemini charge for batches; unset, a batch
    item costs what a single call does.

    ``per_image`` is USD per generated image (OpenAI's DALL-E, most FLUX
    hosts); ``image_prices`` the prices of images whose price depends on their
    quality or size, keyed ``"QUALITY/SIZE"`` (``"hd/1024x1792"``), ``"SIZE"``
    (at the model's default quality) or ``"QUALITY"`` (at its default size):
    :meth:`image_price` takes the most specific key that matches, else
    ``per_image``. A price with either bills images, not tokens
    (:func:`relaykit.image_generation.image_cost`).
    """

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write_input: Decimal | None = None
    cache_write_1h_input: Decimal | None = None
    per_search: Decimal | None = None
    per_minute: Decimal | None = None
    audio_input: Decimal | None = None
    per_image: Decimal | None = None
    #: not hashed: a price stays usable as a key (a dict is not hashable)
    image_prices: Mapping[str, Decimal] = attrs.field(factory=dict, hash=False)
    per_character: Decimal | None = None
    image_input: Decimal | None = None
    batch_share: Decimal | None = None
    web_search: Decimal | None = None

    def image_price(self, quality: str | None = None, size: str | None = None) -> Decimal | None:
        """USD for one image of ``quality`` and ``size`` (``None``: the model's default),
        or ``None`` when this price is not per image (see the class docstring)."""
        prices = self.image_prices
        if prices:
            if quality and size and (found := prices.get(f"{quality}/{size}")) is not None:
                return found
            for key in (size, quality):
                if key and (found := prices.get(key)) is not None:
                    return found
        return self.per_image

    def cost(
        self,
        usage: Usage,
        *,
        searches: int = 0,
        minutes: float | Decimal = 0,
        audio_tokens: int = 0,
        characters: int = 0,
        image_tokens: int = 0,
    ) -> Decimal:
        """The USD cost of ``usage`` at this price: of ``searches`` search units for a
        price per search, of ``characters`` of text for a price per character, of
        ``minutes`` of audio for a price per minute; of
        ``usage``'s tokens otherwise, ``audio_tokens`` of its input tokens at the
        ``audio_input`` price and ``image_tokens`` of them at the ``image_input``
        price."""
        if self.per_search is not None:
            # Billed per search: the token counts are estimates, not what is billed.
            return searches * self.per_search
        if self.per_character is not None and characters:
            # Billed per character of text spoken (OpenAI's tts-1).
            return _tidy(characters * self.per_character)
        if self.per_minute is not None and minutes:
            # A float's shortest repr, not its binary expansion: 1.5 minutes, not
            # 1.5000000000000000277 of them.
            exact = minutes if isinstance(minutes, Decimal) else Decimal(repr(minutes))
            return _tidy(exact * self.per_minute)
        cached = usage.cached_input_tokens
        cached_rate = self.cached_input if self.cached_input is not None else self.input
        total = (
            (usage.input_tokens - cached) * self.input
            + cached * cached_rate
            + usage.output_tokens * self.output
        )
        written = usage.cache_write_input_tokens
        if written:
            # Counted at the input price above; add what a write costs beyond it.
            write_rate = self.input
            if self.cache_write_input is not None:
                write_rate = self.cache_write_input
                total += written * (write_rate - self.input)
            one_hour = usage.cache_write_1h_input_tokens
            if one_hour and self.cache_write_1h_input is not None:
                total += one_hour * (self.cache_write_1h_input - write_rate)
        if audio_tokens and self.audio_input is not None:
            # Counted at the input price above; add what audio costs beyond it.
            total += audio_tokens * (self.audio_input - self.input)
        if image_tokens and self.image_input is not None:
            # Likewise: counted at the input price above; add what images cost beyond it.
            total += image_tokens * (self.image_input - self.input)
        if usage.web_searches and self.web_search is not None:
            # Per search, not per million tokens.
            return total / _MILLION + usage.web_searches * self.web_search
        return total / _MILLION


@attrs.frozen
class ModelInfo:
    """A model a provider serves, with what is known about it."""

    id: str
    provider: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    price: ModelPrice | None = None
    created: int | None = None
    owned_by: str | None = None

    @property
    def qualified_id(self) -> str:
        """``provider/id``, the form :meth:`relaykit.Client.chat` takes."""
        return f"{self.provider}/{self.id}"


@attrs.frozen
class TokenLogprob:
    """One output token and its log probability, where the call asked for them (OpenAI's
    Chat Completions and compatibles: ``extra={"logprobs": True, "top_logprobs": N}``).

    ``bytes`` are the token's UTF-8 bytes (``None`` when the vendor gives none): a
    character split across tokens shows whole only when their bytes are joined.
    ``top_logprobs`` are the most likely tokens at this place, most likely first
    (each with no ``top_logprobs`` of its own).
    """

    token: str
    logprob: float
    bytes: builtins.bytes | None = attrs.field(default=None, kw_only=True)
    top_logprobs: tuple[TokenLogprob, ...] = attrs.field(default=(), kw_only=True)


# Not slotted: a frozen slotted class sets each field through object.__setattr__
# (a C call of ~1 k instructions); a frozen dict class writes its __dict__
# directly, ~40% less to build. A response is built twice a call and each field
# read a few times; Usage, read far more often than built, stays slotted (see
# docs/benchmarks.md, "Session 19").
@attrs.frozen(kw_only=True, slots=False)
class ChatResponse:
    """The result of one chat call, streamed or not.

    ``reasoning_parts`` are the model's reasoning blocks in the order it
    produced them, each with its own signature or redacted data (see
    :class:`~relaykit.ReasoningPart`); :meth:`to_message` sends them back as
    they came. ``reasoning`` is their text joined, for display, and
    ``reasoning_signature`` the last block's signature, kept for code written
    before ``reasoning_parts``. A provider whose reasoning is plain text, with
    no signature, redacted data or origin (OpenAI-compatible ``reasoning_content``,
    Ollama's ``thinking``), leaves ``reasoning_parts`` empty: :meth:`to_message`
    then sends ``reasoning`` as one part.

    ``citations`` are the web pages the answer cites, when the provider searched
    the web for it (``web_search=``; see :class:`~relaykit.Citation`), and
    ``search_queries`` what the model searched for, in the order it searched,
    where the vendor says (OpenAI's Responses API, Anthropic, Gemini; Gemini
    lists each query once). Content, like the text: a call record keeps them
    only where it keeps the messages, redacted.

    ``search_suggestions`` is Google's Search Suggestions for a Gemini (or
    Vertex AI) answer grounded with Google Search: an HTML snippet with its own
    CSS (``groundingMetadata.searchEntryPoint.renderedContent``, ~5 KB) that
    links the model's queries to Google Search. Google's terms for Grounding
    with Google Search ask an app that shows the answer to show these beside
    it, as they come (in a web view, for example). ``None`` from every other
    provider, and for an answer that did not search. A display artefact: the
    response cache keeps it with the answer, a call record never does.

    ``stop_sequence`` is the stop sequence (one of the call's ``stop=``) the answer
    stopped on, where the vendor says which: Anthropic (its API, Vertex AI,
    Foundry) and Claude's Messages API on Bedrock always do, Bedrock's Converse
    when asked (``additionalModelResponseFields``); OpenAI, Gemini and Ollama
    say only that the model stopped (``finish_reason`` ``"stop"``), so it stays
    ``None`` for them, as for an answer that met none. ``finish_reason`` is
    ``"stop"`` either way.

    ``usage_estimated`` says ``usage`` (and so ``cost``) is partly relaykit's
    estimate of what the vendor billed: a stream left early (``s.response``) or
    broken (``StreamError.partial``) before the vendor's usage came, or an
    answer, whole or streamed, that came without any (a server that sends no
    usage; see :data:`NO_USAGE` and :mod:`relaykit.billed_usage`). Its call
    record says so too.
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason = "stop"
    usage: Usage = NO_USAGE
    model: str = ""
    provider: str = ""
    id: str | None = None
    cost: Decimal | None = None
    latency: float | None = None
    #: streams: seconds from the call's first request (after a ``[limits]``
    #: limiter's wait, which ``latency`` includes) to its first piece of content
    time_to_first_token: float | None = None
    attempts: int = 1
    cache_hit: bool = False
    reasoning_signature: str | None = None
    reasoning_parts: tuple[ReasoningPart, ...] = ()
    citations: tuple[Citation, ...] = ()
    search_queries: tuple[str, ...] = ()
    search_suggestions: str | None = None
    usage_estimated: bool = False
    stop_sequence: str | None = None
    #: each output token with its log probability, where the call asked for them and
    #: the provider reads them (:class:`TokenLogprob`); empty otherwise
    logprobs: tuple[TokenLogprob, ...] = ()
    #: the answer as an instance of the ``response_format`` class the call gave
    #: (``None`` without one); never stored, cached or serialised: it is made
    #: again from ``text``
    parsed: Any = attrs.field(default=None, eq=False, repr=False)

    def to_message(self) -> Message:
        """This response as an assistant :class:`Message`, to continue the conversation.

        The reasoning blocks come first, in order, then the text, then the tool calls.
        """
        parts: list[TextPart | ToolCall | ReasoningPart] = []
        if self.reasoning_parts:
            parts.extend(self.reasoning_parts)
        elif self.reasoning or self.reasoning_signature:
            # A response built by hand (or cached) before reasoning_parts existed.
            parts.append(ReasoningPart(self.reasoning, self.reasoning_signature))
        if self.text:
            parts.append(TextPart(self.text))
        parts.extend(self.tool_calls)
        return Message("assistant", tuple(parts))


def reasoning_fields(parts: Sequence[ReasoningPart]) -> tuple[str, str | None]:
    """``reasoning`` and ``reasoning_signature`` for a response with reasoning ``parts``:
    their text joined, and the signature of the last signed one."""
    signature = next((p.signature for p in reversed(parts) if p.signature), None)
    return "".join([p.text for p in parts]), signature


def fields_setter(*own: str) -> Callable[..., ChatResponse]:
    """``setter(response, **values)``: a copy of ``response`` with the fields ``own``
    names set to ``values`` (each required); ``attrs.evolve``, faster.

    ``attrs.evolve`` looks up the class's fields and their aliases on every call
    and passes them all by ``**``; the copy here is compiled once from the fields
    (a field added later is carried over without a change here), about 40% fewer
    instructions. The client makes one per call, a cache hit one more.
    """
    unknown = set(own) - {a.name for a in attrs.fields(ChatResponse)}
    if unknown:
        raise ValueError(f"ChatResponse has no field {', '.join(sorted(unknown))}")
    args = ", ".join(
        f"{a.alias}={a.name if a.name in own else 'r.' + a.name}"
        for a in attrs.fields(ChatResponse)
        if a.init
    )
    namespace: dict[str, Any] = {"ChatResponse": ChatResponse}
    exec(  # the source is built above from the class's own field names
        f"def setter(r, *, {', '.join(own)}):\n    return ChatResponse({args})\n",
        namespace,
    )
    return namespace["setter"]  # type: ignore[no-any-return]


#: ``with_call_fields(response, provider=, model=, latency=, cost=, attempts=)``: the
#: response with what the client knows about the call; ``attrs.evolve``, faster.
with_call_fields = fields_setter("provider", "model", "latency", "cost", "attempts")
