"""What relaykit-openai's tests share: the mock, expecting ``KEY``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaykit.testing import OpenAIMock

#: the key the mock expects (the test modules say the same, as their ``KEY``)
KEY = "sk-test-0123456789abcdef0123"


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    """The vendor's wire format on 127.0.0.1."""
    with OpenAIMock(api_key=KEY) as m:
        yield m
