"""Cohere at a ``base_url`` of an odd but valid form (a trailing slash, a gateway's path
prefix, a query string): each API's path goes under its path, before its query
(``relaykit.http.api_url``); ``user:password@`` beside the API key (both want
``Authorization``) is a ConfigError naming the option. Both HTTP clients (``auto``:
relaykit-aiohttp's under asyncio), against the loopback mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit_cohere.testing import CohereMock

from .conftest import KEY

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]


@pytest.fixture
def prefixed() -> Iterator[CohereMock]:
    with CohereMock(api_key=KEY) as mock:
        mock.path_prefix = "/gw/cohere"
        yield mock


def _client(transport: str, base_url: str) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "http": {"transport": transport},
        "providers": {"cohere": {"base_url": base_url, "api_key": KEY}},
    }
    return relaykit.Client(config, env={})


@pytest.mark.parametrize("query", ["", "?tenant=a%2Fb"])
async def test_paths_go_under_the_base_urls_path_before_its_query(
    prefixed: CohereMock, transport: str, query: str
) -> None:
    async with _client(transport, f"{prefixed.base_url}/{query}") as client:
        assert (await client.chat("cohere/command-a-03-2025", "hi")).text
        assert await client.embed("cohere/embed-v4.0", ["a text"])
    assert [r.target for r in prefixed.requests] == [
        f"/gw/cohere/v2/chat{query}",
        f"/gw/cohere/v2/embed{query}",
    ]


async def test_credentials_in_the_base_url_beside_the_key_are_a_config_error(
    prefixed: CohereMock, transport: str
) -> None:
    url = prefixed.base_url.replace("http://", "http://user:s3cret-pass@")
    with pytest.raises(ConfigError, match=r"providers\.cohere\.base_url") as caught:
        async with _client(transport, url) as client:
            await client.chat("cohere/command-a-03-2025", "hi")
    assert "s3cret-pass" not in f"{caught.value} {caught.value.hint}"
    assert prefixed.requests == []
