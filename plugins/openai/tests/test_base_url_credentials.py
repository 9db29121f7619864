"""A ``base_url`` with ``user:password@`` (a gateway behind basic auth): both HTTP clients
send the credentials as ``Authorization: Basic`` and the URL without them, when nothing
else claims that header; when the provider sends one of its own (its API key's
``Bearer``, or a configured header), building it fails with a ``ConfigError`` naming
the conflict, rather than one client overriding the key and the other failing each
call as a malformed response. The password never shows."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import relaykit
from relaykit.testing import OpenAIMock

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("transport", ["auto", "httpx"])]

PASSWORD = "bpw-Vc8Nm2Kj6Hg"
KEY = "sk-test-0123456789abcdef0123"


def _config(base_url: str, transport: str, **provider: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "http": {"transport": transport},
        "providers": {"p": {"base_url": base_url, **provider}},
    }


def _with_userinfo(base_url: str, userinfo: str) -> str:
    scheme, rest = base_url.split("://", 1)
    return f"{scheme}://{userinfo}@{rest}"


@pytest.mark.parametrize(
    ("userinfo", "pair"),
    [(f"bob:{PASSWORD}", f"bob:{PASSWORD}"), ("b%40b:p%3Aw", "b@b:p:w"), ("TOKEN", "TOKEN:")],
)
async def test_userinfo_is_sent_as_basic_auth(transport: str, userinfo: str, pair: str) -> None:
    with OpenAIMock() as mock:  # checks no key
        config = _config(_with_userinfo(mock.base_url, userinfo), transport, type="vllm")
        async with relaykit.Client(config) as client:
            assert (await client.chat("p/m", "hi")).text
        (request,) = mock.requests
    token = base64.b64encode(pair.encode()).decode()
    assert request.headers["authorization"] == f"Basic {token}"
    assert request.target == "/v1/chat/completions"
    assert "@" not in request.headers["host"]


@pytest.mark.parametrize(
    "provider",
    [
        {"type": "openai", "api_key": KEY},
        {"type": "vllm", "headers": {"Authorization": "Bearer gw-0123456789"}},
    ],
    ids=["api-key", "header"],
)
async def test_userinfo_and_an_authorization_header_conflict(
    transport: str, provider: dict[str, Any]
) -> None:
    with OpenAIMock(KEY) as mock:
        config = _config(_with_userinfo(mock.base_url, f"bob:{PASSWORD}"), transport, **provider)
        async with relaykit.Client(config) as client:
            with pytest.raises(relaykit.ConfigError) as caught:
                await client.chat("p/m", "hi")
        assert mock.requests == []
    text = f"{caught.value} {caught.value.hint} {caught.value!r}"
    assert "providers.p.base_url" in text and "Authorization" in text
    assert PASSWORD not in text
