"""An assistant turn's reasoning goes first, the rest in order (turn_order.thinking_first)."""

from __future__ import annotations

from relaykit.messages import CachePoint, ReasoningPart, TextPart, ToolCall
from relaykit_claude_models import thinking_first

THOUGHT, MORE = ReasoningPart("a", "s1"), ReasoningPart(redacted="r")
TEXT, CALL = TextPart("Let me look."), ToolCall("t1", "f", {})


def test_reasoning_moves_first_each_group_in_its_own_order() -> None:
    parts = (TEXT, THOUGHT, CachePoint(), CALL, MORE)
    # the cache point stays after the text it followed: the prefix still ends there
    assert thinking_first(parts) == (THOUGHT, MORE, TEXT, CachePoint(), CALL)


def test_a_turn_already_in_order_is_returned_as_it_is() -> None:
    for parts in [(THOUGHT, MORE, TEXT, CALL), (TEXT, CALL), (THOUGHT,), ()]:
        assert thinking_first(parts) is parts
