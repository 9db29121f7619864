"""Test helpers for relaykit and its plugins: fakes, loopback vendor servers, contract suites.

Everything here runs offline. Import what you need from the submodules, or
from this package (names load lazily, so importing it costs nothing).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LoopbackServer": "loopback",
    "ScriptedServer": "loopback",
    "Request": "loopback",
    "Response": "loopback",
    "Pause": "loopback",
    "Drop": "loopback",
    "Reset": "loopback",
    "Raw": "loopback",
    "LoopbackTLS": "tls_certs",
    "loopback_tls": "tls_certs",
    "Reply": "script",
    "Script": "script",
    "VendorMock": "vendor_mock",
    "scripted_fault": "vendor_mock",
    "StallingProxy": "tcp_proxy",
    "ForwardProxy": "forward_proxy",
    "ProxiedRequest": "forward_proxy",
    "OpenAIMock": "openai_mock",
    "FakeProvider": "fake_provider",
    "FakePlugin": "fake_provider",
    "LoadPlugin": "limit_workload",
    "LimiterPlugin": "limiters",
    "frozen_limiter": "limiters",
    "FROZEN_NOW": "limiters",
    "MID_PERIOD": "limiters",
    "run_limit_workload": "limit_workload",
    "Harness": "provider_contract",
    "ProviderContract": "provider_contract",
    "EmbeddingContract": "provider_contract",
    "RerankContract": "provider_contract",
    "TranscriptionContract": "provider_contract",
    "ImageContract": "provider_contract",
    "ImageEditContract": "provider_contract",
    "ModerationContract": "provider_contract",
    "BatchContract": "provider_contract",
    "SpeechContract": "provider_contract",
    "WEATHER_TOOL": "provider_contract",
    "weather_tool_loop": "provider_contract",
    "PNG": "sample_files",
    "PDF": "sample_files",
    "MemoryStorage": "memory_storage",
    "RecordingExporter": "recording_exporter",
    "TracingExporter": "tracing_exporter",
    "StorageContract": "storage_contract",
    "CacheStoreContract": "cache_store_contract",
    "require_program": "services",
    "require_service": "services",
    "instant_retries": "retries",
    "one_try_config": "configs",
    "cancel_in_flight": "cancelling",
    "answer_and_stream": "both_ways",
    "bare_record": "records",
    "capture_call_log": "call_log_capture",
    "call_log_lines": "call_log_capture",
    "service_reachable": "services",
    "mock_vector": "embedding_vectors",
    "mock_relevance": "rerank_scores",
    "mock_ranking": "rerank_scores",
    "mock_moderation": "moderation_scores",
    "mock_flagged": "moderation_scores",
    "mock_embedding_tokens": "embedding_vectors",
    "MOCK_DIMENSIONS": "embedding_vectors",
    "mock_audio": "audio_samples",
    "mock_speech": "speech_samples",
    "mock_speech_text": "speech_samples",
    "mock_transcript": "audio_samples",
    "sweep_wrong_shapes": "wrong_shapes",
    "wrong_shapes": "wrong_shapes",
    "JSONConstant": "vendor_json",
    "strict_json": "vendor_json",
    "mock_seconds": "audio_samples",
    "mock_image": "image_samples",
    "mock_image_prompt": "image_samples",
    "mock_mask": "image_samples",
    "mock_pixel": "image_samples",
}

__all__ = [
    "FROZEN_NOW",
    "MID_PERIOD",
    "MOCK_DIMENSIONS",
    "PDF",
    "PNG",
    "WEATHER_TOOL",
    "BatchContract",
    "CacheStoreContract",
    "Drop",
    "EmbeddingContract",
    "FakePlugin",
    "FakeProvider",
    "ForwardProxy",
    "Harness",
    "ImageContract",
    "ImageEditContract",
    "JSONConstant",
    "LimiterPlugin",
    "LoadPlugin",
    "LoopbackServer",
    "LoopbackTLS",
    "MemoryStorage",
    "ModerationContract",
    "OpenAIMock",
    "Pause",
    "ProviderContract",
    "ProxiedRequest",
    "Raw",
    "RecordingExporter",
    "Reply",
    "Request",
    "RerankContract",
    "Reset",
    "Response",
    "Script",
    "ScriptedServer",
    "SpeechContract",
    "StallingProxy",
    "StorageContract",
    "TracingExporter",
    "TranscriptionContract",
    "VendorMock",
    "answer_and_stream",
    "bare_record",
    "call_log_lines",
    "cancel_in_flight",
    "capture_call_log",
    "frozen_limiter",
    "instant_retries",
    "loopback_tls",
    "mock_audio",
    "mock_embedding_tokens",
    "mock_flagged",
    "mock_image",
    "mock_image_prompt",
    "mock_mask",
    "mock_moderation",
    "mock_pixel",
    "mock_ranking",
    "mock_relevance",
    "mock_seconds",
    "mock_speech",
    "mock_speech_text",
    "mock_transcript",
    "mock_vector",
    "one_try_config",
    "require_program",
    "require_service",
    "run_limit_workload",
    "scripted_fault",
    "service_reachable",
    "strict_json",
    "sweep_wrong_shapes",
    "weather_tool_loop",
    "wrong_shapes",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'relaykit.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


if TYPE_CHECKING:
    from .audio_samples import mock_audio, mock_seconds, mock_transcript
    from .both_ways import answer_and_stream
    from .cache_store_contract import CacheStoreContract
    from .call_log_capture import call_log_lines, capture_call_log
    from .cancelling import cancel_in_flight
    from .configs import one_try_config
    from .embedding_vectors import MOCK_DIMENSIONS, mock_embedding_tokens, mock_vector
    from .fake_provider import FakePlugin, FakeProvider
    from .forward_proxy import ForwardProxy, ProxiedRequest
    from .image_samples import mock_image, mock_image_prompt, mock_mask, mock_pixel
    from .limit_workload import LoadPlugin, run_limit_workload
    from .limiters import FROZEN_NOW, MID_PERIOD, LimiterPlugin, frozen_limiter
    from .loopback import (
        Drop,
        LoopbackServer,
        Pause,
        Raw,
        Request,
        Reset,
        Response,
        ScriptedServer,
    )
    from .memory_storage import MemoryStorage
    from .moderation_scores import mock_flagged, mock_moderation
    from .openai_mock import OpenAIMock
    from .provider_contract import (
        WEATHER_TOOL,
        BatchContract,
        EmbeddingContract,
        Harness,
        ImageContract,
        ImageEditContract,
        ModerationContract,
        ProviderContract,
        RerankContract,
        SpeechContract,
        TranscriptionContract,
        weather_tool_loop,
    )
    from .recording_exporter import RecordingExporter
    from .records import bare_record
    from .rerank_scores import mock_ranking, mock_relevance
    from .retries import instant_retries
    from .sample_files import PDF, PNG
    from .script import Reply, Script
    from .services import require_program, require_service, service_reachable
    from .speech_samples import mock_speech, mock_speech_text
    from .storage_contract import StorageContract
    from .tcp_proxy import StallingProxy
    from .tls_certs import LoopbackTLS, loopback_tls
    from .tracing_exporter import TracingExporter
    from .vendor_json import JSONConstant, strict_json
    from .vendor_mock import VendorMock, scripted_fault
    from .wrong_shapes import sweep_wrong_shapes, wrong_shapes
