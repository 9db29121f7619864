"""The Claude models that refuse a prefill: a conversation ending in an assistant turn.

Anthropic removed prefilling from Claude 4.6 on: a request whose last message
is an assistant turn is answered with a 400 ("This model does not support
assistant message prefill. The conversation must end with a user message.").
The models, from Anthropic's "What's new in Claude 4.6" page ("Prefilling
assistant messages (last-assistant-turn prefills) is not supported on Opus
4.6"), its migration guide ("Prefill removal: Prefilling assistant messages
returns a 400 error on Claude 4.6 models"; its breaking changes apply unchanged
on Bedrock) and reports of the 400 from Opus 4.6, 4.7, 4.8, Sonnet 4.6,
Sonnet 5 and Fable 5, on Anthropic's API, Bedrock (Converse and the Messages
API) and Vertex AI alike (read 2026-12-02):

- every Claude model from 4.6 on (Opus 4.6, Sonnet 4.6 and everything later:
  Opus 4.7, 4.8, 5, 5.5, Sonnet 5, 5.5, Haiku 5, 5.5);
- Claude Fable and Claude Mythos, whatever their version (5, 5.1, a preview).

Claude Haiku 4.5 and older take a prefill. Names with no Claude version or
family read here (a gateway's alias, a family not named above) are left to the
API, which answers with its own 400.
"""

from __future__ import annotations

import re

from relaykit import InvalidRequestError

from .model_names import claude_family, claude_version, model_words

#: the first Claude version that refuses a prefill
FIRST_REFUSING = (4, 6)

#: the families that took a prefill before 4.6 (a family not named here is left to the API)
_FAMILIES = frozenset({"opus", "sonnet", "haiku"})
# Families that never took a prefill, versioned or not (claude-mythos-preview).
_NEW_FAMILIES = re.compile(r"claude-(fable|mythos)(?![a-z])")


def refuses_prefill(model: str) -> str | None:
    """The model in words ("Claude Opus 4.6") when ``model`` refuses a prefill, else ``None``."""
    version = claude_version(model)
    found = _NEW_FAMILIES.search(model.lower())
    if found is not None:
        return model_words(found.group(1), version)
    family = claude_family(model)
    if family not in _FAMILIES or version is None or version < FIRST_REFUSING:
        return None
    return model_words(family, version)


def prefill_refusal(
    name: str, model: str, *, provider: str | None = None, calls: bool = False
) -> InvalidRequestError:
    """The error for a prefill the model ``name`` (in words) refuses: ``param``
    ``"messages"``, no status, so that a route falls back to a deployment that takes
    it. ``calls``: the final assistant turn holds tool calls, whose results the API
    wants after it (the fix differs)."""
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
