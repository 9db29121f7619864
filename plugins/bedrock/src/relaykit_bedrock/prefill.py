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

Which models is :mod:`relaykit_claude_models.prefill_rules`'s.
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

from typing import Any

from relaykit_claude_models import prefill_refusal
from relaykit_claude_models import refuses_prefill as _refuses_prefill

from .prices import base_model


def refuses_prefill(model: str) -> str | None:
    """The model in words ("Claude Opus 4.6") when ``model`` (a model id, an inference
    profile id or an ARN ending in one) refuses a prefill, else ``None``."""
    base = base_model(model)
    if not base.lower().startswith("anthropic.claude"):
        return None
    return _refuses_prefill(base)


def check(converse_messages: list[dict[str, Any]], model: str) -> None:
    """Refuse a conversation (Converse turns) that ends in an assistant turn when
    ``model`` refuses a prefill."""
    final = converse_messages[-1] if converse_messages else None
    if final is None or final.get("role") != "assistant":
        return
    name = refuses_prefill(model)
    if name is None:
        return
    calls = any("toolUse" in block for block in final.get("content") or ())
    raise prefill_refusal(name, model, calls=calls)
