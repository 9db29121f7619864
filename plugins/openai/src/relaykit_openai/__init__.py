"""relaykit provider plugin for OpenAI's Chat Completions API and compatible services."""

from .presets import PRESETS, preset
from .provider import OpenAIProvider

__all__ = ["PRESETS", "OpenAIProvider", "preset"]
