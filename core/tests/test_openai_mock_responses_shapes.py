"""OpenAIMock answers a Responses API request of any shape, as the API would.

A request whose JSON has the wrong shape somewhere (an assistant message with
``input_text``, a tool nested as Chat Completions nests it, a
``max_output_tokens`` that is text, a ``function_call`` without its
``call_id``) is refused with a 400 in OpenAI's words, with its ``param`` and
``code``. Before, the mock checked less: an encoder sending such a body passed
here and failed against the API, or the mock raised on it (a 500, kept in
``mock.failures``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock
from relaykit.testing.openai_responses import encrypted_reasoning
from relaykit.testing.openai_responses_shapes import (
    INCLUDABLE,
    ITEM_TYPES,
    PART_TYPES,
    TOOL_TYPES,
)

from .openai_mock_sweep import assert_refused_in_openais_words

#: a conversation with each kind of item and part a client sends (system text, a
#: user's text and image, reasoning given back, an assistant's text, a function
#: call and its output) and each field of a Responses request relaykit sets
BODY: dict[str, Any] = {
    "model": "o4-mini",
    "instructions": "be brief",
    "max_output_tokens": 100,
    # the defaults: o4-mini refuses others while it reasons (openai_sampling)
    "temperature": 1,
    "top_p": 1.0,
    "store": False,
    "parallel_tool_calls": True,
    "include": ["reasoning.encrypted_content"],
    "reasoning": {"effort": "low", "summary": "auto"},
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ],
    "tool_choice": "auto",
    "text": {
        "format": {
            "type": "json_schema",
            "name": "answer",
            "schema": {
                "type": "object",
                "properties": {"said": {"type": "string"}},
                "required": ["said"],
                "additionalProperties": False,
            },
            "strict": True,
        },
        "verbosity": "low",
    },
    "input": [
        {"role": "system", "content": "be kind"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "the weather here?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
            ],
        },
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "look it up"}],
            "encrypted_content": encrypted_reasoning("look it up"),
        },
        {"role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Oslo"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ],
}


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values[:-1]) + f", and '{values[-1]}'"


#: changes the API refuses, and its words for each (the param and code with them)
REFUSED: dict[str, tuple[str, str | None, str | None]] = {
    "model=removed": (
        "Missing required parameter: 'model'.",
        "model",
        "missing_required_parameter",
    ),
    "model=number": (
        "Invalid type for 'model': expected a string, but got an integer instead.",
        "model",
        "invalid_type",
    ),
    "model=null": (
        "Invalid type for 'model': expected a string, but got an object instead.",
        "model",
        "invalid_type",
    ),
    "input=removed": (
        "Missing required parameter: 'input'.",
        "input",
        "missing_required_parameter",
    ),
    "input=null": (
        "Invalid type for 'input': expected a string, but got an object instead.",
        "input",
        "invalid_type",
    ),
    "input=object": (
        "Invalid type for 'input': expected one of a string or array of input items, but got"
        " an object instead.",
        "input",
        "invalid_type",
    ),
    "input=list": (
        "Invalid type for 'input[0]': expected an input item, but got an integer instead.",
        "input[0]",
        "invalid_type",
    ),
    "input.0=null": (
        "Invalid type for 'input[0]': expected an input item, but got null instead.",
        "input[0]",
        "invalid_type",
    ),
    "input.0.role=string": (
        "Invalid value: 'x'. Supported values are: 'assistant', 'system', 'developer', and 'user'.",
        "input[0]",
        "invalid_value",
    ),
    "input.0.role=removed": (
        "Invalid value: ''. Supported values are: 'assistant', 'system', 'developer', and 'user'.",
        "input[0]",
        "invalid_value",
    ),
    "input.0.content=removed": (
        "Missing required parameter: 'input[0].content'.",
        "input[0].content",
        "missing_required_parameter",
    ),
    "input.0.content=null": (
        "Invalid type for 'input[0].content': expected one of an array of objects or string,"
        " but got null instead.",
        "input[0].content",
        "invalid_type",
    ),
    "input.1.content.0.type=string": (
        f"Invalid value: 'x'. Supported values are: {_listed(PART_TYPES)}.",
        "input[1].content[0].type",
        "invalid_value",
    ),
    "input.1.content.0.text=list": (
        "Invalid type for 'input[1].content[0].text': expected a string, but got an array instead.",
        "input[1].content[0].text",
        "invalid_type",
    ),
    "input.1.content.0.text=removed": (
        "Missing required parameter: 'input[1].content[0].text'.",
        "input[1].content[0].text",
        "missing_required_parameter",
    ),
    "input.2.type=string": (
        f"Invalid value: 'x'. Supported values are: {_listed(ITEM_TYPES)}.",
        "input[2]",
        "invalid_value",
    ),
    "input.3.content.0.text=number": (
        "Invalid type for 'input[3].content[0].text': expected a string, but got an integer"
        " instead.",
        "input[3].content[0].text",
        "invalid_type",
    ),
    "input.4.call_id=removed": (
        "Missing required parameter: 'input[4].call_id'.",
        "input[4].call_id",
        "missing_required_parameter",
    ),
    "input.4.arguments=object": (
        "Invalid type for 'input[4].arguments': expected a string, but got an object instead.",
        "input[4].arguments",
        "invalid_type",
    ),
    "input.5.call_id=removed": (
        "Missing required parameter: 'input[5].call_id'.",
        "input[5].call_id",
        "missing_required_parameter",
    ),
    "input.5.output=removed": (
        "Missing required parameter: 'input[5].output'.",
        "input[5].output",
        "missing_required_parameter",
    ),
    "input.5.output=object": (
        "Invalid type for 'input[5].output': expected one of a string or array of objects,"
        " but got an object instead.",
        "input[5].output",
        "invalid_type",
    ),
    "max_output_tokens=string": (
        "Invalid type for 'max_output_tokens': expected an integer, but got a string instead.",
        "max_output_tokens",
        "invalid_type",
    ),
    "max_output_tokens=number": (
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16,"
        " but got 7 instead.",
        "max_output_tokens",
        "integer_below_min_value",
    ),
    "temperature=string": (
        "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        "temperature",
        "invalid_type",
    ),
    "top_p=list": (
        "Invalid type for 'top_p': expected a decimal, but got an array instead.",
        "top_p",
        "invalid_type",
    ),
    "store=string": (
        "Invalid type for 'store': expected a boolean, but got a string instead.",
        "store",
        "invalid_type",
    ),
    "parallel_tool_calls=number": (
        "Invalid type for 'parallel_tool_calls': expected a boolean, but got an integer instead.",
        "parallel_tool_calls",
        "invalid_type",
    ),
    "instructions=object": (
        "Invalid type for 'instructions': expected a string, but got an object instead.",
        "instructions",
        "invalid_type",
    ),
    "tools=string": (
        "Invalid type for 'tools': expected an array of tools, but got a string instead.",
        "tools",
        "invalid_type",
    ),
    "tools.0.type=removed": (
        "Missing required parameter: 'tools[0].type'.",
        "tools[0].type",
        "missing_required_parameter",
    ),
    "tools.0.type=string": (
        f"Invalid value: 'x'. Supported values are: {_listed(TOOL_TYPES)}.",
        "tools[0].type",
        "invalid_value",
    ),
    "tools.0.name=removed": (
        "Missing required parameter: 'tools[0].name'.",
        "tools[0].name",
        "missing_required_parameter",
    ),
    "tools.0.strict=string": (
        "Invalid type for 'tools[0].strict': expected a boolean, but got a string instead.",
        "tools[0].strict",
        "invalid_type",
    ),
    "tool_choice=string": (
        "Invalid value: 'x'. Supported values are: 'none', 'auto', and 'required'.",
        "tool_choice",
        "invalid_value",
    ),
    "tool_choice=number": (
        "Invalid type for 'tool_choice': expected one of an object or 'none', 'auto', or"
        " 'required', but got an integer instead.",
        "tool_choice",
        "invalid_type",
    ),
    "tool_choice=object": (
        "Missing required parameter: 'tool_choice.type'.",
        "tool_choice.type",
        "missing_required_parameter",
    ),
    "text=string": (
        "Invalid type for 'text': expected an object, but got a string instead.",
        "text",
        "invalid_type",
    ),
    "text.format.type=string": (
        "Invalid value: 'x'. Supported values are: 'json_object', 'text', and 'json_schema'.",
        "text.format.type",
        "invalid_value",
    ),
    "text.format.name=removed": (
        "Missing required parameter: 'text.format.name'.",
        "text.format.name",
        "missing_required_parameter",
    ),
    "text.format.schema=removed": (
        "Missing required parameter: 'text.format.schema'.",
        "text.format.schema",
        "missing_required_parameter",
    ),
    "text.verbosity=string": (
        "Invalid value: 'x'. Supported values are: 'low', 'medium', and 'high'.",
        "text.verbosity",
        "invalid_value",
    ),
    "reasoning=string": (
        "Invalid type for 'reasoning': expected an object, but got a string instead.",
        "reasoning",
        "invalid_type",
    ),
    "reasoning.summary=string": (
        "Invalid value: 'x'. Supported values are: 'concise', 'detailed', and 'auto'.",
        "reasoning.summary",
        "invalid_value",
    ),
    "include=string": (
        "Invalid type for 'include': expected an array of one of 'fil...lts', 'web...lts',"
        " 'web...ces', 'mes...url', 'com...url', 'cod...uts', 'rea...ent', or 'mes...obs',"
        " but got a string instead.",
        "include",
        "invalid_type",
    ),
    "include.0=string": (
        f"Invalid value: 'x'. Supported values are: {_listed(INCLUDABLE)}.",
        "include[0]",
        "invalid_value",
    ),
}


def _error(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    error: dict[str, Any] = r.json()["error"]
    return error


def test_a_well_formed_request_is_answered() -> None:
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/responses", json=BODY, timeout=10)
    assert r.status_code == 200, r.text


def test_a_request_of_the_wrong_shape_is_refused_in_the_apis_words() -> None:
    assert_refused_in_openais_words("/responses", BODY, REFUSED)


def _with(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(BODY))
    body.update(changes)
    return body


def _with_item(index: int, item: dict[str, Any]) -> dict[str, Any]:
    body = _with()
    body["input"][index] = item
    return body


#: whole bodies a client gets wrong (often by sending Chat Completions' shape), and
#: the API's error for each: message, param, code
WRONG: list[tuple[str, dict[str, Any], tuple[str, str | None, str | None]]] = [
    (
        "an assistant message with input_text",
        _with_item(3, {"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}),
        (
            "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.",
            "input[3].content[0]",
            "invalid_value",
        ),
    ),
    (
        "a user message with output_text",
        _with_item(0, {"role": "user", "content": [{"type": "output_text", "text": "x"}]}),
        (
            "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_image',"
            " and 'input_file'.",
            "input[0].content[0]",
            "invalid_value",
        ),
    ),
    (
        "a Chat Completions text part",
        _with_item(0, {"role": "user", "content": [{"type": "text", "text": "x"}]}),
        (
            f"Invalid value: 'text'. Supported values are: {_listed(PART_TYPES)}.",
            "input[0].content[0].type",
            "invalid_value",
        ),
    ),
    (
        "a Chat Completions tool message",
        _with_item(5, {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}),
        (
            "Invalid value: 'tool'. Supported values are: 'assistant', 'system', 'developer',"
            " and 'user'.",
            "input[5]",
            "invalid_value",
        ),
    ),
    (
        "a member a message does not have",
        _with_item(0, {"role": "system", "content": "x", "name": "boss"}),
        ("Unknown parameter: 'input[0].name'.", "input[0].name", "unknown_parameter"),
    ),
    (
        "a phase on a user message",
        _with_item(0, {"role": "user", "content": "x", "phase": "final_answer"}),
        ("Unknown parameter: 'input[0].phase'.", "input[0].phase", "unknown_parameter"),
    ),
    (
        "an empty call id",
        _with_item(
            4, {"type": "function_call", "call_id": "", "name": "get_weather", "arguments": "{}"}
        ),
        (
            "Invalid 'input[4].call_id': empty string. Expected a string with minimum length 1,"
            " but got an empty string instead.",
            "input[4].call_id",
            "empty_string",
        ),
    ),
    (
        "a Chat Completions tool call in a function call item",
        _with_item(
            4,
            {
                "type": "function_call",
                "call_id": "call_1",
                "function": {"name": "get_weather", "arguments": "{}"},
            },
        ),
        (
            "Unknown parameter: 'input[4].function'.",
            "input[4].function",
            "unknown_parameter",
        ),
    ),
    (
        "a tool output part of a message's type",
        _with_item(
            5,
            {
                "type": "function_call_output",
                "call_id": "call_1",
                "output": [{"type": "output_text", "text": "sunny"}],
            },
        ),
        (
            "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_image',"
            " and 'input_file'.",
            "input[5].output[0]",
            "invalid_value",
        ),
    ),
    (
        "a Chat Completions tool",
        _with(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        (
            "Missing required parameter: 'tools[0].name'.",
            "tools[0].name",
            "missing_required_parameter",
        ),
    ),
    (
        "a tool with both shapes",
        _with(tools=[{"type": "function", "name": "f", "function": {"name": "f"}}]),
        ("Unknown parameter: 'tools[0].function'.", "tools[0].function", "unknown_parameter"),
    ),
    (
        "a Chat Completions tool choice",
        _with(tool_choice={"type": "function", "function": {"name": "get_weather"}}),
        (
            "Missing required parameter: 'tool_choice.name'.",
            "tool_choice.name",
            "missing_required_parameter",
        ),
    ),
    (
        "a Chat Completions response format",
        _with(text={"format": {"type": "json_schema", "json_schema": {"name": "a"}}}),
        (
            "Missing required parameter: 'text.format.name'.",
            "text.format.name",
            "missing_required_parameter",
        ),
    ),
    (
        "a member text does not have",
        _with(text={"format": {"type": "text"}, "zzz": 1}),
        ("Unknown parameter: 'text.zzz'.", "text.zzz", "unknown_parameter"),
    ),
    (
        "a member reasoning does not have",
        _with(reasoning={"effort": "low", "generate_summary": "concise"}),
        (
            "Unknown parameter: 'reasoning.generate_summary'.",
            "reasoning.generate_summary",
            "unknown_parameter",
        ),
    ),
    (
        "max_output_tokens below 16",
        _with(max_output_tokens=15),
        (
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16,"
            " but got 15 instead.",
            "max_output_tokens",
            "integer_below_min_value",
        ),
    ),
    (
        "a stream that is text",
        _with(stream="yes"),
        (
            "Invalid type for 'stream': expected a boolean, but got a string instead.",
            "stream",
            "invalid_type",
        ),
    ),
    (
        "a previous response id that is no text",
        _with(previous_response_id={"a": 1}),
        (
            "Invalid type for 'previous_response_id': expected a string, but got an object"
            " instead.",
            "previous_response_id",
            "invalid_type",
        ),
    ),
    (
        "Chat Completions' stream options",
        _with(stream=True, stream_options={"include_usage": True}),
        (
            "Unknown parameter: 'stream_options.include_usage'.",
            "stream_options.include_usage",
            "unknown_parameter",
        ),
    ),
    (
        "a truncation OpenAI does not know",
        _with(truncation="bogus"),
        (
            "Invalid value: 'bogus'. Supported values are: 'auto' and 'disabled'.",
            "truncation",
            "invalid_value",
        ),
    ),
    (
        "a service tier that is no text",
        _with(service_tier=1),
        (
            "Invalid type for 'service_tier': expected one of 'auto', 'default', 'fast', 'flex',"
            " or 'priority', but got an integer instead.",
            "service_tier",
            "invalid_type",
        ),
    ),
    (
        "a field the API does not know",
        _with(zzz_unknown=1),
        ("Unknown parameter: 'zzz_unknown'.", "zzz_unknown", "unknown_parameter"),
    ),
    (
        "Chat Completions' stop",
        _with(stop=["END"]),
        ("Unknown parameter: 'stop'.", "stop", "unknown_parameter"),
    ),
    (
        "an empty input",
        _with(input=[]),
        (
            "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' must be"
            " provided.",
            None,
            "missing_required_parameter",
        ),
    ),
    (
        "Chat Completions' messages",
        {"model": "o4-mini", "messages": [{"role": "user", "content": "hi"}]},
        (
            "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved"
            " to 'input'. Try again with the new parameter. See the API documentation for more"
            " information: https://platform.openai.com/docs/api-reference/responses/create.",
            None,
            "unsupported_parameter",
        ),
    ),
]


@pytest.mark.parametrize(
    ("body", "error"), [(b, e) for _, b, e in WRONG], ids=[n for n, *_ in WRONG]
)
def test_a_body_a_client_gets_wrong_is_refused_in_the_apis_words(
    body: dict[str, Any], error: tuple[str, str | None, str | None]
) -> None:
    message, param, code = error
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/responses", json=body, timeout=10)
    assert _error(r) == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }


def test_a_field_openai_does_not_know_is_refused_for_its_models_only() -> None:
    """The services the mock also stands in for may take fields of their own."""
    compatible = {**BODY, "model": "llama-3.3-70b", "reasoning": None, "include": None}
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:
        refused = http.post(f"{mock.base_url}/responses", json={**BODY, "top_k": 5})
        taken = http.post(f"{mock.base_url}/responses", json={**compatible, "top_k": 5})
    assert _error(refused)["message"] == "Unknown parameter: 'top_k'."
    assert taken.status_code == 200, taken.text


@pytest.mark.parametrize("kind", ["retrieval", "web_search_x", "computer_use"])
def test_a_tool_type_openai_does_not_know_is_refused_for_its_models_only(kind: str) -> None:
    """The Responses API refuses a tool of a type it does not know (as its Assistants
    API refused "retrieval" once it was gone); a compatible service may have its own."""
    tools = [*BODY["tools"], {"type": kind}]
    compatible = {**BODY, "model": "llama-3.3-70b", "reasoning": None, "include": None}
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:
        refused = http.post(f"{mock.base_url}/responses", json={**BODY, "tools": tools})
        counted = http.post(
            f"{mock.base_url}/responses/input_tokens",
            json={"model": "gpt-4.1", "input": "hi", "tools": tools},
        )
        taken = http.post(f"{mock.base_url}/responses", json={**compatible, "tools": tools})
        assert not mock.failures
    expected = {
        "message": f"Invalid value: '{kind}'. Supported values are: {_listed(TOOL_TYPES)}.",
        "type": "invalid_request_error",
        "param": "tools[1].type",
        "code": "invalid_value",
    }
    assert _error(refused) == expected
    assert _error(counted) == expected
    assert taken.status_code == 200, taken.text


@pytest.mark.parametrize("kind", [k for k in TOOL_TYPES if k != "function"])
def test_openais_built_in_tool_types_are_taken(kind: str) -> None:
    # The mock runs none of them; it takes each beside a function, as the API does.
    tools = [*BODY["tools"], {"type": kind}]
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/responses", json={**BODY, "tools": tools}, timeout=10)
        assert not mock.failures
    assert r.status_code == 200, r.text


def test_an_item_openai_takes_and_the_mock_does_not_read_is_refused_in_its_own_words() -> None:
    body = _with()
    body["input"].append({"type": "item_reference", "id": "msg_1"})
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/responses", json=body, timeout=10)
    error = _error(r)
    assert error["message"].startswith("OpenAIMock reads no input items of type 'item_reference'")
    assert error["param"] == "input[6]"


def test_the_token_counter_refuses_the_same_shapes_with_their_codes() -> None:
    """``/v1/responses/input_tokens`` takes an ``input`` left out, and refuses what
    ``/v1/responses`` refuses in what it takes."""
    counted = {"model": "gpt-4.1", "input": [{"role": "user", "content": "hi there"}]}
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:
        url = f"{mock.base_url}/responses/input_tokens"
        assert http.post(url, json={"model": "gpt-4.1", "instructions": "hi"}).status_code == 200
        ok = http.post(url, json=counted)
        wrong_part = http.post(
            url,
            json={
                "model": "gpt-4.1",
                "input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}],
            },
        )
        unknown = http.post(url, json={**counted, "stream": True})
    assert ok.json() == {"object": "response.input_tokens", "input_tokens": 2}
    assert _error(wrong_part) == {
        "message": "Invalid value: 'input_text'. Supported values are: 'output_text' and"
        " 'refusal'.",
        "type": "invalid_request_error",
        "param": "input[0].content[0]",
        "code": "invalid_value",
    }
    assert _error(unknown)["code"] == "unknown_parameter"
