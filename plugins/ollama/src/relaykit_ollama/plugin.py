"""The entry point relaykit loads: registers the ``ollama`` provider type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Ollama provider."""
    # Imported here, not above: every relaykit process imports this module, and
    # `relaykit --help` or `relaykit logs` should not pay for the provider.
    from .provider import OllamaProvider

    return [OllamaProvider]
