"""A ``base_url`` with a query string (a gateway's ``?tenant=``): each API's path goes before
it, and it is kept; a ``/v1`` the path ends in is still tolerated."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.testing import one_try_config
from relaykit_anthropic.testing import AnthropicMock

pytestmark = pytest.mark.anyio

KEY = "sk-ant-test-0123456789abcdef0123"


@pytest.mark.parametrize("v1", ["", "/v1", "/v1/"])
async def test_the_path_goes_before_the_base_urls_query(mock: AnthropicMock, v1: str) -> None:
    base_url = f"{mock.base_url}{v1}?tenant=t1"
    config = one_try_config({"anthropic": {"base_url": base_url, "api_key": KEY}})
    async with relaykit.Client(config) as client:
        assert (await client.chat("anthropic/claude-sonnet-4-5", "hi")).text
        assert await client.count_tokens("anthropic/claude-sonnet-4-5", "hi")
    assert [r.target for r in mock.requests] == [
        "/v1/messages?tenant=t1",
        "/v1/messages/count_tokens?tenant=t1",
    ]


async def test_userinfo_is_basic_auth_beside_the_api_key(mock: AnthropicMock) -> None:
    """The key goes in ``x-api-key``: a gateway's ``user:password@`` takes ``Authorization``."""
    scheme, rest = mock.base_url.split("://", 1)
    config = one_try_config({"anthropic": {"base_url": f"{scheme}://gw:pw@{rest}", "api_key": KEY}})
    async with relaykit.Client(config) as client:
        assert (await client.chat("anthropic/claude-sonnet-4-5", "hi")).text
    (request,) = mock.requests
    assert request.headers["x-api-key"] == KEY
    assert request.headers["authorization"] == "Basic Z3c6cHc="  # gw:pw
    assert request.target == "/v1/messages"
