"""What :class:`~relaykit_gemini.testing.GeminiMock` says and hears on ``:generateContent``:
speech from the TTS models, transcripts of audio sent inline.

Speech: a request whose ``responseModalities`` is ``["AUDIO"]``, to a TTS
model (:data:`TTS_MODELS`), with one text part, is answered as Gemini answers
it: an ``inlineData`` part whose ``mimeType`` is
``audio/L16;codec=pcm;rate=24000`` and whose data is the raw 16-bit PCM of
:func:`relaykit.testing.mock_speech` of the text (``pcm``: the text is readable
back with :func:`relaykit.testing.mock_speech_text`, from the WAV a plugin
wraps it in too). Usage: the text's tokens in (``TEXT``), the audio's out
(``AUDIO``, :data:`AUDIO_TOKENS_PER_SECOND` of the speech's length: the mock's
count, Google's audio-input rate). Checked, with the mock's own words where
Google publishes none: modalities other than ``AUDIO`` alone, to or from a
TTS model ("Model does not support the requested response modalities: ..."),
a ``speechConfig`` with fields Gemini lacks, both or neither of
``voiceConfig`` and ``multiSpeakerVoiceConfig``, a voice not in
:data:`relaykit_gemini.speech.VOICES`, a multi-speaker config without exactly
two speakers, and parts other than text.

Transcripts: a request to a model that is not a TTS model whose parts hold
audio (``inlineData`` of an ``audio/`` type) is answered, when nothing is
scripted, with :func:`heard` of the audio: what the mock hears in it. Its
usage counts the audio's tokens apart (``promptTokensDetails`` modality
``AUDIO``, :data:`AUDIO_TOKENS_PER_SECOND` of
:func:`relaykit.testing.mock_seconds` of it). Audio in a type Gemini's audio
guide does not list (:data:`AUDIO_TYPES`) is refused.

Scripted replies (:class:`relaykit.testing.Reply`): a failure or a ``delay``
as for chat; for speech, ``finish="content_filter"`` withholds the audio
(finish reason ``SAFETY``) and ``input_tokens``/``output_tokens`` replace the
counts; for a transcript, ``text`` replaces what the mock heard.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from relaykit.testing.audio_samples import mock_seconds, mock_transcript
from relaykit.testing.script import Reply, count_tokens
from relaykit.testing.speech_samples import mock_speech, mock_speech_seconds, mock_speech_text

from .speech import VOICES

#: the TTS models the mock speaks with (they take ``responseModalities: ["AUDIO"]`` only)
TTS_MODELS = (
    "gemini-2.5-flash-preview-tts",
    "gemini-2.5-pro-preview-tts",
    "gemini-3.1-flash-tts-preview",
)
#: the mime type of Gemini's speech (its speech generation guide's answers)
PCM_MIME = "audio/L16;codec=pcm;rate=24000"
#: tokens a second of audio counts as (Google's audio guide, for audio in)
AUDIO_TOKENS_PER_SECOND = 32
#: the audio types Gemini's audio guide lists
AUDIO_TYPES = ("audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac")
#: the audio types Vertex AI's "Audio understanding" page lists for its Gemini models
VERTEX_AUDIO_TYPES = (
    "audio/x-aac",
    "audio/flac",
    "audio/mp3",
    "audio/m4a",
    "audio/mpeg",
    "audio/mpga",
    "audio/mp4",
    "audio/ogg",
    "audio/opus",
    "audio/pcm",
    "audio/wav",
    "audio/webm",
)
_SPEECH_CONFIG = ("voiceConfig", "multiSpeakerVoiceConfig", "languageCode")


def is_tts(model: str) -> bool:
    """Whether the mock takes ``model`` for a TTS model."""
    return model in TTS_MODELS


def wants_audio(body: Mapping[str, Any]) -> bool:
    """Whether a ``generateContent`` body asks for audio out."""
    config = body.get("generationConfig") or {}
    return "AUDIO" in [str(m).upper() for m in config.get("responseModalities") or ()]


def speech_problem(body: Mapping[str, Any], model: str) -> str | None:
    """The message for what is wrong with a (well-formed) ``generateContent`` body for a
    TTS ``model``, or one asking a model for audio; ``None`` when nothing is."""
    config = body.get("generationConfig") or {}
    modalities = sorted(str(m).lower() for m in config.get("responseModalities") or ("text",))
    if not is_tts(model) or modalities != ["audio"]:
        return f"Model does not support the requested response modalities: {','.join(modalities)}"
    for content in body.get("contents") or ():
        for part in content.get("parts") or ():
            if "text" not in part:
                return f"{model} takes text input only."
    settings = config.get("speechConfig")
    if not isinstance(settings, dict):
        return f"{model} needs generation_config.speech_config."
    for key in settings:
        if key not in _SPEECH_CONFIG:
            return (
                f'Invalid JSON payload received. Unknown name "{key}" at '
                "'generation_config.speech_config': Cannot find field."
            )
    single, multi = settings.get("voiceConfig"), settings.get("multiSpeakerVoiceConfig")
    if (single is None) == (multi is None):
        return (
            "* GenerateContentRequest.generation_config.speech_config: set one of"
            " voice_config and multi_speaker_voice_config."
        )
    if single is not None:
        return _voice_problem(single, "voice_config")
    speakers = multi.get("speakerVoiceConfigs") if isinstance(multi, dict) else None
    if not isinstance(speakers, list) or len(speakers) != 2:
        return "Multi-speaker voice config must have exactly 2 speaker voice configs."
    for i, speaker in enumerate(speakers):
        where = f"multi_speaker_voice_config.speaker_voice_configs[{i}]"
        if not isinstance(speaker, dict) or not speaker.get("speaker"):
            return f"* {where}.speaker: speaker is required."
        problem = _voice_problem(speaker.get("voiceConfig"), f"{where}.voice_config")
        if problem:
            return problem
    return None


def _voice_problem(config: Any, where: str) -> str | None:
    prebuilt = config.get("prebuiltVoiceConfig") if isinstance(config, dict) else None
    name = prebuilt.get("voiceName") if isinstance(prebuilt, dict) else None
    if not name:
        return f"* {where}.prebuilt_voice_config.voice_name: voice_name is required."
    if name not in VOICES:
        return f"Voice {name} is not supported. Choose one of: {', '.join(VOICES)}."
    return None


def speech_turn(text: str, model: str, reply: Reply, rid: str) -> dict[str, Any]:
    """The ``GenerateContentResponse`` speaking ``text`` (a valid request's), as scripted."""
    seconds = mock_speech_seconds(text)
    audio_tokens = round(seconds * AUDIO_TOKENS_PER_SECOND)
    inp = reply.input_tokens if reply.input_tokens is not None else max(1, count_tokens(text))
    out = reply.output_tokens if reply.output_tokens is not None else audio_tokens
    candidate: dict[str, Any] = {"index": 0}
    if reply.finish == "content_filter":
        candidate["finishReason"] = "SAFETY"
        out = 0
    else:
        pcm = mock_speech(text, "pcm")
        if reply.finish == "length":  # cut at the output limit: the first half, whole samples
            pcm = pcm[: len(pcm) // 4 * 2]
            out = max(1, out // 2)
        data = base64.b64encode(pcm).decode()
        part = {"inlineData": {"mimeType": PCM_MIME, "data": data}}
        candidate["content"] = {"parts": [part], "role": "model"}
        candidate["finishReason"] = "MAX_TOKENS" if reply.finish == "length" else "STOP"
    usage: dict[str, Any] = {
        "promptTokenCount": inp,
        "candidatesTokenCount": out,
        "totalTokenCount": inp + out,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": inp}],
    }
    if out:
        usage["candidatesTokensDetails"] = [{"modality": "AUDIO", "tokenCount": out}]
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": rid,
    }


def audio_parts(body: Mapping[str, Any]) -> list[bytes]:
    """The audio a (validated) body sends inline, in order."""
    found: list[bytes] = []
    for content in body.get("contents") or ():
        for part in content.get("parts") or ():
            blob = part.get("inlineData")
            if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith("audio/"):
                found.append(base64.b64decode(blob.get("data") or ""))
    return found


def audio_problem(body: Mapping[str, Any], types: tuple[str, ...] = AUDIO_TYPES) -> str | None:
    """Gemini's message for audio in a type it does not read (not in ``types``), or ``None``."""
    for content in body.get("contents") or ():
        for part in content.get("parts") or ():
            blob = part.get("inlineData")
            mime = str(blob.get("mimeType", "")) if isinstance(blob, dict) else ""
            if mime.startswith("audio/") and mime not in types:
                return f"Unsupported MIME type: {mime}"
    return None


def heard(audio: bytes) -> str:
    """What the mock hears in ``audio``: the text of :func:`relaykit.testing.mock_speech`
    (so speaking then transcribing gives the text back), else
    :func:`relaykit.testing.mock_transcript` of it."""
    said = mock_speech_text(audio)
    return said if said is not None else mock_transcript(audio)


def audio_tokens(clips: list[bytes]) -> int:
    """The tokens Gemini counts for ``clips``: :data:`AUDIO_TOKENS_PER_SECOND` a second."""
    return sum(round(mock_seconds(clip) * AUDIO_TOKENS_PER_SECOND) for clip in clips)
