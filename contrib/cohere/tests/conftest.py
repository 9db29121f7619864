"""What relaykit-cohere's tests share: the mock, expecting ``KEY``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaykit_cohere.testing import CohereMock

#: the key the mock expects (the tests' own copies say the same)
KEY = "co-test-key-0123456789abcdef"


@pytest.fixture
def mock() -> Iterator[CohereMock]:
    """Cohere's wire format on 127.0.0.1."""
    with CohereMock(api_key=KEY) as m:
        yield m
