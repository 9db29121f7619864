"""relaykit provider plugin for Cohere's v2 Chat API (``cohere/command-a-03-2025``)."""

from __future__ import annotations

from .provider import CohereProvider

__version__ = "0.1.0"

__all__ = ["CohereProvider", "__version__"]
