"""relaykit provider plugin for Google's Gemini API (``generateContent`` and its kin)."""

from .provider import GeminiProvider

__all__ = ["GeminiProvider"]
