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
