"""OpenAIMock's speech to text, spoken to over raw HTTP with httpx's own multipart
encoder: its wire, and what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock, Reply, mock_audio, mock_transcript

SPEECH = mock_audio("good morning everyone", seconds=61.5)


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock() as m:
        yield m


def post(
    mock: OpenAIMock, data: dict[str, Any], file: tuple[str, bytes] | None = ("a.wav", SPEECH)
) -> httpx.Response:
    files = {"file": (file[0], file[1], "application/octet-stream")} if file else None
    if files is None:  # still a form: httpx sends a form only with files
        files = {"other": ("x.txt", b"x", "text/plain")}
    return httpx.post(f"{mock.base_url}/audio/transcriptions", data=data, files=files, timeout=10)


def test_whisper_json_says_the_seconds_billed(mock: OpenAIMock) -> None:
    r = post(mock, {"model": "whisper-1"})
    assert r.status_code == 200
    assert r.json() == {
        "text": "good morning everyone",
        "usage": {"type": "duration", "seconds": 62},
    }
    assert r.headers["x-request-id"].startswith("req_mock")


def test_whisper_verbose_json_says_the_language_and_duration(mock: OpenAIMock) -> None:
    r = post(mock, {"model": "whisper-1", "response_format": "verbose_json", "language": "fr"})
    data = r.json()
    assert (data["task"], data["language"], data["duration"]) == ("transcribe", "french", 61.5)
    assert data["segments"][0]["text"] == data["text"] == "good morning everyone"
    assert data["usage"] == {"type": "duration", "seconds": 62}


def test_gpt_4o_transcribe_counts_tokens(mock: OpenAIMock) -> None:
    r = post(mock, {"model": "gpt-4o-transcribe", "prompt": "three word prompt"})
    # a thousand audio tokens a minute: 61.5 s is 1,025
    assert r.json() == {
        "text": "good morning everyone",
        "usage": {
            "type": "tokens",
            "input_tokens": 1025 + 3,
            "input_token_details": {"text_tokens": 3, "audio_tokens": 1025},
            "output_tokens": 3,
            "total_tokens": 1031,
        },
    }


def test_text_srt_and_vtt_are_plain_text(mock: OpenAIMock) -> None:
    text = post(mock, {"model": "gpt-4o-mini-transcribe", "response_format": "text"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "good morning everyone\n"
    srt = post(mock, {"model": "whisper-1", "response_format": "srt"}).text
    assert srt == "1\n00:00:00,000 --> 00:01:01,500\ngood morning everyone\n\n"
    vtt = post(mock, {"model": "whisper-1", "response_format": "vtt"}).text
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:01:01.500\n")


def test_audio_without_a_said_text_is_heard_by_its_digest(mock: OpenAIMock) -> None:
    mp3 = b"ID3\x04" + bytes(range(256)) * 10
    r = post(mock, {"model": "whisper-1"}, ("clip.mp3", mp3))
    assert r.json()["text"] == mock_transcript(mp3)


def test_scripted_replies_set_the_text_and_tokens_or_fail(mock: OpenAIMock) -> None:
    mock.script.push(
        Reply(text="scripted words", input_tokens=5, output_tokens=2),
        Reply.failure(429, "slow down", retry_after=7),
    )
    ok = post(mock, {"model": "gpt-4o-transcribe"}).json()
    assert ok["text"] == "scripted words"
    assert (ok["usage"]["input_tokens"], ok["usage"]["output_tokens"]) == (5, 2)
    limited = post(mock, {"model": "whisper-1"})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert limited.json()["error"]["message"] == "slow down"


@pytest.mark.parametrize(
    ("data", "file", "param", "message"),
    [
        ({}, ("a.wav", SPEECH), "model", "you must provide a model parameter"),
        ({"model": "whisper-1"}, None, "file", "body -> file\n  field required"),
        (
            {"model": "whisper-1"},
            ("a.txt", SPEECH),
            "file",
            "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg',"
            " 'mpga', 'oga', 'ogg', 'wav', 'webm']",
        ),
        ({"model": "whisper-1"}, ("a.mp3", b"hello"), "file", "might be corrupted"),
        (
            {"model": "gpt-4o-transcribe", "response_format": "verbose_json"},
            ("a.wav", SPEECH),
            "response_format",
            "response_format 'verbose_json' is not compatible with model 'gpt-4o-transcribe'."
            " Use 'json' or 'text' instead.",
        ),
        (
            {"model": "whisper-1", "response_format": "xml"},
            ("a.wav", SPEECH),
            "response_format",
            "Invalid value: 'xml'.",
        ),
        (
            {"model": "whisper-1", "language": "english"},
            ("a.wav", SPEECH),
            "language",
            "must be specified in ISO-639-1 format",
        ),
        (
            {"model": "whisper-1", "temperature": "1.5"},
            ("a.wav", SPEECH),
            "temperature",
            "expected a number from 0 to 1",
        ),
    ],
)
def test_refusals_are_openais(
    mock: OpenAIMock,
    data: dict[str, Any],
    file: tuple[str, bytes] | None,
    param: str,
    message: str,
) -> None:
    r = post(mock, data, file)
    assert r.status_code == 400
    error = r.json()["error"]
    assert message in error["message"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_a_json_body_and_an_oversized_one_are_refused(mock: OpenAIMock) -> None:
    r = httpx.post(f"{mock.base_url}/audio/transcriptions", json={"model": "whisper-1"})
    assert r.status_code == 400
    assert "expected multipart/form-data" in r.json()["error"]["message"]
    big = post(mock, {"model": "whisper-1"}, ("a.wav", SPEECH + bytes(26_214_400)))
    assert big.status_code == 413
    error = big.json()["error"]
    assert error["message"].startswith("Maximum content size limit (26214400) exceeded (")
    assert error["type"] == "server_error"
