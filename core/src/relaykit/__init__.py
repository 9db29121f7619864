"""relaykit: one typed async API over many LLM providers, on asyncio and trio.

Names are imported lazily (PEP 562) so ``import relaykit`` stays cheap: a CLI or
a web app pays for httpx, cattrs and pluggy only when it first uses them.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "client",
    "SyncClient": "sync_client",
    "ChatStream": "stream",
    "Message": "messages",
    "TextPart": "messages",
    "ImagePart": "messages",
    "DocumentPart": "messages",
    "ToolCall": "messages",
    "ToolResultPart": "messages",
    "ReasoningPart": "messages",
    "CachePoint": "messages",
    "ChatRequest": "request",
    "Tool": "request",
    "FunctionTool": "function_tools",
    "ToolRun": "tool_runs",
    "ToolRunStream": "tool_loop",
    "ToolChoice": "request",
    "ResponseFormat": "request",
    "Reasoning": "request",
    "WebSearch": "web_search",
    "SearchLocation": "web_search",
    "Citation": "web_search",
    "ChatResponse": "response",
    "Usage": "response",
    "TokenCount": "response",
    "TokenLogprob": "response",
    "ModelInfo": "response",
    "ModelPrice": "response",
    "EmbeddingRequest": "embeddings",
    "EmbeddingResponse": "embeddings",
    "RerankRequest": "rerank",
    "RerankResponse": "rerank",
    "RerankResult": "rerank",
    "TimedText": "transcription",
    "TranscriptionRequest": "transcription",
    "TranscriptionResponse": "transcription",
    "AudioFile": "audio",
    "ImageRequest": "image_generation",
    "ImageEditRequest": "image_generation",
    "ImageFile": "image_inputs",
    "ImageResponse": "image_generation",
    "GeneratedImage": "image_generation",
    "SpeechRequest": "speech",
    "SpeechResponse": "speech",
    "ModerationRequest": "moderation",
    "ModerationResponse": "moderation",
    "ModerationResult": "moderation",
    "Batch": "batches",
    "BatchItem": "batches",
    "BatchResult": "batches",
    "SpeechStream": "speech_stream",
    "TranscriptionStream": "transcription_stream",
    "StreamStart": "events",
    "TextDelta": "events",
    "ReasoningDelta": "events",
    "LogprobsDelta": "events",
    "ToolCallDelta": "events",
    "UsageUpdate": "events",
    "SearchQuery": "events",
    "Finish": "events",
    "StreamEvent": "events",
    "StepStart": "events",
    "StepEnd": "events",
    "ToolResultEvent": "events",
    "ToolRunEvent": "events",
    "RelayError": "errors",
    "ConfigError": "errors",
    "InvalidRequestError": "errors",
    "AuthenticationError": "errors",
    "NotFoundError": "errors",
    "RateLimitError": "errors",
    "ProviderUnavailableError": "errors",
    "RequestTimeoutError": "errors",
    "ContextLengthError": "errors",
    "ContentFilterError": "errors",
    "StreamError": "errors",
    "CircuitOpenError": "errors",
    "ClientClosedError": "errors",
    "QuotaExceededError": "errors",
    "ToolLoopError": "errors",
    "BatchItemNotRunError": "errors",
    "OutputValidationError": "errors",
    "UntrustedCertificateError": "errors",
    "StorageUnavailableError": "errors",
    "Config": "config",
    "load_config": "config",
    "ProviderSettings": "protocols",
    "CallRecord": "protocols",
    "Secret": "secrets",
    "SSEDecoder": "sse",
    "to_json": "serialization",
    "from_json": "serialization",
    "converter": "serialization",
    "hookimpl": "_hookimpl",
}

# Spelled out (not derived from _EXPORTS) so type checkers see the public names.
__all__ = [
    "AudioFile",
    "AuthenticationError",
    "Batch",
    "BatchItem",
    "BatchItemNotRunError",
    "BatchResult",
    "CachePoint",
    "CallRecord",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "CircuitOpenError",
    "Citation",
    "Client",
    "ClientClosedError",
    "Config",
    "ConfigError",
    "ContentFilterError",
    "ContextLengthError",
    "DocumentPart",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "Finish",
    "FunctionTool",
    "GeneratedImage",
    "ImageEditRequest",
    "ImageFile",
    "ImagePart",
    "ImageRequest",
    "ImageResponse",
    "InvalidRequestError",
    "LogprobsDelta",
    "Message",
    "ModelInfo",
    "ModelPrice",
    "ModerationRequest",
    "ModerationResponse",
    "ModerationResult",
    "NotFoundError",
    "OutputValidationError",
    "ProviderSettings",
    "ProviderUnavailableError",
    "QuotaExceededError",
    "RateLimitError",
    "Reasoning",
    "ReasoningDelta",
    "ReasoningPart",
    "RelayError",
    "RequestTimeoutError",
    "RerankRequest",
    "RerankResponse",
    "RerankResult",
    "ResponseFormat",
    "SSEDecoder",
    "SearchLocation",
    "SearchQuery",
    "Secret",
    "SpeechRequest",
    "SpeechResponse",
    "SpeechStream",
    "StepEnd",
    "StepStart",
    "StorageUnavailableError",
    "StreamError",
    "StreamEvent",
    "StreamStart",
    "SyncClient",
    "TextDelta",
    "TextPart",
    "TimedText",
    "TokenCount",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolLoopError",
    "ToolResultEvent",
    "ToolResultPart",
    "ToolRun",
    "ToolRunEvent",
    "ToolRunStream",
    "TranscriptionRequest",
    "TranscriptionResponse",
    "TranscriptionStream",
    "UntrustedCertificateError",
    "Usage",
    "UsageUpdate",
    "WebSearch",
    "__version__",
    "converter",
    "from_json",
    "hookimpl",
    "load_config",
    "to_json",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'relaykit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._hookimpl import hookimpl
    from .audio import AudioFile
    from .batches import Batch, BatchItem, BatchResult
    from .client import Client
    from .config import Config, load_config
    from .embeddings import EmbeddingRequest, EmbeddingResponse
    from .errors import (
        AuthenticationError,
        BatchItemNotRunError,
        CircuitOpenError,
        ClientClosedError,
        ConfigError,
        ContentFilterError,
        ContextLengthError,
        InvalidRequestError,
        NotFoundError,
        OutputValidationError,
        ProviderUnavailableError,
        QuotaExceededError,
        RateLimitError,
        RelayError,
        RequestTimeoutError,
        StorageUnavailableError,
        StreamError,
        ToolLoopError,
        UntrustedCertificateError,
    )
    from .events import (
        Finish,
        LogprobsDelta,
        ReasoningDelta,
        SearchQuery,
        StepEnd,
        StepStart,
        StreamEvent,
        StreamStart,
        TextDelta,
        ToolCallDelta,
        ToolResultEvent,
        ToolRunEvent,
        UsageUpdate,
    )
    from .function_tools import FunctionTool
    from .image_generation import GeneratedImage, ImageEditRequest, ImageRequest, ImageResponse
    from .image_inputs import ImageFile
    from .messages import (
        CachePoint,
        DocumentPart,
        ImagePart,
        Message,
        ReasoningPart,
        TextPart,
        ToolCall,
        ToolResultPart,
    )
    from .moderation import ModerationRequest, ModerationResponse, ModerationResult
    from .protocols import CallRecord, ProviderSettings
    from .request import ChatRequest, Reasoning, ResponseFormat, Tool, ToolChoice
    from .rerank import RerankRequest, RerankResponse, RerankResult
    from .response import ChatResponse, ModelInfo, ModelPrice, TokenCount, TokenLogprob, Usage
    from .secrets import Secret
    from .serialization import converter, from_json, to_json
    from .speech import SpeechRequest, SpeechResponse
    from .speech_stream import SpeechStream
    from .sse import SSEDecoder
    from .stream import ChatStream
    from .sync_client import SyncClient
    from .tool_loop import ToolRunStream
    from .tool_runs import ToolRun
    from .transcription import TimedText, TranscriptionRequest, TranscriptionResponse
    from .transcription_stream import TranscriptionStream
    from .web_search import Citation, SearchLocation, WebSearch
