"""CORS: web pages of the configured origins may call the gateway from a browser; no others."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.testing import FakePlugin
from relaykit_gateway import CorsPolicy, GatewayKeys
from relaykit_gateway.testing import KEY, KEYS, running

pytestmark = pytest.mark.anyio

APP = "https://app.example"
CHAT = {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}
PREFLIGHT = {
    "origin": APP,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


@asynccontextmanager
async def gateway(cors: CorsPolicy, keys: GatewayKeys = KEYS) -> AsyncIterator[httpx.AsyncClient]:
    client = relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin()])
    async with (
        client,
        running(client, keys=keys, cors=cors) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        yield http


async def test_an_allowed_page_s_preflight_names_what_it_may_send() -> None:
    async with gateway(CorsPolicy.parse(APP)) as http:
        r = await http.options("/v1/chat/completions", headers=PREFLIGHT)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-headers"] == "authorization, content-type"
    assert r.headers["access-control-allow-methods"] == "GET, POST, DELETE, OPTIONS"
    assert r.headers["vary"] == "Origin"
    assert int(r.headers["access-control-max-age"]) > 0


async def test_an_allowed_page_reads_answers_and_errors_alike() -> None:
    async with gateway(CorsPolicy.parse(f"{APP}, https://other.example")) as http:
        ok = await http.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={"origin": APP, "authorization": f"Bearer {KEY}"},
        )
        refused = await http.post("/v1/chat/completions", json=CHAT, headers={"origin": APP})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert ok.headers["access-control-allow-origin"] == APP
    assert "x-relaykit-cost" in ok.headers["access-control-expose-headers"]
    # the request id the vendors' SDKs read (OpenAI's, Anthropic's), there to read
    exposed = ok.headers["access-control-expose-headers"].split(", ")
    assert {"x-request-id", "request-id"} <= set(exposed)
    assert ok.headers["x-request-id"].startswith("req_")
    # a 401 the page's script can read, to tell its user the key is wrong
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP


async def test_other_origins_get_no_cors_headers_and_their_preflight_is_refused() -> None:
    async with gateway(CorsPolicy.parse(APP)) as http:
        preflight = await http.options(
            "/v1/messages", headers={**PREFLIGHT, "origin": "https://evil.example"}
        )
        call = await http.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={"origin": "https://evil.example", "authorization": f"Bearer {KEY}"},
        )
    assert preflight.status_code == 403
    assert "RELAYKIT_GATEWAY_CORS_ORIGINS" in preflight.json()["error"]["message"]
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in call.headers


async def test_a_wildcard_allows_any_page() -> None:
    async with gateway(CorsPolicy.parse("*")) as http:
        r = await http.options(
            "/v1/models", headers={**PREFLIGHT, "origin": "http://localhost:5173"}
        )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"


@pytest.mark.parametrize("keys", [KEYS, GatewayKeys()], ids=["keys", "no-keys"])
async def test_without_origins_no_page_is_allowed(keys: GatewayKeys) -> None:
    async with gateway(CorsPolicy(), keys=keys) as http:
        preflights = [
            await http.options(path, headers=headers)
            for path in ("/v1/chat/completions", "/v1/messages", "/v1/models")
            for headers in (PREFLIGHT, {})
        ]
        call = await http.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={"origin": APP, "authorization": f"Bearer {KEY}"},
        )
    # Answered as by a server that serves no CORS: OPTIONS is not a method of the
    # gateway's routes (405), with no key asked for (a browser sends none with its
    # preflight, and a 401 would say a key could help) and no CORS header, so the
    # browser stops there. A 204 without CORS headers would stop it too, but would
    # say OPTIONS is served.
    for preflight in preflights:
        assert preflight.status_code == 405, preflight.text
        assert not any(h.startswith("access-control-") for h in preflight.headers)
        assert "RELAYKIT_GATEWAY_CORS_ORIGINS" in preflight.json()["error"]["message"]
    assert preflights[2].json()["type"] == "error"  # Anthropic's route: Anthropic's shape
    if keys:
        assert call.status_code == 200 and "access-control-allow-origin" not in call.headers


@pytest.mark.parametrize(
    ("text", "origins"),
    [
        ("", frozenset()),
        (
            " https://a.example/ ,http://localhost:3000",
            {"https://a.example", "http://localhost:3000"},
        ),
        ("*", {"*"}),
    ],
)
def test_origins_are_read_from_comma_separated_text(text: str, origins: Any) -> None:
    assert CorsPolicy.from_env({"RELAYKIT_GATEWAY_CORS_ORIGINS": text}).origins == origins


@pytest.mark.parametrize("bad", ["app.example", "https://app.example/chat", "ftp://app.example"])
def test_an_origin_that_is_not_one_is_a_config_error_naming_it(bad: str) -> None:
    with pytest.raises(relaykit.ConfigError, match=f"CORS origin '{bad}' is not an origin"):
        CorsPolicy.parse(bad)
