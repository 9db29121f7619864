"""A ``base_url`` with a query string (``https://host/openai/v1?api-version=2024-10-21``, as an
Azure or gateway URL copied whole has it): each API's path goes before the query, which
every request keeps, after the API's own parameters' place. Both transports (``auto``:
relaykit-aiohttp's client under asyncio), asyncio and trio, against a loopback mock
that notes each request line's target."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.testing import OpenAIMock

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]

KEY = "sk-test-0123456789abcdef0123"
QUERY = "api-version=2024-10-21&tenant=a%2Fb"


def _config(base_url: str, transport: str) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "http": {"transport": transport},
        "providers": {"p": {"type": "openai", "base_url": base_url, "api_key": KEY}},
    }


@pytest.mark.parametrize("slash", ["", "/"])
async def test_the_path_goes_before_the_base_urls_query(transport: str, slash: str) -> None:
    with OpenAIMock(KEY) as mock:
        config = _config(f"{mock.base_url}{slash}?{QUERY}", transport)
        async with relaykit.Client(config) as client:
            answer = await client.chat("p/gpt-4o-mini", "hi")
            async with client.stream("p/gpt-4o-mini", "hi") as stream:
                streamed = [e async for e in stream]
            models = await client.models("p")
        targets = [r.target for r in mock.requests]
    assert answer.text and streamed and models
    assert targets == [
        f"/v1/chat/completions?{QUERY}",
        f"/v1/chat/completions?{QUERY}",
        f"/v1/models?{QUERY}",
    ]
    assert mock.requests[0].query == {"api-version": "2024-10-21", "tenant": "a/b"}


async def test_a_base_url_without_a_query_is_unchanged(transport: str) -> None:
    with OpenAIMock(KEY) as mock:
        async with relaykit.Client(_config(mock.base_url + "/", transport)) as client:
            await client.chat("p/gpt-4o-mini", "hi")
        assert [r.target for r in mock.requests] == ["/v1/chat/completions"]
