"""The entry-point module: hook implementations only."""

from __future__ import annotations

import relaykit

from .provider import CohereProvider


@relaykit.hookimpl
def relaykit_providers() -> list[type[CohereProvider]]:
    """Cohere's v2 Chat API, as provider type ``cohere``."""
    return [CohereProvider]
