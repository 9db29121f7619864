"""Claude on Vertex AI passes the provider contract (chat, stream, errors, listing; batches
refused unsent), with a service account's key file whose tokens come from the mock's
token endpoint. The bodies are the Messages API's, which test_contract.py runs every
suite on; this runs it once more over Vertex's URLs, body and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
)
from relaykit.testing import Harness, ProviderContract
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_google_auth.testing import vertex_providers


class TestVertexAnthropic(ProviderContract):
    @pytest.fixture
    def harness(self, vertex_mock: VertexClaudeMock, sa_file: Path) -> Harness:
        return Harness(
            mock=vertex_mock,
            # Haiku 4.5 takes reasoning= as a thinking budget (and "none" as disabled).
            model="vertex-anthropic/claude-haiku-4-5@20251001",
            # Claude Sonnet 4 takes temperature and top_p together (Haiku 4.5 one only).
            sampling_model="vertex-anthropic/claude-sonnet-4@20250514",
            providers=vertex_providers(
                "vertex-anthropic", vertex_mock.base_url, sa_file, location="us-east5"
            ),
            supports_reasoning_tokens=False,
            supports_seed=False,
            statuses={
                400: InvalidRequestError,
                401: AuthenticationError,
                403: AuthenticationError,
                404: NotFoundError,
                429: RateLimitError,
                500: ProviderUnavailableError,
                529: ProviderUnavailableError,
            },
        )
