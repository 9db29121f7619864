"""The entry point relaykit loads: registers the ``gemini`` and ``vertex`` provider types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .provider import GeminiProvider
from .vertex import VertexProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Gemini API provider, and Gemini on Vertex AI."""
    return [GeminiProvider, VertexProvider]
