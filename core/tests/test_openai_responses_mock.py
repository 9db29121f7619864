"""OpenAIMock's Responses API, spoken to over raw HTTP: its wire, and what it refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from relaykit.sse import SSEDecoder
from relaykit.testing import OpenAIMock, Reply
from relaykit.testing.openai_responses import encrypted_reasoning

USER = {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock() as m:
        yield m


def post(mock: OpenAIMock, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{mock.base_url}{path}", json=body, timeout=10)


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    decoder = SSEDecoder()
    out = [(e.event, json.loads(e.data)) for e in decoder.feed(response.content)]
    return out + [(e.event, json.loads(e.data)) for e in decoder.flush()]


def test_a_response_object(mock: OpenAIMock) -> None:
    mock.script.push(
        Reply(text="hello", reasoning="thinking", tool_calls=(("f", {"a": 1}),), input_tokens=3)
    )
    r = post(
        mock,
        "/responses",
        {"model": "o4-mini", "input": [USER], "include": ["reasoning.encrypted_content"]},
    )
    assert r.status_code == 200
    data = r.json()
    assert (data["object"], data["status"], data["model"]) == ("response", "completed", "o4-mini")
    assert [item["type"] for item in data["output"]] == ["reasoning", "message", "function_call"]
    reasoning, message, call = data["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "thinking"}]
    assert reasoning["encrypted_content"] == encrypted_reasoning("thinking")
    assert message["content"][0]["text"] == "hello"
    assert (call["name"], json.loads(call["arguments"])) == ("f", {"a": 1})
    assert data["usage"]["input_tokens"] == 3


def test_stream_events_come_numbered_in_the_documented_order(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text="hello", reasoning="why", tool_calls=(("f", {}),)))
    r = post(
        mock,
        "/responses",
        {
            "model": "o4-mini",
            "input": "hi",
            "stream": True,
            "include": ["reasoning.encrypted_content"],
        },
    )
    got = events(r)
    assert all(name == data["type"] for name, data in got)
    assert [data["sequence_number"] for _, data in got] == list(range(len(got)))
    assert [name for name, _ in got] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert got[7][1]["item"]["encrypted_content"] == encrypted_reasoning("why")
    final = got[-1][1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["usage"]["output_tokens"] > 0


def test_a_cut_answer_is_incomplete(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text="cut", finish="length"))
    r = post(mock, "/responses", {"model": "gpt-4.1", "input": "hi", "stream": True})
    name, data = events(r)[-1]
    assert name == "response.incomplete"
    assert data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        (
            {"model": "o4-mini", "messages": [{"role": "user", "content": "hi"}]},
            "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved"
            " to 'input'.",
            None,  # OpenAI names the parameter in its words only
        ),
        (
            {"model": "o4-mini", "input": "hi", "max_completion_tokens": 5},
            "moved to 'max_output_tokens'",
            None,
        ),
        ({"model": "o4-mini", "input": "hi", "stop": ["x"]}, "Unknown parameter: 'stop'.", "stop"),
        (
            {
                "model": "o4-mini",
                "input": "hi",
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            },
            "Missing required parameter: 'tools[0].name'.",
            "tools[0].name",
        ),
        (
            {
                "model": "o4-mini",
                "input": "hi",
                "tool_choice": {"type": "function", "function": {"name": "f"}},
            },
            "Missing required parameter: 'tool_choice.name'.",
            "tool_choice.name",
        ),
        (
            {"model": "o4-mini", "input": [{"type": "tool_result", "content": "x"}]},
            "Invalid value: 'tool_result'.",
            "input[0]",
        ),
        (
            {
                "model": "o4-mini",
                "input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}],
            },
            "Supported values are: 'output_text' and 'refusal'.",
            "input[0].content[0]",
        ),
        (
            {
                "model": "o4-mini",
                "input": [{"type": "function_call_output", "call_id": "c1", "output": "x"}],
            },
            "No tool call found for function call output with call_id c1.",
            "input",
        ),
        (
            # a call_id a later turn uses again (hermes-agent#102629, llm-gateway#2858)
            {
                "model": "o4-mini",
                "input": [
                    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "x"},
                    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "y"},
                ],
            },
            "Duplicate function_call_output for call_id 'c1'. Each function_call must have"
            " exactly one matching function_call_output",
            "input",
        ),
        (
            {"model": "gpt-4o", "input": "hi", "include": ["reasoning.encrypted_content"]},
            "Encrypted content is not supported with this model.",
            "include",
        ),
        (
            {
                "model": "o4-mini",
                "input": [{"type": "reasoning", "summary": [], "encrypted_content": "made-up"}],
            },
            "could not be verified",
            "input[0].encrypted_content",
        ),
    ],
)
def test_what_the_api_refuses(
    mock: OpenAIMock, body: dict[str, Any], message: str, param: str | None
) -> None:
    r = post(mock, "/responses", body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert message in error["message"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_unstored_reasoning_items_are_not_found(mock: OpenAIMock) -> None:
    body = {
        "model": "o4-mini",
        "store": False,
        "input": [{"type": "reasoning", "id": "rs_1", "summary": []}, USER],
    }
    r = post(mock, "/responses", body)
    assert r.status_code == 404
    assert "Items are not persisted when `store` is set to false" in r.json()["error"]["message"]


@pytest.mark.parametrize("model", ["o3-pro", "gpt-5-pro", "codex-mini-latest", "gpt-5-codex"])
def test_responses_only_models_are_refused_on_chat_completions(
    mock: OpenAIMock, model: str
) -> None:
    r = post(
        mock, "/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.status_code == 404
    assert r.json()["error"]["message"] == (
        "This model is only supported in v1/responses and not in v1/chat/completions."
    )
    assert post(mock, "/responses", {"model": model, "input": "hi"}).status_code == 200
