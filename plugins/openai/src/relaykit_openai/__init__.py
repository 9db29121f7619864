"""relaykit provider plugin for OpenAI's Chat Completions API and compatible services."""

from .azure import AzureOpenAIProvider
from .presets import PRESETS, preset
from .provider import OpenAIProvider

__all__ = ["PRESETS", "AzureOpenAIProvider", "OpenAIProvider", "preset"]
