"""Participant names over real HTTP: Chat Completions sends them, the Responses API
refuses them unsent, and the mock refuses a name as OpenAI does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import relaykit
from relaykit.testing import OpenAIMock, one_try_config

from .conftest import KEY

NAMED = [
    {"role": "system", "name": "rules", "content": "Two people talk."},
    {"role": "user", "name": "alice", "content": "hi"},
]


def client(mock: OpenAIMock, **options: Any) -> relaykit.Client:
    provider = {"base_url": mock.base_url, "api_key": KEY, **options}
    return relaykit.Client(one_try_config({"openai": provider}))


@pytest.mark.anyio
async def test_chat_completions_sends_each_messages_name(mock: OpenAIMock) -> None:
    async with client(mock) as c:
        await c.chat("openai/gpt-4o-mini", NAMED)
        async with c.stream("openai/gpt-4o-mini", NAMED) as s:
            async for _ in s:
                pass
    for request in mock.requests:
        sent = request.json()["messages"]
        assert [(m["role"], m.get("name")) for m in sent] == [
            ("system", "rules"),
            ("user", "alice"),
        ]


@pytest.mark.anyio
async def test_the_responses_api_refuses_a_named_message_unsent(mock: OpenAIMock) -> None:
    async with client(mock, api="responses") as c:
        with pytest.raises(relaykit.InvalidRequestError, match="Responses API") as caught:
            await c.chat("openai/gpt-4o-mini", NAMED)
    assert caught.value.param == "messages[0].name"
    assert not mock.requests


@pytest.mark.anyio
async def test_count_tokens_counts_a_named_conversation(mock: OpenAIMock) -> None:
    # OpenAI's counter is the Responses API's, which has no name field: counted
    # without the names (a few tokens, as formatting is), not refused.
    async with client(mock) as c:
        counted = await c.count_tokens("openai/gpt-4o-mini", NAMED)
    assert counted.exact and counted.input_tokens > 0
    assert "alice" not in mock.last_request.body.decode()


@pytest.mark.anyio
async def test_the_mock_refuses_a_name_as_openai_does(mock: OpenAIMock) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "name": "alice smith", "content": "hi"}],
    }
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{mock.base_url}/chat/completions", json=body, headers=headers)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "messages[0].name"
    assert "does not match pattern" in error["message"]
