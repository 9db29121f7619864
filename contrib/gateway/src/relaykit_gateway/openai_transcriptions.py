"""OpenAI's speech to text (``POST /v1/audio/transcriptions``), served.

A ``multipart/form-data`` form becomes the arguments of one
:meth:`relaykit.Client.transcribe` (:func:`parse_transcription`), and its
answer OpenAI's shape for the ``response_format`` asked (:func:`transcription_body`):

- ``json`` (the default): ``{"text", "usage"}``, the usage ``{"type":
  "duration", "seconds"}`` when the provider said how long the audio was,
  ``{"type": "tokens", ...}`` when it counted tokens;
- ``verbose_json``: ``{"task", "language", "duration", "text", "segments":
  []}`` (with the usage): the gateway serves no segments, so there are none;
- ``text``: the transcript as ``text/plain``.

With ``stream=true`` the answer is OpenAI's server-sent events, from
:meth:`relaykit.Client.stream_transcription`: ``{"type":
"transcript.text.delta", "delta"}`` as the text is heard, then ``{"type":
"transcript.text.done", "text", "usage"}`` (a model that cannot stream, such
as whisper-1, sends its whole text as one delta).

``srt`` and ``vtt`` need the segments' times, and ``timestamp_granularities``
the words', which the gateway does not serve (relaykit's
:attr:`~relaykit.TranscriptionResponse.segments` hold only what OpenAI's
whisper-1 gives, not a segment's other fields): both are refused with a 400
that says so, rather than answered without them. The form's ``file`` is the audio
(its format from its bytes, else its name); ``language`` and ``prompt`` are
relaykit's parameters; ``user`` goes in the call's metadata; other fields
(``temperature``, ``chunking_strategy``) reach the provider in ``extra``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from relaykit import AudioFile, InvalidRequestError, TranscriptionResponse, multipart
from relaykit.json_encode import dumps

from .dialect import model_id

Format = Literal["json", "verbose_json", "text"]
_FORMATS: tuple[Format, ...] = ("json", "verbose_json", "text")
#: fields the gateway itself reads
_OWN = frozenset(("file", "model", "language", "prompt", "response_format", "user", "stream"))


@attrs.frozen
class TranscriptionCall:
    """One call to make: ``client.transcribe(model, audio, **params)``, answered in
    ``response_format``; or, with ``stream``, ``client.stream_transcription(...)``."""

    model: str
    audio: AudioFile
    params: Mapping[str, Any] = attrs.field(factory=dict)
    response_format: Format = "json"
    #: whether the caller asked for server-sent events (``stream=true``)
    stream: bool = False


def parse_transcription(
    body: bytes, content_type: str, aliases: Sequence[str]
) -> TranscriptionCall:
    """The call a transcription form asks for; :class:`InvalidRequestError` names what
    is wrong. A bare model name goes to ``openai``, as on the chat route."""
    try:
        parts = multipart.parse(body, content_type)
    except ValueError as e:
        raise InvalidRequestError(
            f"the request body must be a multipart/form-data form: {e}",
            param="body",
            hint="send the audio as a `file` field of a form, as OpenAI's SDKs do",
        ) from None
    files = [p for p in parts if p.name == "file" and p.filename is not None]
    if not files:
        raise InvalidRequestError("`file` is required: the audio to transcribe", param="file")
    fields: dict[str, list[str]] = {}
    for part in parts:
        if part.filename is None:
            fields.setdefault(part.name.removesuffix("[]"), []).append(part.text)
    one = {key: values[-1] for key, values in fields.items()}
    model = model_id(one.get("model"), aliases, "openai")
    answer = one.get("response_format", "json")
    if answer not in _FORMATS:
        raise InvalidRequestError(
            f"`response_format` {answer!r} is not served: the gateway answers json,"
            " verbose_json or text (srt and vtt need segment times it does not serve)",
            param="response_format",
        )
    stream = one.get("stream", "false").lower() == "true"
    if stream and answer == "verbose_json":
        raise InvalidRequestError(
            f"`stream` answers events, which have no {answer} shape: send response_format"
            " json (or leave it out)",
            param="response_format",
        )
    if "timestamp_granularities" in fields:
        raise InvalidRequestError(
            "`timestamp_granularities` is not served: the gateway answers no word or segment times",
            param="timestamp_granularities",
        )
    if "logprobs" in fields.get("include", []):
        raise InvalidRequestError(
            "the gateway does not return log probabilities: leave `logprobs` out of"
            " `include` (relaykit's transcripts carry none)",
            param="include",
        )
    params: dict[str, Any] = {key: one[key] for key in ("language", "prompt") if one.get(key)}
    if one.get("user"):
        params["metadata"] = {"user": one["user"]}
    extra = {key: value for key, value in one.items() if key not in _OWN}
    if extra:
        params["extra"] = extra
    file = files[0]
    kind = (file.content_type or "").split(";", 1)[0].strip().lower()
    audio = AudioFile(
        file.data,
        # A client's own type is worth keeping only when it names audio (the
        # SDKs send application/octet-stream): else relaykit reads the bytes.
        media_type=kind if kind.startswith(("audio/", "video/")) else None,
        filename=file.filename,
    )
    return TranscriptionCall(
        model=model, audio=audio, params=params, response_format=answer, stream=stream
    )


def transcription_body(response: TranscriptionResponse, response_format: Format) -> Any:
    """OpenAI's answer for ``response_format``: a JSON object, or (``text``) a string."""
    if response_format == "text":
        return response.text
    usage = _usage(response)
    if response_format == "json":
        return {"text": response.text, **({"usage": usage} if usage else {})}
    return {
        "task": "transcribe",
        "language": response.language or "",
        "duration": response.duration if response.duration is not None else 0.0,
        "text": response.text,
        "segments": [],
        **({"usage": usage} if usage else {}),
    }


def delta_event(delta: str) -> bytes:
    """One piece of the transcript as a ``transcript.text.delta`` event."""
    return b"data: " + dumps({"type": "transcript.text.delta", "delta": delta}) + b"\n\n"


def done_event(response: TranscriptionResponse) -> bytes:
    """The ``transcript.text.done`` event ending a stream: the whole text, its usage."""
    event: dict[str, Any] = {"type": "transcript.text.done", "text": response.text}
    usage = _usage(response)
    if usage:
        event["usage"] = usage
    return b"data: " + dumps(event) + b"\n\n"


def _usage(response: TranscriptionResponse) -> dict[str, Any] | None:
    if response.duration is not None and not response.usage.total_tokens:
        return {"type": "duration", "seconds": math.ceil(response.duration)}
    if response.usage.total_tokens:
        tokens = response.usage
        return {
            "type": "tokens",
            "input_tokens": tokens.input_tokens,
            "input_token_details": {
                "text_tokens": tokens.input_tokens - response.audio_tokens,
                "audio_tokens": response.audio_tokens,
            },
            "output_tokens": tokens.output_tokens,
            "total_tokens": tokens.total_tokens,
        }
    return None
