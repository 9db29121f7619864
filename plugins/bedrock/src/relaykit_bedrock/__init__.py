"""relaykit provider plugin for Amazon Bedrock's Converse and ConverseStream APIs.

The vendor mock lives in :mod:`relaykit_bedrock.testing` (imported on demand).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module defining it
_EXPORTS = {
    "BedrockProvider": "provider",
    "EventStreamDecoder": "eventstream",
    "EventStreamError": "eventstream",
    "EventStreamMessage": "eventstream",
}

__all__ = [
    "BedrockProvider",
    "EventStreamDecoder",
    "EventStreamError",
    "EventStreamMessage",
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
    from .eventstream import EventStreamDecoder as EventStreamDecoder
    from .eventstream import EventStreamError as EventStreamError
    from .eventstream import EventStreamMessage as EventStreamMessage
    from .provider import BedrockProvider as BedrockProvider
