"""Fixtures for the core's tests: a loopback OpenAI server and configs pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from relaykit.testing import OpenAIMock

MOCK_KEY = "sk-mock-1234567890abcdef"

#: write_config(api_key=..., extra="toml text") -> path of a relaykit.toml
WriteConfig = Callable[..., Path]


@pytest.fixture
def openai_mock() -> Iterator[OpenAIMock]:
    """OpenAI's wire format on 127.0.0.1, expecting the key ``sk-mock-1234567890abcdef``."""
    with OpenAIMock(api_key=MOCK_KEY) as mock:
        yield mock


@pytest.fixture
def write_config(openai_mock: OpenAIMock, tmp_path: Path) -> WriteConfig:
    """Write a relaykit.toml: no call log, instant retries, OpenAI at the mock."""

    def write(*, api_key: str = MOCK_KEY, extra: str = "", name: str = "relaykit.toml") -> Path:
        path = tmp_path / name
        path.write_text(
            f"""
[storage]
backend = "none"

[retry]
initial_wait = 0.01

[providers.openai]
base_url = "{openai_mock.base_url}"
api_key = "{api_key}"

{extra}
"""
        )
        return path

    return write


@pytest.fixture
def cli_config(write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config :func:`relaykit.cli.main` finds through ``$RELAYKIT_CONFIG``."""
    path = write_config()
    monkeypatch.setenv("RELAYKIT_CONFIG", str(path))
    return path
