"""The entry point relaykit loads: registers the ``anthropic``, ``vertex-anthropic`` and
``foundry-anthropic`` provider types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Anthropic Messages API provider, Claude on Vertex AI and in Microsoft Foundry."""
    # Imported here, not above: every relaykit process imports this module, and
    # `relaykit --help` or `relaykit logs` should not pay for the providers.
    from .foundry import FoundryAnthropicProvider
    from .provider import AnthropicProvider
    from .vertex import VertexAnthropicProvider

    return [AnthropicProvider, VertexAnthropicProvider, FoundryAnthropicProvider]
