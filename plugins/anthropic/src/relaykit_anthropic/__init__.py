"""relaykit provider plugin for Anthropic's Messages API (Claude models).

The loopback mock that speaks the same wire format lives in
:mod:`relaykit_anthropic.testing` (imported on demand, not from here).
"""

from .provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
