"""Each first-party provider type is named in telemetry as the OpenTelemetry GenAI
semantic conventions' well-known ``gen_ai.provider.name`` (openai, anthropic,
gcp.gemini, gcp.vertex_ai, aws.bedrock, azure.ai.openai, x_ai, mistral_ai, ...)."""

from __future__ import annotations

from collections.abc import Callable

import relaykit
from relaykit.metrics import provider_part

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
