"""relaykit provider plugin for Anthropic's Messages API (Claude models), on Anthropic's
API, on Google Cloud's Vertex AI (:class:`VertexAnthropicProvider`) and in Microsoft
Foundry (:class:`FoundryAnthropicProvider`).

The loopback mock that speaks the same wire format lives in
:mod:`relaykit_anthropic.testing` (imported on demand, not from here).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module defining it
_EXPORTS = {
    "AnthropicProvider": "provider",
    "FoundryAnthropicProvider": "foundry",
    "VertexAnthropicProvider": "vertex",
}

__all__ = [
    "AnthropicProvider",
    "FoundryAnthropicProvider",
    "VertexAnthropicProvider",
]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): relaykit imports this package's plugin module in every process
    # that builds a client or runs the CLI (`relaykit --help` too); the provider
    # modules load when a provider is built or a name is asked for.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from .foundry import FoundryAnthropicProvider as FoundryAnthropicProvider
    from .provider import AnthropicProvider as AnthropicProvider
    from .vertex import VertexAnthropicProvider as VertexAnthropicProvider
