"""Claude on Microsoft Foundry at a ``base_url`` of an odd but valid form (a trailing
slash, a gateway's path prefix, a query string, ``/v1/messages`` it was copied with,
``user:password@`` beside the key): the Messages paths go under its path, before its
query; credentials in it beside an Entra ID token (both want ``Authorization``) are
a ConfigError naming the option and the fix. Both HTTP clients (``auto``:
relaykit-aiohttp's under asyncio), against the loopback mock."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit.testing import one_try_config
from relaykit_anthropic.mock_foundry import FoundryClaudeMock

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]

KEY = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-mock-token"
MODEL = "foundry-anthropic/claude-sonnet-4-5"


@pytest.fixture
def foundry() -> Iterator[FoundryClaudeMock]:
    with FoundryClaudeMock(api_key=KEY, ad_token=TOKEN) as mock:
        yield mock


def _client(transport: str, env: dict[str, str] | None = None, **provider: Any) -> relaykit.Client:
    config = one_try_config({"foundry-anthropic": provider})
    return relaykit.Client({**config, "http": {"transport": transport}}, env=env or {})


@pytest.mark.parametrize(
    ("tail", "query"),
    [
        ("/", ""),
        ("/v1/messages", ""),
        ("", "?tenant=a%2Fb"),
        ("/", "?tenant=a%2Fb&x=1"),
        ("/v1/messages", "?tenant=a%2Fb"),
    ],
)
async def test_paths_go_under_the_base_urls_path_before_its_query(
    foundry: FoundryClaudeMock, transport: str, tail: str, query: str
) -> None:
    foundry.path_prefix = "/gw/foundry"
    url = f"{foundry.base_url}{tail}{query}"
    async with _client(transport, base_url=url, api_key=KEY) as client:
        answer = await client.chat(MODEL, "hi", max_tokens=20)
        async with client.stream(MODEL, "hi", max_tokens=20) as stream:
            streamed = [e async for e in stream]
        counted = await client.count_tokens(MODEL, "hi")
    assert answer.text and streamed and counted
    assert [r.target for r in foundry.requests] == [
        f"/gw/foundry/anthropic/v1/messages{query}",
        f"/gw/foundry/anthropic/v1/messages{query}",
        f"/gw/foundry/anthropic/v1/messages/count_tokens{query}",
    ]


async def test_credentials_in_the_base_url_go_as_basic_auth_beside_the_key(
    foundry: FoundryClaudeMock, transport: str
) -> None:
    url = foundry.base_url.replace("http://", "http://gw-user:gw-s3cret-pass@") + "?tenant=t"
    async with _client(transport, base_url=url, api_key=KEY) as client:
        await client.chat(MODEL, "hi", max_tokens=20)
        shown = repr(client.provider("foundry-anthropic"))
    (sent,) = foundry.requests
    assert sent.target == "/anthropic/v1/messages?tenant=t"
    assert sent.headers["api-key"] == KEY
    basic = base64.b64encode(b"gw-user:gw-s3cret-pass").decode()
    assert sent.headers["authorization"] == f"Basic {basic}"
    assert "gw-s3cret-pass" not in shown and basic not in shown


async def test_credentials_in_the_base_url_beside_an_entra_token_are_a_config_error(
    foundry: FoundryClaudeMock, transport: str
) -> None:
    url = foundry.base_url.replace("http://", "http://gw-user:gw-s3cret-pass@")
    with pytest.raises(ConfigError) as caught:
        async with _client(
            transport, {"ANTHROPIC_FOUNDRY_AD_TOKEN": TOKEN}, base_url=url
        ) as client:
            await client.chat(MODEL, "hi", max_tokens=20)
    text = f"{caught.value} {caught.value.hint}"
    assert "providers.foundry-anthropic.base_url" in text and "api-key" in text
    assert "gw-s3cret-pass" not in text and TOKEN not in text
    assert foundry.requests == []


async def test_an_entra_token_of_any_shape_is_a_known_secret(
    transport: str,
) -> None:
    token = "opaque-entra-token-of-no-known-shape-0123"
    with FoundryClaudeMock(api_key=KEY, ad_token=token) as foundry:
        foundry.script.fail(400, f"bad request for token {token}")
        async with _client(
            transport, {"ANTHROPIC_FOUNDRY_AD_TOKEN": token}, base_url=foundry.base_url
        ) as client:
            with pytest.raises(relaykit.InvalidRequestError) as caught:
                await client.chat(MODEL, "hi", max_tokens=20)
    assert token not in str(caught.value)
