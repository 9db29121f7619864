"""OpenAI's text to speech (``POST /v1/audio/speech``), served.

A JSON body becomes the arguments of one :meth:`relaykit.Client.speak`
(:func:`parse_speech`), and its answer is the audio's bytes, whole, with the
audio's content type, as OpenAI answers.

``input``, ``voice``, ``response_format`` (relaykit's ``format``), ``speed``
and ``instructions`` are relaykit's parameters; ``user`` goes in the call's
metadata; other fields reach the provider in ``extra``. A bare model name goes
to ``openai``, as on the chat route. ``stream_format: "sse"`` (audio deltas as
server-sent events) is refused with a 400 that says so: relaykit answers with
the whole audio (``"audio"``, the default, is served).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from relaykit import InvalidRequestError

from .dialect import model_id, require_object

#: fields the gateway itself reads
_OWN = frozenset(
    ("model", "input", "voice", "response_format", "speed", "instructions", "user", "stream_format")
)


@attrs.frozen
class SpeechCall:
    """One call to make: ``client.speak(model, text, **params)``."""

    model: str
    text: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


def parse_speech(body: Any, aliases: Sequence[str]) -> SpeechCall:
    """The call a text-to-speech body asks for; :class:`InvalidRequestError` names what
    is wrong (relaykit's own checks name the rest when the call is made)."""
    data = require_object(body)
    model = model_id(data.get("model"), aliases, "openai")
    text = data.get("input")
    if not isinstance(text, str) or not text:
        raise InvalidRequestError("`input` must be a non-empty string", param="input")
    if data.get("stream_format", "audio") != "audio":
        raise InvalidRequestError(
            "`stream_format` 'sse' is not served: the gateway answers with the whole audio"
            " (leave stream_format out, or send 'audio')",
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
    return SpeechCall(model=model, text=text, params=params)
