"""relaykit-anthropic passes the provider contract against the Anthropic wire-format mock."""

from collections.abc import Iterator

import pytest

from relaykit import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
)
from relaykit.testing import BatchContract, Harness, ProviderContract
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"


class TestAnthropic(ProviderContract, BatchContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with AnthropicMock(api_key=KEY) as mock:
            yield Harness(
                mock=mock,
                # Haiku 4.5 takes reasoning= as a thinking budget (and "none" as disabled).
                model="anthropic/claude-haiku-4-5",
                # Claude Sonnet 4 takes temperature and top_p together (Haiku 4.5 one only).
                sampling_model="anthropic/claude-sonnet-4-20250514",
                providers={"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
                # Thinking streams apart from text, but its tokens are not counted apart.
                supports_reasoning_tokens=False,
                supports_seed=False,
                batch_model="anthropic/claude-haiku-4-5",
                statuses={
                    400: InvalidRequestError,
                    401: AuthenticationError,
                    403: AuthenticationError,
                    404: NotFoundError,
                    413: InvalidRequestError,
                    429: RateLimitError,
                    500: ProviderUnavailableError,
                    529: ProviderUnavailableError,
                },
            )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model",
    [
        "anthropic/claude-opus-5",  # "none" is thinking disabled
        "anthropic/claude-sonnet-5",
        "anthropic/claude-haiku-5-5",
        "anthropic/claude-sonnet-5-5",  # "none" is between_tools
    ],
)
async def test_claude_5_models_that_can_stop_thinking_keep_the_thinking_contract(
    model: str,
) -> None:
    # Claude 5 thinks by default: "none" must be sent, and nothing without reasoning=.
    with AnthropicMock(api_key=KEY) as mock:
        harness = Harness(
            mock=mock,
            model="anthropic/claude-haiku-4-5",
            reasoning_model=model,
            providers={"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
        )
        await TestAnthropic().test_reasoning_setting_reaches_the_model(harness)
