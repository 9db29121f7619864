"""The Claude models that refuse a prefill: a conversation ending in an assistant turn.

Anthropic removed prefilling from Claude 4.6 on: a request whose last message
is an assistant turn is answered with a 400 ("This model does not support
assistant message prefill. The conversation must end with a user message.").
The models, from Anthropic's "What's new in Claude 4.6" page ("Prefilling
assistant messages (last-assistant-turn prefills) is not supported on Opus
4.6"), its migration guide ("Prefill removal: Prefilling assistant messages
returns a 400 error on Claude 4.6 models") and reports of the 400 from Opus
4.6, 4.7, 4.8, Sonnet 4.6, Sonnet 5 and Fable 5, on Anthropic's API, Bedrock
and Vertex AI alike (read 2026-12-02):

- every Claude model from 4.6 on (Opus 4.6, Sonnet 4.6 and everything later:
  Opus 4.7, 4.8, 5, 5.5, Sonnet 5, 5.5, Haiku 5, 5.5);
- Claude Fable and Claude Mythos, whatever their version (5, 5.1, a preview).

Claude Haiku 4.5 and older take a prefill. relaykit refuses such a call before
sending it (:class:`~relaykit.InvalidRequestError`, ``param`` ``"messages"``,
no status), so that a route falls back to a deployment that takes it; the hint
says what to do instead: put the instruction in the user message (or the
system prompt), or shape the answer with ``response_format=`` (structured
outputs). A final assistant turn that holds tool calls is refused too (the API
wants their results after it), with that fix.

A turn a server tool paused (``stop_reason: "pause_turn"``) and sent back to
continue it ends in an assistant turn as well, and the models above take it
(Anthropic's "Server tools" page continues one on Claude Opus 4.8): the plugin
builds that body itself (:mod:`.paused_turns`), past this check.

Names with no Claude version or family read here (a gateway's alias, a family
not named above) are left to the API, which answers with its own 400.
"""

from __future__ import annotations

import re
from typing import Any

from relaykit import InvalidRequestError

from .thinking import claude_version

#: the first Claude version that refuses a prefill
FIRST_REFUSING = (4, 6)

_FAMILY = re.compile(r"claude-([a-z]+)-\d")
#: the families that took a prefill before 4.6 (a family not named here is left to the API)
_FAMILIES = frozenset({"opus", "sonnet", "haiku"})
# Families that never took a prefill, versioned or not (claude-mythos-preview).
_NEW_FAMILIES = re.compile(r"claude-(fable|mythos)(?![a-z])")


def refuses_prefill(model: str) -> str | None:
    """The model in words ("Claude Opus 4.6") when ``model`` refuses a prefill, else ``None``."""
    name = model.lower()
    version = claude_version(name)
    found = _NEW_FAMILIES.search(name)
    if found is None:
        found = _FAMILY.search(name)
        if found is None or found.group(1) not in _FAMILIES:
            return None
        if version is None or version < FIRST_REFUSING:
            return None
    words = f"Claude {found.group(1).title()}"
    if version is None:
        return words
    major, minor = version
    return f"{words} {major}" + (f".{minor}" if minor else "")


def check(
    wire_messages: list[dict[str, Any]], model: str, provider: str, base: str | None = None
) -> None:
    """Refuse a conversation (Messages API turns) that ends in an assistant turn when
    ``model`` (or ``base``, the Claude model a deployment named ``model`` serves)
    refuses a prefill; ``provider`` names the provider in the error."""
    final = wire_messages[-1] if wire_messages else None
    if final is None or final.get("role") != "assistant":
        return
    name = refuses_prefill(base or model)
    if name is None:
        return
    content = final.get("content")
    calls = isinstance(content, list) and any(b.get("type") == "tool_use" for b in content)
    raise refusal(name, model, provider, calls=calls)


def refusal(name: str, model: str, provider: str, *, calls: bool = False) -> InvalidRequestError:
    """The error for a prefill ``name`` (the model in words) refuses."""
    if calls:
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
    return InvalidRequestError(
        f"{name} does not take a prefill (a conversation ending in an assistant message): "
        "Anthropic removed prefilling from Claude 4.6 on",
        provider=provider,
        model=model,
        param="messages",
        hint=hint,
    )
