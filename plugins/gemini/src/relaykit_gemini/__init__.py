"""relaykit provider plugin for Google's Gemini API (``generateContent`` and its kin)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module defining it
_EXPORTS = {
    "GeminiProvider": "provider",
    "VertexProvider": "vertex",
}

__all__ = [
    "GeminiProvider",
    "VertexProvider",
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
    from .provider import GeminiProvider as GeminiProvider
    from .vertex import VertexProvider as VertexProvider
