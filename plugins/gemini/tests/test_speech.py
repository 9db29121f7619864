"""Gemini text to speech on the wire: the generateContent body, WAV and raw PCM, the
refusals sent nowhere, usage and cost, answers the mock never gives, and the CLI."""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import (
    ContentFilterError,
    InvalidRequestError,
    ProviderUnavailableError,
    SpeechRequest,
    Usage,
)
from relaykit.cli import main
from relaykit.testing import Reply, mock_speech, mock_speech_text
from relaykit.testing.speech_samples import mock_speech_seconds
from relaykit_gemini import speech
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"  # the mock fixture's (conftest)
TTS = "gemini/gemini-2.5-flash-preview-tts"
HELLO = "Have a wonderful day!"
#: the body Google's speech generation guide sends, for HELLO in the voice Kore
GUIDE_BODY = {
    "contents": [{"role": "user", "parts": [{"text": HELLO}]}],
    "generationConfig": {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    },
}


@asynccontextmanager
async def client(mock: GeminiMock) -> AsyncIterator[relaykit.Client]:
    cfg = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY}},
    }
    async with relaykit.Client(cfg, env={}) as c:
        yield c


def _sent(mock: GeminiMock) -> Any:
    return mock.last_request.json()


@pytest.mark.anyio
async def test_wav_is_the_pcm_behind_a_header_that_reads_back(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.speak(TTS, HELLO, voice="Kore", format="wav")
    request = mock.last_request
    assert request.path == "/v1beta/models/gemini-2.5-flash-preview-tts:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert request.json() == GUIDE_BODY
    with wave.open(io.BytesIO(r.audio)) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, 24_000)
        frames = file.readframes(file.getnframes())
    assert frames == mock_speech(HELLO, "pcm")  # the samples Gemini sent, untouched
    assert r.audio[:4] == b"RIFF" and len(r.audio) == 44 + len(frames)
    assert (r.format, r.media_type) == ("wav", "audio/wav")
    assert r.duration == pytest.approx(mock_speech_seconds(HELLO))
    assert mock_speech_text(r.audio) == HELLO
    assert (r.provider, r.model, r.id) == (
        "gemini",
        "gemini-2.5-flash-preview-tts",
        "mockResp000001",
    )


