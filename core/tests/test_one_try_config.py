"""relaykit.testing.one_try_config: a test client's config, its first error the test's."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.testing import OpenAIMock, Reply, one_try_config

KEY = "sk-mock-1234567890abcdef"


def test_sections_replace_the_defaults_and_the_providers_table_is_a_copy() -> None:
    providers = {"openai": {"base_url": "http://127.0.0.1:1/v1"}}
    config = one_try_config(providers, retry={"attempts": 3}, models={"fast": {"targets": []}})
    assert config == {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3},
        "providers": providers,
        "models": {"fast": {"targets": []}},
    }
    config["providers"]["other"] = {}
    assert "other" not in providers


@pytest.mark.anyio
async def test_a_client_of_it_tries_once_and_logs_nothing() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(Reply.failure(503))
        config = one_try_config({"openai": {"base_url": mock.base_url, "api_key": KEY}})
        async with relaykit.Client(config) as client:
            with pytest.raises(relaykit.ProviderUnavailableError):
                await client.chat("openai/gpt-4o-mini", "hi")
            assert len(mock.requests) == 1
            assert client.storage is None
