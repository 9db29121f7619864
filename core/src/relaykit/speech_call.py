""":meth:`relaykit.Client.speak`: the chat pipeline's steps, for a text to speech.

validate -> redact outbound (the text) -> route -> rate-limit reserve -> breaker
-> retry(provider speak with timeouts) -> cost -> reconcile limits -> span,
metrics and log record -> return.

As for image generations (:mod:`relaykit.image_generation_call`), everything
but the first and last steps is the chat call's own code; routes work as for
chat but do not hedge (a second speech would be billed twice), and nothing is
cached. A budget holds the text's characters at the price per character
before sending. Records keep the text (redacted as content is) and the
audio's format and size: never its bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from . import single_calls
from .errors import ClientClosedError, RelayError
from .protocols import Provider
from .routing import Target
from .single_calls import Operation, answer, capability, conclude, new_call, run_call
from .speech import SpeechRequest, SpeechResponse, build_speech_request, speech_cost
from .tracing import CallTracer
from .validation import check_chars

if TYPE_CHECKING:
    from .call_outcomes import CallOutcomes
    from .client import Client, _Call


_WHO_SPEAKS = (
    "speak with a provider that has a speech API: openai (gpt-4o-mini-tts, tts-1,"
    " tts-1-hd), gemini (gemini-2.5-flash-preview-tts, wav or pcm), or the"
    " OpenAI-compatible groq"
)


async def send_speech(provider: Provider, request: SpeechRequest, target: Target) -> SpeechResponse:
    """``provider.speak(request)``, checked: a typed refusal when the provider has no
    speech API, or when it answered without audio."""
    speak = capability(provider, "speak", target, "speech", _WHO_SPEAKS)
    response: SpeechResponse = await speak(request)
    if not response.audio:
        # A 200 without a sound is no answer to bill or to hand back.
        raise RelayError(
            f"{target.provider} answered without audio",
            provider=target.provider,
            model=target.model,
            hint="try again, or another model",
        )
    return response


async def speak(client: Client, model: str, text: str, params: dict[str, Any]) -> SpeechResponse:
    """Run one text to speech through ``client``'s pipeline (see the module docstring)."""
    call = _start(client, model, text, params)
    return await run_call(client, call, lambda: _run(client, call))


def _start(
    client: Client, model: str, text: str, params: dict[str, Any], *, streamed: bool = False
) -> _Call:
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")
    targets = client._router.plan(model)
    request = build_speech_request(targets[0].model, text, params)
    size = len(request.text) + len(request.instructions or "")
    check_chars(size, client.config.validation.max_chars, "the text carries", "text", "split it")
    if client._outbound is not None:
        # Outbound redaction keeps PII from the provider: the vendor then speaks the
        # placeholders, which is what the operator who turned it on asked for.
        redact = client._outbound.redact
        request = attrs.evolve(
            request,
            text=redact(request.text),
            instructions=redact(request.instructions) if request.instructions else None,
        )
    return new_call(
        client,
        model,
        request,
        targets,
        size,
        SPEAK,
        characters=len(request.text),
        streamed=streamed,
    )


async def _run(client: Client, call: _Call) -> SpeechResponse:
    response: SpeechResponse
    response, target = await answer(client, call)
    return await conclude(client, call, target, response)


def _request(call: _Call) -> SpeechRequest:
    """The speech's request (see ``_Call.request``)."""
    request: Any = call.request
    return request  # type: ignore[no-any-return]


def answer_params(response: SpeechResponse) -> dict[str, Any]:
    """What a record adds to its parameters from ``response``: the audio's size in
    bytes, media type and length where its bytes say, never the audio."""
    params: dict[str, Any] = {
        "audio_bytes": response.size,
        "media_type": response.media_type,
    }
    seconds = response.duration
    if seconds is not None:
        params["audio_seconds"] = round(seconds, 3)
    return params


def record_fields(outcomes: CallOutcomes, call: _Call, target: Target) -> dict[str, Any]:
    """The fields every record of a text to speech has (``CallOutcomes.record_fields``'s).

    With content on, its one message is the text spoken (a user message), which
    ``relaykit logs`` shows and searches; the instructions are a parameter,
    kept with content only. Its parameters: ``voice``, ``format``, ``speed``,
    ``characters``, ``timeout``, and with content, ``extra`` and metadata; a
    successful call's add the audio's size (:func:`answer_params`).
    """
    request = _request(call)
    params: dict[str, Any] = {
        "voice": request.voice,
        "format": request.format,
        "characters": len(request.text),
    }
    if request.speed is not None:
        params["speed"] = request.speed
    if request.instructions and outcomes.content:
        params["instructions"] = outcomes.redaction.text(request.instructions)
    return single_calls.record_fields(
        outcomes,
        call,
        target,
        texts=(request.text,),
        params=params,
    )


#: how the client sends, prices (per character of text, or by the token), traces and
#: records a text to speech, whole or streamed (:mod:`relaykit.speech_stream`)
SPEAK = Operation(
    "speak",
    send_speech,
    record_fields,
    speech_cost,
    start_span=CallTracer.start_speak,
    finish_span=CallTracer.finish_speak,
    answer_params=answer_params,
)
