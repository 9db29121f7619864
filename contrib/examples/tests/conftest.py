"""Fixtures for the examples' tests: a mock of OpenAI on loopback, and configs aimed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from relaykit.testing import OpenAIMock, Request, Response

KEY = "sk-examples-0123456789abcdef"


class PeakMock(OpenAIMock):
    """:class:`OpenAIMock` that remembers the most requests it was answering at once."""

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key)
        self.answering = 0
        self.peak = 0

    async def route(self, request: Request) -> Response:
        """Answer as OpenAI would, counting the requests in progress."""
        # Every connection is served on the mock's one event-loop thread: no lock needed.
        self.answering += 1
        self.peak = max(self.peak, self.answering)
        try:
            return await super().route(request)
        finally:
            self.answering -= 1


@pytest.fixture
def mock() -> Iterator[PeakMock]:
    """OpenAI's wire format on 127.0.0.1, expecting the key ``mock.api_key``."""
    with PeakMock(KEY) as server:
        yield server


@pytest.fixture
def most_at_once(mock: PeakMock) -> Callable[[], int]:
    """The most requests the mock has been answering at once, so far."""
    return lambda: mock.peak


@pytest.fixture
def at_mock(mock: PeakMock) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Aim an example's CONFIG at the mock, with no call log: the whole path is real HTTP."""

    def aim(config: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **config,
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        }

    return aim
