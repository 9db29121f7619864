"""``client.models()`` across providers is best effort; one provider's listing is not."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import relaykit
from relaykit.testing import OpenAIMock

KEY = "sk-mock-1234567890abcdef"


def _config(mock: OpenAIMock) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "providers": {
            "openai": {"base_url": mock.base_url, "api_key": KEY},
            # Nothing listens on the discard port: connecting fails at once.
            "down": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": KEY},
        },
    }


@pytest.mark.anyio
async def test_listing_every_provider_skips_the_unreachable_ones(
    openai_mock: OpenAIMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "relaykit.models")
    async with relaykit.Client(_config(openai_mock), env={}) as client:
        models = await client.models()

    assert {m.provider for m in models} == {"openai"}
    assert any("skipped the models of down" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_listing_one_provider_raises_its_error(openai_mock: OpenAIMock) -> None:
    async with relaykit.Client(_config(openai_mock), env={}) as client:
        with pytest.raises(relaykit.ProviderUnavailableError, match="could not connect"):
            await client.models("down")
