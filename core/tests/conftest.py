"""Fixtures and fakes the core's tests share: a loopback OpenAI server and configs
pointing at it, a storage that fails on purpose with a call log over it
(test_storage_faults.py, test_spill_replay.py), a cache store that can be told to fail
(the test_cache_*.py modules), a tracing exporter, and ``--mcp`` tool servers.

A test module takes these from here, never from another test module."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio.lowlevel
import pytest

import relaykit
from relaykit import Config, FunctionTool, Secret, hookimpl
from relaykit.call_log import CallLog
from relaykit.config import LimitConfig
from relaykit.gauge_events import StorageEvent
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.metrics import observe
from relaykit.protocols import CallRecord, Reservation
from relaykit.testing import MemoryStorage, OpenAIMock

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


def token_metrics(operation: str, model: str, usage: relaykit.Usage) -> list[tuple[float, str]]:
    """What the metrics count of a finished ``operation`` call to ``model``
    (``provider/name``) that used ``usage``: each ``gen_ai.client.token.usage`` point,
    as its value and token type."""
    provider, name = model.split("/", 1)
    record = relaykit.CallRecord(
        id="r",
        started_at=0.0,
        operation=operation,
        provider=provider,
        model_requested=model,
        model=name,
        streamed=False,
        usage=usage,
        latency=0.1,
    )
    return [
        (o.value, str(dict(o.attributes)["gen_ai.token.type"]))
        for o in observe(record)
        if o.instrument.name == "gen_ai.client.token.usage"
    ]


#: write_config(api_key=..., extra="toml text") -> path of a relaykit.toml
WriteConfig = Callable[..., Path]


@pytest.fixture
def openai_mock() -> Iterator[OpenAIMock]:
    """OpenAI's wire format on 127.0.0.1, expecting the key ``sk-mock-1234567890abcdef``."""
    with OpenAIMock(api_key=MOCK_KEY) as mock:
        yield mock


@pytest.fixture
def primary() -> Iterator[OpenAIMock]:
    """A first OpenAI deployment on 127.0.0.1 (for routes that fall back to ``backup``),
    expecting the key ``primary.api_key``."""
    with OpenAIMock(api_key=MOCK_KEY) as mock:
        yield mock


@pytest.fixture
def backup() -> Iterator[OpenAIMock]:
    """A second OpenAI deployment on 127.0.0.1, beside ``primary``."""
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


