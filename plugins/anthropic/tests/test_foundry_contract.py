"""Claude in Microsoft Foundry passes the provider contract (chat, stream, errors; batches
refused unsent) at a resource's ``/anthropic`` path with its ``api-key``. The bodies are
the Messages API's, which test_contract.py runs every suite on; this runs it once more
over Foundry's path, credentials and deployment names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaykit import InvalidRequestError
from relaykit.testing import Harness, ProviderContract
from relaykit_anthropic.mock_foundry import FoundryClaudeMock

#: an Azure key's shape: hex digits, no prefix a scrubber could know it by
FOUNDRY_KEY = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"


class TestFoundryAnthropic(ProviderContract):
    """Foundry serves no model listing: the listing is the ``deployments`` option's,
    made without a request (the contract's own listing test counts one GET)."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with FoundryClaudeMock(api_key=FOUNDRY_KEY) as mock:
            yield Harness(
                mock=mock,
                # Haiku 4.5 takes reasoning= as a thinking budget (and "none" as disabled).
                model="foundry-anthropic/claude-haiku-4-5",
                providers={
                    "foundry-anthropic": {
                        "base_url": mock.base_url,
                        "api_key": FOUNDRY_KEY,
                        "deployments": {"claude-haiku-4-5": "claude-haiku-4-5"},
                    }
                },
                supports_reasoning_tokens=False,
                supports_seed=False,
            )

    @pytest.mark.anyio
    async def test_list_models(self, harness: Harness) -> None:
        async with self.client(harness) as client:
            models = await client.models("foundry-anthropic")
            again = await client.models("foundry-anthropic")
        assert [(m.id, m.provider, m.context_window) for m in models] == [
            ("claude-haiku-4-5", "foundry-anthropic", 200_000)
        ]
        assert models[0].price is not None
        assert again == models
        assert not harness.mock.requests

    @pytest.mark.anyio
    async def test_sampling_parameters_are_accepted(self, harness: Harness) -> None:
        # Foundry serves Claude from Opus 4.1, Sonnet 4.5 and Haiku 4.5 on, none of which
        # takes temperature 0.2 with top_p 0.9: each is sent alone, and the two refused.
        async with self.client(harness) as client:
            for sampling in ({"temperature": 0.2}, {"top_p": 0.9}):
                r = await client.chat(
                    harness.model, "params", max_tokens=50, stop=["END"], **sampling
                )
                assert r.text == "echo: params"
            with pytest.raises(InvalidRequestError, match="temperature or top_p, not both"):
                await client.chat(harness.model, "params", temperature=0.2, top_p=0.9)
        assert len(harness.mock.requests) == 2
