"""Vertex AI at a configured ``base_url`` of an odd but valid form (a trailing slash, a
gateway's path prefix, a query string, a port, a ``/v1`` it was copied with): every URL
is built under it as :func:`relaykit.http.api_url` builds them, the query kept after
each path; ``user:password@``, which Vertex cannot send (its access token is the
``Authorization``), is a ConfigError naming the option and the fix. Both HTTP clients
(``auto``: relaykit-aiohttp's under asyncio), against the loopback mock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit.testing import one_try_config
from relaykit_gemini.mock_vertex import VertexMock

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]

#: a static access token the mock takes
TOKEN = "ya29.static-access-token-0123456789abcdef"
MODEL_PATH = (
    "/v1/projects/mock-project/locations/us-central1/publishers/google/models/"
    "gemini-2.5-flash:generateContent"
)
LIST_PATH = "/v1beta1/publishers/google/models"


@pytest.fixture
def vertex(google_env: Path) -> Iterator[VertexMock]:
    with VertexMock(static_tokens=[TOKEN]) as mock:
        yield mock


def _client(base_url: str, transport: str) -> relaykit.Client:
    provider: dict[str, Any] = {
        "type": "vertex",
        "base_url": base_url,
        "project": "mock-project",
        "location": "us-central1",
        "api_key": TOKEN,
    }
    config = one_try_config({"vertex": provider})
    return relaykit.Client({**config, "http": {"transport": transport}}, env={})


@pytest.mark.parametrize(
    ("tail", "query"),
    [
        ("/", ""),
        ("/v1", ""),
        ("/v1/", ""),
        ("", "?tenant=a%2Fb"),
        ("/", "?tenant=a%2Fb&x=1"),
    ],
)
async def test_urls_go_under_the_base_urls_path_before_its_query(
    vertex: VertexMock, transport: str, tail: str, query: str
) -> None:
    vertex.path_prefix = "/gw/vertex"
    async with _client(f"{vertex.base_url}{tail}{query}", transport) as client:
        answer = await client.chat("vertex/gemini-2.5-flash", "hi")
        async with client.stream("vertex/gemini-2.5-flash", "hi") as stream:
            streamed = [e async for e in stream]
        models = await client.models("vertex")
    assert answer.text and streamed and models
    sep = "&" if query else "?"
    stream_path = MODEL_PATH.replace(":generate", ":streamGenerate")
    assert [r.target for r in vertex.requests] == [
        f"/gw/vertex{MODEL_PATH}{query}",
        f"/gw/vertex{stream_path}{query}{sep}alt=sse",
        f"/gw/vertex{LIST_PATH}{query}{sep}pageSize=1000",
    ]


async def test_credentials_in_the_base_url_are_a_config_error(
    vertex: VertexMock, transport: str
) -> None:
    url = vertex.base_url.replace("http://", "http://user:s3cret-pass@")
    with pytest.raises(ConfigError) as caught:
        async with _client(url, transport) as client:
            await client.chat("vertex/gemini-2.5-flash", "hi")
    text = f"{caught.value} {caught.value.hint}"
    assert "providers.vertex.base_url" in text and "HTTPS_PROXY" in text
    assert "s3cret-pass" not in text
    assert vertex.requests == []
