"""The ``vendor`` fixture: each test in this folder runs against every chat API's mock.

Tests run under pytest's importlib mode, where a test module cannot import a helper
module, so what they share is a fixture. (In a folder of its own: a
``tests/conftest.py`` would take the module name ``tests.conftest``, which
``core/tests/conftest.py``, in the package ``tests``, has already.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from relaykit.testing import OpenAIMock
from relaykit.testing.vendor_mock import VendorMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_bedrock.testing import BedrockMock
from relaykit_cohere.testing import CohereMock
from relaykit_gemini.testing import GeminiMock
from relaykit_ollama.testing import OllamaMock

#: the key every vendor mock of :func:`vendor` expects
VENDOR_KEY = "test-key-0123456789abcdefghijklmnop"

#: API -> (the mock, the provider table for its base URL, a model it serves; the
#: model's provider part names the table)
VENDOR_MOCKS: dict[
    str, tuple[Callable[[], AbstractContextManager[Any]], Callable[[str], dict[str, Any]], str]
] = {
    "openai": (
        lambda: OpenAIMock(api_key=VENDOR_KEY),
        lambda url: {"base_url": url, "api_key": VENDOR_KEY},
        "openai/gpt-4o-mini",
    ),
    "openai-responses": (
        lambda: OpenAIMock(api_key=VENDOR_KEY),
        lambda url: {"base_url": url, "api_key": VENDOR_KEY, "api": "responses", "type": "openai"},
        "openai-responses/gpt-4o-mini",
    ),
    "anthropic": (
        lambda: AnthropicMock(api_key=VENDOR_KEY),
        lambda url: {"base_url": url, "api_key": VENDOR_KEY},
        "anthropic/claude-haiku-4-5",
    ),
    "gemini": (
        lambda: GeminiMock(api_key=VENDOR_KEY),
        lambda url: {"base_url": url, "api_key": VENDOR_KEY},
        "gemini/gemini-2.5-flash",
    ),
    "ollama": (OllamaMock, lambda url: {"base_url": url}, "ollama/llama3.2"),
    "bedrock": (
        lambda: BedrockMock(bearer_token=VENDOR_KEY),
        lambda url: {"base_url": url, "control_plane_url": url, "api_key": VENDOR_KEY},
        "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
    "bedrock-messages": (  # Claude 4.7 on: Bedrock's Messages API, not Converse
        lambda: BedrockMock(bearer_token=VENDOR_KEY),
        lambda url: {"base_url": url, "control_plane_url": url, "api_key": VENDOR_KEY},
        "bedrock/global.anthropic.claude-opus-4-7",
    ),
    "cohere": (
        lambda: CohereMock(api_key=VENDOR_KEY),
        lambda url: {"base_url": url, "api_key": VENDOR_KEY},
        "cohere/command-a-03-2025",
    ),
}


@pytest.fixture(params=sorted(VENDOR_MOCKS))
def vendor(request: pytest.FixtureRequest) -> Iterator[tuple[VendorMock, dict[str, Any], str]]:
    """Each chat API a plugin here speaks, in turn: ``(mock, providers, model)``.

    ``providers`` is the ``[providers]`` config table pointing at the running
    mock (which expects :data:`VENDOR_KEY`); ``model`` is one it serves.
    """
    make, table, model = VENDOR_MOCKS[request.param]
    name = model.split("/", 1)[0]
    with make() as mock:
        yield mock, {name: table(mock.base_url)}, model
