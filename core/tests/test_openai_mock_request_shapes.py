"""OpenAIMock answers a Chat Completions or embeddings request of any shape, as the API would.

A request whose JSON has the wrong type somewhere (a message that is a string, a
tool without its function, a ``max_tokens`` that is text, a field OpenAI does not
know) is refused with a 400 in OpenAI's words and error fields. Before, the mock
took any such body: an encoder sending it passed here and failed against the
API, or the mock's own checks raised on it (a 500, kept in ``mock.failures``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock, sweep_wrong_shapes
from relaykit.testing.openai_embeddings import INVALID_INPUT

from .openai_mock_sweep import assert_refused_in_openais_words

#: a conversation with each kind of message and part a client sends: system text,
#: a user's text and image, a tool call and its result, tools, a tool choice and
#: a response format
BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "max_completion_tokens": 50,
    "stop": ["END"],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ],
    "tool_choice": "auto",
    "response_format": {"type": "text"},
    "messages": [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "the weather here?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ],
}

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
    "messages=list": (
        "Invalid type for 'messages[0]': expected an object, but got an integer instead.",
        "messages[0]",
        "invalid_type",
    ),
    "messages=string": (
        "Invalid type for 'messages': expected an array, but got a string instead.",
        "messages",
        "invalid_type",
    ),
    "messages.0.role=string": (
        "Invalid value: 'x'. Supported values are: 'system', 'assistant', 'user', 'function',"
        " 'tool', and 'developer'.",
        "messages[0].role",
        "invalid_value",
    ),
    "messages.0.content=object": (
        "Invalid type for 'messages[0].content': expected one of a string or array of"
        " objects, but got an object instead.",
        "messages[0].content",
        "invalid_type",
    ),
    "messages.1.content.0=number": (
        "Invalid type for 'messages[1].content[0]': expected an object, but got an integer"
        " instead.",
        "messages[1].content[0]",
        "invalid_type",
    ),
    "messages.1.content.1.type=string": (
        "Invalid value: 'x'. Supported values are: 'text', 'image_url', 'input_audio',"
        " 'refusal', 'audio', and 'file'.",
        "messages[1].content[1].type",
        "invalid_value",
    ),
    "messages.1.content.1.image_url.url=removed": (
        "Missing required parameter: 'messages[1].content[1].image_url.url'.",
        "messages[1].content[1].image_url.url",
        "missing_required_parameter",
    ),
    "messages.2.tool_calls=removed": (
        "Invalid value for 'content': expected a string, got null.",
        "messages.[2].content",
        None,
    ),
    "messages.2.tool_calls.0.function.arguments=object": (
        "Invalid type for 'messages[2].tool_calls[0].function.arguments': expected a string,"
        " but got an object instead.",
        "messages[2].tool_calls[0].function.arguments",
        "invalid_type",
    ),
    "messages.3.tool_call_id=removed": (
        "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
        "messages.[3].tool_call_id",
        None,
    ),
    "max_completion_tokens=string": (
        "Invalid type for 'max_completion_tokens': expected an integer, but got a string instead.",
        "max_completion_tokens",
        "invalid_type",
    ),
    "tools.0.function=removed": (
        "Missing required parameter: 'tools[0].function'.",
        "tools[0].function",
        "missing_required_parameter",
    ),
    "tools.0.type=removed": (
        "Missing required parameter: 'tools[0].type'.",
        "tools[0].type",
        "missing_required_parameter",
    ),
    "tools=removed": (
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are"
        " specified.",
        "tool_choice",
        None,
    ),
    "tool_choice=string": (
        "Invalid value: 'x'. Supported values are: 'none', 'auto', and 'required'.",
        "tool_choice",
        "invalid_value",
    ),
    "tool_choice=object": (
        "Missing required parameter: 'tool_choice.type'.",
        "tool_choice.type",
        "missing_required_parameter",
    ),
}


def test_a_well_formed_request_is_answered() -> None:
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/chat/completions", json=BODY, timeout=10)
    assert r.status_code == 200, r.text


def test_a_request_of_the_wrong_shape_is_refused_in_the_apis_words() -> None:
    assert_refused_in_openais_words("/chat/completions", BODY, REFUSED)


@pytest.mark.parametrize("body", [[BODY], "hi", None])
def test_a_body_that_is_no_object_is_refused(body: Any) -> None:
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/chat/completions", json=body, timeout=10)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "The request body must be a JSON object."


def test_a_body_that_is_no_json_is_refused() -> None:
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/chat/completions", content=b"{not json", timeout=10)
    assert r.status_code == 400


@pytest.mark.parametrize("path", ["/responses/input_tokens", "/responses", "/rerank"])
@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe"])
def test_every_json_route_refuses_a_body_that_is_no_json_as_chat_does(
    path: str, content: bytes
) -> None:
    # Before, these routes raised on it (a 500 kept in mock.failures) where OpenAI
    # answers 400.
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}{path}", content=content, timeout=10)
        chat = httpx.post(f"{mock.base_url}/chat/completions", content=content, timeout=10)
        assert not mock.failures
    assert r.status_code == 400, r.text
    assert r.json()["error"] == chat.json()["error"]
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_empty_messages_are_refused() -> None:
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/chat/completions", json={**BODY, "messages": []})
    assert r.json()["error"] == {
        "message": "Invalid 'messages': empty array. Expected an array with minimum length 1,"
        " but got an empty array instead.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "empty_array",
    }


def test_stream_options_are_refused_without_a_stream() -> None:
    options = {"stream_options": {"include_usage": True}}
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:
        url = f"{mock.base_url}/chat/completions"
        alone = http.post(url, json={**BODY, **options})
        streamed = http.post(url, json={**BODY, **options, "stream": True})
    assert alone.json()["error"] == {
        "message": "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "type": "invalid_request_error",
        "param": "stream_options",
        "code": None,
    }
    assert streamed.status_code == 200, streamed.text


def test_a_field_openai_does_not_know_is_refused_for_its_models_only() -> None:
    """OpenAI refuses a field it does not know; the compatible services the mock
    stands in for take their own (``top_k``: vLLM, Together, ...)."""
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:
        url = f"{mock.base_url}/chat/completions"
        refused = http.post(url, json={**BODY, "top_k": 5})
        compatible = http.post(url, json={**BODY, "model": "llama-3.3-70b", "top_k": 5})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": "Unrecognized request argument supplied: top_k",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert compatible.status_code == 200, compatible.text


#: an embeddings request: texts, and each field OpenAI takes
EMBEDDINGS: dict[str, Any] = {
    "model": "text-embedding-3-small",
    "input": ["the cat sat", "on the mat"],
    "dimensions": 4,
    "encoding_format": "float",
    "user": "u1",
}


def test_an_embeddings_request_of_the_wrong_shape_is_refused() -> None:
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:
        answered = sweep_wrong_shapes(
            mock, EMBEDDINGS, lambda body: http.post(f"{mock.base_url}/embeddings", json=body)
        )
    statuses = {name: r.status_code for name, r in answered.items()}
    assert set(statuses.values()) <= {200, 400}, statuses
    for name in ("input=null", "input=object", "input=removed", "input.0=object", "model=number"):
        assert statuses[name] == 400, name
    assert statuses["input.0=number"] == 400  # a text and a token array, mixed


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2, 3], [4, 5]]])
def test_token_arrays_are_embedded_a_token_each(tokens: Any) -> None:
    """OpenAI takes token arrays as ``input`` (one, or a list of them)."""
    with OpenAIMock() as mock:
        r = httpx.post(
            f"{mock.base_url}/embeddings", json={**EMBEDDINGS, "input": tokens}, timeout=10
        )
    assert r.status_code == 200, r.text
    arrays = tokens if isinstance(tokens[0], list) else [tokens]
    assert len(r.json()["data"]) == len(arrays)
    assert r.json()["usage"]["prompt_tokens"] == sum(map(len, arrays))


@pytest.mark.parametrize("tokens", [[], [[]], [1, "2"], [-1], [True], [[1], "x"]])
def test_a_token_array_of_the_wrong_shape_is_refused(tokens: Any) -> None:
    with OpenAIMock() as mock:
        r = httpx.post(
            f"{mock.base_url}/embeddings", json={**EMBEDDINGS, "input": tokens}, timeout=10
        )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == INVALID_INPUT


def test_an_embeddings_field_openai_does_not_know_is_refused_for_its_models_only() -> None:
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:
        url = f"{mock.base_url}/embeddings"
        refused = http.post(url, json={**EMBEDDINGS, "input_type": "query"})
        compatible = http.post(url, json={**EMBEDDINGS, "model": "bge-m3", "input_type": "query"})
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["message"] == "Unrecognized request argument supplied: input_type"
    )
    assert compatible.status_code == 200, compatible.text
