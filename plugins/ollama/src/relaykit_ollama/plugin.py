"""The entry point relaykit loads: registers the ``ollama`` provider type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .provider import OllamaProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Ollama provider."""
    return [OllamaProvider]
