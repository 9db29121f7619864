"""relaykit-ollama passes the provider contract, locally and behind a keyed proxy."""

from collections.abc import Iterator
from typing import Any

import pytest

from relaykit.testing import EmbeddingContract, Harness, ProviderContract
from relaykit_ollama.testing import OllamaMock

# Ollama reports neither cached nor reasoning token counts, never says how
# long to wait after a 429 (which only proxies in front of it send), and its
# messages carry text and images only: a document is refused before sending. It has no
# tool_choice: "required" or a tool's name is refused before sending.
FLAGS: dict[str, Any] = {
    "supports_tool_choice": False,
    "supports_cached_tokens": False,
    "supports_reasoning_tokens": False,
    "supports_retry_after": False,
    "supports_documents": False,
}


class TestOllama(ProviderContract, EmbeddingContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OllamaMock() as mock:
            yield Harness(
                mock=mock,
                model="ollama/llama3.2",
                providers={"ollama": {"base_url": mock.base_url}},
                embedding_model="ollama/nomic-embed-text",
                # Llama 3.2 does not think: Qwen3 takes think true or false.
                reasoning_model="ollama/qwen3:8b",
                **FLAGS,
            )


class TestOllamaBehindAProxy(ProviderContract, EmbeddingContract):
    """A bearer key (ollama.com, or a proxy), tool call ids, and a host given without scheme."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OllamaMock(api_key="ollama-test-key-0123456789", call_ids=True) as mock:
            yield Harness(
                mock=mock,
                model="ollama/qwen3:8b",
                providers={
                    "ollama": {
                        "base_url": mock.base_url.removeprefix("http://"),
                        "api_key": "ollama-test-key-0123456789",
                    }
                },
                embedding_model="ollama/nomic-embed-text:latest",
                # gpt-oss takes a level (think "high") as well as false.
                reasoning_model="ollama/gpt-oss:20b",
                **FLAGS,
            )
