"""relaykit's provider, embeddings and rerank contracts, against CohereMock over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import relaykit
from relaykit.testing.provider_contract import (
    EmbeddingContract,
    Harness,
    ProviderContract,
    RerankContract,
)
from relaykit_cohere import plugin
from relaykit_cohere.testing import CohereMock

KEY = "co-test-key-0123456789abcdef"


class TestCohere(ProviderContract, EmbeddingContract, RerankContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with CohereMock(api_key=KEY) as mock:
            yield Harness(
                mock=mock,
                model="cohere/command-a-03-2025",
                # Command A does not reason: Command A Reasoning takes `thinking`.
                reasoning_model="cohere/command-a-reasoning-08-2025",
                providers={"cohere": {"base_url": mock.base_url, "api_key": KEY}},
                # Embed v4 shortens its vectors to 256, 512, 1024 or 1536 only.
                embedding_model="cohere/embed-v4.0",
                embedding_dimensions=256,
                rerank_model="cohere/rerank-v3.5",
                # tool_plan and thinking content stream apart from text...
                supports_reasoning=True,
                # ...but usage has no reasoning or cached-input counts of their own,
                supports_reasoning_tokens=False,
                supports_cached_tokens=False,
                # and Cohere documents no Retry-After on 429.
                supports_retry_after=False,
                # Cohere reads text documents (its `documents`) but no PDFs, and the
                # contract's message holds both: the whole call is refused.
                supports_documents=False,
                # Its tool results are text (and JSON documents): no images, no PDFs.
                supports_tool_result_attachments=False,
                statuses={
                    400: relaykit.InvalidRequestError,
                    401: relaykit.AuthenticationError,
                    402: relaykit.RelayError,
                    404: relaykit.NotFoundError,
                    422: relaykit.InvalidRequestError,
                    429: relaykit.RateLimitError,
                    500: relaykit.ProviderUnavailableError,
                    503: relaykit.ProviderUnavailableError,
                },
                plugins=(plugin,),
            )
