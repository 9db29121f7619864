"""Tool messages Chat Completions refuses: the mock refuses them as OpenAI does, so a
wire that sends them fails its tests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock

KEY = "sk-test-0123456789abcdef0123"
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
OTHER = {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}


def post(mock: OpenAIMock, messages: list[dict[str, Any]]) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": messages}
    return httpx.post(
        f"{mock.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {KEY}"},
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def asks(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def answer(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "done"}


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [user("go"), answer("call_1")],
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
        ),
        (
            [user("go"), asks(CALL), answer("call_9")],
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
        ),
        (
            [user("go"), asks(CALL, OTHER), answer("call_1"), user("and?")],
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            "response messages: call_2",
        ),
        (
            [user("go"), asks(CALL)],
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            "response messages: call_1",
        ),
    ],
)
def test_mock_refuses_unpaired_tool_messages(
    mock: OpenAIMock, messages: list[dict[str, Any]], message: str
) -> None:
    r = post(mock, messages)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == message and error["type"] == "invalid_request_error"


def test_mock_takes_every_call_answered_then_a_user_turn(mock: OpenAIMock) -> None:
    r = post(mock, [user("go"), asks(CALL, OTHER), answer("call_2"), answer("call_1"), user("ok")])
    assert r.status_code == 200, r.text
