"""``reasoning=`` as Gemini takes it: ``generationConfig.thinkingConfig``.

Gemini 2.5 takes a budget, ``thinkingBudget`` (tokens; ``0`` turns thinking
off, ``-1`` lets the model decide). Gemini 3 takes a level, ``thinkingLevel``
(``minimal``, ``low``, ``medium``, ``high``: which ones depends on the model),
and still a budget "for backwards compatibility" (Google's thinking guide); it
refuses the two together. So the plugin sends:

- an effort to a Gemini 3 (or later) model as its ``thinkingLevel`` (``xhigh``
  as ``high``, the most Gemini has; a level the model lacks, such as ``minimal``
  on a Pro model, is Gemini's to refuse); to any other model as the budget
  :data:`relaykit.request.EFFORT_BUDGETS` names, capped at the most the model takes
  where this plugin knows it (2.5 Flash and Flash-Lite: 24,576 tokens);
- a budget in tokens as ``thinkingBudget``, to every generation, as given;
- ``reasoning=True`` (thinking on, the model's own amount) as dynamic thinking
  (``-1``) before Gemini 3, whose Flash-Lite does not think unless asked, and
  as no amount at all to Gemini 3, which thinks by default;
- thinking off as a budget of ``0``. Gemini 3 models and 2.5 Pro cannot stop
  thinking, so for them it is refused before anything is sent.

The generation comes from the model's name (``gemini-3-pro-preview``,
``gemini-2.5-flash``); a name without one (``gemini-flash-latest``, a tuned
model) gets a budget, which every generation takes.

``reasoning=`` replaces the amount the provider's ``thinking_budget`` option
sets for that call; ``include_thoughts`` still applies, unless the call's
``summary`` says otherwise (``includeThoughts``: Gemini returns thought
summaries only when asked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from relaykit import InvalidRequestError, Reasoning

#: the ``thinkingConfig`` keys that set how much a model thinks (Gemini takes one)
AMOUNT_KEYS = ("thinkingBudget", "thinkingLevel")
#: ``thinkingBudget`` for "as much as the model likes"
DYNAMIC = -1
#: the first generation that takes ``thinkingLevel``
FIRST_LEVEL_GENERATION = 3
#: relaykit's efforts as Gemini 3 levels: Gemini has no level above ``high``
_LEVELS = {
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
#: the largest budget each 2.5 model takes, by name prefix (Google's thinking
#: guide: Pro 128 to 32,768; Flash 0 to 24,576; Flash-Lite 512 to 24,576)
_MOST_TOKENS = {"gemini-2.5-pro": 32_768, "gemini-2.5-flash": 24_576}
#: models that always think, by name prefix (Gemini 3 models are found by generation)
_ALWAYS_THINK = ("gemini-2.5-pro",)
_GENERATION = re.compile(r"gemini-(\d+)(?:\.\d+)?(?:-|$)")


def generation(model: str) -> int | None:
    """The Gemini generation ``model`` names (``3`` for ``gemini-3.1-pro-preview``),
    or ``None`` when its name does not say (an alias, a tuned model)."""
    found = _GENERATION.match(_name(model))
    return int(found.group(1)) if found else None


def takes_levels(model: str) -> bool:
    """Whether ``model`` is of a generation that takes ``thinkingLevel`` (Gemini 3+)."""
    gen = generation(model)
    return gen is not None and gen >= FIRST_LEVEL_GENERATION


def can_stop_thinking(model: str) -> bool:
    """Whether ``model`` takes a budget of 0: not Gemini 3 nor 2.5 Pro; an unknown
    model is given the benefit of the doubt (Gemini answers for it)."""
    return not takes_levels(model) and not _name(model).startswith(_ALWAYS_THINK)


def amount(reasoning: Reasoning, model: str, provider: str | None = None) -> dict[str, Any]:
    """The ``thinkingConfig`` keys that ask ``model`` to think as ``reasoning`` says.

    Raises :class:`~relaykit.InvalidRequestError` for thinking off on a model
    that cannot stop thinking.
    """
    if reasoning.off and not can_stop_thinking(model):
        raise cannot_stop(model, provider)
    if reasoning.budget_tokens is not None:
        return {"thinkingBudget": reasoning.budget_tokens}
    if reasoning.effort is None:  # thinking on, as much as the model likes
        return {} if takes_levels(model) else {"thinkingBudget": DYNAMIC}
    if takes_levels(model):
        return {"thinkingLevel": _LEVELS[reasoning.effort]}
    return {"thinkingBudget": _capped(reasoning.tokens() or 0, model)}


def config(
    reasoning: Reasoning | None,
    model: str,
    configured: Mapping[str, Any] | None,
    provider: str | None = None,
) -> dict[str, Any] | None:
    """The ``thinkingConfig`` for one call: the provider's ``configured`` one, its
    amount replaced by ``reasoning``'s when the call has one; ``None`` when empty.
    Raises as :func:`amount` does."""
    merged = dict(configured or {})
    if reasoning is not None:
        merged = without_amount(merged) | amount(reasoning, model, provider)
        if reasoning.summary is not None:  # the call's word over the provider's option
            merged["includeThoughts"] = reasoning.summary
    return merged or None


def merge(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """``theirs`` (a ``thinkingConfig`` in ``extra``) over ``ours``: their keys win,
    ours stay otherwise, and an amount of theirs replaces ours whole, since
    Gemini refuses a level and a budget together."""
    kept = without_amount(ours) if any(k in theirs for k in AMOUNT_KEYS) else dict(ours)
    return kept | dict(theirs)


def without_amount(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A ``thinkingConfig``'s ``settings`` without its level or budget."""
    return {k: v for k, v in settings.items() if k not in AMOUNT_KEYS}


def cannot_stop(model: str, provider: str | None = None) -> InvalidRequestError:
    """The typed refusal of thinking off for ``model``, which always thinks."""
    if takes_levels(model):
        hint = 'use reasoning="low" (or "minimal", on Flash models) for the least thinking'
    else:
        hint = "use a small budget (reasoning=128, the least it takes) or a Flash model"
    return InvalidRequestError(
        f"{model} cannot turn thinking off (reasoning='none' or a budget of 0)",
        provider=provider,
        model=model,
        param="reasoning",
        hint=hint,
    )


def _capped(budget: int, model: str) -> int:
    name = _name(model)
    best = max((p for p in _MOST_TOKENS if name.startswith(p)), key=len, default=None)
    return budget if best is None else min(budget, _MOST_TOKENS[best])


def _name(model: str) -> str:
    # Both "gemini-2.5-pro" and its resource name "models/gemini-2.5-pro" reach here.
    return model.removeprefix("models/")
