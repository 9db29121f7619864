"""relaykit provider plugin for Amazon Bedrock's Converse and ConverseStream APIs.

The vendor mock lives in :mod:`relaykit_bedrock.testing` (imported on demand).
"""

from .eventstream import EventStreamDecoder, EventStreamError, EventStreamMessage
from .provider import BedrockProvider

__all__ = ["BedrockProvider", "EventStreamDecoder", "EventStreamError", "EventStreamMessage"]
