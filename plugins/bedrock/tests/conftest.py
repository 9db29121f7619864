"""Keep the developer's AWS setup out of the Bedrock tests; use the mock's test credentials."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit_bedrock.testing import BedrockMock, mock_aws_environment


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The mock's SigV4 credentials and region, and nothing from ~/.aws, IMDS or containers."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in mock_aws_environment(tmp_path).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def mock() -> Iterator[BedrockMock]:
    """A running Bedrock mock accepting the test credentials."""
    with BedrockMock() as server:
        yield server


#: the ``make_client`` fixture: ``make_client(retry=2, region="eu-west-1")``
MakeClient = Callable[..., relaykit.Client]


def invocations(mock: BedrockMock) -> list[Any]:
    """The requests ``mock`` took to a model's ``/invoke`` (not Converse's)."""
    return [r for r in mock.requests if r.path.endswith("/invoke")]


def bodies(mock: BedrockMock) -> list[Any]:
    """The JSON bodies of :func:`invocations`."""
    return [r.json() for r in invocations(mock)]


@pytest.fixture
def make_client(mock: BedrockMock) -> MakeClient:
    """Build a client reaching ``mock``; keyword arguments override ``[providers.bedrock]``."""

    def make(*, retry: int = 1, **provider: Any) -> relaykit.Client:
        settings = {"base_url": mock.base_url, "control_plane_url": mock.base_url, **provider}
        return relaykit.Client(
            {
                "storage": {"backend": "none"},
                "retry": {"attempts": retry, "initial_wait": 0, "max_retry_after": 0},
                "providers": {"bedrock": {k: v for k, v in settings.items() if v is not None}},
            }
        )

    return make