@pytest.mark.anyio
async def test_pcm_is_the_samples_as_sent(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.speak(TTS, HELLO, voice="Puck", format="pcm")
    assert r.audio == mock_speech(HELLO, "pcm")
    assert (r.format, r.media_type) == ("pcm", "audio/pcm")
    assert r.duration == pytest.approx(mock_speech_seconds(HELLO))
    voice = _sent(mock)["generationConfig"]["speechConfig"]["voiceConfig"]
    assert voice == {"prebuiltVoiceConfig": {"voiceName": "Puck"}}


@pytest.mark.anyio
async def test_usage_counts_text_in_and_audio_out_at_the_tts_price(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.speak(TTS, HELLO, voice="Kore", format="wav")
        pro = await c.speak("gemini/gemini-2.5-pro-preview-tts", HELLO, voice="Kore", format="pcm")
    audio_tokens = round(mock_speech_seconds(HELLO) * 32)
    assert r.usage == Usage(4, audio_tokens) == pro.usage
    # 2.5 Flash Preview TTS: 0.50 a million text tokens in, 10.00 a million audio out;
    # 2.5 Pro Preview TTS: 1.00 and 20.00
    assert r.cost == (4 * Decimal("0.50") + audio_tokens * Decimal("10.00")) / 1_000_000
    assert pro.cost == (4 * Decimal("1.00") + audio_tokens * Decimal("20.00")) / 1_000_000


@pytest.mark.anyio
async def test_instructions_are_said_before_the_text(mock: GeminiMock) -> None:
    async with client(mock) as c:
        await c.speak(TTS, HELLO, voice="Kore", format="wav", instructions="Say cheerfully")
        first = _sent(mock)["contents"][0]["parts"][0]["text"]
        await c.speak(TTS, HELLO, voice="Kore", format="wav", instructions="Say cheerfully: ")
        second = _sent(mock)["contents"][0]["parts"][0]["text"]
    assert first == second == "Say cheerfully: Have a wonderful day!"


@pytest.mark.anyio
async def test_extra_sets_two_speakers_or_a_language(mock: GeminiMock) -> None:
    def voice(name: str) -> dict[str, Any]:
        return {"prebuiltVoiceConfig": {"voiceName": name}}

    speakers = {
        "speakerVoiceConfigs": [
            {"speaker": "Joe", "voiceConfig": voice("Kore")},
            {"speaker": "Jane", "voiceConfig": voice("Puck")},
        ]
    }
    dialogue = "Joe: How's it going today Jane?\nJane: Not too bad, how about you?"
    async with client(mock) as c:
        r = await c.speak(
            TTS,
            dialogue,
            voice="Kore",
            format="wav",
            extra={"generationConfig": {"speechConfig": {"multiSpeakerVoiceConfig": speakers}}},
        )
        two = _sent(mock)["generationConfig"]
        await c.speak(
            TTS,
            HELLO,
            voice="Kore",
            format="pcm",
            extra={"generationConfig": {"speechConfig": {"languageCode": "en-US"}}},
        )
        one = _sent(mock)["generationConfig"]
    # Gemini takes one voice or a speakers' list, never both
    assert two == {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"multiSpeakerVoiceConfig": speakers},
    }
    assert mock_speech_text(r.audio) == dialogue
    assert one["speechConfig"] == {"voiceConfig": voice("Kore"), "languageCode": "en-US"}


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
async def test_compressed_formats_are_refused_unsent(mock: GeminiMock, fmt: str) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.speak(TTS, HELLO, voice="Kore", format=fmt)
    error = caught.value
    assert f"wav or pcm, not {fmt}" in str(error) and "format='wav'" in (error.hint or "")
    assert (error.param, error.status, error.provider) == ("format", None, "gemini")
    assert not mock.requests


@pytest.mark.anyio
async def test_speed_and_verbatim_models_instructions_are_refused_unsent(
    mock: GeminiMock,
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="no speed setting") as slow:
            await c.speak(TTS, HELLO, voice="Kore", format="wav", speed=0.5)
        with pytest.raises(InvalidRequestError, match="verbatim") as styled:
            await c.speak(
                "gemini/gemini-3.8-flash-tts",
                HELLO,
                voice="Kore",
                format="wav",
                instructions="Say cheerfully",
            )
        # the default format (mp3) too: the fix is named
        with pytest.raises(InvalidRequestError, match="not mp3"):
            await c.speak(TTS, HELLO, voice="Kore")
    assert (slow.value.param, styled.value.param) == ("speed", "instructions")
    assert "Say slowly" in (slow.value.hint or "")
    assert not mock.requests


@pytest.mark.anyio
async def test_gemini_refuses_what_it_lacks_with_a_400(mock: GeminiMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="Voice alloy is not supported") as voice:
            await c.speak(TTS, HELLO, voice="alloy", format="wav")
        with pytest.raises(InvalidRequestError, match="response modalities: audio") as model:
            await c.speak("gemini/gemini-2.5-flash", HELLO, voice="Kore", format="wav")
        with pytest.raises(InvalidRequestError, match="response modalities: text"):
            await c.chat(TTS, "Hello")  # a TTS model speaks, it does not write
    assert voice.value.status == model.value.status == 400


@pytest.mark.anyio
async def test_withheld_speech_is_a_content_filter_error(mock: GeminiMock) -> None:
    mock.script.push(Reply(finish="content_filter"))
    async with client(mock) as c:
        with pytest.raises(ContentFilterError, match="withheld the speech: SAFETY"):
            await c.speak(TTS, HELLO, voice="Kore", format="wav")


# -- answers the mock does not give ------------------------------------------------


def _answer(*blobs: tuple[str, bytes]) -> dict[str, Any]:
    parts = [
        {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}
        for mime, data in blobs
    ]
    return {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 50},
    }


def _request(fmt: str) -> SpeechRequest:
    return SpeechRequest(model="gemini-2.5-flash-preview-tts", text="hi", voice="Kore", format=fmt)


