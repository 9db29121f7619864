"""A ``base_url`` with a query string (a gateway's ``?tenant=``): each API's path goes
before it, and it is kept."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.testing import one_try_config
from relaykit_ollama.testing import OllamaMock

pytestmark = pytest.mark.anyio


async def test_the_path_goes_before_the_base_urls_query(mock: OllamaMock) -> None:
    config = one_try_config({"ollama": {"base_url": f"{mock.base_url}/?tenant=t1"}})
    async with relaykit.Client(config) as client:
        assert (await client.chat("ollama/llama3.2", "hi")).text
        assert await client.models("ollama")
    assert [r.target for r in mock.requests] == ["/api/chat?tenant=t1", "/api/tags?tenant=t1"]


async def test_userinfo_is_basic_auth(mock: OllamaMock) -> None:
    scheme, rest = mock.base_url.split("://", 1)
    config = one_try_config({"ollama": {"base_url": f"{scheme}://gw:pw@{rest}"}})
    async with relaykit.Client(config) as client:
        assert (await client.chat("ollama/llama3.2", "hi")).text
    (request,) = mock.requests
    assert request.headers["authorization"] == "Basic Z3c6cHc="  # gw:pw
    assert request.target == "/api/chat"


async def test_userinfo_and_an_api_key_conflict(mock: OllamaMock) -> None:
    scheme, rest = mock.base_url.split("://", 1)
    settings = {"base_url": f"{scheme}://gw:pw@{rest}", "api_key": "ollama-key-0123456789"}
    async with relaykit.Client(one_try_config({"ollama": settings})) as client:
        with pytest.raises(relaykit.ConfigError, match=r"providers\.ollama\.base_url carries"):
            await client.chat("ollama/llama3.2", "hi")
    assert mock.requests == []
