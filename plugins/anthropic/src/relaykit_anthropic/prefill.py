"""A conversation ending in an assistant turn (a prefill), refused where Claude refuses it.

Anthropic removed prefilling from Claude 4.6 on (every Claude from 4.6 on,
Fable and Mythos, on Anthropic's API, Bedrock and Vertex AI alike): such a
request is answered with a 400. Which models is
:mod:`relaykit_claude_models.prefill_rules`'s; Claude Haiku 4.5 and older take
a prefill.

relaykit refuses such a call before sending it (:class:`~relaykit.InvalidRequestError`,
``param`` ``"messages"``, no status), so that a route falls back to a deployment
that takes it; the hint says what to do instead: put the instruction in the user
message (or the system prompt), or shape the answer with ``response_format=``
(structured outputs). A final assistant turn that holds tool calls is refused
too (the API wants their results after it), with that fix.

A turn a server tool paused (``stop_reason: "pause_turn"``) and sent back to
continue it ends in an assistant turn as well, and the models above take it
(Anthropic's "Server tools" page continues one on Claude Opus 4.8): the plugin
builds that body itself (:mod:`.paused_turns`), past this check.

Names with no Claude version or family read here (a gateway's alias, a family
not named above) are left to the API, which answers with its own 400.
"""

from __future__ import annotations

from typing import Any

from relaykit_claude_models import prefill_refusal, refuses_prefill


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
    raise prefill_refusal(name, model, provider=provider, calls=calls)
