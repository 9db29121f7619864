"""relaykit provider plugin for OpenAI's Chat Completions API and compatible services."""

from .provider import OpenAIProvider
from .presets import PRESETS, preset

__all__ = ["PRESETS", "OpenAIProvider", "preset"]
