"""Moderation (``POST /v1/moderations``), for :class:`~relaykit.testing.OpenAIMock`:
OpenAI's shape, and Mistral's for a ``mistral-moderation-*`` model.

OpenAI's: ``{"model", "input"}`` in, where ``input`` is a string or a list of
strings (``model`` may be left out: omni-moderation-latest); out, ``{"id":
"modr-...", "model", "results": [{"flagged", "categories",
"category_scores", "category_applied_input_types"}]}``, one result per text,
in order. The omni-moderation models say which input kinds each score read
(``["text"]`` for a text); the legacy text-moderation models send no
``category_applied_input_types``, and ``null`` for the ``illicit`` categories
they lack. No usage: OpenAI's moderation is free and counts nothing.

Mistral's (``POST /v1/moderations`` at api.mistral.ai, per its guardrailing
guide): the same request, ``{"model", "input": [...]}``; out, ``{"id", "model",
"results": [{"categories", "category_scores"}]}``: no ``flagged`` and no input
kinds, under Mistral's nine categories.

Verdicts come from :func:`~relaykit.testing.mock_moderation`. What it refuses,
in OpenAI's error shape: a body that is not an object; no ``input``; an
``input`` that is not a string or a non-empty list of strings (the mock does
not read OpenAI's multimodal parts); a model that is not a moderation model.
"""

from __future__ import annotations

from typing import Any

from .moderation_scores import (
    MISTRAL_CATEGORIES,
    OPENAI_CATEGORIES,
    THRESHOLD,
    mock_moderation,
)
from .openai_responses import Refusal, _missing

#: the model OpenAI moderates with when the request names none
DEFAULT_MODEL = "omni-moderation-latest"
#: the categories OpenAI's legacy text-moderation models lack
_LEGACY_MISSING = frozenset({"illicit", "illicit/violent"})


def validate(body: Any) -> tuple[str, list[str]]:
    """The model and the texts ``body`` asks to moderate; :class:`Refusal` where refused."""
    if not isinstance(body, dict):
        raise Refusal("The request body must be a JSON object.")
    if "input" not in body:
        raise _missing("input")
    model = body.get("model", DEFAULT_MODEL)
    if not isinstance(model, str) or not model.startswith(
        ("omni-moderation", "text-moderation", "mistral-moderation")
    ):
        raise Refusal(f"Invalid value for 'model': {model!r} is not a moderation model.", "model")
    texts = body["input"]
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise Refusal(
            "Invalid 'input': expected a string or a non-empty array of strings.", "input"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise Refusal(
                f"Invalid type for 'input[{i}]': expected a string, but got a"
                f" {type(text).__name__} instead (the mock reads no multimodal parts).",
                f"input[{i}]",
            )
    return model, texts


def render(model: str, texts: list[str], n: int) -> dict[str, Any]:
    """The answer to a validated request (the ``n``-th the mock served), in OpenAI's
    shape or, for a ``mistral-moderation-*`` model, Mistral's."""
    if model.startswith("mistral-moderation"):
        return {
            "id": f"mod-mock{n:06d}",
            "model": model,
            "results": [_mistral(text) for text in texts],
        }
    return {
        "id": f"modr-mock{n:06d}",
        "model": model,
        "results": [_openai(text, legacy=model.startswith("text-moderation")) for text in texts],
    }


def _openai(text: str, *, legacy: bool) -> dict[str, Any]:
    scores: dict[str, Any] = mock_moderation(text, OPENAI_CATEGORIES)
    categories: dict[str, Any] = {name: score >= THRESHOLD for name, score in scores.items()}
    result: dict[str, Any] = {"flagged": any(categories.values())}
    if legacy:
        for name in _LEGACY_MISSING:
            categories[name] = scores[name] = None
    else:
        result["category_applied_input_types"] = {name: ["text"] for name in categories}
    result["categories"] = categories
    result["category_scores"] = scores
    return result


def _mistral(text: str) -> dict[str, Any]:
    scores = mock_moderation(text, MISTRAL_CATEGORIES)
    return {
        "categories": {name: score >= THRESHOLD for name, score in scores.items()},
        "category_scores": scores,
    }
