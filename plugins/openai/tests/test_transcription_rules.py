"""What OpenAI's /audio/transcriptions refuses of a model (relaykit_openai.transcription.
check_openai) is refused before sending, naming the parameter, what the model takes
and the fix; the mock refuses the same; other services are exempt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError, TranscriptionRequest
from relaykit.audio import AudioFile
from relaykit.testing import OpenAIMock, mock_audio
from relaykit_openai.transcription import form, model_family

KEY = "sk-test-0123456789abcdef0123"
SPEECH = mock_audio("the meeting starts at noon", seconds=5)


def config(base_url: str, name: str = "openai", **provider: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {name: {"base_url": base_url, "api_key": KEY, **provider}},
    }


CASES = [
    ("whisper-1", {"language": "pt-BR"}, "language", "ISO-639-1 code of two letters"),
    ("gpt-4o-transcribe", {"language": "eng"}, "language", "pass language='en'"),
    (
        "gpt-4o-transcribe",
        {"extra": {"response_format": "verbose_json"}},
        "response_format",
        "gpt-4o-transcribe answers response_format json, text, not 'verbose_json'",
    ),
    (
        "gpt-4o-mini-transcribe",
        {"extra": {"response_format": "srt"}},
        "response_format",
        "not 'srt'",
    ),
    ("whisper-1", {"extra": {"response_format": "xml"}}, "response_format", "vtt, not 'xml'"),
    (
        "gpt-4o-transcribe",
        {"extra": {"timestamp_granularities": ["word"]}},
        "timestamp_granularities",
        "gives no timestamps",
    ),
    (
        "whisper-1",
        {"extra": {"response_format": "json", "timestamp_granularities": ["word"]}},
        "timestamp_granularities",
        "need response_format verbose_json, not 'json'",
    ),
    ("gpt-4o-transcribe-diarize", {"prompt": "names: Ada"}, "prompt", "takes no prompt"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "params", "param", "problem"), CASES)
async def test_what_openai_refuses_of_a_model_is_refused_unsent(
    mock: OpenAIMock, model: str, params: dict[str, Any], param: str, problem: str
) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match=problem) as e:
            await client.transcribe(f"openai/{model}", SPEECH, **params)
    error = e.value
    assert (error.status, error.param, error.provider, error.model) == (
        None,
        param,
        "openai",
        model,
    )
    assert error.hint
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "params", "param", "problem"), CASES)
async def test_the_mock_refuses_the_same(
    mock: OpenAIMock, model: str, params: dict[str, Any], param: str, problem: str
) -> None:
    """Sent as a form as relaykit builds it, without the checks: the mock's 400."""
    request = TranscriptionRequest(model=model, audio=AudioFile(SPEECH), **params)
    body, content_type = form(request, "verbose", "openai")
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{mock.base_url}/audio/transcriptions",
            content=body,
            headers={"authorization": f"Bearer {KEY}", "content-type": content_type},
        )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.anyio
async def test_the_mock_words_timestamps_without_verbose_json_as_openai_does(
    mock: OpenAIMock,
) -> None:
    request = TranscriptionRequest(
        model="whisper-1",
        audio=AudioFile(SPEECH),
        extra={"response_format": "json", "timestamp_granularities": ["word"]},
    )
    body, content_type = form(request, "verbose", "openai")
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{mock.base_url}/audio/transcriptions",
            content=body,
            headers={"authorization": f"Bearer {KEY}", "content-type": content_type},
        )
    assert r.json()["error"]["message"] == (
        "`response_format` must be `verbose_json` if `timestamp_granularities[]` is provided"
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("whisper-1", {"language": "pt", "extra": {"timestamp_granularities": ["word"]}}),
        ("whisper-1", {"extra": {"response_format": "srt"}}),
        ("gpt-4o-transcribe", {"prompt": "names: Ada", "extra": {"response_format": "text"}}),
        ("gpt-4o-transcribe-diarize", {"extra": {"response_format": "diarized_json"}}),
        ("gpt-4o-mini-transcribe-2025-12-15", {"language": "en"}),
    ],
)
async def test_what_the_model_takes_is_sent(
    mock: OpenAIMock, model: str, params: dict[str, Any]
) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.transcribe(f"openai/{model}", SPEECH, **params)
    assert r.text and len(mock.requests) == 1


@pytest.mark.anyio
async def test_other_services_are_exempt(mock: OpenAIMock) -> None:
    """Groq's Whisper takes what it takes: the service answers (here the mock's 400)."""
    async with relaykit.Client(config(mock.base_url, "groq")) as client:
        with pytest.raises(InvalidRequestError) as e:
            await client.transcribe("groq/whisper-large-v3", SPEECH, language="pt-BR")
    assert e.value.status == 400 and len(mock.requests) == 1


@pytest.mark.anyio
async def test_a_streamed_transcription_is_checked_too(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match="gives no timestamps") as e:
            async with client.stream_transcription(
                "openai/gpt-4o-transcribe",
                SPEECH,
                extra={"timestamp_granularities": ["segment"]},
            ) as s:
                async for _ in s:
                    pass
    assert e.value.status is None and not mock.requests


def test_model_families() -> None:
    assert model_family("whisper-1") == "whisper"
    assert model_family("gpt-4o-mini-transcribe-2025-12-15") == "gpt-4o"
    assert model_family("gpt-4o-transcribe-diarize") == "diarize"
    assert model_family("voxtral-mini-latest") is None
