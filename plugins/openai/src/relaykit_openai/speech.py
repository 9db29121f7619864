"""Text to speech over ``POST /audio/speech``: OpenAI, and the compatible services
that serve it (Groq).

The request is JSON: ``model``, ``input`` (the text), ``voice``,
``response_format``, then ``speed`` and ``instructions`` when given, then
``extra``'s fields (which replace relaykit's own). The answer is the audio's
bytes, its media type the ``content-type`` the service sends when that is audio.

Streamed (:func:`stream_speech`), the same request's answer is read as it
arrives: OpenAI sends the audio's bytes with chunked transfer encoding as they
are generated, for every model (``stream_format: "audio"``, the API reference's
default), and so does Groq; relaykit hands each chunk on. OpenAI's other
``stream_format``, ``"sse"`` (gpt-4o-mini-tts only: "sse is not supported for
tts-1 or tts-1-hd"), wraps the audio in base64 JSON events, ``speech.audio.delta``
(``{"type", "audio"}``) then ``speech.audio.done`` (``{"type", "usage":
{"input_tokens", "output_tokens", "total_tokens"}}``): a third more bytes and a
JSON parse per chunk for the usage at the end. It is not asked for by default
(cost is priced per character either way, see prices.py), but is read when a
caller asks for it with ``extra={"stream_format": "sse"}``, its usage reported.

What OpenAI refuses is refused here before sending, with no status (so routes
fall back): an input over 4,096 characters (the API reference's limit: OpenAI
answers "Invalid 'input': string too long. Expected a string with maximum length
4096 ..."): refused, not split, since audio cut at a sentence and joined is
no longer one file of the format asked (an mp3's or wav's headers, an opus
stream's pages); and, for OpenAI's own service, ``instructions`` for tts-1 and
tts-1-hd (the API reference: "Does not work with tts-1 or tts-1-hd") and the
voices gpt-4o-mini-tts alone has (ballad, verse, marin, cedar: tts-1 answers
400 to ballad). Other voices are not checked: OpenAI adds voices (marin and
cedar came after the first eleven; ash, coral and sage reached tts-1 later) and
other services name their own (Groq's ``Arista-PlayAI``), so the service
refuses one it lacks.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from relaykit import (
    InvalidRequestError,
    SpeechRequest,
    SpeechResponse,
    SSEDecoder,
    StreamError,
    Usage,
    json_decode,
    json_encode,
)
from relaykit.http_errors import error_from_http, error_in_answer
from relaykit.secrets import cut_short
from relaykit.speech import media_type_of

from .audio_events import event_json
from .body_end import read_to_end

if TYPE_CHECKING:
    from relaykit.http import HttpClient

#: the longest input OpenAI speaks, in characters
MAX_INPUT = 4096
#: tts-1's and tts-1-hd's voices (OpenAI's text to speech guide; ash, coral and sage
#: came to them later)
TTS_1_VOICES = ("alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer")
#: the voices gpt-4o-mini-tts has and tts-1 has not (tts-1 answers 400 to ballad,
#: anasfik/openai#224), refused unsent for tts-1 and tts-1-hd
NEWER_VOICES = ("ballad", "verse", "marin", "cedar")


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
    if (
        openai
        and request.extra.get("stream_format") == "sse"
        and not takes_instructions(request.model)
    ):
        raise _refuse(
            f"{request.model} does not stream server-sent events",
            request,
            name,
            "extra",
            "leave stream_format out (the audio streams as it is), or use gpt-4o-mini-tts",
        )
    if openai and request.voice in NEWER_VOICES and not takes_instructions(request.model):
        raise _refuse(
            f"{request.model} has no voice {request.voice!r}: {', '.join(NEWER_VOICES)} are"
            " gpt-4o-mini-tts's",
            request,
            name,
            "voice",
            f"use gpt-4o-mini-tts, or one of {request.model}'s voices: {', '.join(TTS_1_VOICES)}",
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
    if request.extra.get("stream_format") == "sse":
        raise _refuse(
            "speak() answers with the whole audio: server-sent events are for stream_speech()",
            request,
            name,
            "extra",
            "leave stream_format out, or call client.stream_speech(...)",
        )
    body = json_encode.dumps(request_body(request, name, openai=openai))
    r = await http.post(url, content=body, headers=headers)
    if r.status_code >= 400:
        raise error_from_http(
            r.status_code, r.headers, r.content, provider=name, model=request.model
        )
    check_audio(r.headers.get("content-type", ""), r.headers, r.content, name, request)
    return SpeechResponse(
        audio=r.content,
        format=request.format,
        media_type=media_type_of(request.format, r.headers.get("content-type")),
        model=request.model,
        id=r.headers.get("x-request-id"),
    )


async def stream_speech(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    name: str,
    request: SpeechRequest,
    *,
    openai: bool = True,
) -> AsyncIterator[bytes | SpeechResponse]:
    """Speak ``request`` at ``url``, yielding the audio's bytes as they arrive, then a
    :class:`~relaykit.SpeechResponse` without audio (media type, id, and the usage
    of server-sent events). See the module docstring."""
    body = json_encode.dumps(request_body(request, name, openai=openai))
    async with http.stream("POST", url, content=body, headers=headers) as r:
        if r.status_code >= 400:
            await r.aread()
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=name, model=request.model
            )
        claimed = r.headers.get("content-type", "")
        if _text_type(claimed):  # not audio, nor its events: read it to say what it is
            await r.aread()
            check_audio(claimed, r.headers, r.content, name, request)
        summary = SpeechResponse(
            audio=b"",
            format=request.format,
            media_type=media_type_of(request.format, claimed),
            model=request.model,
            id=r.headers.get("x-request-id"),
        )
        # aclosing: the byte iterator is an async generator; closing it explicitly
        # (not at garbage collection) keeps trio from warning.
        async with aclosing(r.aiter_bytes()) as chunks:  # type: ignore[type-var]
            if claimed.split(";", 1)[0].strip().lower() != "text/event-stream":
                spoke = False
                async for raw in chunks:
                    if raw:
                        spoke = True
                        yield raw
                if not spoke:  # a whole body of no bytes is no audio, not a silent one
                    raise ValueError("/audio/speech answered no audio: an empty body")
            else:
                usage: Usage | None = None
                decoder = SSEDecoder()
                async for raw in chunks:
                    for sse in decoder.feed(raw):
                        event = event_json(sse.data, name, request.model)
                        if event.get("type") == "speech.audio.delta":
                            yield base64.b64decode(event["audio"])
                        elif event.get("type") == "speech.audio.done":
                            usage = _usage(event.get("usage"))
                    if usage is not None:
                        await read_to_end(chunks, r)  # so the connection is reused
                        break
                for sse in decoder.flush():  # a last event without its blank line
                    event = event_json(sse.data, name, request.model)
                    if event.get("type") == "speech.audio.done":
                        usage = _usage(event.get("usage"))
                if usage is None:
                    raise StreamError(
                        "the stream ended before speech.audio.done",
                        provider=name,
                        model=request.model,
                    )
                summary = SpeechResponse(
                    audio=b"",
                    format=summary.format,
                    media_type=summary.media_type,
                    model=summary.model,
                    id=summary.id,
                    usage=usage,
                )
    yield summary


def _text_type(content_type: str) -> bool:
    """Whether ``content_type`` is JSON or text other than server-sent events: no audio."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("text/") and kind != "text/event-stream")


def check_audio(
    content_type: str,
    headers: Mapping[str, str],
    body: bytes,
    name: str,
    request: SpeechRequest,
) -> None:
    """Refuse a status-200 answer that is no audio: an error object (the typed error it
    describes), or JSON, a web page (a proxy's sign-in page) or nothing at all (a
    ``ValueError``: the core's retryable malformed response). Kept as audio, the page's
    bytes were handed on as the sound."""
    if _text_type(content_type):
        try:
            data = json_decode.loads(body)
        except ValueError:
            data = None
        error = error_in_answer(data, headers, body, answer=(), provider=name, model=request.model)
        if error is not None:
            raise error
        shown = cut_short(body.decode("utf-8", "replace").strip(), 80)
        raise ValueError(f"/audio/speech answered {content_type}, not audio: {shown!r}")
    if not body:
        raise ValueError("/audio/speech answered no audio: an empty body")


def _usage(usage: Any) -> Usage:
    """``speech.audio.done``'s usage: text tokens in, audio tokens out."""
    if not isinstance(usage, dict):
        return Usage()
    return Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0))
