"""relaykit provider plugin for OpenAI's Chat Completions API and compatible services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

#: public name -> the module defining it
_EXPORTS = {
    "AzureOpenAIProvider": "azure",
    "BedrockMantleProvider": "mantle",
    "PRESETS": "presets",
    "preset": "presets",
    "OpenAIProvider": "provider",
}

__all__ = [
    "PRESETS",
    "AzureOpenAIProvider",
    "BedrockMantleProvider",
    "OpenAIProvider",
    "preset",
]


# Lazy (PEP 562): relaykit imports this package's plugin module in every process
# that builds a client or runs the CLI (`relaykit --help` too); the modules
# behind these names load when one is asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .azure import AzureOpenAIProvider as AzureOpenAIProvider
    from .mantle import BedrockMantleProvider as BedrockMantleProvider
    from .presets import PRESETS as PRESETS
    from .presets import preset as preset
    from .provider import OpenAIProvider as OpenAIProvider
