"""Speech to text: :class:`TranscriptionRequest` in, :class:`TranscriptionResponse` out.

:meth:`relaykit.Client.transcribe` reads the audio (:func:`relaykit.audio.read_audio`),
builds the request from the caller's arguments (:func:`build_transcription_request`)
and hands it to a provider's optional ``transcribe`` method; routing, limits,
retries, breakers, cost, traces, metrics and the call log are the chat
pipeline's, in :mod:`relaykit.transcription_call`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from .audio import AudioFile, header_seconds
from .errors import InvalidRequestError, did_you_mean
from .response import ModelPrice, Usage
from .secrets import scrubbed_repr
from .validation import check_options


@attrs.frozen(kw_only=True)
class TranscriptionRequest:
    """One transcription, as the core hands it to a provider plugin's ``transcribe``.

    ``model`` is the provider's own model name (without the ``provider/``
    prefix); ``audio`` the audio, its format known (``audio.format``,
    ``audio.upload_name``). ``language`` is the audio's language as the caller
    gave it (ISO-639-1, ``"en"``), ``prompt`` a text to guide the model's
    spelling and style. ``audio_seconds`` is how long the audio lasts, when
    its header says (WAV, FLAC). ``extra`` is merged into the form sent.
    """

    model: str
    audio: AudioFile
    language: str | None = None
    prompt: str | None = None
    audio_seconds: float | None = None
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)


@attrs.frozen
class TimedText:
    """A piece of a transcript and when it is said: ``start`` and ``end`` in seconds
    from the audio's start, ``text`` as the vendor wrote it (a word, or a segment's
    text with its leading space)."""

    start: float
    end: float
    text: str


@attrs.frozen(kw_only=True)
class TranscriptionResponse:
    """The result of one transcription: the text said in the audio.

    ``language`` is the audio's language as the vendor named it (OpenAI's
    Whisper says ``"english"``), or the one asked for when it named none;
    ``duration`` the audio's length in seconds, when the vendor said.
    ``usage`` holds the tokens of vendors that bill them (OpenAI's
    gpt-4o-transcribe: input tokens, of which ``audio_tokens`` are the
    audio's, and the transcript's output tokens); vendors that bill minutes
    count none. ``cost`` is in USD when the model's price is known: per minute
    of ``duration``, or per token.
    ``segments`` and ``words`` are the transcript's pieces with their times, where
    the vendor gave them (OpenAI's whisper-1 with ``response_format`` verbose_json:
    segments by default, words with ``extra={"timestamp_granularities": ["word"]}``);
    empty otherwise.
    ``truncated`` says the vendor stopped the transcript at its output limit
    before the audio's end (Gemini's ``MAX_TOKENS``), as a chat answer's
    ``finish_reason == "length"`` does; ``False`` where the vendor says nothing
    of it (OpenAI's transcription answers carry no such word).
    """

    text: str
    language: str | None = None
    duration: float | None = None
    model: str = ""
    provider: str = ""
    id: str | None = None
    usage: Usage = Usage()
    audio_tokens: int = 0
    cost: Decimal | None = None
    latency: float | None = None
    attempts: int = 1
    #: a streamed transcription's seconds from the request to its first text
    time_to_first_chunk: float | None = None
    segments: tuple[TimedText, ...] = attrs.field(default=(), repr=False)
    words: tuple[TimedText, ...] = attrs.field(default=(), repr=False)
    truncated: bool = False


PARAMS = ("language", "prompt", "timeout", "metadata", "extra")
#: an ISO-639 code, possibly with a region (``en``, ``pt-BR``): what vendors take
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?")


def build_transcription_request(
    model: str, audio: AudioFile, params: Mapping[str, Any]
) -> TranscriptionRequest:
    """Validate the caller's arguments into a :class:`TranscriptionRequest` for ``model``."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        name = unknown[0]
        fix = did_you_mean(
            name, PARAMS, f"transcribe takes {', '.join(PARAMS)}; pass others in extra={{...}}"
        )
        raise InvalidRequestError(f"unknown parameter {name!r} for transcribe: {fix}", param=name)
    p = {key: value for key, value in params.items() if value is not None}
    language = p.get("language")
    if language is not None and (
        not isinstance(language, str) or not _LANGUAGE.fullmatch(language)
    ):
        raise InvalidRequestError(
            f"`language` must be a language code such as 'en' or 'pt', not {language!r}"[:120],
            param="language",
        )
    prompt = p.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidRequestError(
            f"`prompt` must be a string, not {type(prompt).__name__}", param="prompt"
        )
    if prompt == "":
        del p["prompt"]
    check_options(p)
    return TranscriptionRequest(model=model, audio=audio, audio_seconds=header_seconds(audio), **p)


# -- cost --------------------------------------------------------------------------


def transcription_cost(price: ModelPrice | None, response: TranscriptionResponse) -> Decimal | None:
    """What ``response`` cost at ``price``: per minute of its ``duration`` when the price
    is per minute and the vendor said how long the audio was; else per token when
    the price has token prices and the vendor counted tokens; else ``None``
    (unknown, rather than a wrong zero)."""
    if price is None:
        return None
    if price.per_minute is not None and response.duration is not None:
        minutes = Decimal(repr(response.duration)) / 60
        return price.cost(response.usage, minutes=minutes)
    if response.usage.total_tokens and (price.input or price.output):
        return price.cost(response.usage, audio_tokens=response.audio_tokens)
    return None
