"""Fixtures for the gateway's tests: a fake provider, a recording exporter, vendor mocks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaykit.testing import FakePlugin, OpenAIMock, RecordingExporter
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import UPSTREAM_KEY


@pytest.fixture
def fake() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
def records() -> RecordingExporter:
    return RecordingExporter()


@pytest.fixture
def openai_mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=UPSTREAM_KEY) as mock:
        yield mock


@pytest.fixture
def anthropic_mock() -> Iterator[AnthropicMock]:
    with AnthropicMock(api_key=UPSTREAM_KEY) as mock:
        yield mock
