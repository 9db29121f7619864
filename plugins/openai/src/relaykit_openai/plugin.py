"""The entry point relaykit loads: registers OpenAI and every compatible preset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .presets import PRESETS
from .provider import OpenAIProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """OpenAI itself plus one provider type per compatible service."""
    return [OpenAIProvider, *PRESETS.values()]
