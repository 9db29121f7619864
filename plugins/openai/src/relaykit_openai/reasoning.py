"""``reasoning=`` as OpenAI and the compatible services take it.

OpenAI's Chat Completions takes ``reasoning_effort`` (a word), as do most
compatible services (Groq, xAI, Together, Fireworks, Cerebras, vLLM, LM Studio,
Ollama's ``/v1``); the Responses API takes ``reasoning: {"effort": ...}``;
OpenRouter takes ``reasoning`` with an ``effort`` or a ``max_tokens`` budget.
A budget goes to an effort-only API as :meth:`relaykit.Reasoning.level` says.
``reasoning=True`` (thinking on, no amount) sends nothing to an effort API: its
models think by default. DeepSeek and Mistral pick thinking by model
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
            body["reasoning"] = {"effort": reasoning.effort}
        elif reasoning.budget_tokens is not None:
            budget = reasoning.budget_tokens
            body["reasoning"] = {"max_tokens": budget} if budget else {"effort": "none"}
        else:
            body["reasoning"] = {"enabled": True}
        return
    level = reasoning.level()
    if level is not None:
        body["reasoning_effort"] = level


def responses_field(reasoning: Reasoning, body: dict[str, Any]) -> None:
    """Put ``reasoning`` in a Responses API ``body``: ``reasoning.effort``."""
    level = reasoning.level()
    if level is not None:
        body["reasoning"] = {"effort": level}


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
