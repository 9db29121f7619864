"""Text to speech with the Gemini TTS models: audio from ``models/{model}:generateContent``.

Request (Google's "Speech generation" guide): the text as one user turn, and
``generationConfig`` with ``responseModalities: ["AUDIO"]`` and
``speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName``. Voices are sent as
given: Google documents thirty (:data:`VOICES`, from ``Kore`` to ``Zephyr``)
and its newer TTS models draw on many more, so Gemini refuses one it lacks.

``instructions`` go into the text: Gemini has no style field for these models,
its guide steers them in words before the text ("Say cheerfully: Have a
wonderful day!"), so ``instructions="Say cheerfully"`` sends ``"Say
cheerfully: Have a wonderful day!"``. Google's 3.8 TTS models read the text
verbatim (its migration guide: style goes in speech metadata instead, or it
may be read aloud), so instructions for them are refused unsent rather than
spoken. ``speed`` is refused unsent too: Gemini has no such setting (pace is
asked for in the instructions: "Say slowly").

``extra`` is merged into the body as for chat (:func:`relaykit_gemini.wire.merge_extra`),
``generationConfig.speechConfig`` one level deeper: a ``multiSpeakerVoiceConfig``
there (two speakers, each named in the text as ``Joe: ...``) replaces the
single voice, a ``languageCode`` adds to it.

Answer: an ``inlineData`` part of raw PCM, its ``mimeType``
``audio/L16;codec=pcm;rate=24000`` (16-bit little-endian mono samples at the
rate it names). Gemini gives no compressed audio, so relaykit serves two
formats (:data:`FORMATS`): ``pcm``, the samples as they came, and ``wav``,
those samples behind a RIFF header written here (:func:`wav_of`). ``mp3``,
``opus``, ``aac`` and ``flac`` are refused unsent, naming these two. The WAV
header says the rate Gemini named; ``pcm`` does not, and
:attr:`relaykit.SpeechResponse.duration` takes it at 24 kHz, the only rate
Gemini has answered in. An answer already in WAV (``audio/wav``) is served as
it is, or unwrapped for ``pcm``.
``usageMetadata`` counts the text's input tokens and the audio's output tokens
(the price table's output price is the audio's).
"""

from __future__ import annotations

import base64
import binascii
import io
import wave
from collections.abc import Mapping
from typing import Any

from relaykit import (
    ContentFilterError,
    InvalidRequestError,
    ProviderUnavailableError,
    SpeechRequest,
    SpeechResponse,
)

from . import wire

#: the formats Gemini's TTS models give (raw PCM), with a WAV header or without
FORMATS = ("wav", "pcm")
_MEDIA_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}
#: the prebuilt voices Google's speech generation guide lists
VOICES = (
    "Zephyr",
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Leda",
    "Orus",
    "Aoede",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
    "Umbriel",
    "Algieba",
    "Despina",
    "Erinome",
    "Algenib",
    "Rasalgethi",
    "Laomedeia",
    "Achernar",
    "Alnilam",
    "Schedar",
    "Gacrux",
    "Pulcherrima",
    "Achird",
    "Zubenelgenubi",
    "Vindemiatrix",
    "Sadachbia",
    "Sadaltager",
    "Sulafat",
)
#: what Gemini's PCM is when its mime type does not say (the guide's wave example)
PCM_RATE = 24_000
_SAMPLE_WIDTH = 2  # 16-bit samples
#: TTS models that read their text verbatim (style goes in speech metadata)
_VERBATIM = ("gemini-3.8-",)


def speech_body(request: SpeechRequest, name: str) -> dict[str, Any]:
    """The JSON body of ``{model}:generateContent`` speaking ``request`` (see the module
    docstring); :class:`~relaykit.InvalidRequestError`, unsent, for what Gemini has
    no way to do."""
    if request.format not in FORMATS:
        raise _refuse(
            f"{request.model} gives 16-bit PCM audio (24 kHz mono): wav or pcm, not"
            f" {request.format}",
            request,
            name,
            "format",
            "pass format='wav' (the PCM in a WAV file) or format='pcm' (the raw"
            " samples), and convert it yourself (ffmpeg -i speech.wav speech.mp3)",
        )
    if request.speed is not None:
        raise _refuse(
            "the Gemini API has no speed setting for speech",
            request,
            name,
            "speed",
            "leave speed out and ask for the pace in instructions ('Say slowly')",
        )
    text = request.text
    if request.instructions:
        if request.model.startswith(_VERBATIM):
            raise _refuse(
                f"{request.model} reads its text verbatim: instructions would be spoken",
                request,
                name,
                "instructions",
                "leave instructions out, or use gemini-2.5-flash-preview-tts",
            )
        # Google's guide: the style is asked for in words before the text.
        text = f"{request.instructions.rstrip().rstrip(':').rstrip()}: {text}"
    voice = {"prebuiltVoiceConfig": {"voiceName": request.voice}}
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": voice},
        },
    }
    if request.extra:
        ours = body["generationConfig"]["speechConfig"]
        wire.merge_extra(body, request.extra)
        given = request.extra.get("generationConfig")
        theirs = given.get("speechConfig") if isinstance(given, Mapping) else None
        if isinstance(theirs, Mapping):
            merged = dict(ours)
            if "multiSpeakerVoiceConfig" in theirs:
                # Gemini takes one or the other: the speakers' voices replace ours.
                merged.pop("voiceConfig", None)
            merged.update(theirs)
            body["generationConfig"]["speechConfig"] = merged
    return body


