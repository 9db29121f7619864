"""relaykit provider plugin for Google's Gemini API (``generateContent``)."""

from .provider import GeminiProvider

__all__ = ["GeminiProvider"]
