"""Fixtures for the gateway's tests: a fake provider, a recording exporter, vendor mocks;
and a gateway over a client with the SDKs that call it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

import relaykit
from relaykit.log_format import JsonFormatter
from relaykit.testing import FakePlugin, OpenAIMock, RecordingExporter
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running


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


@pytest.fixture
def mocks(
    openai_mock: OpenAIMock, anthropic_mock: AnthropicMock
) -> tuple[OpenAIMock, AnthropicMock]:
    """Both vendors' mocks, for tests that send to either."""
    return openai_mock, anthropic_mock


@asynccontextmanager
async def gateway_over(fake: FakePlugin, *plugins: Any, **config: Any) -> AsyncIterator[str]:
    """A client over ``fake`` (and ``plugins``) behind a gateway, with no call log and
    one try a call, ``config`` adding sections; yields the gateway's URL."""
    base = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    client = relaykit.Client({**base, **config}, plugins=[fake, *plugins])
    async with client, running(client) as url:
        yield url


def openai_sdk(url: str, key: str = KEY) -> openai.AsyncOpenAI:
    """OpenAI's SDK calling the gateway at ``url`` with ``key``."""
    # no retries of the SDK's own: the gateway's client does those
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def anthropic_sdk(url: str, key: str = KEY) -> anthropic.AsyncAnthropic:
    """Anthropic's SDK calling the gateway at ``url`` with ``key``."""
    return anthropic.AsyncAnthropic(base_url=url, api_key=key, max_retries=0)


def sqlite_dump(path: Path) -> str:
    """Everything a SQLite file holds, as the SQL that would make it again."""
    with closing(sqlite3.connect(path)) as db:
        return "\n".join(db.iterdump())


def json_log(caplog: pytest.LogCaptureFixture) -> str:
    """The lines ``caplog`` caught, each as relaykit's JSON formatter writes it."""
    formatter = JsonFormatter()
    return "\n".join(formatter.format(r) for r in caplog.records)
