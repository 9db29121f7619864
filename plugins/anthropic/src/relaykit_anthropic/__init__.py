"""relaykit provider plugin for Anthropic's Messages API (Claude models), on Anthropic's
API, on Google Cloud's Vertex AI (:class:`VertexAnthropicProvider`) and in Microsoft
Foundry (:class:`FoundryAnthropicProvider`).

The loopback mock that speaks the same wire format lives in
:mod:`relaykit_anthropic.testing` (imported on demand, not from here).
"""

from .foundry import FoundryAnthropicProvider
from .provider import AnthropicProvider
from .vertex import VertexAnthropicProvider

__all__ = ["AnthropicProvider", "FoundryAnthropicProvider", "VertexAnthropicProvider"]
