"""The mock's scripted connection faults, as OpenAIMock's (the chaos test relies on both)."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.testing import Reply
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_connection_fault_answers_nothing(
    mock: AnthropicMock, fault: str, streamed: bool
) -> None:
    """It was ignored: a scripted reset answered 200 with an empty message."""
    mock.script.push(Reply(text="never sent", connection_fault=fault))  # type: ignore[arg-type]
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
    }
    async with relaykit.Client(config) as client:
        with pytest.raises(relaykit.RelayError) as caught:
            if streamed:
                async with client.stream("anthropic/claude-haiku-4-5", "hi", max_tokens=9) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat("anthropic/claude-haiku-4-5", "hi", max_tokens=9)
    assert caught.value.retryable
