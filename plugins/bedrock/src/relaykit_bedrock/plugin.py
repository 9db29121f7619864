"""The entry point relaykit loads: registers the Bedrock provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """Amazon Bedrock (Converse API)."""
    # Imported here, not above: every relaykit process imports this module, and
    # `relaykit --help` or `relaykit logs` should not pay for the provider.
    from .provider import BedrockProvider

    return [BedrockProvider]
