"""Bedrock Mantle (``bedrock-mantle/<model>``): the region's URL, the Bedrock API key as a
bearer token, the environment AWS's SDKs read, and what is refused unsent.

The provider contract runs for it in test_contract.py; these are what differs from
the other compatible presets.
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import AuthenticationError, ConfigError, InvalidRequestError
from relaykit.testing import OpenAIMock
from relaykit_openai import BedrockMantleProvider

#: a Bedrock API key's shape
KEY = "ABSKQmVkcm9ja0FQSUtleS1tb2NrLTAxMjM0NTY3ODk="
MODEL = "bedrock-mantle/openai.gpt-oss-120b"


def client(env: dict[str, str], **provider: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"bedrock-mantle": provider},
    }
    return relaykit.Client(config, env=env)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("env", "provider", "region"),
    [
        ({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}, {}, "us-west-2"),
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, {}, "eu-west-1"),
        ({"AWS_REGION": "us-west-2"}, {"region": "ap-southeast-2"}, "ap-southeast-2"),
    ],
)
async def test_the_url_is_the_regions(
    env: dict[str, str], provider: dict[str, Any], region: str
) -> None:
    async with client({**env, "AWS_BEARER_TOKEN_BEDROCK": KEY}, **provider) as c:
        mantle = c.provider("bedrock-mantle")
    assert isinstance(mantle, BedrockMantleProvider)
    url = f"https://bedrock-mantle.{region}.api.aws/v1"
    assert mantle.settings.base_url == url
    assert url in repr(mantle) and KEY not in repr(mantle)


@pytest.mark.anyio
async def test_a_call_sends_the_bedrock_api_key_as_a_bearer_token() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with client({"AWS_BEARER_TOKEN_BEDROCK": KEY}, base_url=mock.base_url) as c:
            r = await c.chat(MODEL, "hello", max_tokens=20)
    assert r.text == "echo: hello" and r.cost is None  # Bedrock's prices are not known
    sent = mock.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json()["model"] == "openai.gpt-oss-120b"
    assert sent.json()["max_tokens"] == 20


@pytest.mark.anyio
async def test_missing_settings_are_config_errors_naming_every_fix() -> None:
    async with client({"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIAMOCK"}) as c:
        with pytest.raises(ConfigError) as no_key:
            c.provider("bedrock-mantle")
    message = f"{no_key.value} {no_key.value.hint}"
    for fix in ("AWS_BEARER_TOKEN_BEDROCK", "api_key", "relaykit keys set", "SigV4", "bedrock"):
        assert fix in message
    async with client({"AWS_BEARER_TOKEN_BEDROCK": KEY}) as c:
        with pytest.raises(ConfigError) as no_region:
            c.provider("bedrock-mantle")
    message = f"{no_region.value} {no_region.value.hint}"
    for fix in ("region", "AWS_REGION", "AWS_DEFAULT_REGION", "base_url"):
        assert fix in message
    async with client({"AWS_BEARER_TOKEN_BEDROCK": KEY}, region="https://x") as c:
        with pytest.raises(ConfigError, match="not an AWS region"):
            c.provider("bedrock-mantle")
    async with client(
        {"AWS_BEARER_TOKEN_BEDROCK": KEY}, region="us-east-1", base_url="https://proxy/v1"
    ) as c:
        with pytest.raises(ConfigError, match="both base_url and region"):
            c.provider("bedrock-mantle")


@pytest.mark.anyio
async def test_embeddings_are_refused_unsent_and_errors_hold_no_key() -> None:
    wrong = "ABSKd3Jvbmcta2V5LW1vY2stOTg3NjU0MzIxMA=="
    with OpenAIMock(api_key=KEY) as mock:
        async with client({}, base_url=mock.base_url, api_key=wrong) as c:
            with pytest.raises(InvalidRequestError, match="no embeddings API"):
                await c.embed("bedrock-mantle/amazon.titan-embed-text-v2", ["hi"])
            assert not mock.requests
            with pytest.raises(AuthenticationError) as refused:
                await c.chat(MODEL, "hi", max_tokens=10)
    assert refused.value.status == 401
    assert wrong not in str(refused.value) and wrong not in repr(refused.value)


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])
@pytest.mark.parametrize(("tail", "query"), [("/", ""), ("", "?tenant=a%2Fb"), ("/", "?x=1")])
async def test_a_base_urls_path_prefix_and_query_stay_in_every_url(
    transport: str, tail: str, query: str
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.path_prefix = "/gw/mantle"
        env = {"AWS_BEARER_TOKEN_BEDROCK": KEY}
        async with relaykit.Client(
            {
                "storage": {"backend": "none"},
                "retry": {"attempts": 1},
                "http": {"transport": transport},
                "providers": {"bedrock-mantle": {"base_url": f"{mock.base_url}{tail}{query}"}},
            },
            env=env,
        ) as c:
            await c.chat(MODEL, "hello", max_tokens=20)
            assert await c.models("bedrock-mantle")
        targets = [r.target for r in mock.requests]
    assert targets == [f"/gw/mantle/v1/chat/completions{query}", f"/gw/mantle/v1/models{query}"]
