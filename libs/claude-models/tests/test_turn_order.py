"""An assistant turn's reasoning goes first, the rest in order (turn_order.thinking_first),
and Claude's refusals of a turn's thinking name the fix (turn_order.thinking_hint)."""

from __future__ import annotations

import pytest

from relaykit import InvalidRequestError, RateLimitError
from relaykit.messages import CachePoint, ReasoningPart, TextPart, ToolCall
from relaykit_claude_models import (
    THINKING_HINT,
    hint_thinking,
    missing_thinking_refusal,
    thinking_first,
    thinking_hint,
)

THOUGHT, MORE = ReasoningPart("a", "s1"), ReasoningPart(redacted="r")
TEXT, CALL = TextPart("Let me look."), ToolCall("t1", "f", {})
POINT = CachePoint("1h")


def test_reasoning_moves_first_each_group_in_its_own_order() -> None:
    assert thinking_first((TEXT, THOUGHT, CALL, MORE)) == (THOUGHT, MORE, TEXT, CALL)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        # after the text it followed, which it still follows
        ((TEXT, POINT, THOUGHT, CALL), (THOUGHT, TEXT, POINT, CALL)),
        # it followed reasoning: after the last other part before it (the text), so
        # the text and that reasoning are both still inside its prefix
        ((TEXT, THOUGHT, POINT, CALL, MORE), (THOUGHT, MORE, TEXT, POINT, CALL)),
        # it ended the turn, and still does
        ((TEXT, CALL, THOUGHT, POINT), (THOUGHT, TEXT, CALL, POINT)),
        ((TEXT, CALL, POINT, THOUGHT), (THOUGHT, TEXT, CALL, POINT)),
        # only reasoning before it: right after the reasoning (each wire then moves it
        # to the turn before, since neither API marks thinking)
        ((THOUGHT, POINT, TEXT, MORE), (THOUGHT, MORE, POINT, TEXT)),
        ((POINT, TEXT, THOUGHT), (THOUGHT, POINT, TEXT)),
    ],
)
def test_a_cache_point_keeps_every_part_it_held_before_it(
    parts: tuple[object, ...], expected: tuple[object, ...]
) -> None:
    assert thinking_first(parts) == expected  # type: ignore[arg-type]


def test_a_turn_already_in_order_is_returned_as_it_is() -> None:
    for parts in [(THOUGHT, MORE, TEXT, CALL), (TEXT, CALL), (THOUGHT,), (), (THOUGHT, POINT)]:
        assert thinking_first(parts) is parts


@pytest.mark.parametrize(
    "message",
    [
        # Anthropic's API (claude-code#20705), and as relays print it without backticks
        "messages.1.content.0: If an assistant message contains any thinking blocks, the"
        " first block must be `thinking` or `redacted_thinking`. Found `text`.",
        "messages.51.content.0: If an assistant message contains any thinking blocks, the"
        " first block must be thinking or redacted_thinking. Found text.",
        # Bedrock passing Claude's refusal on for Converse (strands-agents#1848)
        "The model returned the following errors: If an assistant message contains any"
        " thinking blocks, the first block must be thinking. Found text",
        "messages.3.content.0.type: Expected `thinking` or `redacted_thinking`, but found"
        " `tool_use`. When `thinking` is enabled, a final `assistant` message must start"
        " with a thinking block (preceeding the lastmost set of `tool_use` and"
        " `tool_result` blocks).",
        "messages.5.content.1: `thinking` or `redacted_thinking` blocks in the latest"
        " assistant message cannot be modified. These blocks must remain as they were in"
        " the original response.",
        "messages.1.content.0.signature: Invalid `signature` in `thinking` block",
    ],
)
def test_claudes_refusals_of_a_turns_thinking_get_the_fix(message: str) -> None:
    assert thinking_hint(message) == THINKING_HINT
    assert "first" in THINKING_HINT and "signatures" in THINKING_HINT


def test_the_mocks_refusal_of_a_tool_loop_without_its_thinking_is_claudes_and_gets_the_fix() -> (
    None
):
    said = missing_thinking_refusal(3, "tool_use")
    assert said.startswith(
        "messages.3.content.0.type: Expected `thinking` or `redacted_thinking`, but found"
        " `tool_use`. When `thinking` is enabled, a final `assistant` message must start"
    )
    assert thinking_hint(said) == THINKING_HINT


def test_other_refusals_get_no_thinking_hint() -> None:
    assert thinking_hint("temperature: Extra inputs are not permitted") is None
    assert thinking_hint("thinking.type.enabled is not supported for this model.") is None


def test_hint_thinking_fills_only_an_invalid_request_with_no_hint() -> None:
    said = "messages.1.content.0: Invalid `signature` in `thinking` block"
    bare = InvalidRequestError(said, provider="p", status=400, provider_message=said)
    assert hint_thinking(bare) is bare and bare.hint == THINKING_HINT
    kept = InvalidRequestError(said, provider="p", status=400, hint="the plugin's own")
    assert hint_thinking(kept).hint == "the plugin's own"
    limited = RateLimitError(said, provider="p", status=429)
    assert hint_thinking(limited).hint is None
