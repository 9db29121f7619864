"""``reasoning=`` on Cohere: ``thinking`` enabled (with a budget) or disabled.

Every call goes over loopback HTTP to :class:`CohereMock`, which refuses a
``thinking`` Cohere would not take (the wrong shape, or thinking enabled for a
model that does not reason) and reads the setting back.
"""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import InvalidRequestError, Reasoning
from relaykit.request import EFFORT_BUDGETS
from relaykit_cohere.testing import CohereMock, sent_reasoning
from relaykit_cohere.testing import client_for as client
from relaykit_cohere.thinking import MOST_TOKENS

REASONING_MODEL = "cohere/command-a-reasoning-08-2025"
COMMAND_A = "cohere/command-a-03-2025"


def sent_thinking(mock: CohereMock) -> Any:
    """The last request's ``thinking``, or ``"absent"`` when it had none."""
    return mock.last_request.json().get("thinking", "absent")


# -- what goes on the wire ---------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("effort", ["minimal", "low", "medium", "high"])
async def test_an_effort_is_a_token_budget(mock: CohereMock, effort: str) -> None:
    async with client(mock) as c:
        await c.chat(REASONING_MODEL, "think", reasoning=effort)
    assert sent_thinking(mock) == {"type": "enabled", "token_budget": EFFORT_BUDGETS[effort]}
    assert mock.sent_reasoning(mock.last_request) == Reasoning(budget_tokens=EFFORT_BUDGETS[effort])


@pytest.mark.anyio
async def test_xhigh_leaves_room_for_the_answer(mock: CohereMock) -> None:
    async with client(mock) as c:
        await c.chat(REASONING_MODEL, "think hard", reasoning="xhigh")
    assert sent_thinking(mock) == {"type": "enabled", "token_budget": MOST_TOKENS}


@pytest.mark.anyio
async def test_a_budget_goes_as_given(mock: CohereMock) -> None:
    async with client(mock) as c:
        await c.chat(REASONING_MODEL, "think", reasoning=32_000)  # the caller's to choose
    assert sent_thinking(mock) == {"type": "enabled", "token_budget": 32_000}


@pytest.mark.anyio
async def test_thinking_on_is_enabled_without_a_budget(mock: CohereMock) -> None:
    async with client(mock) as c:
        await c.chat(REASONING_MODEL, "think", reasoning=True)
    assert sent_thinking(mock) == {"type": "enabled"}
    assert mock.sent_reasoning(mock.last_request) == Reasoning()


@pytest.mark.anyio
@pytest.mark.parametrize("reasoning", [False, "none", 0])
async def test_thinking_off_is_disabled(mock: CohereMock, reasoning: Any) -> None:
    async with client(mock) as c:
        await c.chat(REASONING_MODEL, "at once", reasoning=reasoning)
    assert sent_thinking(mock) == {"type": "disabled"}
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_without_reasoning_nothing_is_sent(mock: CohereMock) -> None:
    async with client(mock) as c:
        await c.chat(REASONING_MODEL, "as you like")
    assert sent_thinking(mock) == "absent"
    assert mock.sent_reasoning(mock.last_request) is None


@pytest.mark.anyio
async def test_streaming_sends_the_same_setting(mock: CohereMock) -> None:
    async with client(mock) as c, c.stream(REASONING_MODEL, "think", reasoning=4096) as s:
        async for _ in s:
            pass
    body = mock.last_request.json()
    assert (body["stream"], body["thinking"]) == (True, {"type": "enabled", "token_budget": 4096})


@pytest.mark.anyio
async def test_thinking_in_extra_replaces_ours_whole(mock: CohereMock) -> None:
    async with client(mock) as c:
        await c.chat(
            REASONING_MODEL, "think", reasoning="high", extra={"thinking": {"type": "enabled"}}
        )
    assert sent_thinking(mock) == {"type": "enabled"}


@pytest.mark.anyio
async def test_disabled_reaches_a_model_that_does_not_reason(mock: CohereMock) -> None:
    async with client(mock) as c:
        await c.chat(COMMAND_A, "at once", reasoning=False)
    assert sent_thinking(mock) == {"type": "disabled"}


# -- the mock, as Cohere -----------------------------------------------------------


@pytest.mark.anyio
async def test_the_mock_refuses_thinking_for_a_model_that_does_not_reason(
    mock: CohereMock,
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="does not support thinking") as e:
            await c.chat(COMMAND_A, "think", reasoning="high")
    assert e.value.status == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("thinking", "message"),
    [
        ("on", "must be an object"),
        ({"type": "adaptive"}, "thinking.type"),
        ({"budget_tokens": 10}, "thinking.budget_tokens is not a valid field"),
        ({"type": "enabled", "token_budget": 0}, "positive integer"),
        ({"type": "enabled", "token_budget": "lots"}, "positive integer"),
    ],
)
async def test_the_mock_refuses_a_thinking_not_in_cohere_shape(
    mock: CohereMock, thinking: Any, message: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=message):
            await c.chat(REASONING_MODEL, "think", extra={"thinking": thinking})


@pytest.mark.parametrize(
    ("thinking", "read"),
    [
        ({"type": "disabled"}, Reasoning("none")),
        ({"type": "enabled"}, Reasoning()),
        ({"type": "enabled", "token_budget": 900}, Reasoning(budget_tokens=900)),
        (None, None),
    ],
)
def test_the_mock_reads_the_setting_back(thinking: Any, read: Reasoning | None) -> None:
    body: dict[str, Any] = {"model": "command-a-reasoning-08-2025", "messages": []}
    if thinking is not None:
        body["thinking"] = thinking
    assert sent_reasoning(body) == read
