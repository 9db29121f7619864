"""relaykit-openai passes the provider contract: OpenAI (Chat Completions and the
Responses API) and a compatible preset."""

from collections.abc import Iterator

import pytest

from relaykit.testing import Harness, OpenAIMock, ProviderContract

KEY = "sk-test-0123456789abcdef0123"


class TestOpenAI(ProviderContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                mock=mock,
                model="openai/gpt-4o-mini",
                providers={"openai": {"base_url": mock.base_url, "api_key": KEY}},
            )


class TestCompatiblePreset(ProviderContract):
    """A preset chosen by `type`: a second name for a Groq-style deployment."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                mock=mock,
                model="mygroq/llama-3.3-70b-versatile",
                providers={"mygroq": {"type": "groq", "base_url": mock.base_url, "api_key": KEY}},
            )


class TestOpenAIResponses(ProviderContract):
    """The same provider speaking the Responses API (`api = "responses"`)."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                mock=mock,
                model="openai/o4-mini",
                providers={
                    "openai": {"base_url": mock.base_url, "api_key": KEY, "api": "responses"}
                },
            )
