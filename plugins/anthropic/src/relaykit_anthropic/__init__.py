"""relaykit provider plugin for Anthropic's Messages API (Claude models), on Anthropic's
API, on Google Cloud's Vertex AI (:class:`VertexAnthropicProvider`) and in Microsoft
Foundry (:class:`FoundryAnthropicProvider`).

The loopback mock that speaks the same wire format lives in
:mod:`relaykit_anthropic.testing` (imported on demand, not from here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

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


# Lazy (PEP 562): relaykit imports this package's plugin module in every process
# that builds a client or runs the CLI (`relaykit --help` too); the modules
# behind these names load when one is asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .foundry import FoundryAnthropicProvider as FoundryAnthropicProvider
    from .provider import AnthropicProvider as AnthropicProvider
    from .vertex import VertexAnthropicProvider as VertexAnthropicProvider
