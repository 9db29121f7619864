"""OpenAI's text to speech (``POST /v1/audio/speech``), served.

A JSON body becomes the arguments of one :meth:`relaykit.Client.stream_speech`
(:func:`parse_speech`), and its answer streams as OpenAI's does: the audio's
bytes with chunked transfer encoding, as they arrive from the provider, with
the audio's content type (``stream_format: "audio"``, the default); or, for
``stream_format: "sse"``, server-sent events (:func:`delta_event`,
:func:`done_event`): ``{"type": "speech.audio.delta", "audio": BASE64}`` per
chunk, then ``{"type": "speech.audio.done", "usage": {"input_tokens",
"output_tokens", "total_tokens"}}`` (the provider's counts: zero where it
reports none, as OpenAI's raw audio does).

``input``, ``voice``, ``response_format`` (relaykit's ``format``), ``speed``
and ``instructions`` are relaykit's parameters; ``user`` goes in the call's
metadata; other fields reach the provider in ``extra``. A bare model name goes
to ``openai``, as on the chat route. The provider is always asked for raw
audio (any model streams it), whichever ``stream_format`` the caller asked.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from relaykit import InvalidRequestError, SpeechResponse
from relaykit.json_encode import dumps

from .dialect import model_id, require_object

#: fields the gateway itself reads
_OWN = frozenset(
    ("model", "input", "voice", "response_format", "speed", "instructions", "user", "stream_format")
)


@attrs.frozen
class SpeechCall:
    """One call to make: ``client.stream_speech(model, text, **params)``."""

    model: str
    text: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    #: whether the caller asked for server-sent events (``stream_format: "sse"``)
    sse: bool = False


def parse_speech(body: Any, aliases: Sequence[str]) -> SpeechCall:
    """The call a text-to-speech body asks for; :class:`InvalidRequestError` names what
    is wrong (relaykit's own checks name the rest when the call is made)."""
    data = require_object(body)
    model = model_id(data.get("model"), aliases, "openai")
    text = data.get("input")
    if not isinstance(text, str) or not text:
        raise InvalidRequestError("`input` must be a non-empty string", param="input")
    stream_format = data.get("stream_format", "audio")
    if stream_format not in ("audio", "sse"):
        raise InvalidRequestError(
            f"`stream_format` must be 'audio' or 'sse', not {stream_format!r}"[:120],
            param="stream_format",
        )
    params: dict[str, Any] = {"voice": data.get("voice")}
    if data.get("response_format") is not None:
        params["format"] = data["response_format"]
    for key in ("speed", "instructions"):
        if data.get(key) is not None:
            params[key] = data[key]
    if isinstance(data.get("user"), str) and data["user"]:
        params["metadata"] = {"user": data["user"]}
    extra = {key: value for key, value in data.items() if key not in _OWN}
    if extra:
        params["extra"] = extra
    return SpeechCall(model=model, text=text, params=params, sse=stream_format == "sse")


def delta_event(chunk: bytes) -> bytes:
    """One chunk of audio as a ``speech.audio.delta`` event."""
    audio = base64.b64encode(chunk).decode("ascii")
    return b"data: " + dumps({"type": "speech.audio.delta", "audio": audio}) + b"\n\n"


def done_event(response: SpeechResponse) -> bytes:
    """The ``speech.audio.done`` event ending a stream, with ``response``'s usage."""
    usage = response.usage
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    return b"data: " + dumps({"type": "speech.audio.done", "usage": counts}) + b"\n\n"
