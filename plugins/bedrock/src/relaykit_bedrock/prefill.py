"""The Claude models that refuse a prefill on Bedrock: a conversation ending in an assistant turn.

Anthropic removed prefilling from Claude 4.6 on (its "What's new in Claude 4.6"
page and migration guide: "Prefilling assistant messages returns a 400 error on
Claude 4.6 models"; the guide's breaking changes apply unchanged on Bedrock),
and Bedrock relays the model's refusal, on Converse (a ``ValidationException``)
and on the Messages API alike: "This model does not support assistant message
prefill. The conversation must end with a user message." (reported from
``anthropic.claude-opus-4-6-v1`` and ``us.anthropic.claude-opus-4-6-v1``
through Converse, and from Opus 4.8 on Bedrock; read 2026-12-02). The models:

- ``anthropic.claude-opus-4-6``, ``-sonnet-4-6`` and every later Opus, Sonnet
  and Haiku (4.7, 4.8, 5, 5.5);
- ``anthropic.claude-fable-*`` and ``-mythos-*``, whatever their version
  (``anthropic.claude-mythos-preview`` included).

relaykit refuses such a call before sending it (:class:`~relaykit.InvalidRequestError`,
``param`` ``"messages"``, no status), so that a route falls back to a model that
takes it, with the fix: put the instruction in the user message (or the system
prompt), or shape the answer with ``response_format=`` (structured outputs); a
final assistant turn holding tool calls wants their results after it.

The model is read from its id, an inference profile id or an ARN ending in one.
Other models, older Claude models and ids with no Claude version or family read
here are left to Bedrock, which answers what the model refuses with its own 400.
"""

from __future__ import annotations

import re
from typing import Any

from relaykit import InvalidRequestError

from .prices import base_model
from .reasoning import claude_version

#: the first Claude version that refuses a prefill
FIRST_REFUSING = (4, 6)

_FAMILY = re.compile(r"claude-([a-z]+)-\d")
#: the families that took a prefill before 4.6 (a family not named here is left to Bedrock)
_FAMILIES = frozenset({"opus", "sonnet", "haiku"})
# Families that never took a prefill, versioned or not (claude-mythos-preview).
_NEW_FAMILIES = re.compile(r"claude-(fable|mythos)(?![a-z])")


def refuses_prefill(model: str) -> str | None:
    """The model in words ("Claude Opus 4.6") when ``model`` refuses a prefill, else ``None``."""
    base = base_model(model).lower()
    if not base.startswith("anthropic.claude"):
        return None
    version = claude_version(model)
    found = _NEW_FAMILIES.search(base)
    if found is None:
        found = _FAMILY.search(base)
        if found is None or found.group(1) not in _FAMILIES:
            return None
        if version is None or version < FIRST_REFUSING:
            return None
    words = f"Claude {found.group(1).title()}"
    if version is None:
        return words
    major, minor = version
    return f"{words} {major}" + (f".{minor}" if minor else "")


def check(converse_messages: list[dict[str, Any]], model: str) -> None:
    """Refuse a conversation (Converse turns) that ends in an assistant turn when
    ``model`` refuses a prefill."""
    final = converse_messages[-1] if converse_messages else None
    if final is None or final.get("role") != "assistant":
        return
    name = refuses_prefill(model)
    if name is None:
        return
    if any("toolUse" in block for block in final.get("content") or ()):
        hint = (
            "send each tool call's result after the assistant message that made it "
            "(Message.tool(...)), so that the conversation ends with a user turn"
        )
    else:
        hint = (
            "end the conversation with a user message: put the instruction the prefill "
            "gave in it (or in the system prompt), or shape the answer with "
            "response_format= (structured outputs); or route to a model that takes a "
            "prefill (Claude Sonnet 4.5, Haiku 4.5 or older)"
        )
    raise InvalidRequestError(
        f"{name} does not take a prefill (a conversation ending in an assistant message): "
        "Anthropic removed prefilling from Claude 4.6 on",
        model=model,
        param="messages",
        hint=hint,
    )
