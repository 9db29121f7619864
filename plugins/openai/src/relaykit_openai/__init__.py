"""relaykit provider plugin for OpenAI's Chat Completions API and compatible services."""

from .azure import AzureOpenAIProvider
from .mantle import BedrockMantleProvider
from .presets import PRESETS, preset
from .provider import OpenAIProvider

__all__ = [
    "PRESETS",
    "AzureOpenAIProvider",
    "BedrockMantleProvider",
    "OpenAIProvider",
    "preset",
]
