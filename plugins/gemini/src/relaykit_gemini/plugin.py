"""The entry point relaykit loads: registers the ``gemini`` provider type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .provider import GeminiProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """The Gemini API provider."""
    return [GeminiProvider]
