"""OpenAI's text to speech (``POST /v1/audio/speech``), for
:class:`~relaykit.testing.OpenAIMock`.

A JSON body in: ``model``, ``input`` (the text, at most 4,096 characters),
``voice``, and optional ``response_format`` (``mp3`` by default, ``opus``,
``aac``, ``flac``, ``wav``, ``pcm``), ``speed`` (0.25 to 4.0) and
``instructions`` (gpt-4o-mini-tts only: "Does not work with tts-1 or
tts-1-hd", per the API reference). The answer is the audio's bytes with its
content type: :func:`~relaykit.testing.mock_speech` of the input (a ``wav`` is
:func:`~relaykit.testing.mock_audio` of it, which the mock's
``/v1/audio/transcriptions`` hears back as the text).

The audio goes out as OpenAI sends it, with chunked transfer encoding, a
chunk at a time (:func:`audio_chunks`: ``stream_format: "audio"``, the
default). With ``stream_format: "sse"`` (gpt-4o-mini-tts only: the API
reference says "sse is not supported for tts-1 or tts-1-hd") the answer is
server-sent events (:func:`sse_events`): ``speech.audio.delta`` events, each
``{"type": "speech.audio.delta", "audio": BASE64}``, then ``{"type":
"speech.audio.done", "usage": {"input_tokens", "output_tokens",
"total_tokens"}}``: the input's words in, and (the mock's own measure) 20
audio tokens a second of speech out. A script's ``first_token_delay`` waits
before the first chunk, ``chunk_delay`` between chunks, and ``stream_fault``
breaks the body after the first chunk (``"error"`` sends an error event in
SSE; raw audio has no error event, so it drops the connection there).

What it refuses, in OpenAI's words where known: a body that is not JSON; no
``model``, ``input`` or ``voice``; an input over 4,096 characters ("Invalid
'input': string too long. Expected a string with maximum length 4096, but got
a string with length N instead."); a ``response_format`` or ``voice`` it does
not know; a ``speed`` outside 0.25 to 4.0; ``instructions``, and the voices
only gpt-4o-mini-tts has (ballad, verse, marin, cedar), for tts-1 and tts-1-hd
(those messages are the mock's own: unverified).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from typing import Any

from ..speech import MEDIA_TYPES
from .loopback import Drop, Pause, Reset
from .openai_audio_sse import sse_stream
from .openai_responses import Refusal, _invalid, _missing
from .script import Reply, count_tokens
from .speech_samples import mock_speech, mock_speech_seconds

#: the longest input OpenAI speaks, in characters
MAX_INPUT = 4096
FORMATS = tuple(MEDIA_TYPES)
STREAM_FORMATS = ("sse", "audio")
#: audio tokens a second of speech, as the mock counts them in ``speech.audio.done``
AUDIO_TOKENS_PER_SECOND = 20
#: OpenAI's built-in voices (the API reference's list)
VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)

#: the voices only gpt-4o-mini-tts has (tts-1 and tts-1-hd refuse them)
NEWER_VOICES = ("ballad", "verse", "marin", "cedar")


def takes_instructions(model: str) -> bool:
    """Whether ``model`` takes ``instructions``: not tts-1 nor tts-1-hd."""
    return not model.startswith("tts-1")


def validate(body: Any) -> dict[str, Any]:
    """The request's fields; :class:`Refusal` where OpenAI refuses them."""
    if not isinstance(body, dict):
        raise Refusal(
            "We could not parse the JSON body of your request. (HINT: This likely means you"
            " aren't using your HTTP library correctly. The OpenAI API expects a JSON payload,"
            " but what was sent was not valid JSON."
        )
    for key in ("model", "input", "voice"):
        if body.get(key) in (None, ""):
            raise _missing(key)
    text = body["input"]
    if not isinstance(text, str):
        raise Refusal(
            f"Invalid type for 'input': expected a string, but got {type(text).__name__}."
        )
    if len(text) > MAX_INPUT:
        raise Refusal(
            f"Invalid 'input': string too long. Expected a string with maximum length"
            f" {MAX_INPUT}, but got a string with length {len(text)} instead.",
            "input",
            code="string_above_max_length",
        )
    voice = body["voice"]
    if isinstance(voice, str) and voice not in VOICES:
        raise _invalid(voice, "voice", VOICES)
    fmt = body.get("response_format", "mp3")
    if fmt not in FORMATS:
        raise _invalid(fmt, "response_format", FORMATS)
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or isinstance(speed, bool):
        raise Refusal(f"Invalid type for 'speed': expected a number, but got {speed!r}.", "speed")
    if speed < 0.25:
        raise Refusal(f"{speed} is less than the minimum of 0.25 - 'speed'", "speed")
    if speed > 4.0:
        raise Refusal(f"{speed} is greater than the maximum of 4 - 'speed'", "speed")
    stream_format = body.get("stream_format", "audio")
    if stream_format not in STREAM_FORMATS:
        raise _invalid(stream_format, "stream_format", STREAM_FORMATS)
    if stream_format == "sse" and not takes_instructions(body["model"]):
        raise Refusal(
            f"stream_format 'sse' is not supported for {body['model']}: use gpt-4o-mini-tts.",
            "stream_format",
        )
    if voice in NEWER_VOICES and not takes_instructions(body["model"]):
        # the mock's own words (unverified): tts-1 answers 400 to ballad
        # (anasfik/openai#224)
        raise Refusal(
            f"Voice '{voice}' is not supported for {body['model']}: use gpt-4o-mini-tts.",
            "voice",
        )
    if body.get("instructions") and not takes_instructions(body["model"]):
        raise Refusal(
            f"Instructions are not supported for {body['model']}: use gpt-4o-mini-tts.",
            "instructions",
        )
    return body


