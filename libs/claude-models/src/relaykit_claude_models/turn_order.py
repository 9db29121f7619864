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

Claude refuses the thinking of a turn in three more ways, each a 400 whose fix
is the same (:func:`thinking_hint`): with thinking on, a final assistant turn
that calls tools without its thinking ("Expected `thinking` or
`redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final
`assistant` message must start with a thinking block", claude-code#20705), a
thinking block changed since the model wrote it ("`thinking` or
`redacted_thinking` blocks in the latest assistant message cannot be
modified", claude-code#19539), and a signature that does not fit ("Invalid
`signature` in `thinking` block").
"""

from __future__ import annotations

from relaykit import InvalidRequestError, RelayError
from relaykit.messages import Part, ReasoningPart

__all__ = [
    "THINKING_HINT",
    "hint_thinking",
    "missing_thinking_refusal",
    "thinking_first",
    "thinking_hint",
]

#: the fix for Claude's refusal of an assistant turn's thinking blocks
THINKING_HINT = (
    "keep each assistant turn's thinking blocks first and unmodified, with their "
    "signatures: send an answer back as response.to_message(), which keeps its "
    "reasoning parts as the model gave them (relaykit puts them first, and leaves out "
    "reasoning another provider signed, so a tool loop begun there cannot go on here "
    "with thinking on), or turn thinking off for this call (reasoning='none')"
)

# What each refusal says, lowercased and without the backticks some relays drop.
_REFUSALS = (
    "if an assistant message contains any thinking blocks",
    "expected thinking or redacted_thinking",
    "blocks in the latest assistant message cannot be modified",
    "invalid signature in thinking block",
)


def missing_thinking_refusal(turn: int, found: str) -> str:
    """Claude's words refusing, with thinking on, a final assistant turn (``messages``'
    item ``turn``) that calls tools without the thinking it began with, its first block
    of type ``found`` (claude-code#20705): what the plugins' mocks answer, in one place,
    so that they say what the API says, and :func:`thinking_hint` knows it."""
    return (
        f"messages.{turn}.content.0.type: Expected `thinking` or `redacted_thinking`, "
        f"but found `{found}`. When `thinking` is enabled, a final `assistant` message "
        "must start with a thinking block (preceeding the lastmost set of `tool_use` and "
        "`tool_result` blocks). We recommend you include thinking blocks from previous "
        "turns. To avoid this requirement, disable `thinking`."
    )


def thinking_hint(message: str) -> str | None:
    """:data:`THINKING_HINT` when ``message`` (a 400's) is Claude refusing an assistant
    turn's thinking blocks, in any of the wordings above; else ``None``."""
    said = message.replace("`", "").lower()
    return THINKING_HINT if any(r in said for r in _REFUSALS) else None


def hint_thinking(error: RelayError) -> RelayError:
    """``error``, given :data:`THINKING_HINT` when it is an
    :class:`~relaykit.InvalidRequestError` with no hint in which Claude refuses an
    assistant turn's thinking (read from its provider message)."""
    if isinstance(error, InvalidRequestError) and error.hint is None:
        error.hint = thinking_hint(error.provider_message or error.message)
    return error


def thinking_first(parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """An assistant turn's ``parts`` with the reasoning parts first, each group in
    its own order; ``parts`` itself when nothing moves, as for nearly every turn.

    A cache point still ends a prefix holding every part it held: it stays right
    after the other part it followed, or, where it followed reasoning, after the
    last other part before it, so that part and the reasoning (now ahead of it)
    are both inside. A cache point that ended the turn still ends it. One with
    only reasoning before it in the turn goes right after the reasoning, where no
    API marks a prefix (Anthropic's thinking blocks take no ``cache_control``,
    Bedrock refuses a ``cachePoint`` after ``reasoningContent``): each wire moves
    it back to the end of the turn before, as for a point opening a turn.
    """
    seen_other = False
    for p in parts:
        if not isinstance(p, ReasoningPart):
            seen_other = True
        elif seen_other:
            break
    else:
        return parts
    # The others keep their order, cache points among them: so a point stays after
    # the last part before it that is not reasoning (or opens the others).
    thoughts = [p for p in parts if isinstance(p, ReasoningPart)]
    others = [p for p in parts if not isinstance(p, ReasoningPart)]
    return (*thoughts, *others)
