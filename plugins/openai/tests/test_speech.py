"""What relaykit-openai's text to speech (OpenAI's and the Groq preset's) puts on the
wire and reads back, beyond the contract; and what OpenAIMock refuses."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError, SpeechRequest
from relaykit.testing import OpenAIMock, mock_speech_text
from relaykit_openai import PRESETS
from relaykit_openai.speech import request_body

KEY = "sk-test-0123456789abcdef0123"
HELLO = "Hello there, general"
SPEAKING = {"groq"}


def config(base_url: str, *providers: str, **sections: Any) -> dict[str, Any]:
    names = providers or ("openai",)
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {name: {"base_url": base_url, "api_key": KEY} for name in names},
        **sections,
    }


@pytest.mark.anyio
async def test_openai_gets_json_and_answers_the_audio_with_its_media_type() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            r = await c.speak(
                "openai/gpt-4o-mini-tts",
                HELLO,
                voice="coral",
                format="opus",
                speed=1.25,
                instructions="warm and slow",
                extra={"stream_format": "audio"},
            )
        sent = mock.last_request
    assert sent.path == "/v1/audio/speech"
    assert json.loads(sent.body) == {
        "model": "gpt-4o-mini-tts",
        "input": HELLO,
        "voice": "coral",
        "response_format": "opus",
        "speed": 1.25,
        "instructions": "warm and slow",
        "stream_format": "audio",
    }
    assert (r.format, r.media_type) == ("opus", "audio/ogg")
    assert r.audio.startswith(b"OggS") and mock_speech_text(r.audio) == HELLO
    assert r.id is not None and r.id.startswith("req_mock")


@pytest.mark.parametrize(
    ("model", "usd"),
    [("tts-1", "0.0003"), ("tts-1-hd", "0.0006"), ("gpt-4o-mini-tts", "0.00032")],
)
@pytest.mark.anyio
async def test_the_cost_is_per_character(model: str, usd: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            r = await c.speak(f"openai/{model}", HELLO, voice="alloy")  # 20 characters
    assert r.cost == Decimal(usd)


@pytest.mark.anyio
async def test_what_openai_refuses_is_refused_unsent() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            with pytest.raises(InvalidRequestError, match="at most 4,096 characters") as e:
                await c.speak("openai/tts-1", "x" * 4097, voice="alloy")
            assert e.value.status is None and e.value.param == "text"
            with pytest.raises(InvalidRequestError, match="tts-1-hd takes no instructions"):
                await c.speak("openai/tts-1-hd", HELLO, voice="alloy", instructions="calm")
            r = await c.speak("openai/tts-1", "x" * 4096, voice="alloy")
        assert len(mock.requests) == 1
    assert mock_speech_text(r.audio) == "x" * 4096


@pytest.mark.anyio
@pytest.mark.parametrize("voice", ["ballad", "verse", "marin", "cedar"])
async def test_gpt_4o_mini_tts_voices_are_refused_unsent_for_tts_1(voice: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            with pytest.raises(InvalidRequestError, match=f"tts-1 has no voice '{voice}'") as e:
                await c.speak("openai/tts-1", HELLO, voice=voice)
            assert (e.value.status, e.value.param) == (None, "voice")
            assert "gpt-4o-mini-tts" in (e.value.hint or "")
            r = await c.speak("openai/gpt-4o-mini-tts", HELLO, voice=voice)
        assert len(mock.requests) == 1
    assert mock_speech_text(r.audio) == HELLO


@pytest.mark.anyio
async def test_an_unknown_voice_is_the_services_to_refuse() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            with pytest.raises(InvalidRequestError, match="Invalid value: 'robot'") as e:
                await c.speak("openai/tts-1", HELLO, voice="robot")
        assert len(mock.requests) == 1
    assert e.value.status == 400


def test_the_body_takes_speed_and_instructions_only_when_given() -> None:
    request = SpeechRequest(model="tts-1", text="hi", voice="alloy")
    assert request_body(request, "openai", openai=True) == {
        "model": "tts-1",
        "input": "hi",
        "voice": "alloy",
        "response_format": "mp3",
    }
    groq = SpeechRequest(model="playai-tts", text="hi", voice="Arista-PlayAI", format="wav")
    assert request_body(groq, "groq", openai=False)["voice"] == "Arista-PlayAI"


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.anyio
async def test_presets_without_speech_refuse_unsent(name: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url, name)) as c:
            if name in SPEAKING:
                r = await c.speak(f"{name}/tts-model", HELLO, voice="alloy", format="wav")
                assert mock_speech_text(r.audio) == HELLO
                return
            with pytest.raises(InvalidRequestError, match=f"{name} has no speech API"):
                await c.speak(f"{name}/tts-model", HELLO, voice="alloy")
        assert not mock.requests


@pytest.mark.anyio
async def test_a_route_falls_back_from_a_preset_without_speech() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        routes = {"voice": {"targets": ["mistral/m", "openai/tts-1"]}}
        async with relaykit.Client(config(mock.base_url, "mistral", "openai", models=routes)) as c:
            r = await c.speak("voice", HELLO, voice="alloy")
    assert (r.provider, r.model) == ("openai", "tts-1")


# -- the mock refuses as OpenAI does --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": "hi", "voice": "alloy"}, "Missing required parameter: 'model'."),
        ({"model": "tts-1", "voice": "alloy"}, "Missing required parameter: 'input'."),
        ({"model": "tts-1", "input": "hi"}, "Missing required parameter: 'voice'."),
        (
            {"model": "tts-1", "input": "x" * 4097, "voice": "alloy"},
            "Invalid 'input': string too long. Expected a string with maximum length 4096,"
            " but got a string with length 4097 instead.",
        ),
        (
            {"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "ogg"},
            "Invalid value: 'ogg'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav',"
            " and 'pcm'.",
        ),
        (
            {"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 4.5},
            "4.5 is greater than the maximum of 4 - 'speed'",
        ),
        (
            {"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 0.1},
            "0.1 is less than the minimum of 0.25 - 'speed'",
        ),
        (
            {"model": "tts-1", "input": "hi", "voice": "alloy", "instructions": "calm"},
            "Instructions are not supported for tts-1",
        ),
        (
            {"model": "tts-1-hd", "input": "hi", "voice": "ballad"},
            "Voice 'ballad' is not supported for tts-1-hd",
        ),
    ],
)
@pytest.mark.anyio
async def test_the_mock_refuses_as_openai_does(body: dict[str, Any], message: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{mock.base_url}/audio/speech",
                json=body,
                headers={"authorization": f"Bearer {KEY}"},
            )
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith(message)


@pytest.mark.anyio
async def test_the_mock_answers_each_format_with_its_magic_bytes() -> None:
    heads = {"mp3": b"ID3", "opus": b"OggS", "aac": b"\xff\xf1", "flac": b"fLaC", "wav": b"RIFF"}
    with OpenAIMock(api_key=KEY) as mock:
        async with httpx.AsyncClient() as http:
            for fmt, head in heads.items():
                body = {"model": "tts-1", "input": HELLO, "voice": "alloy", "response_format": fmt}
                r = await http.post(
                    f"{mock.base_url}/audio/speech",
                    json=body,
                    headers={"authorization": f"Bearer {KEY}"},
                )
                assert r.status_code == 200 and r.content.startswith(head)
                assert r.headers["content-type"].startswith("audio/")
                assert mock_speech_text(r.content) == HELLO
