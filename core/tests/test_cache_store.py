"""[cache] backend: which store keeps cached answers, and a failing store never fails a call."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError, metrics
from relaykit.cache_store import GuardedCacheStore, PrefixedStore
from relaykit.gauge_events import CacheStoreError
from relaykit.testing import (
    CacheStoreContract,
    FakePlugin,
    MemoryStorage,
    RecordingExporter,
    Reply,
    mock_vector,
)

from .conftest import Shelf, StorePlugin


def config(**cache: Any) -> dict[str, Any]:
    return {"storage": {"backend": "none"}, "cache": {"enabled": True, **cache}}


@pytest.mark.anyio
async def test_relaykit_response_cache_supplies_the_store_both_caches_use() -> None:
    shelf, fake = Shelf(), FakePlugin()
    plugin = StorePlugin(shelf)
    cache = config(backend="shelf", url="shelf://10.0.0.9", prefix="app1", timeout=0.2)
    async with relaykit.Client(cache, plugins=[fake, plugin]) as client:
        await client.chat("fake/m", "hi", temperature=0)
        await client.embed("fake/emb-1", ["one", "two"])
    assert plugin.config is not None
    assert (plugin.config.cache.url, plugin.config.cache.prefix) == ("shelf://10.0.0.9", "app1")
    assert plugin.config.cache.timeout == 0.2
    assert len(shelf.responses) == 3  # the answer, and a vector per text
    assert shelf.closed  # the client closes a store it opened for the cache


@pytest.mark.anyio
async def test_the_storage_backend_keeps_the_cache_by_default_and_memory_keeps_it_alone() -> None:
    for backend, stored in (("storage", 1), ("memory", 0)):
        storage = MemoryStorage()
        settings = {
            "storage": {"backend": "memory"},
            "cache": {"enabled": True, "backend": backend},
        }
        async with relaykit.Client(settings, plugins=[FakePlugin(), storage.plugin()]) as c:
            first = await c.chat("fake/m", "hi", temperature=0)
            again = await c.chat("fake/m", "hi", temperature=0)
        assert (first.cache_hit, again.cache_hit) == (False, True)
        assert len(storage.responses) == stored, backend


def test_an_unknown_backend_names_those_there_are_and_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        relaykit.Client(config(backend="memcached"), plugins=[StorePlugin(Shelf())])
    assert "no plugin provides the cache backend 'memcached'" in info.value.message
    hint = info.value.hint or ""
    assert "pip install relaykit-memcached" in hint
    # the built-in choices, then the plugins that offer a store (relaykit-redis, if installed)
    assert "or use one of 'storage', 'memory', " in hint and "'shelf-plugin'" in hint
    with pytest.raises(ConfigError, match="did you mean 'memory'"):
        relaykit.Client(config(backend="memroy"))


def test_a_timeout_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"cache\.timeout must be a positive number"):
        relaykit.Client(config(backend="shelf", timeout=0), plugins=[StorePlugin(Shelf())])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("retry_after", -1, r"cache\.retry_after must be a number of seconds >= 0, not -1"),
        ("retry_after", "soon", r"cache\.retry_after must be a number, not str 'soon'"),
        ("max_entry_bytes", 0, r"cache\.max_entry_bytes must be a positive number of bytes"),
        ("max_entry_bytes", 1.5, r"cache\.max_entry_bytes must be an integer"),
    ],
)
def test_bad_store_settings_are_refused_by_name(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        relaykit.Client(config(backend="shelf", **{key: value}), plugins=[StorePlugin(Shelf())])
    if isinstance(value, int):  # the right type, out of range: the hint says what fits
        assert key in (info.value.hint or "")


@pytest.mark.anyio
async def test_retry_after_is_how_long_a_failed_store_is_left_alone() -> None:
    for retry_after, tried in ((0, 6), (3600, 1)):
        shelf = Shelf()
        shelf.failing = ConnectionError("down")
        settings = config(backend="shelf", retry_after=retry_after)
        async with relaykit.Client(settings, plugins=[FakePlugin(), StorePlugin(shelf)]) as c:
            for i in range(3):
                await c.chat("fake/m", f"q{i}", temperature=0)
            assert c.cache_errors == 6
        assert shelf.calls == tried, retry_after  # 0: every lookup and write tries it


@pytest.mark.anyio
async def test_a_failing_store_is_a_miss_logged_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shelf, fake = Shelf(), FakePlugin()
    shelf.failing = ConnectionError("refused by redis://:hunter2secret@10.0.0.9:6379/0")
    caplog.set_level(logging.INFO, logger="relaykit.cache")
    async with relaykit.Client(
        config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]
    ) as client:
        answers = [await client.chat("fake/m", f"q{i}", temperature=0) for i in range(3)]
        vectors = await client.embed("fake/emb-1", ["one"])
        assert client.cache_errors >= 5  # each lookup and write, tried or skipped
    assert [a.text for a in answers] == ["echo: q0", "echo: q1", "echo: q2"]
    assert vectors.vectors == (mock_vector("one"),)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text  # one outage, one line
    assert "store (shelf) failed: ConnectionError" in warnings[0].getMessage()
    assert "hunter2secret" not in caplog.text
    # Left alone after the failure (1 s): the first lookup tried it, the rest did not.
    assert shelf.calls == 1


@pytest.mark.anyio
async def test_a_store_that_answers_again_is_used_again(caplog: pytest.LogCaptureFixture) -> None:
    shelf = Shelf()
    now = [100.0]
    guard = GuardedCacheStore(shelf, "shelf", retry_after=1.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="relaykit.cache")
    shelf.failing = TimeoutError()
    assert await guard.cached_response("k") is None
    await guard.cache_response("k", 2e9, "{}")  # resting: skipped, counted
    assert (guard.errors, shelf.calls) == (2, 1)
    shelf.failing = None
    now[0] += 1.5
    await guard.cache_responses([("k", 2e9, '{"a": 1}')])
    assert await guard.cached_responses(["k", "x"]) == {"k": (2e9, '{"a": 1}')}
    assert "answers again (lookups and writes missed: 2)" in caplog.text
    assert "failed: TimeoutError;" in caplog.text
    # a second outage is logged (and its misses told) afresh
    shelf.failing = ConnectionError("gone")
    assert await guard.cached_response("k") is None
    shelf.failing = None
    now[0] += 1.5
    assert await guard.cached_response("k") == (2e9, '{"a": 1}')
    assert caplog.text.count("failed: ") == 2
    assert "answers again (lookups and writes missed: 1)" in caplog.text
    assert guard.errors == 3


@pytest.mark.anyio
async def test_a_store_with_single_entry_methods_serves_the_embeddings_cache() -> None:
    class Single:
        def __init__(self) -> None:
            self.rows: dict[str, tuple[float, str]] = {}

        async def cached_response(self, key: str) -> tuple[float, str] | None:
            return self.rows.get(key)

        async def cache_response(self, key: str, expires_at: float, response: str) -> None:
            self.rows[key] = (expires_at, response)

    store = Single()
    # no cache_responses/cached_responses: the guard falls back to the single-entry ones
    guard = GuardedCacheStore(store, "single")  # type: ignore[arg-type]
    await guard.cache_responses([("a", 2e9, "1"), ("b", 2e9, "2")])
    assert await guard.cached_responses(["a", "c", "b"]) == {"a": (2e9, "1"), "b": (2e9, "2")}


class TestMemoryStorageKeepsTheCacheContract(CacheStoreContract):
    """The reference storage's cache methods pass the cache store contract."""

    @pytest.fixture
    def cache_store(self) -> Any:
        return MemoryStorage()


