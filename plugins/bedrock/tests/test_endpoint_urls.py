"""Bedrock at an endpoint URL of an odd but valid form (``base_url``,
``control_plane_url``: a trailing slash, a gateway's path prefix, a query string):
each operation's path goes under the URL's path, before its query, signed as sent;
``user:password@`` in either, which Bedrock cannot send (its ``Authorization`` is
the SigV4 signature or API key), is a ConfigError naming the option and the fix.
Both HTTP clients (``auto``: relaykit-aiohttp's under asyncio), against the mock."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit_bedrock.testing import BedrockMock

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]

KEY = "ABSKbW9jay1iZWRyb2NrLWtleQ=="
CONVERSE = "bedrock/amazon.nova-lite-v1:0"
CLAUDE = "bedrock/global.anthropic.claude-opus-4-7"
NOVA_PATH = "/model/amazon.nova-lite-v1%3A0"


def _client(transport: str, **provider: Any) -> relaykit.Client:
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "http": {"transport": transport},
            "providers": {"bedrock": provider},
        }
    )


@pytest.mark.parametrize(
    ("tail", "query"), [("/", ""), ("", "?tenant=a%2Fb"), ("/", "?tenant=a%2Fb&x=1")]
)
async def test_paths_go_under_the_endpoints_path_before_its_query(
    transport: str, tail: str, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    with BedrockMock(bearer_token=KEY) as mock:
        mock.path_prefix = "/gw/bedrock"
        url = f"{mock.base_url}{tail}{query}"
        async with _client(transport, base_url=url, control_plane_url=url) as client:
            answer = await client.chat(CONVERSE, "hi")
            async with client.stream(CONVERSE, "hi") as stream:
                streamed = [e async for e in stream]
            claude = await client.chat(CLAUDE, "hi", max_tokens=20)
            models = await client.models("bedrock")
        targets = [r.target for r in mock.requests]
    assert answer.text and streamed and claude.text and models
    sep = "&" if query else "?"
    assert targets == [
        f"/gw/bedrock{NOVA_PATH}/converse{query}",
        f"/gw/bedrock{NOVA_PATH}/converse-stream{query}",
        f"/gw/bedrock/anthropic/v1/messages{query}",
        f"/gw/bedrock/foundation-models{query}{sep}byOutputModality=TEXT",
        f"/gw/bedrock/inference-profiles{query}{sep}maxResults=1000&type=SYSTEM_DEFINED",
    ]


async def test_a_query_is_signed_with_sigv4_as_it_is_sent(transport: str) -> None:
    with BedrockMock() as mock:
        url = f"{mock.base_url}/?tenant=a%2Fb"
        async with _client(transport, base_url=url, control_plane_url=url) as client:
            answer = await client.chat(CONVERSE, "hi")
            models = await client.models("bedrock")
        targets = [r.target for r in mock.requests]
    assert answer.text and models  # the mock checked each signature
    assert targets == [
        f"{NOVA_PATH}/converse?tenant=a%2Fb",
        "/foundation-models?tenant=a%2Fb&byOutputModality=TEXT",
        "/inference-profiles?tenant=a%2Fb&maxResults=1000&type=SYSTEM_DEFINED",
    ]


@pytest.mark.parametrize("option", ["base_url", "control_plane_url"])
async def test_credentials_in_an_endpoint_url_are_a_config_error(
    transport: str, option: str
) -> None:
    with BedrockMock() as mock:
        urls = {"base_url": mock.base_url, "control_plane_url": mock.base_url}
        urls[option] = mock.base_url.replace("http://", "http://user:s3cret-pass@")
        with pytest.raises(ConfigError) as caught:
            async with _client(transport, **urls) as client:
                await client.chat(CONVERSE, "hi")
        assert mock.requests == []
    text = f"{caught.value} {caught.value.hint}"
    assert f"providers.bedrock.{option}" in text and "HTTPS_PROXY" in text
    assert "s3cret-pass" not in text
