"""relaykit provider plugin for Ollama's native chat API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

#: public name -> the module defining it
_EXPORTS = {
    "base_url_from_host": "host",
    "NDJSONDecoder": "ndjson",
    "OllamaProvider": "provider",
}

__all__ = [
    "NDJSONDecoder",
    "OllamaProvider",
    "base_url_from_host",
]


# Lazy (PEP 562): relaykit imports this package's plugin module in every process
# that builds a client or runs the CLI (`relaykit --help` too); the modules
# behind these names load when one is asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .host import base_url_from_host as base_url_from_host
    from .ndjson import NDJSONDecoder as NDJSONDecoder
    from .provider import OllamaProvider as OllamaProvider
