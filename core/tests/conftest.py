"""Fixtures for the core's tests: a loopback OpenAI server and configs pointing at it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.testing import OpenAIMock

MOCK_KEY = "sk-mock-1234567890abcdef"

#: the settings of a test client of fakes: no call log, and retries that do not wait
SETTINGS: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"initial_wait": 0}}


def client(*plugins: object, **sections: Any) -> relaykit.Client:
    """A client of ``plugins`` (fakes, mocks) with :data:`SETTINGS` and ``sections``."""
    return relaykit.Client({**SETTINGS, **sections}, plugins=plugins)


def uninstall(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make the entry points ``names`` (all of them when none are given) look not
    installed: the workspace installs every relaykit plugin, and one the
    environment leaves out (``RELAYKIT_PLUGINS``) is disabled, not missing."""
    import relaykit.plugins

    installed = relaykit.plugins._discovered()
    kept = tuple(found for found in installed if names and found.name not in names)
    monkeypatch.setattr(relaykit.plugins, "_discovered", lambda: kept)


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


class Tickets:
    """A redactor plugin: ``TICKET-<digits>`` goes out as ``mark``; ``restore`` puts
    ``restored`` back in its place (with ``None``, it leaves a text as it is)."""

    def __init__(self, mark: str = "<T>", restored: str | None = None) -> None:
        self.mark = mark
        self.restored = restored

    def redact(self, text: str) -> str:
        return re.sub(r"TICKET-\d+", self.mark, text)

    def restore(self, text: str) -> str:
        return text if self.restored is None else text.replace(self.mark, self.restored)

    @relaykit.hookimpl
    def relaykit_redactors(self, config: Any) -> Sequence[Any]:
        return [self]
