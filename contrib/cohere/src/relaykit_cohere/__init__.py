"""relaykit provider plugin for Cohere's v2 Chat API (``cohere/command-a-03-2025``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

__version__ = "0.1.0"

#: public name -> the module defining it
_EXPORTS = {
    "CohereProvider": "provider",
}

__all__ = [
    "CohereProvider",
    "__version__",
]


# Lazy (PEP 562): relaykit imports this package's plugin module in every process
# that builds a client or runs the CLI (`relaykit --help` too); the modules
# behind these names load when one is asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .provider import CohereProvider as CohereProvider
