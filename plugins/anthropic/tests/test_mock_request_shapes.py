"""The Anthropic mock answers a Messages request of any shape, as the API would.

A request whose JSON has the wrong type somewhere (a message that is a string, a
block that is a number, a tool_use without an id) is refused with a 400 naming
the place, in the API's words. The mock's checks read such a request with plain
lookups, and raised instead: the server then died (session 28 saw it die mid-sweep,
every later call meeting a refused connection), or now answers a 500 and keeps the
failure (``mock.failures``), which the mock raises when the test leaves it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaykit.testing import sweep_wrong_shapes
from relaykit_anthropic.mock_foundry import FoundryClaudeMock
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.testing import AnthropicMock

from .conftest import KEY

#: a conversation with each kind of block a continuation sends back: system text, a
#: tool call and its result, and a final assistant turn (a paused one, continued)
BODY: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 50,
    "system": [{"type": "text", "text": "be brief"}],
    "tools": [
        {
            "name": "get_weather",
            "description": "the weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
    "messages": [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "let me look"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "paused here"}]},
    ],
}


@pytest.mark.parametrize("endpoint", ["messages", "messages/count_tokens"])
def test_a_request_of_the_wrong_shape_is_refused_in_the_apis_words(endpoint: str) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    with AnthropicMock(api_key=KEY) as mock, httpx.Client(timeout=10) as http:

        def send(body: dict[str, Any]) -> int:
            r = http.post(f"{mock.base_url}/v1/{endpoint}", json=body, headers=headers)
            if r.status_code == 400:
                assert r.json()["error"]["type"] == "invalid_request_error", r.text
            return r.status_code

        answered = sweep_wrong_shapes(mock, BODY, send)
    assert set(answered.values()) <= {200, 400}, answered
    assert answered["messages.1.content.0=number"] == 400
    assert answered["messages.1.content.1.id=removed"] == 400


#: a Foundry deployment and the Vertex token the mocks below accept
_DEPLOYMENTS = {"my-claude": "claude-haiku-4-5"}
_VERTEX_TOKEN = "ya29.mock-static-token"
_VERTEX_MODEL = "/v1/projects/mock-project/locations/global/publishers/anthropic/models"


def _mock(family: str) -> tuple[AnthropicMock, str, dict[str, str]]:
    """The family's mock, the path prefix of its Messages API, and the headers it takes."""
    version = {"anthropic-version": "2023-06-01"}
    if family == "foundry":
        mock: AnthropicMock = FoundryClaudeMock(api_key=KEY, deployments=_DEPLOYMENTS)
        return mock, "/v1", {"api-key": KEY, **version}
    if family == "vertex":
        mock = VertexClaudeMock(static_tokens=[_VERTEX_TOKEN])
        return mock, _VERTEX_MODEL, {"authorization": f"Bearer {_VERTEX_TOKEN}"}
    return AnthropicMock(api_key=KEY), "/v1", {"x-api-key": KEY, **version}


@pytest.mark.parametrize(
    ("family", "path"),
    [
        ("anthropic", "/messages"),
        ("anthropic", "/messages/count_tokens"),
        ("anthropic", "/messages/batches"),
        ("foundry", "/messages"),
        ("foundry", "/messages/count_tokens"),
        ("vertex", "/claude-haiku-4-5@20251001:rawPredict"),
        ("vertex", "/count-tokens:rawPredict"),
    ],
)
@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b""])
def test_a_body_that_is_no_json_is_refused_in_the_apis_words(
    family: str, path: str, content: bytes
) -> None:
    # Before, /v1/messages and its count_tokens raised on it (a 500 kept in
    # mock.failures), batches answered as if no requests were given, and Foundry and
    # Vertex in the mock's own words, where Anthropic answers "The request body is
    # not valid JSON: ..." (anthropics/claude-code#6464).
    mock, prefix, headers = _mock(family)
    with mock, httpx.Client(timeout=10) as http:
        r = http.post(f"{mock.base_url}{prefix}{path}", content=content, headers=headers)
        assert not mock.failures
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("The request body is not valid JSON: ")


@pytest.mark.parametrize("content", [b"null", b"1", b"[1]", b'"model"'])
def test_count_tokens_refuses_json_that_is_no_object_in_the_schemas_words(
    content: bytes,
) -> None:
    # Before, null and a number raised (a 500), and a list or a string was read as
    # field names ("model: Extra inputs are not permitted").
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    with AnthropicMock(api_key=KEY) as mock, httpx.Client(timeout=10) as http:
        r = http.post(f"{mock.base_url}/v1/messages/count_tokens", content=content, headers=headers)
        assert not mock.failures
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "body: Input should be a valid dictionary"
