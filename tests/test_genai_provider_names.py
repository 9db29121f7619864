"""Each first-party provider type is named in telemetry as the OpenTelemetry GenAI
semantic conventions' well-known ``gen_ai.provider.name`` (openai, anthropic,
gcp.gemini, gcp.vertex_ai, aws.bedrock, azure.ai.openai, x_ai, mistral_ai, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import relaykit
from relaykit import metrics
from relaykit.metrics import SERVER_ATTRIBUTES, ProviderNames, provider_part
from relaykit.testing import OpenAIMock, TracingExporter

KEY = "sk-test-0123456789abcdef0123"

#: type -> its gen_ai.provider.name (the conventions' well-known values, else the type)
EXPECTED = {
    "openai": "openai",
    "anthropic": "anthropic",
    "vertex-anthropic": "gcp.vertex_ai",
    "foundry-anthropic": "foundry-anthropic",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "bedrock-mantle": "aws.bedrock",
    "azure": "azure.ai.openai",
    "xai": "x_ai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "ollama": "ollama",
    "openrouter": "openrouter",
}


def test_each_type_and_each_named_table_has_the_conventions_provider_name(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    # [providers.NAME] tables of every type, named otherwise: each reports its type's
    # well-known name, and its own name as relaykit.provider.
    tables = {f"my-{type_}": {"type": type_} for type_ in EXPECTED}
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}, "providers": tables}))
    names = client._registry.telemetry_names()
    for type_, genai in EXPECTED.items():
        assert provider_part(names[type_]) == (("gen_ai.provider.name", genai),), type_
        assert provider_part(names[f"my-{type_}"]) == (
            ("gen_ai.provider.name", genai),
            ("relaykit.provider", f"my-{type_}"),
        ), type_


def test_a_base_url_that_names_a_host_adds_the_server(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    # The conventions recommend server.address (and then require server.port) on the
    # gen_ai.client.* metrics: each provider's, from its base URL, worked out once.
    tables = {
        "openai": {"base_url": "http://llm.internal:8000/v1"},
        "work": {"type": "anthropic", "base_url": "https://claude.example.com"},
        "local": {"type": "openai", "base_url": "http://[::1]/v1"},
    }
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}, "providers": tables}))
    names = client._registry.telemetry_names()
    assert names["openai"] == (
        ("gen_ai.provider.name", "openai"),
        ("server.address", "llm.internal"),
        ("server.port", "8000"),
    )
    assert names["work"] == (
        ("gen_ai.provider.name", "anthropic"),
        ("relaykit.provider", "work"),
        ("server.address", "claude.example.com"),
        ("server.port", "443"),
    )
    assert names["local"][-2:] == (("server.address", "::1"), ("server.port", "80"))
    # a type left unconfigured has its vendor's default server
    assert names["gemini"][-2:] == (
        ("server.address", "generativelanguage.googleapis.com"),
        ("server.port", "443"),
    )


def _metrics_server(names: ProviderNames, name: str) -> dict[str, Any]:
    """The server a provider's gen_ai.client.* metrics carry, typed as on a span."""
    found = dict(pair for pair in names[name] if pair[0] in SERVER_ATTRIBUTES)
    if not found:
        return {}
    return {"server.address": found["server.address"], "server.port": int(found["server.port"])}


def test_spans_and_metrics_name_the_same_server_for_every_provider(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    # Spans worked their server.address and server.port out apart from the metrics'
    # (from the provider's full settings, which want its API key): a provider with
    # no key yet had none on its spans and one on its metrics, and a port out of
    # range raised ValueError out of the span. One computation now serves both.
    tables = {
        "custom-port": {"type": "openai", "base_url": "http://llm.internal:8000/v1"},
        "custom-https": {"type": "anthropic", "base_url": "https://claude.example.com"},
        "custom-http": {"type": "openai", "base_url": "http://[::1]/v1"},
        "custom-bad-port": {"type": "openai", "base_url": "http://llm.internal:99999/v1"},
    }
    client = closed_after(
        relaykit.Client(
            {"storage": {"backend": "none"}, "providers": tables},
            plugins=[TracingExporter()],
            env={},  # no API key for any provider
        )
    )
    names = client._registry.telemetry_names()
    tracer = client._tracer
    assert tracer is not None
    servers = {}
    for name in [*EXPECTED, *tables]:
        servers[name] = tracer._server(name)
        assert servers[name] == _metrics_server(names, name), name
    # each provider type with a default URL has its vendor's server on both
    assert servers["openai"] == {"server.address": "api.openai.com", "server.port": 443}
    assert servers["anthropic"] == {"server.address": "api.anthropic.com", "server.port": 443}
    assert servers["custom-port"] == {"server.address": "llm.internal", "server.port": 8000}
    assert servers["custom-https"] == {"server.address": "claude.example.com", "server.port": 443}
    assert servers["custom-http"] == {"server.address": "::1", "server.port": 80}
    assert servers["custom-bad-port"] == {}  # the call's own settings refuse it
    with_default = [t for t in EXPECTED if servers[t]]
    assert len(with_default) >= 10, with_default


@pytest.mark.anyio
async def test_a_calls_span_and_metrics_carry_the_same_server() -> None:
    tracing = TracingExporter()
    with OpenAIMock(api_key=KEY) as mock:
        providers = {"openai": {"base_url": mock.base_url, "api_key": KEY}}
        config = {"storage": {"backend": "none"}, "providers": providers}
        async with relaykit.Client(config, plugins=[tracing]) as c:
            await c.chat("openai/gpt-4o-mini", "hi")
            names = c._registry.telemetry_names()
    (span,) = tracing.finished()
    (record,) = tracing.records
    (duration,) = [
        o for o in metrics.observe(record, names) if o.instrument is metrics.OPERATION_DURATION
    ]
    on_metric = {k: v for k, v in duration.attributes if k in SERVER_ATTRIBUTES}
    assert span.attributes is not None
    on_span = {k: str(span.attributes[k]) for k in SERVER_ATTRIBUTES}
    assert on_span == on_metric
    assert on_metric["server.address"] == "127.0.0.1"