def test_the_rate_the_mime_type_names_goes_in_the_header() -> None:
    pcm = bytes(range(200))
    first, second = pcm[:100], pcm[100:]
    answer = _answer(("audio/L16;codec=pcm;rate=16000", first), ("audio/L16;rate=16000", second))
    r = speech.spoken(answer, _request("wav"), "gemini")
    with wave.open(io.BytesIO(r.audio)) as file:
        assert file.getframerate() == 16_000
        assert file.readframes(file.getnframes()) == pcm  # the parts, in order
    assert r.duration == pytest.approx(100 / 16_000)
    assert r.usage == Usage(3, 50)


def test_an_answer_already_in_wav_is_served_or_unwrapped() -> None:
    pcm = b"\x01\x02" * 240
    wav = speech.wav_of(pcm, 24_000)
    assert speech.spoken(_answer(("audio/wav", wav)), _request("wav"), "gemini").audio == wav
    assert speech.spoken(_answer(("audio/wav", wav)), _request("pcm"), "gemini").audio == pcm


def test_audio_relaykit_cannot_serve_is_a_provider_error() -> None:
    with pytest.raises(ProviderUnavailableError, match="audio/mpeg"):
        speech.spoken(_answer(("audio/mpeg", b"ID3...")), _request("wav"), "gemini")
    with pytest.raises(ProviderUnavailableError, match="2-channel"):
        speech.spoken(_answer(("audio/L16;rate=24000;channels=2", b"..")), _request("pcm"), "g")


def test_no_audio_is_no_audio_not_an_empty_wav() -> None:
    empty = {"candidates": [{"content": {"parts": [{"text": "I can't"}]}, "finishReason": "OTHER"}]}
    assert speech.spoken(empty, _request("wav"), "gemini").audio == b""


# -- the CLI -----------------------------------------------------------------------


def test_relaykit_speak_writes_a_wav(
    mock: GeminiMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\nbackend = "none"\n\n[providers.gemini]\nbase_url = "{mock.base_url}"\n'
        f'api_key = "{KEY}"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    argv = ["speak", HELLO, "-m", TTS, "--voice", "Kore", "--format", "wav", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    written = tmp_path / "have-a-wonderful-day.wav"
    assert out["file"] == str(written.name) and out["media_type"] == "audio/wav"
    with wave.open(str(written)) as file:
        assert file.getframerate() == 24_000
    assert mock_speech_text(written.read_bytes()) == HELLO
    assert out["cost_usd"] is not None and Decimal(out["cost_usd"]) > 0


@pytest.mark.parametrize("given", ["fast", ["a"], 3])
def test_a_generation_config_that_is_no_object_is_sent_as_given_not_a_crash(given: Any) -> None:
    # It used to raise a bare AttributeError reading its speechConfig; as chat does, the
    # body carries it as given, and Gemini's 400 names it.
    request = SpeechRequest(
        model="gemini-2.5-flash-preview-tts",
        text="hi",
        voice="Kore",
        format="wav",
        extra={"generationConfig": given},
    )
    assert speech.speech_body(request, "gemini")["generationConfig"] == given


@pytest.mark.parametrize("rate", ["16²", "١٦٠٠٠", "9" * 5000])
def test_a_rate_that_is_no_ascii_number_is_the_default_rate(rate: str) -> None:
    """isdigit() is true of "²" (int() raised ValueError) and "١" (read as 1)."""
    answer = _answer((f"audio/L16;rate={rate}", bytes(100)))
    r = speech.spoken(answer, _request("wav"), "gemini")
    with wave.open(io.BytesIO(r.audio)) as file:
        assert file.getframerate() == speech.PCM_RATE


@pytest.mark.anyio
async def test_speech_cut_at_the_output_limit_says_so(mock: GeminiMock) -> None:
    # finishReason MAX_TOKENS: the audio stops before the text does
    mock.script.push(Reply(finish="length"), Reply())
    async with client(mock) as c:
        cut = await c.speak(TTS, HELLO, voice="Kore", format="pcm")
        whole = await c.speak(TTS, HELLO, voice="Kore", format="pcm")
    assert cut.truncated and 0 < cut.size < whole.size
    assert not whole.truncated