def render(body: dict[str, Any]) -> tuple[str, bytes]:
    """The answer to ``body``: its content type and the audio's bytes."""
    fmt = body.get("response_format", "mp3")
    audio = mock_speech(body["input"], fmt, speed=float(body.get("speed", 1.0)))
    return MEDIA_TYPES[fmt], audio


def audio_chunks(audio: bytes, reply: Reply, size: int) -> Iterator[bytes | Pause | Drop | Reset]:
    """``audio`` as a chunked body of ``size``-byte chunks, paced and broken as
    ``reply`` says (see the module docstring)."""
    if reply.first_token_delay:
        yield Pause(reply.first_token_delay)
    for i in range(0, len(audio), size):
        if reply.chunk_delay and i:
            yield Pause(reply.chunk_delay)
        yield audio[i : i + size]
        if reply.stream_fault == "reset":
            yield Reset()
            return
        if reply.stream_fault is not None:
            yield Drop()
            return


def sse_events(
    body: dict[str, Any], audio: bytes, reply: Reply, size: int
) -> Iterator[bytes | Pause | Drop | Reset]:
    """``audio`` as ``speech.audio.delta`` events of ``size`` bytes each, then
    ``speech.audio.done`` with the usage (see the module docstring)."""
    deltas = (
        {"type": "speech.audio.delta", "audio": base64.b64encode(audio[i : i + size]).decode()}
        for i in range(0, len(audio), size)
    )

    def done() -> dict[str, Any]:
        seconds = mock_speech_seconds(body["input"], float(body.get("speed", 1.0)))
        inp = reply.input_tokens if reply.input_tokens is not None else count_tokens(body["input"])
        out = (
            reply.output_tokens
            if reply.output_tokens is not None
            else math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
        )
        usage = {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}
        return {"type": "speech.audio.done", "usage": usage}

    return sse_stream(reply, deltas, done)


__all__ = [
    "MAX_INPUT",
    "STREAM_FORMATS",
    "VOICES",
    "audio_chunks",
    "render",
    "sse_events",
    "takes_instructions",
    "validate",
]
