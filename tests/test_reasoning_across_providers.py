"""Reasoning signatures stay with the provider that made them, through a real fallback route.

Each mock refuses a signature it did not make, as the real APIs do: Anthropic
checks a thinking block's signature, Gemini reads its ``thoughtSignature``.
A turn one of them signed, sent to the other after the first fails, must go
without the foreign signature. And the chat log keeps each block as it came.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import ChatResponse, Message, ReasoningPart
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_anthropic.testing import AnthropicMock, thinking_signature
from relaykit_gemini.testing import GeminiMock
from relaykit_sqlite import SQLiteStorage

ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef0123"
GEMINI_KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
CLAUDE = "anthropic/claude-sonnet-4-5"
GEMINI = "gemini/gemini-2.5-flash"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"


@pytest.fixture
def mocks() -> Iterator[tuple[AnthropicMock, GeminiMock]]:
    with (
        AnthropicMock(api_key=ANTHROPIC_KEY) as anthropic,
        GeminiMock(api_key=GEMINI_KEY) as gemini,
    ):
        yield anthropic, gemini


@asynccontextmanager
async def client(
    mocks: tuple[AnthropicMock, GeminiMock], *targets: str, storage: Any = None
) -> AsyncIterator[relaykit.Client]:
    anthropic, gemini = mocks
    config = {
        "storage": storage or {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {
            "anthropic": {"base_url": anthropic.base_url, "api_key": ANTHROPIC_KEY},
            "gemini": {"base_url": gemini.base_url, "api_key": GEMINI_KEY},
        },
        "models": {"route": {"targets": list(targets), "strategy": "fallback"}},
    }
    async with relaykit.Client(config) as c:
        yield c


async def ask(c: relaykit.Client, model: str, messages: list[Message], streamed: bool) -> Any:
    if not streamed:
        return await c.chat(model, messages, tools=[WEATHER_TOOL])
    async with c.stream(model, messages, tools=[WEATHER_TOOL]) as s:
        async for _ in s:
            pass
    return s.response


QUESTION = Message.user("Weather in Oslo?")


async def first_turn(
    c: relaykit.Client, mock: AnthropicMock | GeminiMock, model: str, streamed: bool
) -> ChatResponse:
    mock.script.reply(
        reasoning="Oslo: ask the tool.", tool_calls=[("get_weather", {"city": "Oslo"})]
    )
    r: ChatResponse = await ask(c, model, [QUESTION], streamed)
    assert r.reasoning_signature  # signed where it was made
    return r


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_an_anthropic_signed_turn_falls_back_to_gemini_without_its_signature(
    mocks: tuple[AnthropicMock, GeminiMock], streamed: bool
) -> None:
    anthropic, gemini = mocks
    async with client(mocks, CLAUDE, GEMINI) as c:
        r = await first_turn(c, anthropic, CLAUDE, streamed)
        anthropic.script.fail(529, "Overloaded")
        gemini.script.reply("Cold.")
        history = [QUESTION, r.to_message(), Message.tool(r.tool_calls[0].id, "-3C")]
        answer = await ask(c, "route", history, streamed)
    assert (answer.text, answer.provider) == ("Cold.", "gemini")
    model_turn = gemini.last_request.json()["contents"][1]
    assert model_turn["role"] == "model"
    assert [p for p in model_turn["parts"] if "thoughtSignature" in p] == []
    assert "functionCall" in model_turn["parts"][0]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_gemini_signed_turn_falls_back_to_anthropic_without_its_signature(
    mocks: tuple[AnthropicMock, GeminiMock], streamed: bool
) -> None:
    anthropic, gemini = mocks
    async with client(mocks, GEMINI, CLAUDE) as c:
        r = await first_turn(c, gemini, GEMINI, streamed)
        gemini.script.fail(503, "The model is overloaded.")
        anthropic.script.reply("Cold.")
        history = [QUESTION, r.to_message(), Message.tool(r.tool_calls[0].id, "-3C")]
        answer = await ask(c, "route", history, streamed)
    assert (answer.text, answer.provider) == ("Cold.", "anthropic")
    assistant = anthropic.last_request.json()["messages"][1]
    assert [b["type"] for b in assistant["content"]] == ["tool_use"]


@pytest.mark.anyio
async def test_gemini_still_gets_its_own_signature_back(
    mocks: tuple[AnthropicMock, GeminiMock],
) -> None:
    _, gemini = mocks
    async with client(mocks, GEMINI) as c:
        r = await first_turn(c, gemini, GEMINI, False)
        gemini.script.reply("Cold.")
        history = [QUESTION, r.to_message(), Message.tool(r.tool_calls[0].id, "-3C")]
        await ask(c, GEMINI, history, False)
    call = gemini.last_request.json()["contents"][1]["parts"][0]
    assert call["thoughtSignature"] == r.reasoning_signature


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_the_chat_log_keeps_each_reasoning_block(
    mocks: tuple[AnthropicMock, GeminiMock], tmp_path: Path, streamed: bool
) -> None:
    anthropic, _ = mocks
    blocks = (ReasoningPart("Oslo."), ReasoningPart(redacted=REDACTED), ReasoningPart(" Tool."))
    storage = {"backend": "sqlite", "path": str(tmp_path / "logs.db")}
    async with client(mocks, CLAUDE, storage=storage) as c:
        anthropic.script.reply(reasoning_blocks=blocks, tool_calls=[("get_weather", {})])
        r = await ask(c, CLAUDE, [QUESTION], streamed)
        history = [QUESTION, r.to_message(), Message.tool(r.tool_calls[0].id, "-3C")]
        await ask(c, CLAUDE, history, streamed)
    logs = SQLiteStorage(tmp_path / "logs.db")  # what the client wrote as it closed
    try:
        second, first = await logs.query_logs()  # newest first
    finally:
        await logs.aclose()
    expected = (
        ReasoningPart("Oslo.", thinking_signature("Oslo."), origin="anthropic"),
        ReasoningPart(redacted=REDACTED, origin="anthropic"),
        ReasoningPart(" Tool.", thinking_signature(" Tool."), origin="anthropic"),
    )
    assert first.reasoning_parts == r.reasoning_parts == expected
    assert first.reasoning == "Oslo. Tool."
    assert second.messages[1].content[:3] == expected  # the turn sent back, as logged