class TestAPrefixedStorageKeepsTheCacheContract(CacheStoreContract):
    """The storage's cache under ``[cache] prefix`` passes it too."""

    @pytest.fixture
    def cache_store(self) -> Any:
        return PrefixedStore(MemoryStorage(), "app1")


def test_the_contract_runs_each_test_on_both_backends() -> None:
    names = [n for n in dir(CacheStoreContract) if n.startswith("test_")]
    assert len(names) == 3


@pytest.mark.anyio
async def test_answers_come_back_whole_from_the_store() -> None:
    shelf = Shelf()
    first, second = FakePlugin(), FakePlugin()
    first.script.push(Reply(text="stored", input_tokens=4, output_tokens=2, reasoning="why"))
    async with relaykit.Client(config(backend="shelf"), plugins=[first, StorePlugin(shelf)]) as c:
        original = await c.chat("fake/m", "hi", seed=7)
    async with relaykit.Client(config(backend="shelf"), plugins=[second, StorePlugin(shelf)]) as c:
        again = await c.chat("fake/m", "hi", seed=7)
    assert again.cache_hit and not second.calls
    assert (again.text, again.reasoning, again.usage) == ("stored", "why", original.usage)


@pytest.mark.anyio
async def test_an_answer_the_store_holds_that_cannot_be_read_is_a_miss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shelf, fake = Shelf(), FakePlugin()
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        await c.chat("fake/m", "hi", seed=7)
    (key,) = shelf.responses
    shelf.responses[key] = (2e9, '{"usage": "secret text"')  # cut short
    caplog.set_level(logging.WARNING, logger="relaykit.cache")
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        again = await c.chat("fake/m", "hi", seed=7)
        assert c.cache_errors == 0  # the store answered: nothing to count
    assert not again.cache_hit and again.text == "echo: hi"
    assert "a cached answer could not be read (JSONDecodeError)" in caplog.text
    assert "secret text" not in caplog.text
    assert json.loads(shelf.responses[key][1])["text"] == "echo: hi"  # written afresh


