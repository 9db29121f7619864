"""relaykit provider plugin for Google's Gemini API (``generateContent`` and its kin)."""

from .provider import GeminiProvider
from .vertex import VertexProvider

__all__ = ["GeminiProvider", "VertexProvider"]
