"""A ``base_url`` with a query string (a gateway's ``?tenant=``): each API's path goes before
it, and it is kept, ahead of the API's own parameters (``alt=sse``, ``pageSize``)."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.testing import one_try_config
from relaykit_gemini.testing import GeminiMock

pytestmark = pytest.mark.anyio

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
MODEL = "gemini/gemini-2.5-flash"


async def test_the_path_goes_before_the_base_urls_query(mock: GeminiMock) -> None:
    config = one_try_config({"gemini": {"base_url": f"{mock.base_url}/?tenant=t1", "api_key": KEY}})
    async with relaykit.Client(config) as client:
        assert (await client.chat(MODEL, "hi")).text
        async with client.stream(MODEL, "hi") as stream:
            assert [e async for e in stream]
        assert await client.models("gemini")
        assert await client.batches("gemini") == []
    targets = [r.target for r in mock.requests]
    assert targets[:3] == [
        "/v1beta/models/gemini-2.5-flash:generateContent?tenant=t1",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?tenant=t1&alt=sse",
        "/v1beta/models?tenant=t1&pageSize=1000",
    ]
    assert targets[-1].startswith("/v1beta/batches?tenant=t1&pageSize=")
    assert all(r.query.get("tenant") == "t1" for r in mock.requests)


async def test_userinfo_is_basic_auth_beside_the_api_key(mock: GeminiMock) -> None:
    scheme, rest = mock.base_url.split("://", 1)
    config = one_try_config({"gemini": {"base_url": f"{scheme}://gw:pw@{rest}", "api_key": KEY}})
    async with relaykit.Client(config) as client:
        assert (await client.chat(MODEL, "hi")).text
    (request,) = mock.requests
    assert request.headers["x-goog-api-key"] == KEY
    assert request.headers["authorization"] == "Basic Z3c6cHc="  # gw:pw
    assert request.target == "/v1beta/models/gemini-2.5-flash:generateContent"