@pytest.mark.anyio
@pytest.mark.parametrize(
    "entry",
    [
        "{}",
        "[]",
        '"an answer"',
        '{"embedding": "AAAAAAAA8D8="}',  # a vector's entry, as the embeddings cache writes
        '{"text": 5, "provider": "fake", "model": "m"}',
        '{"text": "x", "provider": "fake", "model": "m", "reasoning": ["x"]}',
        '{"text": "x", "provider": "fake", "model": "m", "finish_reason": "bogus"}',
        '{"text": "x", "provider": "", "model": "m"}',
        '{"text": "x", "provider": "fake", "model": "m", "usage": {"input_tokens": "many"}}',
    ],
    ids=[
        "empty",
        "array",
        "string",
        "vector",
        "text-not-a-string",
        "reasoning-not-a-string",
        "unknown-finish",
        "no-provider",
        "usage-not-a-number",
    ],
)
async def test_an_entry_that_parses_but_is_no_answer_is_a_miss(
    entry: str, caplog: pytest.LogCaptureFixture
) -> None:
    # JSON that decodes without error is not yet an answer: an empty object read
    # as an empty answer from no provider was served as a hit, free and cached.
    shelf, fake = Shelf(), FakePlugin()
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        await c.chat("fake/m", "hi", seed=7)
    (key,) = shelf.responses
    shelf.responses[key] = (2e9, entry)
    caplog.set_level(logging.WARNING, logger="relaykit.cache")
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        again = await c.chat("fake/m", "hi", seed=7)
    assert (again.cache_hit, again.text, again.provider) == (False, "echo: hi", "fake")
    assert "a cached answer could not be read" in caplog.text
    assert json.loads(shelf.responses[key][1])["text"] == "echo: hi"  # written afresh


@pytest.mark.anyio
async def test_a_sqlite_row_that_is_no_answer_is_a_miss(tmp_path: Path) -> None:
    # The same, against a real SQLite file whose row was overwritten.
    settings = {
        "storage": {"backend": "sqlite", "path": str(tmp_path / "c.db")},
        "cache": {"enabled": True},
    }
    fake = FakePlugin()
    async with relaykit.Client(settings, plugins=[fake]) as c:
        await c.chat("fake/m", "hi", seed=7)
    with sqlite3.connect(tmp_path / "c.db") as db:
        assert db.execute("UPDATE response_cache SET response = '{}'").rowcount == 1
    async with relaykit.Client(settings, plugins=[fake]) as c:
        again = await c.chat("fake/m", "hi", seed=7)
    assert (again.cache_hit, again.text) == (False, "echo: hi")
    assert len(fake.calls) == 2


