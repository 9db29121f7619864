"""Claude on Vertex AI at a configured ``base_url`` of an odd but valid form (a trailing
slash, a gateway's path prefix, a query string, a port, a ``/v1`` it was copied with):
every URL is built under it as :func:`relaykit.http.api_url` builds them, the query
kept after each path; ``user:password@``, which Vertex cannot send (its access token
is the ``Authorization``), is a ConfigError naming the option and the fix. Both HTTP
clients (``auto``: relaykit-aiohttp's under asyncio), against the loopback mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit.testing import one_try_config
from relaykit_anthropic.mock_vertex import VertexClaudeMock

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]

TOKEN = "ya29.static-access-token-0123456789abcdef"
MODEL = "vertex-anthropic/claude-haiku-4-5@20251001"
PATH = (
    "/v1/projects/mock-project/locations/us-east5/publishers/anthropic/models/"
    "claude-haiku-4-5@20251001"
)
LIST_PATH = "/v1beta1/publishers/anthropic/models"


@pytest.fixture
def vertex() -> Iterator[VertexClaudeMock]:
    with VertexClaudeMock(static_tokens=[TOKEN]) as mock:
        yield mock


def _client(base_url: str, transport: str, env: dict[str, str]) -> relaykit.Client:
    provider: dict[str, Any] = {
        "type": "vertex-anthropic",
        "base_url": base_url,
        "project": "mock-project",
        "location": "us-east5",
        "api_key": TOKEN,
    }
    config = one_try_config({"vertex-anthropic": provider})
    return relaykit.Client({**config, "http": {"transport": transport}}, env=env)


@pytest.mark.parametrize(
    ("tail", "query"),
    [("/", ""), ("/v1", ""), ("/v1/", ""), ("", "?tenant=a%2Fb"), ("/", "?tenant=a%2Fb&x=1")],
)
async def test_urls_go_under_the_base_urls_path_before_its_query(
    vertex: VertexClaudeMock,
    transport: str,
    google_env: dict[str, str],
    tail: str,
    query: str,
) -> None:
    vertex.path_prefix = "/gw/claude"
    async with _client(f"{vertex.base_url}{tail}{query}", transport, google_env) as client:
        answer = await client.chat(MODEL, "hi", max_tokens=20)
        async with client.stream(MODEL, "hi", max_tokens=20) as stream:
            streamed = [e async for e in stream]
        models = await client.models("vertex-anthropic")
    assert answer.text and streamed and models
    sep = "&" if query else "?"
    assert [r.target for r in vertex.requests] == [
        f"/gw/claude{PATH}:rawPredict{query}",
        f"/gw/claude{PATH}:streamRawPredict{query}",
        f"/gw/claude{LIST_PATH}{query}{sep}pageSize=1000",
    ]


async def test_credentials_in_the_base_url_are_a_config_error(
    vertex: VertexClaudeMock, transport: str, google_env: dict[str, str]
) -> None:
    url = vertex.base_url.replace("http://", "http://user:s3cret-pass@")
    with pytest.raises(ConfigError) as caught:
        async with _client(url, transport, google_env) as client:
            await client.chat(MODEL, "hi", max_tokens=20)
    text = f"{caught.value} {caught.value.hint}"
    assert "providers.vertex-anthropic.base_url" in text and "HTTPS_PROXY" in text
    assert "s3cret-pass" not in text
    assert vertex.requests == []
