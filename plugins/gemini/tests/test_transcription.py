"""Gemini speech to text on the wire: the audio inline with an instruction, language and
prompt folded in, formats and the 100 MB limit refused unsent, usage, cost and length,
and the CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import AudioFile, ContentFilterError, InvalidRequestError, Usage
from relaykit.cli import main
from relaykit.testing import Reply, mock_audio, mock_transcript
from relaykit_gemini import transcription
from relaykit_gemini.mock_audio import AUDIO_TYPES, VERTEX_AUDIO_TYPES, audio_problem
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.testing import MAX_REQUEST_BYTES, GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"  # the mock fixture's (conftest)
FLASH = "gemini/gemini-2.5-flash"
SAID = "ship the Zyxel order on Monday"
MEMO = mock_audio(SAID, seconds=3.0)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 64


@asynccontextmanager
async def client(mock: GeminiMock) -> AsyncIterator[relaykit.Client]:
    cfg = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY}},
    }
    async with relaykit.Client(cfg, env={}) as c:
        yield c


def _parts(mock: GeminiMock) -> list[dict[str, Any]]:
    (content,) = mock.last_request.json()["contents"]
    assert content["role"] == "user"
    parts: list[dict[str, Any]] = content["parts"]
    return parts


@pytest.mark.anyio
async def test_the_audio_goes_inline_then_the_instruction(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.transcribe(FLASH, MEMO)
    request = mock.last_request
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert set(request.json()) == {"contents"}
    audio, ask = _parts(mock)
    assert audio == {
        "inlineData": {"mimeType": "audio/wav", "data": base64.b64encode(MEMO).decode()}
    }
    assert ask["text"].startswith("Transcribe the speech in this audio verbatim.")
    assert "language" not in ask["text"] and "Context" not in ask["text"]
    assert r.text == SAID
    assert (r.provider, r.model, r.id, r.language) == (
        "gemini",
        "gemini-2.5-flash",
        "mockResp000001",
        None,
    )


@pytest.mark.anyio
async def test_language_and_prompt_are_folded_into_the_instruction(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.transcribe(FLASH, MEMO, language="de", prompt="Zyxel, Qonto")
    ask = _parts(mock)[1]["text"]
    assert "the code 'de'" in ask and "do not translate" in ask
    assert ask.endswith("(do not transcribe this):\nZyxel, Qonto")
    assert r.language == "de"  # the one asked for: Gemini names none


@pytest.mark.anyio
async def test_mp3_goes_as_gemini_names_it_and_extra_merges(mock: GeminiMock) -> None:
    off = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
    async with client(mock) as c:
        r = await c.transcribe(FLASH, AudioFile(MP3, filename="memo.mp3"), extra=off)
    assert _parts(mock)[0]["inlineData"]["mimeType"] == "audio/mp3"  # the audio guide's name
    assert mock.last_request.json()["generationConfig"] == off["generationConfig"]
    assert r.text == mock_transcript(MP3)


@pytest.mark.anyio
async def test_usage_counts_the_audio_apart_and_bills_it_at_the_audio_price(
    mock: GeminiMock,
) -> None:
    async with client(mock) as c:
        r = await c.transcribe(FLASH, MEMO)
    audio_tokens = 3 * 32  # 32 tokens a second of audio
    text_tokens = len(transcription.instruction(_request()).split())
    assert r.audio_tokens == audio_tokens
    assert r.usage == Usage(text_tokens + audio_tokens, len(SAID.split()))
    assert r.duration == 3.0  # the WAV's header
    # 2.5 Flash: text 0.30 a million, audio 1.00, output 2.50
    expected = (
        text_tokens * Decimal("0.30")
        + audio_tokens * Decimal("1.00")
        + len(SAID.split()) * Decimal("2.50")
    ) / 1_000_000
    assert r.cost == expected


@pytest.mark.anyio
async def test_without_a_header_the_length_is_the_audio_tokens_over_32(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.transcribe(FLASH, AudioFile(MP3, filename="memo.mp3"))
    assert r.audio_tokens == round(len(MP3) / 16_000 * 32)  # the mock's MP3 rate
    assert r.duration == pytest.approx(r.audio_tokens / 32)


@pytest.mark.anyio
async def test_formats_gemini_does_not_read_are_refused_unsent(mock: GeminiMock) -> None:
    m4a = b"\x00\x00\x00\x20ftypM4A " + bytes(64)
    webm = b"\x1a\x45\xdf\xa3" + bytes(64)
    async with client(mock) as c:
        for audio in (m4a, webm):
            with pytest.raises(InvalidRequestError, match="Gemini reads wav, mp3") as caught:
                await c.transcribe(FLASH, audio)
            assert caught.value.param == "audio" and caught.value.status is None
    assert not mock.requests


@pytest.mark.anyio
async def test_audio_over_20_mb_as_base64_goes_inline(mock: GeminiMock) -> None:
    # Google raised inline data from 20 MB to 100 MB ("Always use the Files API when
    # the total request size ... is larger than 100 MB"): 24 MB of audio, 32 MB as
    # base64, is sent and transcribed
    big = mock_audio(SAID, seconds=24 * 1024 * 1024 / 8000)
    async with client(mock) as c:
        r = await c.transcribe(FLASH, big)
    assert r.text == SAID
    assert len(mock.last_request.body) > 30 * 1024 * 1024


@pytest.mark.anyio
async def test_audio_over_the_inline_limit_is_refused_unsent(mock: GeminiMock) -> None:
    # 76 MB of audio is over 100 MB as base64
    big = mock_audio("long", seconds=76 * 1024 * 1024 / 8000)
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.transcribe(FLASH, big)
    error = caught.value
    assert "up to 100 MB" in str(error) and "Files API" in str(error)
    assert (error.param, error.status) == ("audio", None)
    assert "ffmpeg" in (error.hint or "")
    assert not mock.requests


def test_the_mock_refuses_a_body_over_the_limit_as_google_does(mock: GeminiMock) -> None:
    body = b'{"contents": "' + b"A" * MAX_REQUEST_BYTES + b'"}'
    r = httpx.post(
        f"{mock.base_url}/v1beta/models/gemini-2.5-flash:generateContent",
        content=body,
        headers={"x-goog-api-key": KEY},
    )
    assert r.status_code == 400
    limit = "Request payload size exceeds the limit: 104857600 bytes."
    assert r.json()["error"]["message"] == limit


def test_the_mock_refuses_audio_types_gemini_does_not_list(mock: GeminiMock) -> None:
    blob = {"mimeType": "audio/webm", "data": base64.b64encode(MEMO).decode()}
    body = {"contents": [{"role": "user", "parts": [{"inlineData": blob}, {"text": "hi"}]}]}
    r = httpx.post(
        f"{mock.base_url}/v1beta/models/gemini-2.5-flash:generateContent",
        json=body,
        headers={"x-goog-api-key": KEY},
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Unsupported MIME type: audio/webm"


@pytest.mark.anyio
async def test_a_withheld_transcript_is_a_content_filter_error(mock: GeminiMock) -> None:
    mock.script.push(Reply(text="", finish="content_filter"))
    async with client(mock) as c:
        with pytest.raises(ContentFilterError, match="withheld the transcript"):
            await c.transcribe(FLASH, MEMO)


@pytest.mark.anyio
async def test_speaking_then_transcribing_gives_the_text_back(mock: GeminiMock) -> None:
    async with client(mock) as c:
        spoken = await c.speak(
            "gemini/gemini-2.5-flash-preview-tts", SAID, voice="Kore", format="wav"
        )
        heard = await c.transcribe(FLASH, spoken.audio)
    assert heard.text == SAID
    assert heard.duration == pytest.approx(spoken.duration or 0)


def _request() -> relaykit.TranscriptionRequest:
    return relaykit.TranscriptionRequest(model="gemini-2.5-flash", audio=AudioFile(MEMO))


def test_relaykit_transcribe_prints_the_text(
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
    memo = tmp_path / "memo.wav"
    memo.write_bytes(MEMO)
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert main(["transcribe", str(memo), "-m", FLASH, "--language", "en", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["text"], out["provider"], out["duration"]) == (SAID, "gemini", 3.0)
    assert Decimal(out["cost_usd"]) > 0


@pytest.mark.anyio
async def test_vertex_sends_m4a_and_webm_which_its_gemini_models_read(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    # Vertex AI's audio understanding page lists audio/m4a and audio/webm; the
    # Gemini API's audio guide does not (refused unsent above).
    m4a = b"\x00\x00\x00\x20ftypM4A " + bytes(64)
    webm = b"\x1a\x45\xdf\xa3" + bytes(64)
    provider = {
        "type": "vertex",
        "base_url": vertex_mock.base_url,
        "project": "mock-project",
        "location": "us-central1",
        "credentials_file": str(sa_file),
    }
    cfg = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"vertex": provider},
    }
    async with relaykit.Client(cfg, env={}) as c:
        for audio in (m4a, webm):
            r = await c.transcribe("vertex/gemini-2.5-flash", audio)
            assert r.text == mock_transcript(audio)
    sent = [
        part["inlineData"]["mimeType"]
        for call in vertex_mock.model_requests("generateContent")
        for part in call.json()["contents"][0]["parts"]
        if "inlineData" in part
    ]
    assert sent == ["audio/m4a", "audio/webm"]


def test_the_vertex_mock_reads_the_types_vertex_lists(vertex_mock: VertexMock) -> None:
    assert "audio/webm" in VERTEX_AUDIO_TYPES and "audio/webm" not in AUDIO_TYPES
    assert (
        audio_problem({"contents": [{"parts": [_blob("audio/webm")]}]}, VERTEX_AUDIO_TYPES) is None
    )
    assert audio_problem({"contents": [{"parts": [_blob("audio/aiff")]}]}, VERTEX_AUDIO_TYPES) == (
        "Unsupported MIME type: audio/aiff"
    )
    assert vertex_mock.audio_types == VERTEX_AUDIO_TYPES


def _blob(mime: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(MEMO).decode()}}


@pytest.mark.anyio
async def test_a_transcript_cut_at_the_output_limit_says_so(mock: GeminiMock) -> None:
    # finishReason MAX_TOKENS: the transcript stops before the audio does, as a
    # chat answer's finish_reason "length" says; a whole one is not truncated.
    mock.script.push(Reply(text="The meeting moved to", finish="length"), Reply(text=SAID))
    async with client(mock) as c:
        cut = await c.transcribe(FLASH, MEMO)
        whole = await c.transcribe(FLASH, MEMO)
    assert (cut.text, cut.truncated) == ("The meeting moved to", True)
    assert (whole.text, whole.truncated) == (SAID, False)
