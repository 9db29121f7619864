"""What relaykit-gemini's tests share: the mock, expecting ``KEY``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaykit_gemini.testing import GeminiMock

#: the key the mock expects (test modules that check it say the same)
KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"


@pytest.fixture
def mock() -> Iterator[GeminiMock]:
    """Gemini's API on 127.0.0.1."""
    with GeminiMock(api_key=KEY) as m:
        yield m
