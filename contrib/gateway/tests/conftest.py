"""Fixtures for the gateway's tests: a fake provider, a recording exporter."""

from __future__ import annotations

import pytest

from relaykit.testing import FakePlugin, RecordingExporter


@pytest.fixture
def fake() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
def records() -> RecordingExporter:
    return RecordingExporter()
