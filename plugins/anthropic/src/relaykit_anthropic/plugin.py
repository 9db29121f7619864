"""The entry point relaykit loads: registers the ``anthropic`` and ``vertex-anthropic``
provider types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .provider import AnthropicProvider
from .vertex import VertexAnthropicProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Anthropic Messages API provider, and Claude on Vertex AI."""
    return [AnthropicProvider, VertexAnthropicProvider]
