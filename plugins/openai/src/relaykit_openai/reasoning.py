"""``reasoning=`` as OpenAI and the compatible services take it.

OpenAI's Chat Completions takes ``reasoning_effort`` (a word), as do most
compatible services (Groq, xAI, Together, Fireworks, Cerebras, vLLM, LM Studio,
Ollama's ``/v1``); the Responses API takes ``reasoning: {"effort": ...}``;
OpenRouter takes ``reasoning`` with an ``effort`` or a ``max_tokens`` budget.
A budget goes to an effort-only API as :meth:`relaykit.Reasoning.level` says.
``reasoning=True`` (thinking on, no amount) sends nothing to an effort API: its
models think by default. ``summary=True`` asks the Responses API for reasoning
summaries; ``summary=False`` asks OpenRouter to leave reasoning out
(``exclude``); Chat Completions returns no reasoning text from OpenAI, so there
it changes nothing. DeepSeek and Mistral pick thinking by model
(``deepseek-reasoner``, ``magistral-*``), so their presets refuse the setting.
"""

from __future__ import annotations

from typing import Any, Literal

from relaykit import InvalidRequestError, Reasoning

#: how a service takes ``reasoning=``: ``reasoning_effort`` (``"effort"``),
#: OpenRouter's ``reasoning`` object (``"openrouter"``), or not at all (``"none"``)
ReasoningStyle = Literal["effort", "openrouter", "none"]


def chat_fields(reasoning: Reasoning, style: ReasoningStyle, body: dict[str, Any]) -> None:
    """Put ``reasoning`` in a Chat Completions ``body`` the way ``style`` takes it."""
    if style == "openrouter":
        if reasoning.effort is not None:
            # OpenRouter's efforts stop at xhigh
            effort = "xhigh" if reasoning.effort == "max" else reasoning.effort
            obj: dict[str, Any] = {"effort": effort}
        elif reasoning.budget_tokens is not None:
            budget = reasoning.budget_tokens
            obj = {"max_tokens": budget} if budget else {"effort": "none"}
        else:
            obj = {"enabled": True}
        if reasoning.summary is False:  # OpenRouter returns reasoning unless excluded
            obj["exclude"] = True
        body["reasoning"] = obj
        return
    level = reasoning.level()
    if level is not None:
        body["reasoning_effort"] = level


def responses_field(reasoning: Reasoning, body: dict[str, Any]) -> None:
    """Put ``reasoning`` in a Responses API ``body``: ``reasoning.effort``, and
    ``reasoning.summary`` (``"auto"``) when ``summary`` asks for the reasoning's text,
    which the Responses API returns only as a summary, and only when asked."""
    obj: dict[str, Any] = {}
    level = reasoning.level()
    if level is not None:
        obj["effort"] = level
    if reasoning.summary:
        obj["summary"] = "auto"
    if obj:
        body["reasoning"] = obj


def merge_extra(body: dict[str, Any], extra: dict[str, Any]) -> None:
    """``body.update(extra)``, but a ``reasoning`` object in ``extra`` (a Responses
    ``summary``, OpenRouter's ``exclude``) adds to the one ``reasoning=`` made
    instead of replacing it."""
    ours = body.get("reasoning")
    body.update(extra)
    theirs = extra.get("reasoning")
    if isinstance(ours, dict) and isinstance(theirs, dict):
        body["reasoning"] = {**ours, **theirs}


def refuse(service: str, model: str) -> InvalidRequestError:
    """The typed refusal of ``reasoning=`` for a service that takes no setting."""
    return InvalidRequestError(
        f"{service} takes no reasoning setting: its models think or not by model",
        provider=service,
        model=model,
        param="reasoning",
        hint="pick a thinking model by name (deepseek-reasoner, magistral-*) and drop"
        " reasoning=, or send the service's own field in extra={...}",
    )