@pytest.fixture
def logged_config(openai_mock: OpenAIMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config :func:`relaykit.cli.main` finds through ``$RELAYKIT_CONFIG``: the call
    log on, in a SQLite file (``tmp_path / "logs.db"``), and OpenAI at the mock."""
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f"""
[storage]
backend = "sqlite"
path = "{tmp_path / "logs.db"}"

[providers.openai]
base_url = "{openai_mock.base_url}"
api_key = "{MOCK_KEY}"
"""
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    return config


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


# -- a storage that fails, and a call log over it ----------------------------------

#: a secret the failing storage's error quotes (it must reach no log, nor the spill file)
SECRET = "sk-proj-" + "Spill9" * 6


class FailingStorage(MemoryStorage):
    """Fails ``write_batch`` with ``error`` ``failures`` times (forever while ``down``), and
    always for a batch holding a record whose id is in ``poison``."""

    def __init__(
        self, failures: int = 0, error: Exception | None = None, *, down: bool = False
    ) -> None:
        super().__init__()
        self.failures = failures
        self.error = error or relaykit.StorageUnavailableError("connection refused")
        self.down = down
        self.poison: set[str] = set()
        self.attempts = 0

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        self.attempts += 1
        await anyio.lowlevel.checkpoint()
        if any(r.id in self.poison for r in records):
            raise ValueError(f"cannot serialise a record ({SECRET})")
        if self.down or self.failures > 0:
            self.failures -= 1
            raise self.error
        await super().write_batch(records)


def quick_log(
    storage: MemoryStorage,
    tmp_path: Path,
    *,
    max_queue: int = 50,
    on_event: Callable[[StorageEvent], None] | None = None,
    **kw: float,
) -> CallLog:
    """A call log whose waits take milliseconds, spilling to ``tmp_path/spill.jsonl``."""
    settings = {"initial_wait": 0.005, "max_wait": 0.02, **kw}
    return CallLog(
        storage,
        max_queue=max_queue,
        max_batch=20,
        spill_path=tmp_path / "spill.jsonl",
        on_event=on_event,
        **settings,  # type: ignore[arg-type]  # floats only: retry_for, close_timeout, waits
    )


class WaitingLimiter:
    """The memory limiter behind a network hop, as a shared limiter is: every
    decision waits once, and there are no synchronous twins to take instead."""

    def __init__(self) -> None:
        self._limits = MemoryRateLimiter()
        self.held = 0  # reservations acquired and not reconciled yet

    async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
        await anyio.lowlevel.checkpoint()
        reservation = self._limits.acquire_nowait(key, limit, tokens)
        self.held += 1
        return reservation

    async def reconcile(
        self, reservation: Reservation, actual_tokens: int, *, cost: Decimal | None = None
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self._limits.reconcile_nowait(reservation, actual_tokens)
        self.held -= 1


class WaitingLimiterPlugin:
    def __init__(self) -> None:
        self.limiter = WaitingLimiter()

    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: object) -> WaitingLimiter | None:
        return self.limiter if name == "waiting" else None


# -- a cache store that can be told to fail ----------------------------------------


class StorePlugin:
    """Offers ``store`` as ``[cache] backend = "shelf"``, and remembers the config it got."""

    __name__ = "shelf-plugin"

    def __init__(self, store: Any) -> None:
        self.store = store
        self.config: Config | None = None

    @hookimpl
    def relaykit_response_cache(self, name: str, config: Config) -> Any:
        if name != "shelf":
            return None
        self.config = config
        return self.store


class Shelf(MemoryStorage):
    """A cache store (MemoryStorage's cache methods) that can be told to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: Exception | None = None
        self.calls = 0

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        self._maybe_fail()
        return await super().cached_response(key)

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        self._maybe_fail()
        await super().cache_response(key, expires_at, response)

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        self._maybe_fail()
        return await super().cached_responses(keys)

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        self._maybe_fail()
        await super().cache_responses(entries)

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failing is not None:
            raise self.failing


# -- tool servers for ``--mcp`` (test_cli_mcp.py, test_cli_tools.py) -----------------

TOKEN = "mcp-cli-token-3f8a1c6e2b"


def clock(city: str) -> str:
    """The time in a city."""
    return f"12:00 in {city}"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class NamedSecrets:
    """A tool source that names the secrets it holds (``relaykit_tool_source``'s
    ``secrets`` attribute), around one that does not."""

    def __init__(self, source: Any, secrets: Any) -> None:
        self._source = source
        self.secrets = secrets

    async def __aenter__(self) -> Any:
        return await self._source.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._source.__aexit__(*exc_info)


class ToolServers:
    """Takes the specs it has tools for; notes each connection's opening and closing.

    A spec in ``secrets`` gets a source that names those as the secrets it holds;
    the others, a plain async context manager (as a plugin written before
    ``secrets`` returns)."""

    def __init__(
        self, tools: Mapping[str, Sequence[Any]], secrets: Mapping[str, Any] | None = None
    ) -> None:
        self.tools = {
            spec: [FunctionTool.from_function(f) for f in fs] for spec, fs in tools.items()
        }
        self.secrets = dict(secrets or {})
        self.asked: list[tuple[str, dict[str, str], Config]] = []
        self.log: list[str] = []

    @hookimpl
    def relaykit_tool_source(self, spec: str, headers: Mapping[str, Secret], config: Config) -> Any:
        if spec not in self.tools:
            return None
        self.asked.append((spec, {k: v.reveal() for k, v in headers.items()}, config))

        @asynccontextmanager
        async def connected() -> AsyncIterator[list[FunctionTool]]:
            self.log.append(f"open {spec}")
            try:
                yield self.tools[spec]
            finally:
                self.log.append(f"close {spec}")

        if spec in self.secrets:
            return NamedSecrets(connected(), self.secrets[spec])
        return connected()
