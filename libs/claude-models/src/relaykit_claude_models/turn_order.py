"""The order of an assistant turn's blocks that Claude's Messages API requires.

An assistant message that holds any thinking must open with it: Claude answers
a 400 ("If an assistant message contains any thinking blocks, the first block
must be `thinking` or `redacted_thinking`. Found `text`.", reported from
Anthropic's API in claude-code#20705 and OpenHands/software-agent-sdk#738), and
Bedrock passes the same refusal on for Converse's ``reasoningContent`` blocks
("If an assistant message contains any thinking blocks, the first block must be
thinking. Found text", strands-agents/harness-sdk#1848, and for ``toolUse``
before ``reasoningContent``, maximhq/bifrost#3688) as on its Messages API. A
turn a model answered has its thinking first already; one built by hand, or
from another framework's history (text, then tool calls, then reasoning), may
not.
"""

from __future__ import annotations

from relaykit.messages import Part, ReasoningPart

__all__ = ["thinking_first"]


def thinking_first(parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """An assistant turn's ``parts`` with the reasoning parts first, each group in
    its own order (a cache point stays after the part it followed); ``parts``
    itself when nothing moves, as for nearly every turn."""
    seen_other = False
    for p in parts:
        if not isinstance(p, ReasoningPart):
            seen_other = True
        elif seen_other:
            break
    else:
        return parts
    return tuple(sorted(parts, key=lambda p: not isinstance(p, ReasoningPart)))
