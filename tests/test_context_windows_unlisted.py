"""Each provider plugin's own context windows, asked when its model listing fails.

A route falls back from a prompt too long only to a target whose larger window is
known. A listing that failed (Claude on Microsoft Foundry has no listing endpoint;
a compatible server without ``GET /models``; a provider down) left every window
unknown though the plugin's table knew it: the optional ``context_window(model)``
says it, the same number the plugin's listing would give.
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit.testing import one_try_config

KEY = "0123456789abcdef0123456789abcdef"

#: each provider, how it is configured, a model its table knows with that window, and
#: a model it does not know
CASES = [
    ("openai", {"api_key": KEY}, "gpt-4.1", 1_047_576),
    ("openai", {"api_key": KEY}, "gpt-4o-mini-2024-07-18", 128_000),  # a dated snapshot
    # a deployment is known by the model the models option maps it to
    (
        "azure",
        {"base_url": "https://res.openai.azure.com", "api_key": KEY, "models": {"prod": "gpt-4.1"}},
        "prod",
        1_047_576,
    ),
    ("anthropic", {"api_key": KEY}, "claude-sonnet-4-5", 200_000),
    ("foundry-anthropic", {"resource": "res", "api_key": KEY}, "claude-sonnet-4-5", 200_000),
    ("gemini", {"api_key": KEY}, "gemini-2.5-flash", 1_048_576),
    ("bedrock", {"region": "us-east-1"}, "us.amazon.nova-pro-v1:0", 300_000),
]

AWS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": KEY}


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "settings", "model", "window"), CASES)
async def test_a_providers_own_table_says_a_known_models_window(
    name: str, settings: dict[str, Any], model: str, window: int
) -> None:
    async with relaykit.Client(one_try_config({name: settings}), env=AWS) as client:
        provider: Any = client.provider(name)
        assert provider.context_window(model) == window
        assert provider.context_window("no-such-model-anywhere") is None


@pytest.mark.anyio
async def test_claude_on_foundry_lists_no_models_yet_its_windows_are_known() -> None:
    # The case the core's fallback is for: the listing itself is refused.
    config = one_try_config({"foundry-anthropic": {"resource": "res", "api_key": KEY}})
    async with relaykit.Client(config) as client:
        with pytest.raises(ConfigError, match="serves no model listing"):
            await client.models("foundry-anthropic")
        provider: Any = client.provider("foundry-anthropic")
        assert provider.context_window("claude-sonnet-4-5") == 200_000
