"""The entry-point module: hook implementations only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import relaykit

if TYPE_CHECKING:
    from .provider import CohereProvider


@relaykit.hookimpl
def relaykit_providers() -> list[type[CohereProvider]]:
    """Cohere's v2 Chat API, as provider type ``cohere``."""
    # Imported here, not above: every relaykit process imports this module, and
    # `relaykit --help` or `relaykit logs` should not pay for the provider.
    from .provider import CohereProvider

    return [CohereProvider]
