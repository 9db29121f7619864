"""relaykit provider plugin for Google's Gemini API (``generateContent``; Imagen's ``:predict``)."""

from .provider import GeminiProvider

__all__ = ["GeminiProvider"]