@pytest.mark.anyio
async def test_each_failed_or_skipped_lookup_and_write_reaches_the_exporters() -> None:
    shelf, exporter = Shelf(), RecordingExporter()
    shelf.failing = ConnectionError("down")
    plugins = [FakePlugin(), StorePlugin(shelf), exporter]
    async with relaykit.Client(config(backend="shelf"), plugins=plugins) as client:
        for i in range(2):
            await client.chat("fake/m", f"q{i}", temperature=0)
        await client.embed("fake/emb-1", ["one"])
        errors = client.cache_errors
    events = [e for e in exporter.events if isinstance(e, CacheStoreError)]
    # a lookup and a write per call: the first lookup failed, the rest were skipped
    assert [e.operation for e in events] == ["get", "put"] * 3
    assert len(events) == errors
    observed = [o for e in events for o in metrics.observe(e)]
    assert {(o.instrument.name, o.value, o.attributes) for o in observed} == {
        ("relaykit.cache.errors", 1.0, (("relaykit.cache.operation", "get"),)),
        ("relaykit.cache.errors", 1.0, (("relaykit.cache.operation", "put"),)),
    }


@pytest.mark.anyio
async def test_a_store_that_works_sends_no_cache_errors() -> None:
    shelf, exporter = Shelf(), RecordingExporter()
    plugins = [FakePlugin(), StorePlugin(shelf), exporter]
    async with relaykit.Client(config(backend="shelf"), plugins=plugins) as client:
        for _ in range(2):
            await client.chat("fake/m", "q", temperature=0)
        await client.embed("fake/emb-1", ["one"])
        assert client.cache_errors == 0
    assert len(exporter.records) == 3 and shelf.calls > 0
    assert not [e for e in exporter.events if isinstance(e, CacheStoreError)]


@pytest.mark.anyio
async def test_a_timeout_bounds_each_operation_and_a_longer_one_the_first() -> None:
    import anyio

    class Slow(Shelf):
        delay = 0.0

        async def cached_response(self, key: str) -> tuple[float, str] | None:
            await anyio.sleep(self.delay)
            return await super().cached_response(key)

        async def cache_response(self, key: str, expires_at: float, response: str) -> None:
            await anyio.sleep(self.delay)
            await super().cache_response(key, expires_at, response)

        async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
            await anyio.sleep(self.delay)
            return await super().cached_responses(keys)

        async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
            await anyio.sleep(self.delay)
            await super().cache_responses(entries)

    store = Slow()
    guard = GuardedCacheStore(store, "slow", retry_after=0, timeout=0.05)
    store.delay = 0.2  # the first operation opens the store: bounded by open_timeout (5 s)
    await guard.cache_response("k", 2e9, "{}")
    store.delay = 0
    assert await guard.cached_response("k") == (2e9, "{}")
    assert guard.errors == 0
    store.delay = 10
    with anyio.fail_after(2):
        assert await guard.cached_response("k") is None
        await guard.cache_response("j", 2e9, "{}")
        assert await guard.cached_responses(["k"]) == {}
        await guard.cache_responses([("j", 2e9, "{}")])
    assert guard.errors == 4
    # without one given, [cache] timeout's default bounds it
    store.delay = 10
    default = GuardedCacheStore(store, "slow", open_timeout=0.05)
    with anyio.fail_after(2):
        assert await default.cached_response("k") is None
    assert default.errors == 1


