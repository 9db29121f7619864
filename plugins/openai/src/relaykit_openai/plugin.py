"""The entry point relaykit loads: registers OpenAI, Azure OpenAI, Bedrock Mantle and every
compatible preset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .azure import AzureOpenAIProvider
from .mantle import BedrockMantleProvider
from .presets import PRESETS
from .provider import OpenAIProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """OpenAI itself, Azure OpenAI, Bedrock Mantle, and one provider type per compatible
    service."""
    return [OpenAIProvider, AzureOpenAIProvider, BedrockMantleProvider, *PRESETS.values()]
