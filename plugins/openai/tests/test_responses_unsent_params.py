"""``stop`` and ``seed`` on the Responses API path, which has no field for either:
refused before sending, each naming the fix for why the call went there (the
configured ``api``, a model OpenAI serves only there, a web search only it runs),
rather than sent without them."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit.testing import OpenAIMock

KEY = "sk-test-0123456789abcdef0123"


def config(mock: OpenAIMock, api: str | None) -> dict[str, Any]:
    openai: dict[str, Any] = {"base_url": mock.base_url, "api_key": KEY}
    if api is not None:
        openai["api"] = api
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": openai},
    }


async def refused(
    client: relaykit.Client, streamed: bool, model: str, **kw: Any
) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        if streamed:
            async with client.stream(model, "hi", **kw) as s:
                async for _ in s:
                    pass
        else:
            await client.chat(model, "hi", **kw)
    return info.value


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(("param", "value"), [("stop", "END"), ("seed", 7)])
async def test_configured_responses_api_refuses_them_naming_chat(
    mock: OpenAIMock, streamed: bool, param: str, value: Any
) -> None:
    async with relaykit.Client(config(mock, "responses")) as client:
        error = await refused(client, streamed, "openai/gpt-4o-mini", **{param: value})
    assert error.param == param
    assert "Responses API" in str(error)
    assert error.hint is not None and "api = 'auto'" in error.hint
    assert (error.provider, error.model) == ("openai", "gpt-4o-mini")
    assert mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("api", [None, "responses"])  # "auto" (the default), or configured
@pytest.mark.parametrize(("param", "value"), [("stop", ["END"]), ("seed", 7)])
async def test_a_model_served_only_by_responses_refuses_them_naming_the_drop(
    mock: OpenAIMock, param: str, value: Any, api: str | None
) -> None:
    async with relaykit.Client(config(mock, api)) as client:
        error = await refused(client, False, "openai/o3-pro", **{param: value})
    assert error.param == param
    assert error.hint is not None and f"drop {param}=" in error.hint
    assert "only" in error.hint and "api =" not in error.hint
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_web_search_only_responses_runs_names_both_ways_out(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, None)) as client:
        error = await refused(client, True, "openai/gpt-4.1", stop="END", web_search=True)
    assert error.param == "stop"
    assert error.hint is not None and "drop stop=" in error.hint and "web_search" in error.hint
    assert mock.requests == []


@pytest.mark.anyio
async def test_the_same_call_by_chat_completions_sends_them(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, None)) as client:
        r = await client.chat("openai/gpt-4o-mini", "hi", stop="END", seed=7)
    assert r.text
    sent = mock.last_request.json()
    assert (mock.last_request.path, sent["stop"], sent["seed"]) == (
        "/v1/chat/completions",
        ["END"],
        7,
    )


@pytest.mark.anyio
async def test_counting_tokens_takes_them_as_the_prompt_is_all_it_counts(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, "responses")) as client:
        count = await client.count_tokens("openai/gpt-4o-mini", "hi there", stop="END", seed=3)
    assert count.exact
    assert mock.last_request.path == "/v1/responses/input_tokens"
