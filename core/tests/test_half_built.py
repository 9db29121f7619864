"""A client whose construction or start fails part-way closes what it had made.

``Client(...)`` builds exporters (a StatsD socket, a Prometheus server thread), a
rate limiter, a storage backend and a cache store; a ``ConfigError`` from a later
step left the earlier ones open: a socket reported at garbage collection (a
ResourceWarning, an error under ``-W error``), a server thread holding its port
until the process ended. The fakes here hold real sockets, and each test checks
both that they were closed and that garbage collection finds nothing unclosed.
"""

from __future__ import annotations

import gc
import socket
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import hookimpl
from relaykit.memory_limiter import MemoryRateLimiter
from relaykit.testing import FakePlugin, FakeProvider

#: a config whose storage backend no plugin provides: a ConfigError raised after
#: the exporters and the limiter are built
NO_SUCH_STORAGE: dict[str, Any] = {"storage": {"backend": "nowhere"}}


@contextmanager
def nothing_left_unclosed() -> Iterator[None]:
    """Fail if garbage collection inside the block (or right after it) reports an
    unclosed resource: what ``-W error::ResourceWarning`` would turn into an error
    in whatever test ran next."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


class SocketHolder:
    """Something a plugin made that holds a UDP socket until closed; ``sync``
    says whether it offers ``close()`` besides ``aclose()``."""

    def __init__(self, opened: list[SocketHolder]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.closes = 0
        opened.append(self)

    @property
    def closed(self) -> bool:
        return self.sock.fileno() == -1

    def record(self, event: object) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        self.closes += 1
        self.sock.close()


class SyncClosable(SocketHolder):
    def close(self) -> None:
        self.closes += 1
        self.sock.close()


class Exporters:
    """Gives one exporter of ``kind`` per client; remembers each."""

    def __init__(self, kind: type[SocketHolder] = SocketHolder) -> None:
        self.kind = kind
        self.opened: list[SocketHolder] = []

    @hookimpl
    def relaykit_exporters(self, config: Any) -> Any:
        return [self.kind(self.opened)]


class RaisingExporters:
    """A second exporter plugin whose hook raises (after the first one's made its socket)."""

    @hookimpl
    def relaykit_exporters(self, config: Any) -> Any:
        raise OSError("[Errno 98] Address already in use")


class SocketLimiter(MemoryRateLimiter):
    """An in-memory limiter that holds a socket (as a limiter over the network
    would), and enforces no budgets."""

    supports_budgets = False

    def __init__(self, opened: list[SocketHolder]) -> None:
        super().__init__()
        self.holder = SocketHolder(opened)

    async def aclose(self) -> None:
        await self.holder.aclose()


class Limiters:
    def __init__(self) -> None:
        self.opened: list[SocketHolder] = []

    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: Any) -> Any:
        return SocketLimiter(self.opened) if name == "sockets" else None


class SocketStore(SocketHolder):
    """A response cache store over a socket, that never finds anything."""

    async def cached_response(self, key: str) -> None:
        return None

    async def cache_response(self, key: str, value: object, ttl: float) -> None:
        pass


class CacheStores:
    """Gives a :class:`SocketStore` for ``[cache] backend = "sockets"``; for
    ``"wrong"``, one whose ``cached_response`` is not a coroutine function."""

    def __init__(self) -> None:
        self.opened: list[SocketHolder] = []

    @hookimpl
    def relaykit_response_cache(self, name: str, config: Any) -> Any:
        if name == "sockets":
            return SocketStore(self.opened)
        if name == "wrong":
            store = SocketHolder(self.opened)
            store.cached_response = lambda key: None  # type: ignore[attr-defined]
            return store
        return None


def all_closed(*plugins: Exporters | Limiters | CacheStores) -> bool:
    opened = [holder for plugin in plugins for holder in plugin.opened]
    return bool(opened) and all(h.closed and h.closes == 1 for h in opened)


def build(config: dict[str, Any], *plugins: object) -> Callable[[], relaykit.Client]:
    return lambda: relaykit.Client({"retry": {"initial_wait": 0}, **config}, plugins=plugins)


#: configs whose errors the client finds only once it asks its plugins (not in
#: load_config): a backend no plugin provides
LATE_ERRORS = [
    pytest.param(NO_SUCH_STORAGE, id="storage"),
    pytest.param({"storage": {"backend": "none"}, "cache": {"backend": "nowhere"}}, id="cache"),
    pytest.param(
        {
            "storage": {"backend": "none"},
            "limits": {"*": {"rpm": 5}},
            "limiter": {"backend": "nowhere"},
        },
        id="limiter",
    ),
]


@pytest.mark.parametrize("config", LATE_ERRORS)
def test_a_config_error_of_storage_cache_or_limits_opens_no_exporter(
    config: dict[str, Any],
) -> None:
    # Checked first: the errors a user meets most (a misspelt or uninstalled
    # backend) come before anything that opens a socket or starts a thread.
    exporters = Exporters()
    with nothing_left_unclosed(), pytest.raises(relaykit.ConfigError, match="no plugin provides"):
        build(config, exporters)()
    assert exporters.opened == []


