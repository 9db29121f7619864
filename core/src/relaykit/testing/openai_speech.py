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

What it refuses, in OpenAI's words where known: a body that is not JSON; no
``model``, ``input`` or ``voice``; an input over 4,096 characters ("Invalid
'input': string too long. Expected a string with maximum length 4096, but got
a string with length N instead."); a ``response_format`` or ``voice`` it does
not know; a ``speed`` outside 0.25 to 4.0; ``instructions`` for tts-1 and
tts-1-hd (that message is the mock's own: unverified).
"""

from __future__ import annotations

from typing import Any

from ..speech import MEDIA_TYPES
from .openai_responses import Refusal, _invalid, _missing
from .speech_samples import mock_speech

#: the longest input OpenAI speaks, in characters
MAX_INPUT = 4096
FORMATS = tuple(MEDIA_TYPES)
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


__all__ = ["MAX_INPUT", "VOICES", "render", "takes_instructions", "validate"]
