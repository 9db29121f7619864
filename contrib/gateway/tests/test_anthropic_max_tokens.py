"""``max_tokens`` on the Messages API, over loopback HTTP: required, as Anthropic requires
it (its SDKs always send it), so a request without one gets Anthropic's 400 naming it
rather than an answer of no bound; the token counter, which takes no ``max_tokens``,
still counts without it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaykit.testing import FakePlugin
from relaykit_gateway.testing import KEY

from .conftest import gateway_over

pytestmark = pytest.mark.anyio

HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
ASK: dict[str, Any] = {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("max_tokens", "needle"),
    [(None, "`max_tokens` is required"), (0, "1 or more"), ("100", "whole number")],
)
async def test_a_message_without_a_good_max_tokens_is_anthropics_400_naming_it(
    fake: FakePlugin, stream: bool, max_tokens: Any, needle: str
) -> None:
    body = {**ASK, "stream": stream}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    async with gateway_over(fake) as url, httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/v1/messages", json=body, headers=HEADERS)
    assert r.status_code == 400
    assert r.json()["type"] == "error"
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "max_tokens" in error["message"] and needle in error["message"]
    assert fake.calls == []


async def test_a_batch_request_without_max_tokens_is_refused_by_its_place(
    fake: FakePlugin,
) -> None:
    batch = {"requests": [{"custom_id": "a", "params": ASK}]}
    async with gateway_over(fake) as url, httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/v1/messages/batches", json=batch, headers=HEADERS)
    assert r.status_code == 400
    assert "requests.0.params: `max_tokens` is required" in r.json()["error"]["message"]


async def test_tokens_are_counted_without_max_tokens(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/v1/messages/count_tokens", json=ASK, headers=HEADERS)
    assert r.status_code == 200
    assert isinstance(r.json()["input_tokens"], int)
