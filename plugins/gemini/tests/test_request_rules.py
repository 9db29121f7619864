"""Conversations Gemini refuses for how they open: the mock refuses them as Gemini does,
and the wire refuses them before sending, saying what to change."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError, Message, ToolCall
from relaykit.testing import one_try_config
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
MODEL = "gemini/gemini-2.5-flash"
CALL_TURN = {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]}
RESULT_TURN = {
    "role": "user",
    "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}],
}


def post(mock: GeminiMock, contents: list[dict[str, Any]]) -> httpx.Response:
    url = f"{mock.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    return httpx.post(url, json={"contents": contents}, headers={"x-goog-api-key": KEY})


def test_mock_refuses_a_function_call_turn_with_no_user_turn_before_it(
    mock: GeminiMock,
) -> None:
    answer = post(mock, [CALL_TURN, RESULT_TURN])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == (
        "Please ensure that function call turn comes immediately after a user turn or "
        "after a function response turn."
    )
    # After a user turn it is taken.
    ok = post(mock, [{"role": "user", "parts": [{"text": "Weather?"}]}, CALL_TURN, RESULT_TURN])
    assert ok.status_code == 200, ok.text


def client(mock: GeminiMock) -> relaykit.Client:
    config = one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY}})
    return relaykit.Client(config, env={})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("messages", "match", "hint"),
    [
        ([Message.user("")], "every user and assistant message is empty", "user message"),
        ([Message.system("Be brief.")], "every user and assistant message is empty", "user"),
        (
            [
                Message.assistant("", [ToolCall("c1", "get_weather", {"city": "Rome"})]),
                Message.tool("c1", "sunny"),
            ],
            "a user turn before the assistant's function calls",
            "start the conversation with the user message",
        ),
    ],
)
async def test_how_a_conversation_opens_is_checked_before_sending(
    mock: GeminiMock, messages: list[Message], match: str, hint: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=match) as info:
            await c.chat(MODEL, messages, tools=[WEATHER_TOOL])
    assert hint in str(info.value.hint)
    assert mock.requests == []


@pytest.mark.anyio
async def test_an_assistant_turn_of_text_may_open_the_conversation(mock: GeminiMock) -> None:
    # One report says Gemini refuses it (hermes-agent#55427), none from Google, and the
    # turn holds no calls: it is sent as it is, and Gemini's answer passed on.
    async with client(mock) as c:
        await c.chat(MODEL, [Message.assistant("How can I help?"), Message.user("Hi")])
    assert [c["role"] for c in mock.last_request.json()["contents"]] == ["model", "user"]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_refusal_before_sending_names_the_provider_and_model(
    mock: GeminiMock, streamed: bool
) -> None:
    # The plugin raises it without knowing which deployment it serves; the core's
    # attempt fills in the target, as DESIGN.md promises of every error.
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="every user and assistant") as info:
            if streamed:
                async with c.stream(MODEL, [Message.user("")]) as s:
                    async for _ in s:
                        pass
            else:
                await c.chat(MODEL, [Message.user("")])
    error = info.value
    assert (error.provider, error.model) == ("gemini", "gemini-2.5-flash")
    assert str(error).startswith("gemini/gemini-2.5-flash: nothing to send to Gemini")
    assert mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    "config", [{"candidateCount": 2}, {"candidate_count": 3}, {"candidateCount": "2"}]
)
async def test_more_than_one_candidate_is_refused_before_sending(
    mock: GeminiMock, streamed: bool, config: dict[str, Any]
) -> None:
    # relaykit reads one candidate (a stream's candidates would mix into one answer):
    # asking for more is refused, as OpenAI's plugin refuses n, rather than dropped.
    extra = {"generationConfig": config}
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="candidateCount") as info:
            if streamed:
                async with c.stream(MODEL, [Message.user("Hi")], extra=extra) as s:
                    async for _ in s:
                        pass
            else:
                await c.chat(MODEL, [Message.user("Hi")], extra=extra)
    error = info.value
    assert error.param == "generationConfig.candidateCount"
    assert "one answer per call" in str(error.hint)
    assert "calls" in str(error.hint)
    assert mock.requests == []


@pytest.mark.anyio
async def test_one_candidate_asked_for_is_sent(mock: GeminiMock) -> None:
    async with client(mock) as c:
        extra = {"generationConfig": {"candidateCount": 1, "topK": 40}}
        await c.chat(MODEL, [Message.user("Hi")], max_tokens=20, extra=extra)
    config = mock.last_request.json()["generationConfig"]
    assert (config["candidateCount"], config["topK"], config["maxOutputTokens"]) == (1, 40, 20)


MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 64


async def _route(c: relaykit.Client, route: str, extra: dict[str, Any]) -> object:
    if route == "speak":
        return await c.speak(
            "gemini/gemini-2.5-flash-preview-tts", "Hi", voice="Kore", format="wav", extra=extra
        )
    if route == "transcribe":
        audio = relaykit.AudioFile(MP3, filename="memo.mp3")
        return await c.transcribe(MODEL, audio, extra=extra)
    return await c.generate_image("gemini/gemini-2.5-flash-image", "A fox", extra=extra)


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["speak", "transcribe", "generate_image"])
async def test_more_than_one_candidate_is_refused_on_every_generate_content_route(
    mock: GeminiMock, route: str
) -> None:
    # Speech, transcription and image output are generateContent calls too, reading the
    # first candidate: a second one was sent and billed, then dropped.
    extra = {"generationConfig": {"candidateCount": 2}}
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="candidateCount") as info:
            await _route(c, route, extra)
    assert info.value.param == "generationConfig.candidateCount"
    assert "one answer per call" in str(info.value.hint)
    assert mock.requests == []
    # One candidate is what relaykit reads: it is sent.
    async with client(mock) as c:
        await _route(c, route, {"generationConfig": {"candidateCount": 1}})
    assert mock.last_request.json()["generationConfig"]["candidateCount"] == 1
