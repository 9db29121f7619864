"""What relaykit-anthropic's tests share: the mock, expecting ``KEY``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaykit_anthropic.testing import AnthropicMock

#: the key the mock expects (the test modules say the same, as their ``KEY``)
KEY = "sk-ant-test-0123456789abcdef0123"


@pytest.fixture
def mock() -> Iterator[AnthropicMock]:
    """The vendor's wire format on 127.0.0.1."""
    with AnthropicMock(api_key=KEY) as m:
        yield m