def _refuse(
    message: str, request: SpeechRequest, name: str, param: str, hint: str
) -> InvalidRequestError:
    return InvalidRequestError(message, provider=name, model=request.model, param=param, hint=hint)


def spoken(data: Mapping[str, Any], request: SpeechRequest, name: str) -> SpeechResponse:
    """The :class:`~relaykit.SpeechResponse` for a ``GenerateContentResponse``: its audio
    parts' samples, in ``request.format``. No audio is ``b""`` (the core says so),
    unless a safety filter withheld it (:class:`~relaykit.ContentFilterError`);
    audio relaykit cannot serve as WAV or PCM is :class:`~relaykit.ProviderUnavailableError`."""
    candidates = data.get("candidates") or []
    candidate: Mapping[str, Any] = candidates[0] if candidates else {}
    finish = str(candidate.get("finishReason") or "")
    pcm = bytearray()
    rate = PCM_RATE
    for part in (candidate.get("content") or {}).get("parts") or ():
        blob = part.get("inlineData")
        if not isinstance(blob, Mapping):
            continue
        mime = str(blob.get("mimeType") or "")
        if not mime.lower().startswith("audio/"):
            continue
        raw = _decoded(blob.get("data"), request, name)
        samples, rate = _samples(mime, raw, request, name)
        pcm += samples
    if not pcm:
        filtered = wire.blocked_reason(data)
        if filtered is None and wire.FINISH_REASONS.get(finish) == "content_filter":
            filtered = finish
        if filtered is not None:
            raise ContentFilterError(
                f"{request.model}'s safety filters withheld the speech: {filtered}",
                provider=name,
                model=request.model,
                hint="rephrase the text; withheld speech is not returned",
            )
    audio = bytes(pcm)
    if audio and request.format == "wav":
        audio = wav_of(audio, rate)
    return SpeechResponse(
        audio=audio,
        format=request.format,
        media_type=_MEDIA_TYPES[request.format],
        model=str(data.get("modelVersion") or request.model),
        id=data.get("responseId"),
        usage=wire.usage(data.get("usageMetadata")),
        # the audio stops short of the text: it met the output limit
        truncated=wire.FINISH_REASONS.get(finish) == "length",
    )


def _decoded(data: Any, request: SpeechRequest, name: str) -> bytes:
    try:
        return base64.b64decode(str(data or ""), validate=True)
    except binascii.Error:
        raise _unreadable("audio that is not base64", request, name) from None


def _samples(mime: str, raw: bytes, request: SpeechRequest, name: str) -> tuple[bytes, int]:
    """The 16-bit mono samples in ``raw`` and their rate, from its ``mime`` type:
    ``audio/L16;codec=pcm;rate=24000`` (raw) or ``audio/wav`` (unwrapped)."""
    kind, _, params = mime.partition(";")
    kind = kind.strip().lower()
    fields = dict(
        (key.strip().lower(), value.strip())
        for key, _, value in (p.partition("=") for p in params.split(";"))
    )
    if kind in ("audio/l16", "audio/pcm"):
        rate = fields.get("rate", "")
        channels = fields.get("channels", "1")
        if channels != "1":
            raise _unreadable(f"{channels}-channel audio ({mime})", request, name)
        digits = rate.isascii() and rate.isdigit() and len(rate) <= 9  # not "²", not 5000 9s
        return raw, int(rate) if digits and int(rate) > 0 else PCM_RATE
    if kind in ("audio/wav", "audio/x-wav", "audio/wave"):
        try:
            with wave.open(io.BytesIO(raw)) as file:
                if file.getnchannels() != 1 or file.getsampwidth() != _SAMPLE_WIDTH:
                    raise _unreadable(f"WAV audio that is not 16-bit mono ({mime})", request, name)
                return file.readframes(file.getnframes()), file.getframerate()
        except (wave.Error, EOFError):
            raise _unreadable(f"a broken WAV file ({mime})", request, name) from None
    raise _unreadable(f"audio in {kind}, which relaykit does not convert", request, name)


def _unreadable(what: str, request: SpeechRequest, name: str) -> ProviderUnavailableError:
    return ProviderUnavailableError(
        f"generateContent answered {what}: relaykit serves Gemini's speech as wav or pcm",
        provider=name,
        model=request.model,
        hint="report it, with the model's name",
    )


def wav_of(pcm: bytes, rate: int = PCM_RATE) -> bytes:
    """``pcm`` (16-bit little-endian mono samples at ``rate`` a second) as a WAV file:
    a RIFF header (``fmt `` chunk: PCM, 1 channel, 16 bits) and the samples."""
    pcm = pcm[: len(pcm) - len(pcm) % _SAMPLE_WIDTH]  # half a sample is no sound
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(_SAMPLE_WIDTH)
        file.setframerate(rate)
        file.writeframes(pcm)
    return out.getvalue()
