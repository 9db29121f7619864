"""OpenAI's speech to text (``POST /v1/audio/transcriptions``), for
:class:`~relaykit.testing.OpenAIMock`.

A ``multipart/form-data`` form in: ``file`` (the audio, its format told by the
file name's suffix), ``model``, and optional ``language``, ``prompt``,
``response_format`` and ``temperature``. What the mock hears is
:func:`~relaykit.testing.mock_transcript` of the file (or the script's reply
``text``); the audio lasts :func:`~relaykit.testing.mock_seconds`.

The answer follows the API reference: ``json`` (the default) is ``{"text",
"usage"}``, whose usage is ``{"type": "duration", "seconds"}`` for Whisper
models (billed by the minute) and ``{"type": "tokens", "input_tokens",
"input_token_details": {"text_tokens", "audio_tokens"}, "output_tokens",
"total_tokens"}`` for the others (gpt-4o-transcribe: a thousand audio tokens a
minute, the prompt's words as text tokens, the transcript's words out);
``verbose_json`` (Whisper only) adds ``task``, ``language`` (a name:
``"english"``), ``duration`` and ``segments`` (one), and with
``timestamp_granularities[]`` the ``words`` (spread evenly over the audio) and
the segments only when ``segment`` is among them; ``text``, ``srt`` and ``vtt``
are plain text.

With ``stream=true`` a model that is not Whisper answers server-sent events
(:func:`sse_events`): ``{"type": "transcript.text.delta", "delta"}`` a word at a
time, then ``{"type": "transcript.text.done", "text", "usage"}`` (the usage as
``json``'s). Whisper ignores ``stream`` ("Streaming is not supported for the
whisper-1 model and will be ignored", the API reference says) and answers
whole. A script's ``first_token_delay``, ``chunk_delay`` and ``stream_fault``
(``"error"``: an ``error`` event; others drop the connection) pace and break
the events.

What it refuses, with OpenAI's messages: a body that is not a form (400) or is
over 25 MiB (413); no ``model``; no ``file``; a file name whose suffix is not
an accepted format; bytes that are no audio; a ``response_format`` it does not
know, or other than ``json`` and ``text`` for a model that is not Whisper
(``diarized_json`` too for gpt-4o-transcribe-diarize, which takes no prompt);
``timestamp_granularities[]`` without ``verbose_json`` ("`response_format` must
be `verbose_json` if `timestamp_granularities[]` is provided"); a
``language`` that is not ISO-639-1; a ``temperature`` outside 0 to 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

from .. import multipart
from ..audio import sniff
from .audio_samples import mock_seconds, mock_transcript
from .loopback import Drop, Pause, Request, Reset
from .openai_audio_sse import sse_stream
from .openai_responses import Refusal, _invalid
from .script import Reply, count_tokens

#: OpenAI's limit on a request's body: 25 MiB
MAX_BODY = 26_214_400
SUFFIXES = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
#: the names verbose_json gives languages (Whisper names them in English)
_LANGUAGES = {"en": "english", "fr": "french", "de": "german", "es": "spanish", "ja": "japanese"}


def validate(request: Request, max_body: int = MAX_BODY) -> tuple[dict[str, str], multipart.Part]:
    """The form's text fields and its file; :class:`Refusal` where OpenAI refuses
    (a body over ``max_body`` bytes: OpenAI's 25 MiB, unless a mock of another
    service says otherwise)."""
    content_type = request.headers.get("content-type", "")
    if multipart.boundary_of(content_type) is None:
        raise Refusal(
            f"Invalid Content-Type header ({content_type}), expected multipart/form-data."
            " (HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')"
        )
    if len(request.body) > max_body:
        raise Refusal(
            f"Maximum content size limit ({max_body}) exceeded ({len(request.body)} bytes read)",
            status=413,
        )
    try:
        parts = multipart.parse(request.body, content_type)
    except ValueError as e:
        raise Refusal(f"Could not parse multipart form: {e}") from None
    fields: dict[str, str] = {}
    for p in parts:
        if p.filename is None:
            # a list's items (timestamp_granularities[]) joined, the others' last value
            repeated = p.name.endswith("[]") and p.name in fields
            fields[p.name] = f"{fields[p.name]},{p.text}" if repeated else p.text
    files = [p for p in parts if p.name == "file" and p.filename is not None]
    if not fields.get("model"):
        raise Refusal("you must provide a model parameter", "model")
    if not files:
        raise Refusal(
            "1 validation error for Request\nbody -> file\n  field required"
            " (type=value_error.missing)",
            "file",
        )
    file = files[0]
    suffix = PurePath(file.filename or "").suffix.lstrip(".").lower()
    if suffix not in SUFFIXES:
        raise Refusal(f"Invalid file format. Supported formats: {list(SUFFIXES)}", "file")
    if sniff(file.data) is None:
        raise Refusal("Audio file might be corrupted or unsupported", "file")
    _check_options(fields)
    return fields, file


def _check_options(fields: dict[str, str]) -> None:
    response_format = fields.get("response_format", "json")
    model = fields["model"]
    diarize = model.startswith("gpt-4o-transcribe-diarize")
    if response_format not in FORMATS and not (diarize and response_format == "diarized_json"):
        raise _invalid(response_format, "response_format", FORMATS)
    if diarize and response_format not in ("json", "text", "diarized_json"):
        raise Refusal(
            f"response_format '{response_format}' is not compatible with model '{model}'."
            " Use 'json', 'text' or 'diarized_json' instead.",
            "response_format",
        )
    if not diarize and not is_whisper(model) and response_format not in ("json", "text"):
        raise Refusal(
            f"response_format '{response_format}' is not compatible with model '{model}'."
            " Use 'json' or 'text' instead.",
            "response_format",
        )
    if "timestamp_granularities[]" in fields and response_format != "verbose_json":
        raise Refusal(
            "`response_format` must be `verbose_json` if `timestamp_granularities[]` is provided",
            "timestamp_granularities",
        )
    if diarize and fields.get("prompt"):
        # the mock's own words (unverified): the API reference has no prompt for it
        raise Refusal(f"prompt is not supported for {model}.", "prompt")
    language = fields.get("language")
    if language is not None and not (len(language) == 2 and language.isalpha()):
        raise Refusal(
            f"Invalid language '{language}'. Language parameter must be specified in"
            " ISO-639-1 format.",
            "language",
        )
    temperature = fields.get("temperature")
    if temperature is not None:
        try:
            value = float(temperature)
        except ValueError:
            value = math.nan
        if not 0 <= value <= 1:
            raise Refusal(
                f"Invalid 'temperature': expected a number from 0 to 1, got {temperature!r}.",
                "temperature",
            )


def is_whisper(model: str) -> bool:
    """Whether ``model`` is a Whisper model (billed by the minute, with verbose_json)."""
    return "whisper" in model


def render(fields: dict[str, str], file: multipart.Part, reply: Reply) -> tuple[str, Any]:
    """The answer to a validated form: its media type (``json`` or ``text``) and body."""
    text = reply.text or mock_transcript(file.data)
    seconds = mock_seconds(file.data)
    response_format = fields.get("response_format", "json")
    if response_format in ("text", "srt", "vtt"):
        return "text", _plain(response_format, text, seconds)
    model = fields["model"]
    if not is_whisper(model):
        return "json", {"text": text, "usage": _token_usage(fields, text, seconds, reply)}
    usage = {"type": "duration", "seconds": math.ceil(seconds)}
    if response_format == "json":
        return "json", {"text": text, "usage": usage}
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": _LANGUAGES.get(fields.get("language", "en"), fields.get("language")),
        "duration": round(seconds, 2),
        "text": text,
    }
    # segments unless only words were asked for, as OpenAI answers
    granularities = fields.get("timestamp_granularities[]", "segment").split(",")
    if "word" in granularities:
        body["words"] = _timed_words(text, seconds)
    if "segment" in granularities:
        body["segments"] = [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": round(seconds, 2),
                "text": text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        ]
    body["usage"] = usage
    return "json", body


def _timed_words(text: str, seconds: float) -> list[dict[str, Any]]:
    """verbose_json's ``words``: the transcript's words, spread evenly over the audio."""
    words = text.split()
    each = seconds / max(len(words), 1)
    return [
        {"word": word, "start": round(i * each, 2), "end": round((i + 1) * each, 2)}
        for i, word in enumerate(words)
    ]


def _token_usage(fields: dict[str, str], text: str, seconds: float, reply: Reply) -> Any:
    """gpt-4o-transcribe's usage: a thousand audio tokens a minute (what makes OpenAI's
    USD 6 per million audio tokens its estimate of USD 0.006 a minute)."""
    audio = math.ceil(seconds * 1000 / 60)
    prompt = count_tokens(fields.get("prompt", ""))
    inp = reply.input_tokens if reply.input_tokens is not None else audio + prompt
    out = reply.output_tokens if reply.output_tokens is not None else count_tokens(text)
    return {
        "type": "tokens",
        "input_tokens": inp,
        "input_token_details": {
            "text_tokens": max(inp - audio, 0),
            "audio_tokens": min(audio, inp),
        },
        "output_tokens": out,
        "total_tokens": inp + out,
    }


def _plain(response_format: str, text: str, seconds: float) -> str:
    if response_format == "text":
        return text + "\n"
    end = f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"
    if response_format == "vtt":
        return f"WEBVTT\n\n00:00:00.000 --> {end}\n{text}\n\n"
    return f"1\n00:00:00,000 --> {end.replace('.', ',')}\n{text}\n\n"


def streams(fields: dict[str, str]) -> bool:
    """Whether the form asks for a streamed answer that the model gives (not Whisper)."""
    return fields.get("stream", "false").lower() == "true" and not is_whisper(fields["model"])


def sse_events(
    fields: dict[str, str], file: multipart.Part, reply: Reply
) -> Iterator[bytes | Pause | Drop | Reset]:
    """The transcript as ``transcript.text.delta`` events, a word each, then
    ``transcript.text.done`` (see the module docstring)."""
    text = reply.text or mock_transcript(file.data)
    deltas = (
        {"type": "transcript.text.delta", "delta": word if i == 0 else f" {word}"}
        for i, word in enumerate(text.split(" "))
    )

    def done() -> dict[str, Any]:
        usage = _token_usage(fields, text, mock_seconds(file.data), reply)
        return {"type": "transcript.text.done", "text": text, "usage": usage}

    return sse_stream(reply, deltas, done)


__all__ = ["MAX_BODY", "is_whisper", "render", "sse_events", "streams", "validate"]
