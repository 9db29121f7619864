"""Claude in Microsoft Foundry on the wire: the resource's URL, the api-key and Entra ID
credentials, the environment Anthropic's SDK reads, deployments and their prices, and
no secret in errors or reprs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import relaykit
from relaykit import AuthenticationError, ConfigError, InvalidRequestError, NotFoundError
from relaykit.testing import one_try_config
from relaykit_anthropic import FoundryAnthropicProvider
from relaykit_anthropic.mock_foundry import FoundryClaudeMock

KEY = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-mock-token"


@asynccontextmanager
async def client(env: dict[str, str], **provider: Any) -> AsyncIterator[relaykit.Client]:
    cfg = one_try_config({"foundry-anthropic": provider})
    async with relaykit.Client(cfg, env=env) as c:
        yield c


def built(c: relaykit.Client) -> FoundryAnthropicProvider:
    provider = c.provider("foundry-anthropic")
    assert isinstance(provider, FoundryAnthropicProvider)
    return provider


# -- where requests go ---------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("env", "provider", "expected"),
    [
        # the SDK's variables, and the resource's name in config
        (
            {"ANTHROPIC_FOUNDRY_RESOURCE": "my-res", "ANTHROPIC_FOUNDRY_API_KEY": KEY},
            {},
            "https://my-res.services.ai.azure.com/anthropic",
        ),
        (
            {},
            {"resource": "other-res", "api_key": KEY},
            "https://other-res.services.ai.azure.com/anthropic",
        ),
        # a whole URL, as copied from the portal: the resource's root, or the messages URL
        (
            {"ANTHROPIC_FOUNDRY_BASE_URL": "https://env-res.services.ai.azure.com/"},
            {"api_key": KEY},
            "https://env-res.services.ai.azure.com/anthropic",
        ),
        (
            {},
            {"base_url": "https://x.services.ai.azure.com/anthropic/v1/messages", "api_key": KEY},
            "https://x.services.ai.azure.com/anthropic",
        ),
    ],
)
async def test_the_base_url_comes_from_the_resource_or_a_whole_url(
    env: dict[str, str], provider: dict[str, Any], expected: str
) -> None:
    async with client(env, **provider) as c:
        foundry = built(c)
    assert foundry.settings.base_url == expected
    assert KEY not in repr(foundry) and expected in repr(foundry)


@pytest.mark.anyio
async def test_a_call_sends_the_key_as_api_key_to_the_deployment() -> None:
    with FoundryClaudeMock(api_key=KEY, deployments={"prod-claude": "claude-sonnet-4-5"}) as mock:
        async with client(
            {"ANTHROPIC_FOUNDRY_API_KEY": KEY},
            base_url=mock.base_url,
            deployments={"prod-claude": "claude-sonnet-4-5"},
        ) as c:
            r = await c.chat("foundry-anthropic/prod-claude", "hello", max_tokens=50)
            tokens = await c.count_tokens("foundry-anthropic/prod-claude", "hello")
    assert r.text == "echo: hello"
    assert r.cost is not None and r.cost > 0  # Anthropic's list price of the deployment's model
    assert tokens.exact and tokens.input_tokens > 0
    sent, counted = mock.requests
    assert (sent.path, counted.path) == (
        "/anthropic/v1/messages",
        "/anthropic/v1/messages/count_tokens",
    )
    assert sent.json()["model"] == "prod-claude"
    assert sent.headers["api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert "x-api-key" not in sent.headers and "authorization" not in sent.headers


@pytest.mark.anyio
async def test_without_a_key_an_entra_id_token_is_sent_as_bearer() -> None:
    with FoundryClaudeMock(ad_token=TOKEN) as mock:
        async with (
            client(
                {"MY_ENTRA_TOKEN": TOKEN}, base_url=mock.base_url, ad_token_env="MY_ENTRA_TOKEN"
            ) as c,
            c.stream("foundry-anthropic/claude-haiku-4-5", "hi", max_tokens=20) as s,
        ):
            text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
    assert text == "echo: hi"
    assert mock.last_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in mock.last_request.headers


# -- what is refused, and how --------------------------------------------------------


@pytest.mark.anyio
async def test_missing_credentials_name_every_fix() -> None:
    async with client({"ANTHROPIC_FOUNDRY_RESOURCE": "my-res"}) as c:
        with pytest.raises(ConfigError) as caught:
            c.provider("foundry-anthropic")
    message = f"{caught.value} {caught.value.hint}"
    for fix in (
        "ANTHROPIC_FOUNDRY_API_KEY",
        "api_key",
        "relaykit keys set foundry-anthropic",
        "ANTHROPIC_FOUNDRY_AD_TOKEN",
    ):
        assert fix in message


@pytest.mark.anyio
async def test_a_missing_or_doubled_resource_is_a_config_error() -> None:
    async with client({"ANTHROPIC_FOUNDRY_API_KEY": KEY}) as c:
        with pytest.raises(ConfigError) as caught:
            c.provider("foundry-anthropic")
    message = f"{caught.value} {caught.value.hint}"
    for fix in ("resource", "base_url", "ANTHROPIC_FOUNDRY_RESOURCE", "ANTHROPIC_FOUNDRY_BASE_URL"):
        assert fix in message
    async with client(
        {}, api_key=KEY, resource="a", base_url="https://b.services.ai.azure.com/anthropic"
    ) as c:
        with pytest.raises(ConfigError, match="both base_url and resource"):
            c.provider("foundry-anthropic")
    async with client({}, api_key=KEY, resource="https://a.services.ai.azure.com") as c:
        with pytest.raises(ConfigError, match="not a Foundry resource's name"):
            c.provider("foundry-anthropic")


@pytest.mark.anyio
async def test_batches_are_refused_unsent_and_errors_hold_no_key() -> None:
    wrong = "0000ffff0000ffff0000ffff0000ffff"
    with FoundryClaudeMock(api_key=KEY) as mock:
        async with client({}, base_url=mock.base_url, api_key=wrong) as c:
            with pytest.raises(InvalidRequestError, match="no batch API"):
                await c.submit_batch(
                    "foundry-anthropic/claude-haiku-4-5", [relaykit.BatchItem("a", "hi")]
                )
            assert not mock.requests
            with pytest.raises(AuthenticationError) as refused:
                await c.chat("foundry-anthropic/claude-haiku-4-5", "hi", max_tokens=10)
        async with client({}, base_url=mock.base_url, api_key=KEY) as c:
            with pytest.raises(NotFoundError, match="does not exist"):
                await c.chat("foundry-anthropic/no-such-deployment", "hi", max_tokens=10)
    assert refused.value.status == 401
    assert wrong not in str(refused.value) and wrong not in repr(refused.value)
