"""Text to speech: :class:`SpeechRequest` in, :class:`SpeechResponse` out.

:meth:`relaykit.Client.speak` builds the request from the caller's arguments
(:func:`build_speech_request`) and hands it to a provider's optional ``speak``
method; routing, limits, retries, breakers, cost, traces, metrics and the call
log are the chat pipeline's, in :mod:`relaykit.speech_call`.

The audio comes back whole, as bytes; :meth:`relaykit.Client.stream_speech`
streams it instead, chunk by chunk as the vendor sends it, through a provider's
optional ``stream_speech`` (:mod:`relaykit.speech_stream`).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from .audio import AudioFile, header_seconds
from .errors import InvalidRequestError, did_you_mean
from .response import ModelPrice, Usage
from .secrets import scrubbed_repr
from .speech_formats import FORMATS, MEDIA_TYPES
from .validation import check_options

__all__ = ["FORMATS", "MEDIA_TYPES", "SpeechRequest", "SpeechResponse", "media_type_of"]

#: the speeds OpenAI takes (1.0 is normal)
SPEEDS = (0.25, 4.0)
#: a second of ``pcm`` audio as OpenAI sends it: 24,000 samples of 2 bytes
PCM_BYTES_PER_SECOND = 48_000


@attrs.frozen(kw_only=True)
class SpeechRequest:
    """One text to speak, as the core hands it to a provider plugin's ``speak``.

    ``model`` is the provider's own model name (without the ``provider/``
    prefix); ``text`` what to say (not blank; each service's length limit is
    the plugin's to check: OpenAI's 4,096 characters). ``voice`` is the
    vendor's voice name (``alloy``, ``coral``...), passed as it is: voices
    change, the vendor refuses one it lacks. ``format`` is one of
    :data:`FORMATS` (``mp3`` unless asked); ``speed`` 0.25 to 4.0 (``None``:
    the vendor's 1.0); ``instructions`` how to say it (tone, accent, pace:
    models that take them, OpenAI's gpt-4o-mini-tts). ``extra`` is merged
    into the request body.
    """

    model: str
    text: str
    voice: str
    format: str = "mp3"
    speed: float | None = None
    instructions: str | None = None
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)


@attrs.frozen(kw_only=True, repr=False)
class SpeechResponse:
    """The result of one text to speech: the spoken ``audio``, whole, as bytes.

    ``format`` is the format asked for (``mp3``...), ``media_type`` the audio's
    (``audio/mpeg``). ``usage`` holds tokens only where a vendor reports them
    (OpenAI's speech endpoint reports none). ``cost`` is in USD when the
    model's price is known: per character of the text (OpenAI's tts-1; an
    estimate for gpt-4o-mini-tts, billed by tokens it does not report). The
    repr shows the audio's size and format, never its bytes. Write it with
    ``await anyio.Path("hello.mp3").write_bytes(response.audio)``.

    A streamed speech's response (:class:`relaykit.SpeechStream`) keeps no
    audio: its chunks went to the caller as they came, so ``audio`` is
    ``b""`` and ``streamed_bytes`` says how many bytes there were.

    ``truncated`` says the vendor stopped the audio at its output limit before
    the text's end (Gemini's ``MAX_TOKENS``), as a chat answer's
    ``finish_reason == "length"`` does; ``False`` where the vendor says nothing
    of it (OpenAI's speech endpoint sends audio alone).
    """

    audio: bytes
    format: str = "mp3"
    media_type: str = "audio/mpeg"
    model: str = ""
    provider: str = ""
    id: str | None = None
    usage: Usage = Usage()
    cost: Decimal | None = None
    latency: float | None = None
    attempts: int = 1
    #: the bytes of audio a stream sent, whose ``audio`` is not kept (``None``: the
    #: audio is whole, in ``audio``)
    streamed_bytes: int | None = None
    #: a streamed speech's seconds from the request to its first chunk of audio
    time_to_first_chunk: float | None = None
    truncated: bool = False

    @property
    def size(self) -> int:
        """The audio's size in bytes: ``audio``'s, or a stream's ``streamed_bytes``."""
        return len(self.audio) if self.streamed_bytes is None else self.streamed_bytes

    @property
    def duration(self) -> float | None:
        """How long the audio lasts in seconds, where its bytes say: a WAV's or FLAC's
        header, or ``pcm``'s size (at OpenAI's 24 kHz); ``None`` for compressed
        formats relaykit does not decode (mp3, opus, aac), and for a streamed WAV or
        FLAC, whose bytes were not kept."""
        if self.format == "pcm":
            return self.size / PCM_BYTES_PER_SECOND
        if self.format in ("wav", "flac") and self.audio:
            return header_seconds(AudioFile(self.audio))
        return None

    def __repr__(self) -> str:
        cost = "" if self.cost is None else f", cost={self.cost}"
        streamed = "" if self.streamed_bytes is None else " streamed"
        return (
            f"SpeechResponse({self.size:,} bytes {self.format}{streamed}, model={self.model!r},"
            f" provider={self.provider!r}{cost}, attempts={self.attempts})"
        )


PARAMS = ("voice", "format", "speed", "instructions", "timeout", "metadata", "extra")


def build_speech_request(model: str, text: Any, params: Mapping[str, Any]) -> SpeechRequest:
    """Validate the caller's arguments into a :class:`SpeechRequest` for ``model``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError(
            f"text must be a non-blank string, not {text!r}"[:120],
            param="text",
            hint="say what to speak: speak(model, 'Hello there', voice='alloy')",
        )
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        name = unknown[0]
        fix = did_you_mean(
            name, PARAMS, f"speak takes {', '.join(PARAMS)}; pass others in extra={{...}}"
        )
        raise InvalidRequestError(f"unknown parameter {name!r} for speak: {fix}", param=name)
    p = {key: value for key, value in params.items() if value is not None}
    voice = p.get("voice")
    if not isinstance(voice, str) or not voice.strip():
        # Required, as in the OpenAI SDK: there is no voice every vendor has.
        raise InvalidRequestError(
            f"`voice` must name one of the vendor's voices, not {voice!r}"[:120],
            param="voice",
            hint="pass voice=, e.g. voice='alloy' (OpenAI: alloy, ash, ballad, coral, echo,"
            " fable, nova, onyx, sage, shimmer, verse, marin, cedar)",
        )
    fmt = p.get("format", "mp3")
    name = fmt.lower() if isinstance(fmt, str) else fmt
    if name not in MEDIA_TYPES:
        raise InvalidRequestError(
            f"`format` must be one of {', '.join(FORMATS)}, not {fmt!r}"[:120], param="format"
        )
    p["format"] = name
    speed = p.get("speed")
    if speed is not None and (
        not isinstance(speed, int | float)
        or isinstance(speed, bool)
        or not SPEEDS[0] <= speed <= SPEEDS[1]
    ):
        raise InvalidRequestError(
            f"`speed` must be a number from 0.25 to 4.0 (1.0 is normal), not {speed!r}"[:120],
            param="speed",
        )
    instructions = p.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequestError(
            f"`instructions` must be a string, not {type(instructions).__name__}",
            param="instructions",
        )
    if instructions == "":
        del p["instructions"]
    check_options(p)
    return SpeechRequest(model=model, text=text, **p)


def media_type_of(fmt: str, claimed: str | None = None) -> str:
    """The media type of audio in ``fmt``: the vendor's ``claimed`` one when it is an
    audio type, else :data:`MEDIA_TYPES`'s."""
    if claimed:
        claimed = claimed.split(";", 1)[0].strip().lower()
        if claimed.startswith("audio/"):
            return claimed
    return MEDIA_TYPES.get(fmt, "application/octet-stream")


# -- cost and holds ------------------------------------------------------------


def speech_cost(
    price: ModelPrice | None, request: SpeechRequest, response: SpeechResponse
) -> Decimal | None:
    """What ``response`` cost at ``price``: per character of ``request.text`` when the
    price is per character; else per token when the vendor counted tokens; else
    ``None`` (unknown, rather than a wrong zero)."""
    if price is None:
        return None
    if price.per_character is not None:
        return price.cost(response.usage, characters=len(request.text))
    if response.usage.total_tokens and (price.input or price.output):
        return price.cost(response.usage)
    return None