@pytest.mark.anyio
async def test_a_prefix_keeps_two_apps_apart_in_the_storage_backends_cache(tmp_path: Any) -> None:
    # The README's advice for two configurations sharing a store: different
    # [cache] prefixes. The SQL storage's cache ignored the prefix, so the second
    # app was served the first one's answers and vectors from the shared file.
    fake = FakePlugin()

    def app(prefix: str | None) -> relaykit.Client:
        cache = {"enabled": True} if prefix is None else {"enabled": True, "prefix": prefix}
        storage = {"backend": "sqlite", "path": str(tmp_path / "shared.db")}
        return relaykit.Client({"storage": storage, "cache": cache}, plugins=[fake])

    answers, vectors = [], []
    for prefix in ("app1", "app2", "app1", None):  # a fresh client each: from the file
        async with app(prefix) as client:
            fake.script.push(Reply(text=f"{prefix}'s answer"))  # taken by a miss
            answers.append(await client.chat("fake/m", "q", temperature=0))
            vectors.append(await client.embed("fake/e", ["text"]))
    assert [(a.text, a.cache_hit) for a in answers[:3]] == [
        ("app1's answer", False),
        ("app2's answer", False),
        ("app1's answer", True),
    ]
    assert [v.cache_hit for v in vectors[:3]] == [False, False, True]
    # no prefix: the keys written before prefixes were read (neither app's)
    assert not answers[3].cache_hit and not vectors[3].cache_hit


@pytest.mark.anyio
@pytest.mark.parametrize(
    "entry",
    [
        '{"embedding": "AAAA',
        '{"vector": []}',
        '{"embedding": "AAAAAA=="}',
        "[1, 2]",
        '{"embedding": ""}',
        '{"text": "an answer", "provider": "fake"}',
    ],
    ids=["cut-short", "no-embedding", "not-whole-doubles", "not-an-object", "empty", "answer"],
)
async def test_a_vector_the_store_holds_that_cannot_be_read_is_a_miss(
    entry: str, caplog: pytest.LogCaptureFixture
) -> None:
    # As an answer that cannot be read is (above): a cache must never fail a call.
    # A vector's entry was decoded outside the store's guard, and the embed failed.
    shelf, fake = Shelf(), FakePlugin()
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        first = await c.embed("fake/e", ["text"])
    (key,) = shelf.responses
    shelf.responses[key] = (2e9, entry)
    caplog.set_level(logging.WARNING, logger="relaykit.cache")
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        again = await c.embed("fake/e", ["text"])
    assert not again.cache_hit and again.vectors == first.vectors
    assert len(fake.embeddings) == 2
    assert "a cached vector could not be read" in caplog.text
    assert json.loads(shelf.responses[key][1])["embedding"]  # written afresh


class Utf8Shelf(Shelf):
    """A shelf that keeps entries as UTF-8 bytes, as SQLite, PostgreSQL and Redis do."""

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        await super().cache_response(key, expires_at, response.encode().decode())


@pytest.mark.anyio
async def test_an_answer_holding_a_lone_surrogate_is_stored_escaped() -> None:
    # Its JSON could not be encoded: the write counted as the store failing, which
    # left the store alone (every lookup meanwhile a miss). relaykit-redis's test
    # shows it against the real Redis.
    shelf, fake = Utf8Shelf(), FakePlugin()
    fake.script.push(Reply(text="cut \ud83d é"))
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        await c.chat("fake/m", "half", temperature=0)
        assert c.cache_errors == 0
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        again = await c.chat("fake/m", "half", temperature=0)
    assert (again.cache_hit, again.text) == (True, "cut \ud83d é")
    (entry,) = shelf.responses.values()
    assert "\ud83d" not in entry[1]  # (Utf8Shelf refused it otherwise)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "text",
    [
        "\ud83d\ude00",  # two lone surrogates side by side: not the emoji they would make
        "\x00 \uffff \uffffd800\uffff \\ud800",  # NUL, the escape character, look-alikes
    ],
)
async def test_an_answer_holding_any_string_reads_back_from_the_store_as_it_was(text: str) -> None:
    # Escaped as JSON, the pair of surrogates read back joined into one character.
    shelf, fake = Utf8Shelf(), FakePlugin()
    fake.script.push(Reply(text=text))
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        await c.chat("fake/m", "any", temperature=0)
        assert c.cache_errors == 0
    async with relaykit.Client(config(backend="shelf"), plugins=[fake, StorePlugin(shelf)]) as c:
        again = await c.chat("fake/m", "any", temperature=0)
    assert (again.cache_hit, again.text) == (True, text)
