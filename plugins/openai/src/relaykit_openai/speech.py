"""Text to speech over ``POST /audio/speech``: OpenAI, and the compatible services
that serve it (Groq).

The request is JSON: ``model``, ``input`` (the text), ``voice``,
``response_format``, then ``speed`` and ``instructions`` when given, then
``extra``'s fields (which replace relaykit's own). The answer is the audio's
bytes, whole (streaming it as it is generated is not supported), its media type
the ``content-type`` the service sends when that is audio.

What OpenAI refuses is refused here before sending, with no status (so routes
fall back): an input over 4,096 characters (the API reference's limit: OpenAI
answers "Invalid 'input': string too long. Expected a string with maximum length
4096 ..."), and ``instructions`` for tts-1 and tts-1-hd (the API reference:
"Does not work with tts-1 or tts-1-hd"). Voices are not checked: OpenAI adds
voices (marin and cedar came after the first eleven) and other services name
their own (Groq's ``Arista-PlayAI``), so the service refuses one it lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relaykit import InvalidRequestError, SpeechRequest, SpeechResponse, json_encode
from relaykit.http_errors import error_from_http
from relaykit.speech import media_type_of

if TYPE_CHECKING:
    from relaykit.http import HttpClient

#: the longest input OpenAI speaks, in characters
MAX_INPUT = 4096


def takes_instructions(model: str) -> bool:
    """Whether OpenAI's ``model`` takes ``instructions``: not tts-1 nor tts-1-hd."""
    return not model.startswith("tts-1")


def request_body(request: SpeechRequest, name: str, *, openai: bool) -> dict[str, Any]:
    """The JSON body of ``POST /audio/speech`` for ``request`` (see the module
    docstring); ``request.extra`` is merged in last. ``openai``: the service is
    OpenAI's own (or one that keeps its limits), checked before sending."""
    size = len(request.text)
    if size > MAX_INPUT:
        raise _refuse(
            f"{name} speaks at most {MAX_INPUT:,} characters a request, not {size:,}",
            request,
            name,
            "text",
            "split the text (at sentence ends) and speak each part",
        )
    if openai and request.instructions and not takes_instructions(request.model):
        raise _refuse(
            f"{request.model} takes no instructions",
            request,
            name,
            "instructions",
            "leave instructions out, or use gpt-4o-mini-tts",
        )
    body: dict[str, Any] = {
        "model": request.model,
        "input": request.text,
        "voice": request.voice,
        "response_format": request.format,
    }
    if request.speed is not None:
        body["speed"] = request.speed
    if request.instructions:
        body["instructions"] = request.instructions
    if request.extra:
        body.update(request.extra)
    return body


def _refuse(
    message: str, request: SpeechRequest, name: str, param: str, hint: str
) -> InvalidRequestError:
    return InvalidRequestError(message, provider=name, model=request.model, param=param, hint=hint)


async def speak(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    name: str,
    request: SpeechRequest,
    *,
    openai: bool = True,
) -> SpeechResponse:
    """Speak ``request`` at ``url`` (``{base_url}/audio/speech``); a failure is typed
    as chat's is."""
    body = json_encode.dumps(request_body(request, name, openai=openai))
    r = await http.post(url, content=body, headers=headers)
    if r.status_code >= 400:
        raise error_from_http(
            r.status_code, r.headers, r.content, provider=name, model=request.model
        )
    return SpeechResponse(
        audio=r.content,
        format=request.format,
        media_type=media_type_of(request.format, r.headers.get("content-type")),
        model=request.model,
        id=r.headers.get("x-request-id"),
    )
