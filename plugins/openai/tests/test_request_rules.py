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


OPEN = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("path", "extra", "param", "message"),
    [
        (
            "chat/completions",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": OPEN, "strict": True},
                }
            },
            "response_format.json_schema",
            "Invalid schema for response_format 'r': In context=(), 'additionalProperties' is"
            " required to be supplied and to be false.",
        ),
        (
            "chat/completions",
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": OPEN, "strict": True},
                    }
                ]
            },
            "tools[0].function.parameters",
            "Invalid schema for function 'f': In context=(), 'additionalProperties' is required"
            " to be supplied and to be false.",
        ),
        (
            "chat/completions",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "Page[Item]", "schema": OPEN},
                }
            },
            "response_format.json_schema.name",
            "Invalid 'response_format.json_schema.name': string does not match pattern. Expected"
            " a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
        ),
        (
            "responses",
            {"tools": [{"type": "function", "name": "f", "parameters": OPEN}]},
            "tools[0].parameters",
            "Invalid schema for function 'f': In context=(), 'additionalProperties' is required"
            " to be supplied and to be false.",
        ),
    ],
)
def test_strict_schemas_and_names_openai_refuses_are_refused_in_its_words(
    path: str, extra: dict[str, Any], param: str, message: str
) -> None:
    """A function on the Responses API is strict unless it says not."""
    with OpenAIMock(api_key=KEY) as mock:
        first = [user("go")] if path == "chat/completions" else None
        body = {"model": "gpt-4o-mini", **extra}
        body["messages" if first else "input"] = first or "go"
        r = httpx.post(
            f"{mock.base_url}/{path}", json=body, headers={"authorization": f"Bearer {KEY}"}
        )
        error = r.json()["error"]
        assert (r.status_code, error["message"], error["param"]) == (400, message, param)
        extra_ok = {**extra}
        if "tools" in extra and path == "chat/completions":
            extra_ok = {
                "tools": [{"type": "function", "function": {"name": "f", "parameters": OPEN}}]
            }
            body = {"model": "gpt-4o-mini", "messages": first, **extra_ok}
            r = httpx.post(
                f"{mock.base_url}/{path}", json=body, headers={"authorization": f"Bearer {KEY}"}
            )
            assert r.status_code == 200  # Chat Completions' functions are not strict unasked
