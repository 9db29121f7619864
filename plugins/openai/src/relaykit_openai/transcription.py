"""Speech to text over ``POST /audio/transcriptions``: OpenAI, and the compatible
services that serve it (Groq, Together, Mistral, vLLM).

The request is a ``multipart/form-data`` form: ``model``, ``file`` (the audio,
named with a suffix the service knows the format by), ``language``,
``prompt`` and ``response_format``, then ``extra``'s fields (``temperature``,
``timestamp_granularities``: a list goes as repeated ``name[]`` fields, as
OpenAI's SDK sends it).

Which ``response_format`` (the preset's :data:`TranscriptionStyle`):

- ``"verbose"`` (OpenAI, Groq, Together): ``verbose_json`` for Whisper models,
  for the audio's language and length (Groq's ``json`` says neither, and a
  price per minute needs the length); ``json`` for the others, which refuse
  ``verbose_json`` (OpenAI: "response_format 'verbose_json' is not compatible
  with model 'gpt-4o-transcribe'. Use 'json' or 'text' instead.") and count
  tokens instead, in ``usage``.
- ``"json"`` (vLLM): ``json`` for every model (older vLLM servers take only
  ``json`` and ``text``); its ``usage`` says the seconds of audio.
- ``"mistral"``: Mistral's form takes no ``response_format`` and no
  ``prompt`` (a prompt is refused before sending, not dropped); its answer
  says ``usage.prompt_audio_seconds``.

The answer's length is ``duration`` (``verbose_json``), else ``usage.seconds``
(``{"type": "duration"}``), else Mistral's ``usage.prompt_audio_seconds``;
tokens are ``usage``'s (``{"type": "tokens"}``, with
``input_token_details.audio_tokens``). ``verbose_json``'s ``segments`` and
``words`` (``{"text" | "word", "start", "end"}``, the latter with ``extra=
{"timestamp_granularities": ["word"]}``) become the response's, as
:class:`~relaykit.TimedText`. A plain-text answer (``extra=
{"response_format": "text"}``) is its own transcript. The id is the body's,
Groq's ``x_groq.id``, or the ``x-request-id`` header.

What OpenAI's own service refuses of a model is refused before sending
(:func:`check_openai`: a language that is not two letters, a ``response_format``
or ``timestamp_granularities`` the model cannot answer, a prompt to the diarizing
model); Azure's deployments and the other services are exempt.

Streamed (:func:`stream_transcription`): OpenAI's gpt-4o-transcribe and
gpt-4o-mini-transcribe take ``stream=true`` and answer server-sent events,
``transcript.text.delta`` (``{"type", "delta", "logprobs"?}``) as the text is
heard, then ``transcript.text.done`` (``{"type", "text", "usage"?}``, the usage
as the ``json`` answer's ``{"type": "tokens", ...}``). Whisper models do not
stream ("Streaming is not supported for the whisper-1 model and will be
ignored", the API reference says: the answer is the whole JSON), so for them,
and for the compatible services, the form is the unstreamed one and the whole
transcript is handed on as one delta: a route may mix models, and a caller
gets text either way. An answer that is not an event stream is read so too.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

from relaykit import (
    InvalidRequestError,
    SSEDecoder,
    StreamError,
    TimedText,
    TranscriptionRequest,
    TranscriptionResponse,
    Usage,
    json_decode,
    multipart,
)
from relaykit.audio import media_type
from relaykit.http_errors import error_from_http
from relaykit.json_decode import SHAPE_ERRORS

from . import wire
from .audio_events import event_json
from .body_end import read_to_end
from .unreadable import unreadable

if TYPE_CHECKING:
    from relaykit.http import HttpClient

TranscriptionStyle = Literal["verbose", "json", "mistral"]
_MIB = 1024 * 1024


def response_format(model: str, style: TranscriptionStyle) -> str | None:
    """The ``response_format`` to ask ``model`` for (``None``: the form has none)."""
    if style == "mistral":
        return None
    if style == "verbose" and "whisper" in model.lower():
        return "verbose_json"
    return "json"


def streams(model: str, style: TranscriptionStyle) -> bool:
    """Whether ``model`` answers ``stream=true`` with server-sent events: OpenAI's
    models but Whisper (see the module docstring)."""
    return style == "verbose" and "whisper" not in model.lower()


#: the response formats OpenAI's transcription models take, by family (the API
#: reference: "For gpt-4o-transcribe and gpt-4o-mini-transcribe, the only supported
#: format is json"; the text answer too, as its refusal says: "Use 'json' or 'text'
#: instead."; gpt-4o-transcribe-diarize: json, text, diarized_json)
RESPONSE_FORMATS = {
    "whisper": ("json", "text", "srt", "verbose_json", "vtt"),
    "gpt-4o": ("json", "text"),
    "diarize": ("json", "text", "diarized_json"),
}


def model_family(model: str) -> str | None:
    """``"whisper"``, ``"gpt-4o"`` or ``"diarize"`` for OpenAI's transcription
    models (dated snapshots too); ``None`` for a model not known here."""
    if model.startswith("whisper"):
        return "whisper"
    if model.startswith("gpt-4o-transcribe-diarize"):
        return "diarize"
    if model.startswith(("gpt-4o-transcribe", "gpt-4o-mini-transcribe")):
        return "gpt-4o"
    return None


def check_openai(request: TranscriptionRequest, name: str) -> None:
    """Refuse unsent what OpenAI's ``/audio/transcriptions`` refuses of
    ``request.model``: a language that is not ISO-639-1 ("Language parameter must
    be specified in ISO-639-1 format"); a ``response_format`` (in ``extra``) the
    model has not ("response_format 'verbose_json' is not compatible with model
    'gpt-4o-transcribe'. Use 'json' or 'text' instead."); ``timestamp_granularities``
    without ``verbose_json`` ("`response_format` must be `verbose_json` if
    `timestamp_granularities[]` is provided"), so never for the gpt-4o models; a
    prompt for gpt-4o-transcribe-diarize, which takes none."""
    model = request.model
    language = request.language
    if language is not None and (len(language) != 2 or not language.isalpha()):
        raise _refuse(
            f"{name} takes a language as an ISO-639-1 code of two letters, not {language!r}",
            request,
            name,
            "language",
            f"pass language={language[:2].lower()!r}",
        )
    family = model_family(model)
    if family is None:
        return
    extra = request.extra
    allowed = RESPONSE_FORMATS[family]
    asked = extra.get("response_format")
    if asked is not None and asked not in allowed:
        raise _refuse(
            f"{model} answers response_format {', '.join(allowed)}, not {asked!r}",
            request,
            name,
            "response_format",
            "pass one of those, or leave response_format out"
            + (" (timestamps: whisper-1's verbose_json)" if family != "whisper" else ""),
        )
    if extra.get("timestamp_granularities") or extra.get("timestamp_granularities[]"):
        if family != "whisper":
            raise _refuse(
                f"{model} gives no timestamps: timestamp_granularities need verbose_json,"
                " which only whisper-1 answers",
                request,
                name,
                "timestamp_granularities",
                "transcribe with whisper-1, or leave timestamp_granularities out",
            )
        if (asked or "verbose_json") != "verbose_json":
            raise _refuse(
                f"timestamp_granularities need response_format verbose_json, not {asked!r}",
                request,
                name,
                "timestamp_granularities",
                "leave response_format out (relaykit asks whisper-1 for verbose_json)",
            )
    if family == "diarize" and request.prompt is not None:
        raise _refuse(
            f"{model} takes no prompt",
            request,
            name,
            "prompt",
            "leave prompt out, or transcribe with gpt-4o-transcribe",
        )


def _refuse(
    message: str, request: TranscriptionRequest, name: str, param: str, hint: str
) -> InvalidRequestError:
    return InvalidRequestError(message, provider=name, model=request.model, param=param, hint=hint)


def form(
    request: TranscriptionRequest,
    style: TranscriptionStyle,
    name: str,
    *,
    stream: bool = False,
    rules: bool = False,
) -> tuple[bytes, str]:
    """The form's body for ``request``, and its content type; ``stream``: with
    ``stream=true``.

    Raises :class:`~relaykit.InvalidRequestError` (unsent) for a prompt the
    service has no field for; ``rules``: the service is OpenAI's own, whose
    model rules (:func:`check_openai`) are checked too.
    """
    if rules:
        check_openai(request, name)
    fields: dict[str, list[tuple[str, str]]] = {"model": [("model", request.model)]}
    if request.language is not None:
        fields["language"] = [("language", request.language)]
    if request.prompt is not None:
        if style == "mistral":
            raise InvalidRequestError(
                f"{name}'s transcription API takes no prompt",
                provider=name,
                model=request.model,
                param="prompt",
                hint="leave prompt out, or pass the service's own fields in extra={...}",
            )
        fields["prompt"] = [("prompt", request.prompt)]
    asked = response_format(request.model, style)
    if asked is not None:
        fields["response_format"] = [("response_format", asked)]
    if stream:
        fields["stream"] = [("stream", "true")]
    for key, value in request.extra.items():
        fields[key] = list(_extra_fields(key, value))  # replaces relaykit's own
    audio = request.audio
    file = multipart.Part("file", audio.data, audio.upload_name, media_type(audio))
    return multipart.encode([f for entries in fields.values() for f in entries], [file])


def _extra_fields(key: str, value: Any) -> list[tuple[str, str]]:
    """``extra[key]`` as form fields: a list as repeated ``key[]``, a dict as JSON,
    booleans as ``true``/``false``; ``None`` as no field."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [(f"{key}[]", _text(item)) for item in value]
    return [(key, _text(value))]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def parse(
    body: bytes, headers: Mapping[str, str], request: TranscriptionRequest, name: str
) -> TranscriptionResponse:
    """The :class:`~relaykit.TranscriptionResponse` for a service's answer (see the
    module docstring); a ``KeyError``, ``TypeError`` or ``ValueError`` when it is
    not one."""
    request_id = headers.get("x-request-id")
    kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "text/html" or body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
        # a proxy's or a portal's page, not a transcript in text, srt or vtt
        raise ValueError(f"an HTML page ({kind or 'no content type'}), not a transcript")
    if kind != "application/json" and not body.lstrip().startswith(b"{"):
        # text, srt or vtt, asked for in extra: the body is the transcript.
        return TranscriptionResponse(
            text=body.decode("utf-8").strip(), model=request.model, id=request_id
        )
    data = json_decode.loads(body)
    if not isinstance(data, dict):
        raise TypeError(f"a JSON {type(data).__name__}, not an object")
    return parse_data(data, request, request_id)


def parse_data(
    data: Mapping[str, Any], request: TranscriptionRequest, request_id: str | None
) -> TranscriptionResponse:
    """:func:`parse` of an answer's JSON object (or of ``transcript.text.done``)."""
    text = data["text"]
    if not isinstance(text, str):
        raise TypeError(f"text is a {type(text).__name__}, not a string")
    usage: Mapping[str, Any] = data.get("usage") or {}
    duration = _seconds(data.get("duration"))
    if duration is None and usage.get("type") == "duration":
        duration = _seconds(usage.get("seconds"))
    if duration is None:
        duration = _seconds(usage.get("prompt_audio_seconds"))  # Mistral's
    tokens = Usage()
    audio_tokens = 0
    if usage.get("type") == "tokens" or "prompt_tokens" in usage:
        tokens = Usage(
            _count(usage.get("input_tokens", usage.get("prompt_tokens"))),
            _count(usage.get("output_tokens", usage.get("completion_tokens"))),
        )
        details = usage.get("input_token_details") or {}
        audio_tokens = min(_count(details.get("audio_tokens")), tokens.input_tokens)
    groq: Mapping[str, Any] = data.get("x_groq") or {}
    language = data.get("language")
    return TranscriptionResponse(
        text=text,
        language=language if isinstance(language, str) and language else None,
        duration=duration,
        model=str(data.get("model") or request.model),
        id=data.get("id") or groq.get("id") or request_id,
        usage=tokens,
        audio_tokens=audio_tokens,
        segments=_timed(data, "segments", "text"),
        words=_timed(data, "words", "word"),
    )


def _timed(data: Mapping[str, Any], key: str, field: str) -> tuple[TimedText, ...]:
    """verbose_json's ``key`` (``segments`` or ``words``, their text in ``field``), each
    with its ``start`` and ``end``; none for none (``null`` too: a compatible server's)."""
    items = data.get(key)
    if items is None:
        return ()
    if not isinstance(items, list):
        raise TypeError(f"{key} is a {type(items).__name__}, not a list")
    timed = []
    for item in items:
        text = item[field]
        if not isinstance(text, str):
            raise TypeError(f"{key}[].{field} is a {type(text).__name__}, not a string")
        start, end = _seconds(item["start"]), _seconds(item["end"])
        if start is None or end is None:
            raise ValueError(f"{key}[] has no start or end")
        timed.append(TimedText(start, end, text))
    return tuple(timed)


def _seconds(value: Any) -> float | None:
    """A length in seconds (vLLM sends some as strings); ``None`` for none."""
    if value is None or isinstance(value, bool):
        return None
    seconds = float(value)
    if not 0 <= seconds < math.inf:  # nan and 1e400 (inf) are not lengths either
        raise ValueError(f"{value!r} is not a length in seconds")
    return seconds


def _count(value: Any) -> int:
    """A token count; 0 for none, a ValueError for what is not a whole number."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    raise ValueError(f"{value!r} is not a token count")


async def transcribe(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    name: str,
    request: TranscriptionRequest,
    *,
    style: TranscriptionStyle,
    max_body: int | None,
    rules: bool = False,
) -> TranscriptionResponse:
    """Transcribe ``request``'s audio at ``url`` (``{base_url}/audio/transcriptions``).

    A form larger than ``max_body`` bytes is refused before sending (OpenAI's
    limit is 25 MiB for the whole request), with no status, so a route falls
    back to a deployment that may take it. A failure is typed as chat's is.
    ``rules``: OpenAI's model rules are checked before sending (:func:`check_openai`).
    """
    body, content_type = form(request, style, name, rules=rules)
    _check_size(body, max_body, request, name)
    r = await http.post(url, content=body, headers={**headers, "content-type": content_type})
    if r.status_code >= 400:
        raise error_from_http(
            r.status_code, r.headers, r.content, provider=name, model=request.model
        )
    return _answer(r.content, r.headers, request, name)


def _check_size(
    body: bytes, max_body: int | None, request: TranscriptionRequest, name: str
) -> None:
    """Refuse unsent a form over the service's ``max_body`` bytes."""
    if max_body is not None and len(body) > max_body:
        raise InvalidRequestError(
            f"the audio is {len(request.audio.data) / _MIB:.1f} MiB: {name} takes requests"
            f" of up to {max_body / _MIB:g} MiB",
            provider=name,
            model=request.model,
            param="audio",
            hint="compress it (ffmpeg -i IN -ac 1 -b:a 32k OUT.mp3) or split it"
            " (ffmpeg -i IN -f segment -segment_time 600 -c copy OUT%03d.mp3)",
        )


def _answer(
    content: bytes, headers: Mapping[str, str], request: TranscriptionRequest, name: str
) -> TranscriptionResponse:
    """The whole answer read (:func:`parse`), or the error it is."""
    try:
        if content.lstrip().startswith(b"{"):
            data = json_decode.loads(content)
            if isinstance(data, dict) and data.get("error") and "text" not in data:
                # A failure reported with status 200 is an error.
                status = wire.error_status(data["error"])
                raise error_from_http(status, headers, content, provider=name, model=request.model)
        return parse(content, headers, request, name)
    except (KeyError, ValueError, *SHAPE_ERRORS) as e:
        raise unreadable(
            "transcription", e, provider=name, model=request.model, path="/audio/transcriptions"
        ) from None


async def stream_transcription(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    name: str,
    request: TranscriptionRequest,
    *,
    style: TranscriptionStyle,
    max_body: int | None,
    stream: bool,
    rules: bool = False,
) -> AsyncIterator[str | TranscriptionResponse]:
    """Transcribe ``request``'s audio at ``url``, yielding the text as it is heard, then
    the whole response (see the module docstring); ``stream``: the service streams
    (OpenAI's own), for the models that do."""
    streamed = stream and streams(request.model, style)
    body, content_type = form(request, style, name, stream=streamed, rules=rules)
    _check_size(body, max_body, request, name)
    sent = {**headers, "content-type": content_type}
    async with http.stream("POST", url, content=body, headers=sent) as r:
        if r.status_code >= 400:
            await r.aread()
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=name, model=request.model
            )
        kind = r.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "text/event-stream":
            whole = _answer(await r.aread(), r.headers, request, name)
            if whole.text:
                yield whole.text
            yield whole
            return
        request_id = r.headers.get("x-request-id")
        done: TranscriptionResponse | None = None
        decoder = SSEDecoder()
        # aclosing: the byte iterator is an async generator; closing it explicitly
        # (not at garbage collection) keeps trio from warning.
        async with aclosing(r.aiter_bytes()) as chunks:  # type: ignore[type-var]
            async for raw in chunks:
                for sse in decoder.feed(raw):
                    event = event_json(sse.data, name, request.model)
                    event_type = event.get("type")
                    if event_type == "transcript.text.delta":
                        delta = event.get("delta")
                        if isinstance(delta, str) and delta:
                            yield delta
                    elif event_type == "transcript.text.done":
                        done = _done(event, request, name, request_id)
                if done is not None:
                    await read_to_end(chunks, r)  # so the connection is reused
                    break
            for sse in decoder.flush():  # a last event without its blank line
                event = event_json(sse.data, name, request.model)
                if event.get("type") == "transcript.text.done":
                    done = _done(event, request, name, request_id)
    if done is None:
        raise StreamError(
            "the stream ended before transcript.text.done", provider=name, model=request.model
        )
    yield done


def _done(
    event: Mapping[str, Any], request: TranscriptionRequest, name: str, request_id: str | None
) -> TranscriptionResponse:
    """The whole response ``transcript.text.done`` says."""
    try:
        return parse_data(event, request, request_id)
    except (KeyError, ValueError, *SHAPE_ERRORS) as e:
        raise StreamError(
            f"transcript.text.done could not be read ({type(e).__name__}: {e})"[:300],
            provider=name,
            model=request.model,
        ) from None
