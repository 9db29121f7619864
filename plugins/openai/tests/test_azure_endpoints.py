"""Azure OpenAI at an ``endpoint`` (or ``base_url``) of an odd but valid form: a
trailing slash, a gateway's path prefix, ``/openai`` or ``/openai/v1`` it was copied
with, a query string (a gateway's parameters, or the ``api-version`` itself), a port,
``user:password@``. Each API's path goes under the endpoint's path, before its query,
with one ``api-version``; an ``api-version`` in the URL that ``api_version`` contradicts
is a ConfigError naming both. Both HTTP clients (``auto``: relaykit-aiohttp's under
asyncio), against :class:`AzureOpenAIMock` over loopback."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit_openai.testing import AzureOpenAIMock

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]

KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CHAT = "azure/gpt4o-prod"


@pytest.fixture
def azure() -> Iterator[AzureOpenAIMock]:
    with AzureOpenAIMock(api_key=KEY) as mock:
        mock.path_prefix = "/gw/azure"
        yield mock


def _client(transport: str, **provider: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "http": {"transport": transport},
        "providers": {"azure": {"api_key": KEY, **provider}},
    }
    return relaykit.Client(config, env={})


async def _calls(client: relaykit.Client) -> None:
    assert (await client.chat(CHAT, "hi")).text
    async with client.stream(CHAT, "hi") as stream:
        assert [e async for e in stream]
    assert await client.models("azure")


@pytest.mark.parametrize("tail", ["/", "/openai", "/openai/v1/"])
@pytest.mark.parametrize("query", ["", "?tenant=a%2Fb", "?tenant=a%2Fb&x=1"])
async def test_the_v1_api_goes_under_the_endpoints_path_before_its_query(
    azure: AzureOpenAIMock, transport: str, tail: str, query: str
) -> None:
    async with _client(transport, endpoint=f"{azure.base_url}{tail}{query}") as client:
        await _calls(client)
    assert [r.target for r in azure.requests] == [
        f"/gw/azure/openai/v1/chat/completions{query}",
        f"/gw/azure/openai/v1/chat/completions{query}",
        f"/gw/azure/openai/v1/models{query}",
    ]


@pytest.mark.parametrize(
    ("url_query", "option"),
    [
        ("?tenant=t&api-version=2024-10-21", None),  # the URL's version, as copied
        ("?api-version=2024-10-21&tenant=t", "2024-10-21"),  # the same twice
        ("?tenant=t", "2024-10-21"),
    ],
)
async def test_a_dated_version_in_the_url_or_option_is_sent_once(
    azure: AzureOpenAIMock, transport: str, url_query: str, option: str | None
) -> None:
    settings: dict[str, Any] = {"endpoint": f"{azure.base_url}/{url_query}"}
    if option is not None:
        settings["api_version"] = option
    async with _client(transport, **settings) as client:
        await _calls(client)
    assert [r.target for r in azure.requests] == [
        "/gw/azure/openai/deployments/gpt4o-prod/chat/completions?tenant=t&api-version=2024-10-21",
        "/gw/azure/openai/deployments/gpt4o-prod/chat/completions?tenant=t&api-version=2024-10-21",
        "/gw/azure/openai/models?tenant=t&api-version=2024-10-21",
    ]


async def test_a_version_in_the_url_and_another_in_the_option_are_a_config_error(
    azure: AzureOpenAIMock, transport: str
) -> None:
    url = f"{azure.base_url}?api-version=2024-10-21"
    with pytest.raises(ConfigError) as caught:
        async with _client(transport, endpoint=url, api_version="2025-04-01-preview") as client:
            await client.chat(CHAT, "hi")
    text = f"{caught.value} {caught.value.hint}"
    assert "providers.azure.base_url" in text and "providers.azure.api_version" in text
    assert azure.requests == []


async def test_credentials_in_the_endpoint_go_as_basic_auth_beside_the_key(
    azure: AzureOpenAIMock, transport: str
) -> None:
    url = azure.base_url.replace("http://", "http://gw-user:gw-s3cret-pass@") + "/?tenant=t"
    async with _client(transport, endpoint=url) as client:
        await client.chat(CHAT, "hi")
        shown = repr(client.provider("azure"))
    (sent,) = azure.requests
    assert sent.target == "/gw/azure/openai/v1/chat/completions?tenant=t"
    basic = base64.b64encode(b"gw-user:gw-s3cret-pass").decode()
    assert sent.headers["authorization"] == f"Basic {basic}"
    assert sent.headers["api-key"] == KEY
    assert "gw-s3cret-pass" not in shown and basic not in shown