@pytest.mark.parametrize("kind", [SocketHolder, SyncClosable])
def test_an_exporter_plugin_raising_closes_what_was_made_before_it(
    kind: type[SocketHolder],
) -> None:
    # The exporters come last, but a later exporter plugin can still fail (a
    # Prometheus port in use): the earlier exporters, the limiter and the cache
    # store are closed, each once (close() when it has one, else aclose()).
    limiters, stores, exporters = Limiters(), CacheStores(), Exporters(kind)
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "sockets"},
        "limits": {"*": {"rpm": 5}},
        "cache": {"backend": "sockets"},
    }
    with (
        nothing_left_unclosed(),
        pytest.raises(relaykit.ConfigError, match="Address already in use"),
    ):
        build(config, limiters, stores, exporters, RaisingExporters())()
    assert all_closed(limiters, stores, exporters)


@pytest.mark.anyio
async def test_a_failed_constructor_closes_what_it_made_inside_a_running_event_loop() -> None:
    # The constructor is synchronous and may run inside an event loop (asyncio's
    # or trio's), which it cannot wait on: an aclose() is run to its end anyway.
    exporters = Exporters()
    with nothing_left_unclosed(), pytest.raises(relaykit.ConfigError):
        build({"storage": {"backend": "none"}}, exporters, RaisingExporters())()
    assert all_closed(exporters)


def test_a_limiter_refused_for_budgets_is_closed() -> None:
    limiters = Limiters()
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "sockets"},
        "limits": {"*": {"budget_usd": 5}},
    }
    with (
        nothing_left_unclosed(),
        pytest.raises(relaykit.ConfigError, match="does not enforce budget_usd"),
    ):
        build(config, limiters)()
    assert all_closed(limiters)


def test_a_cache_store_refused_for_its_shape_is_closed() -> None:
    # Made by its plugin before the client could look at it: a socket, maybe.
    stores = CacheStores()
    with (
        nothing_left_unclosed(),
        pytest.raises(relaykit.ConfigError, match="not a coroutine function"),
    ):
        build({"storage": {"backend": "none"}, "cache": {"backend": "wrong"}}, stores)()
    assert all_closed(stores)


class FailingClose(SocketHolder):
    """An exporter whose close fails, once its own socket is closed."""

    async def aclose(self) -> None:
        await super().aclose()
        raise RuntimeError("the agent did not take the last flush")


@pytest.mark.anyio
async def test_an_exporter_failing_to_close_does_not_keep_the_rest_open() -> None:
    # Closed one after another: the first error stopped the closing, leaving the
    # later exporters, the limiter, the cache store and the HTTP clients open.
    failing, limiters, stores, exporters = (
        Exporters(FailingClose),
        Limiters(),
        CacheStores(),
        Exporters(),
    )
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "sockets"},
        "limits": {"*": {"rpm": 5}},
        "cache": {"backend": "sockets"},
    }
    client = build(config, failing, limiters, stores, exporters)()
    with nothing_left_unclosed(), pytest.raises(RuntimeError, match="last flush"):
        async with client:
            pass
    assert all_closed(failing, limiters, stores, exporters)


class RefusingProvider(FakeProvider):
    """A provider whose constructor refuses its settings (after the client made
    the HTTP client it is given)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise relaykit.ConfigError("providers.fake.options.region is not a region")


class TrackedHttp:
    """An HTTP client of a plugin's: it notes its close."""

    def __init__(self, made: list[TrackedHttp]) -> None:
        self.closed = False
        made.append(self)

    async def aclose(self) -> None:
        self.closed = True


class HttpClients:
    def __init__(self) -> None:
        self.made: list[TrackedHttp] = []

    @hookimpl
    def relaykit_http_client(self, config: Any, options: Any) -> Any:
        return TrackedHttp(self.made)


@pytest.mark.anyio
async def test_a_provider_failing_to_build_leaves_its_http_client_to_the_close() -> None:
    # Each call built the provider again, with a new HTTP client, and dropped it:
    # an aiohttp session then reported itself unclosed at garbage collection.
    http = HttpClients()
    fake = FakePlugin(provider=RefusingProvider)
    async with build({"storage": {"backend": "none"}}, fake, http)() as client:
        for _ in range(3):
            with pytest.raises(relaykit.ConfigError, match="not a region"):
                await client.chat("fake/m", "hi")
    assert len(http.made) == 1
    assert http.made[0].closed


class FailingCloseProvider(FakeProvider):
    async def aclose(self) -> None:
        raise RuntimeError("the provider's own session would not close")


@pytest.mark.anyio
async def test_a_provider_failing_to_close_does_not_keep_the_http_clients_open() -> None:
    http = HttpClients()
    fake = FakePlugin(provider=FailingCloseProvider)
    client = build({"storage": {"backend": "none"}}, fake, http)()
    with pytest.raises(RuntimeError, match="would not close"):
        async with client:
            await client.chat("fake/m", "hi")
    assert [h.closed for h in http.made] == [True]


class RaisingCacheStores:
    """A cache store plugin whose hook raises (its server refused the connection)."""

    @hookimpl
    def relaykit_response_cache(self, name: str, config: Any) -> Any:
        raise ConnectionRefusedError("[Errno 111] Connection refused")


def test_a_cache_store_plugin_raising_closes_the_limiter_and_opens_no_exporter() -> None:
    limiters, exporters = Limiters(), Exporters()
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "sockets"},
        "limits": {"*": {"rpm": 5}},
        "cache": {"backend": "refusing"},
    }
    with nothing_left_unclosed(), pytest.raises(relaykit.ConfigError, match="Connection refused"):
        build(config, limiters, RaisingCacheStores(), exporters)()
    assert all_closed(limiters)
    assert exporters.opened == []
