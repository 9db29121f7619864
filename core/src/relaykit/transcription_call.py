""":meth:`relaykit.Client.transcribe`: the chat pipeline's steps, for a transcription.

read the audio -> validate -> redact outbound (the prompt) -> route -> rate-limit
reserve -> breaker -> retry(provider transcribe with timeouts) -> cost -> reconcile
limits -> span, metrics and log record -> return.

As for rerank (:mod:`relaykit.rerank_call`), everything but the first and last
steps is the chat call's own code; routes work as for chat but do not hedge
(a second upload of the same audio would be billed twice), and nothing is
cached. A budget holds the audio's minutes at the price per minute when the
file's header says how long it lasts (WAV, FLAC); other formats are settled
when the answer says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from . import single_calls
from .audio import media_type, read_audio
from .errors import ClientClosedError
from .protocols import Provider
from .response import ModelPrice
from .routing import Target
from .single_calls import Operation, answer, capability, conclude, new_call, run_call
from .tracing import CallTracer
from .transcription import (
    TranscriptionRequest,
    TranscriptionResponse,
    build_transcription_request,
    transcription_cost,
)
from .validation import check_chars

if TYPE_CHECKING:
    from decimal import Decimal

    from .call_outcomes import CallOutcomes
    from .client import Client, _Call


_WHO_TRANSCRIBES = (
    "transcribe with a provider that has one: openai (whisper-1, gpt-4o-transcribe,"
    " gpt-4o-mini-transcribe), gemini (gemini-2.5-flash), or the OpenAI-compatible"
    " groq, together, mistral or vllm"
)


async def send_transcription(
    provider: Provider, request: TranscriptionRequest, target: Target
) -> TranscriptionResponse:
    """``provider.transcribe(request)``, checked: a typed refusal when the provider has no
    transcription API."""
    transcribe = capability(provider, "transcribe", target, "transcription", _WHO_TRANSCRIBES)
    response: TranscriptionResponse = await transcribe(request)
    return response


async def transcribe(
    client: Client, model: str, audio: object, params: dict[str, Any]
) -> TranscriptionResponse:
    """Run one transcription through ``client``'s pipeline (see the module docstring)."""
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")
    targets = client._router.plan(model)  # an unknown model fails before the file is read
    found = await read_audio(audio)
    call = _start(client, model, found, targets, params)
    return await run_call(client, call, lambda: _run(client, call))


def _start(
    client: Client,
    model: str,
    audio: Any,
    targets: tuple[Target, ...],
    params: dict[str, Any],
    *,
    streamed: bool = False,
) -> _Call:
    if client._closed and client._refuses_calls():  # closed while the file was read
        raise ClientClosedError("this client is closed")
    request = build_transcription_request(targets[0].model, audio, params)
    size = len(request.prompt or "")
    check_chars(
        size, client.config.validation.max_chars, "the prompt carries", "prompt", "shorten it"
    )
    if client._outbound is not None and request.prompt:
        # Outbound redaction keeps PII from the provider; the prompt only guides
        # the model, so nothing comes back to restore.
        request = attrs.evolve(request, prompt=client._outbound.redact(request.prompt))
    seconds = request.audio_seconds
    return new_call(
        client,
        model,
        request,
        targets,
        size,
        TRANSCRIBE,
        minutes=(seconds or 0.0) / 60,
        streamed=streamed,
    )


async def _run(client: Client, call: _Call) -> TranscriptionResponse:
    response: TranscriptionResponse
    response, target = await answer(client, call)
    language = response.language or _request(call).language
    return await conclude(client, call, target, response, language=language)


def _request(call: _Call) -> TranscriptionRequest:
    """The transcription's request (see ``_Call.request``)."""
    request: Any = call.request
    return request  # type: ignore[no-any-return]


def record_fields(outcomes: CallOutcomes, call: _Call, target: Target) -> dict[str, Any]:
    """The fields every record of a transcription has (``CallOutcomes.record_fields``'s).

    Never the audio: its parameters are the audio's size (``audio_bytes``),
    ``media_type`` and length (``audio_seconds``: its header's, until the vendor
    says), the ``language`` asked for, ``timeout``, and with content, ``extra``
    and metadata. With content on, its one message is the prompt (a user
    message), when there is one; the transcript is the record's ``text``.
    """
    request = _request(call)
    params: dict[str, Any] = {
        "audio_bytes": len(request.audio.data),
        "media_type": media_type(request.audio),
    }
    if request.audio_seconds is not None:
        params["audio_seconds"] = round(request.audio_seconds, 3)
    if request.language is not None:
        params["language"] = request.language
    return single_calls.record_fields(
        outcomes,
        call,
        target,
        texts=(request.prompt,) if request.prompt else (),
        params=params,
    )


def _cost(
    price: ModelPrice, request: TranscriptionRequest, response: TranscriptionResponse
) -> Decimal | None:
    return transcription_cost(price, response)


def _text(response: TranscriptionResponse) -> str:
    return response.text  # the transcript is the record's answer


def answer_params(response: TranscriptionResponse) -> dict[str, Any] | None:
    """What a record adds to its parameters from ``response``: the audio's length, as
    the vendor measured it (``audio_seconds``), when it said."""
    return {"audio_seconds": response.duration} if response.duration is not None else None


#: how the client sends, prices (per minute of audio, or by the token), traces and
#: records a transcription, whole or streamed (:mod:`relaykit.transcription_stream`)
TRANSCRIBE = Operation(
    "transcribe",
    send_transcription,
    record_fields,
    _cost,
    start_span=CallTracer.start_transcribe,
    finish_span=CallTracer.finish_transcribe,
    answer_text=_text,
    answer_params=answer_params,
)
