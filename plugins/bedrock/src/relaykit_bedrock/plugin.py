"""The entry point relaykit loads: registers the Bedrock provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .provider import BedrockProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """Amazon Bedrock (Converse API)."""
    return [BedrockProvider]
