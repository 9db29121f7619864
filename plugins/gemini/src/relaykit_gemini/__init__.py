"""relaykit provider plugin for Google's Gemini API (``generateContent`` and its kin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

#: public name -> the module defining it
_EXPORTS = {
    "GeminiProvider": "provider",
    "VertexProvider": "vertex",
}

__all__ = [
    "GeminiProvider",
    "VertexProvider",
]


# Lazy (PEP 562): relaykit imports this package's plugin module in every process
# that builds a client or runs the CLI (`relaykit --help` too); the modules
# behind these names load when one is asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .provider import GeminiProvider as GeminiProvider
    from .vertex import VertexProvider as VertexProvider
