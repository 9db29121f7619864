"""Speech to text with Gemini's audio understanding: a transcript from
``models/{model}:generateContent``.

Gemini has no transcription endpoint: its "Audio understanding" guide asks a
model (``gemini-2.5-flash``...) for one in words. The request is one user turn:
the audio as an ``inlineData`` part, then :func:`instruction`, which asks for
the words said, verbatim, and nothing else, and folds in ``language`` (the
speech's language: transcribe it, do not translate) and ``prompt`` (context
and spellings to follow, as OpenAI's prompt is). ``extra`` is merged into the
body as for chat (``{"generationConfig": {"thinkingConfig": {"thinkingBudget":
0}}}`` turns 2.5 Flash's thinking off, which a transcript rarely needs).

The audio goes inline, base64 in the JSON body, in a MIME type the guide
lists (:data:`MIME_TYPES`: WAV, MP3, OGG, FLAC, and MP4 video, whose speech
Gemini transcribes too). M4A and WebM are refused unsent, naming the formats
Gemini reads. Vertex AI's "Audio understanding" page lists more types for
its Gemini models (``audio/m4a``, ``audio/webm``, ``audio/mp4``...): Vertex
sends M4A and WebM too (:data:`VERTEX_MIME_TYPES`). The Files API guide caps
an inline request at 100 MB ("Always use the Files API when the total request
size ... is larger than 100 MB"; it was 20 MB until January 2026): a larger
body is refused unsent (:data:`MAX_REQUEST_BYTES`); uploading through the
Files API is not done here. Vertex AI's pages allow more (an inline part of up
to 256 MB), so the one limit holds for both.

The answer's text is the transcript, ``truncated`` when it stopped at the
output limit (``finishReason`` ``MAX_TOKENS``). ``usageMetadata`` counts the tokens,
the audio's apart (``promptTokensDetails``, modality ``AUDIO``), which some
models bill above text (:attr:`relaykit.ModelPrice.audio_input`). The audio's
length is its header's (WAV, FLAC), else its tokens over
:data:`AUDIO_TOKENS_PER_SECOND` (the guide: "Gemini represents each second of
audio as 32 tokens").
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from relaykit import (
    ContentFilterError,
    InvalidRequestError,
    TranscriptionRequest,
    TranscriptionResponse,
    json_encode,
)

from . import wire

#: the MIME type Gemini reads each format as (relaykit's format names): the
#: audio guide's types, and MP4 from its video guide
MIME_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp4": "video/mp4",
}
#: Vertex AI's: its audio understanding page's MIME types add M4A and WebM
VERTEX_MIME_TYPES = {**MIME_TYPES, "m4a": "audio/m4a", "webm": "audio/webm"}
#: the formats named in a refusal (the audio guide's list)
READ = "wav, mp3, aiff, aac, ogg (Vorbis), flac"
#: the largest request body sent inline: the Files API guide's 100 MB, in
#: the binary megabytes of Google's refusal ("Request payload size exceeds the
#: limit: 20971520 bytes." when the limit was 20 MB)
MAX_REQUEST_BYTES = 100 * 1024 * 1024
#: tokens a second of audio counts as (the audio guide)
AUDIO_TOKENS_PER_SECOND = 32
_MB = 1024 * 1024


def instruction(request: TranscriptionRequest) -> str:
    """The text part asking for the transcript, with ``language`` and ``prompt`` in it."""
    lines = [
        "Transcribe the speech in this audio verbatim. Answer with the transcript"
        " alone: no introduction, timestamps, speaker labels or commentary. If"
        " nothing is said, answer with nothing."
    ]
    if request.language:
        lines.append(
            f"The speech is in the language with the code {request.language!r}: write the"
            " transcript in that language, do not translate it."
        )
    if request.prompt:
        lines.append(
            "Context, and spellings to follow (do not transcribe this):\n" + request.prompt
        )
    return "\n".join(lines)


def transcription_body(
    request: TranscriptionRequest, name: str, mime_types: Mapping[str, str] = MIME_TYPES
) -> bytes:
    """The JSON body of ``{model}:generateContent`` transcribing ``request.audio``.

    ``mime_types`` are the formats the host reads (Vertex AI's are
    :data:`VERTEX_MIME_TYPES`). Raises :class:`~relaykit.InvalidRequestError`
    (unsent) for a format it does not read, and for a body over
    :data:`MAX_REQUEST_BYTES`.
    """
    audio = request.audio
    mime = mime_types.get(audio.format)
    if mime is None:
        read = READ if mime_types is MIME_TYPES else ", ".join(sorted(mime_types))
        raise InvalidRequestError(
            f"Gemini reads {read} audio, not {audio.format}",
            provider=name,
            model=request.model,
            param="audio",
            hint="convert it (ffmpeg -i IN OUT.mp3)",
        )
    blob = {"mimeType": mime, "data": base64.b64encode(audio.data).decode("ascii")}
    body: dict[str, Any] = {
        "contents": [
            {"role": "user", "parts": [{"inlineData": blob}, {"text": instruction(request)}]}
        ]
    }
    if request.extra:
        wire.merge_extra(body, request.extra)
    encoded = json_encode.dumps(body)
    if len(encoded) > MAX_REQUEST_BYTES:
        raise InvalidRequestError(
            f"the audio is {len(audio.data) / _MB:.1f} MiB, {len(encoded) / _MB:.1f} MiB as"
            f" base64 in the request: Gemini takes inline requests of up to"
            f" {MAX_REQUEST_BYTES // _MB} MB (larger audio goes through its Files API,"
            " which relaykit does not use)",
            provider=name,
            model=request.model,
            param="audio",
            hint="compress it (ffmpeg -i IN -ac 1 -b:a 32k OUT.mp3) or split it"
            " (ffmpeg -i IN -f segment -segment_time 600 -c copy OUT%03d.mp3)",
        )
    return encoded


def transcript(
    data: Mapping[str, Any], request: TranscriptionRequest, name: str
) -> TranscriptionResponse:
    """The :class:`~relaykit.TranscriptionResponse` for a ``GenerateContentResponse``;
    :class:`~relaykit.ContentFilterError` when a safety filter withheld the text."""
    answer = wire.response(data)
    if answer.finish_reason == "content_filter":
        raise ContentFilterError(
            f"{request.model}'s safety filters withheld the transcript",
            provider=name,
            model=request.model,
            provider_message=wire.blocked_reason(data) or None,
            hint="a filtered transcript is not returned; try another model",
        )
    audio_tokens = _audio_tokens(data.get("usageMetadata"))
    duration = request.audio_seconds
    if duration is None and audio_tokens:
        duration = audio_tokens / AUDIO_TOKENS_PER_SECOND
    return TranscriptionResponse(
        text=answer.text.strip(),
        duration=duration,
        model=answer.model or request.model,
        id=answer.id,
        usage=answer.usage,
        audio_tokens=min(audio_tokens, answer.usage.input_tokens),
        truncated=answer.finish_reason == "length",
    )


def _audio_tokens(meta: Any) -> int:
    """The prompt's audio tokens (``promptTokensDetails``, modality ``AUDIO``)."""
    return wire.prompt_tokens(meta, "AUDIO")
