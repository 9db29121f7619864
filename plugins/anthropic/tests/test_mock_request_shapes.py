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
