"""The entry point relaykit loads: registers OpenAI, Azure OpenAI and every compatible preset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl

from .azure import AzureOpenAIProvider
from .presets import PRESETS
from .provider import OpenAIProvider


@hookimpl
def relaykit_providers() -> Sequence[Any]:
    """OpenAI itself, Azure OpenAI, and one provider type per compatible service."""
    return [OpenAIProvider, AzureOpenAIProvider, *PRESETS.values()]
