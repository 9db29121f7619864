"""relaykit provider plugin for Amazon Bedrock's Converse and ConverseStream APIs.

The vendor mock lives in :mod:`relaykit_bedrock.testing` (imported on demand).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

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


# Lazy (PEP 562): relaykit imports this package's plugin module in every process
# that builds a client or runs the CLI (`relaykit --help` too); the modules
# behind these names load when one is asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .eventstream import EventStreamDecoder as EventStreamDecoder
    from .eventstream import EventStreamError as EventStreamError
    from .eventstream import EventStreamMessage as EventStreamMessage
    from .provider import BedrockProvider as BedrockProvider
