"""The entry point relaykit loads: registers the ``gemini`` and ``vertex`` provider types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Gemini API provider, and Gemini on Vertex AI."""
    # Imported here, not above: every relaykit process imports this module, and
    # `relaykit --help` or `relaykit logs` should not pay for the providers.
    from .provider import GeminiProvider
    from .vertex import VertexProvider

    return [GeminiProvider, VertexProvider]
