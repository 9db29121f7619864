"""Models Google shut down in the Gemini API whose calls this plugin refuses unsent.

Imagen (``imagen-*``, which drew on ``models/{model}:predict``): "All Imagen
models shut down on August 17, 2026 ... across Google and for both the Gemini
Developer API and [Vertex AI]" (Firebase AI Logic's "Migrate from Imagen"
guide, firebase.google.com/docs/ai-logic/imagen-models-migration; earlier
versions of Firebase's pages gave June 24, then "as early as" June 30, 2026).
Its replacements, from the same guide: ``gemini-3.1-flash-image`` for Imagen 4
Fast and Standard, ``gemini-3-pro-image`` for Ultra. Google answers a 404 for
them now; a refusal without a status instead lets a route fall back, and says
what to use.
"""

from __future__ import annotations

from relaykit import InvalidRequestError

#: the day Google shut Imagen down in the Gemini API
IMAGEN_SHUTDOWN = "2026-08-17"


def is_imagen(model: str) -> bool:
    """Whether ``model`` names an Imagen model (``imagen-4.0-generate-001``; ``models/`` too)."""
    return model.removeprefix("models/").startswith("imagen-")


def refuse_shut_down(model: str, provider: str) -> None:
    """Raise :class:`~relaykit.InvalidRequestError`, unsent and without a status, for a
    model Google shut down (Imagen); return for any other."""
    if is_imagen(model):
        raise InvalidRequestError(
            f"Google shut Imagen down in the Gemini API on {IMAGEN_SHUTDOWN}; use"
            f" {provider}/gemini-3.1-flash-image (or gemini-3-pro-image)",
            provider=provider,
            model=model,
            param="model",
            hint="the Gemini image models draw and edit on generateContent, taking size as"
            " an aspect ratio and quality as the resolution (1K, 2K, 4K)",
        )
