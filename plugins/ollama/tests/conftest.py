"""What relaykit-ollama's tests share: the mock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaykit_ollama.testing import OllamaMock


@pytest.fixture
def mock() -> Iterator[OllamaMock]:
    """Ollama's API on 127.0.0.1."""
    with OllamaMock() as m:
        yield m
