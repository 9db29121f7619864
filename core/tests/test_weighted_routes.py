"""A weighted route over real loopback HTTP when one deployment is down."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ProviderUnavailableError
from relaykit.testing import OpenAIMock, Reply


@pytest.mark.anyio
async def test_a_deployment_down_gives_its_share_by_weight_not_to_the_next_in_line(
    openai_mock: OpenAIMock, primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """``down`` failed (its circuit opened): the route's calls go to the deployments
    left, by their weights. Drawn among all three then moved back, ``down``'s share
    went to the first in configured order, here one of weight 0: about half the calls."""
    backup.script.push(Reply.failure(503, "down"))
    mocks = {"spare": openai_mock, "main": primary, "down": backup}
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "breaker": {"failures": 1, "reset_after": 60},
        "providers": {
            name: {"type": "openai", "base_url": m.base_url, "api_key": m.api_key}
            for name, m in mocks.items()
        },
        "models": {
            "g": {
                "targets": ["spare/gpt-4o-mini", "main/gpt-4o-mini", "down/gpt-4o-mini"],
                "strategy": "weighted",
                "weights": [0, 1, 1],
            }
        },
    }
    async with relaykit.Client(config) as client:
        with anyio.fail_after(20):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("down/gpt-4o-mini", "hi")  # its circuit opens
            served = [(await client.chat("g", "hi")).provider for _ in range(40)]
    assert served == ["main"] * 40
    assert len(openai_mock.requests) == 0, "weight 0: asked only if the others fail"
    assert len(backup.requests) == 1
