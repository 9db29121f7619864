"""The entry point relaykit loads: registers OpenAI, Azure OpenAI, Bedrock Mantle and every
compatible preset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """OpenAI itself, Azure OpenAI, Bedrock Mantle, and one provider type per compatible
    service."""
    # Imported here, not above: every relaykit process imports this module, and
    # `relaykit --help` or `relaykit logs` should not pay for the providers.
    from .azure import AzureOpenAIProvider
    from .mantle import BedrockMantleProvider
    from .presets import PRESETS
    from .provider import OpenAIProvider

    return [OpenAIProvider, AzureOpenAIProvider, BedrockMantleProvider, *PRESETS.values()]
