"""The entry point relaykit loads: registers the ``anthropic`` provider type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .provider import AnthropicProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Anthropic Messages API provider."""
    return [AnthropicProvider]
