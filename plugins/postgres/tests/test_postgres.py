"""What the PostgreSQL backend promises beyond the contract, on the real server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

import relaykit
from relaykit.messages import Message, ReasoningPart
from relaykit.protocols import CachedModels, LogQuery
from relaykit.response import ModelInfo, Usage
from relaykit.testing import FakePlugin, Reply
from relaykit.testing.storage_contract import (
    T0,
    check_vault_update_holds_off_writers,
    make_record,
)
from relaykit.web_search import Citation
from relaykit_postgres import PostgresStorage
from relaykit_postgres.plugin import DSN_ENV, dsn_for
from relaykit_postgres.schema import MIGRATIONS

pytestmark = pytest.mark.service("postgres")


@pytest.fixture
async def storage(postgres_dsn: str, fresh_schema: str) -> AsyncIterator[PostgresStorage]:
    storage = PostgresStorage(postgres_dsn, schema=fresh_schema, driver="thread")
    yield storage
    await storage.aclose()


def search_path_dsn(dsn: str, schema: str) -> str:
    return f"{dsn} options='-c search_path={schema}'"


WRITER = textwrap.dedent(
    """
    import sys

    import anyio

    import relaykit
    from relaykit.testing import FakePlugin, Reply


    async def main(dsn: str, worker: str, count: int) -> None:
        config = {"storage": {"backend": "postgres", "dsn": dsn, "batch_size": 50}}
        async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
            for i in range(count):
                await client.chat(
                    "fake/m", f"worker {worker} call {i}", metadata={"correlation_id": worker}
                )


    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), backend=sys.argv[4])
    """
)


def test_several_writer_processes_lose_nothing(
    postgres_dsn: str, fresh_schema: str, tmp_path: Path
) -> None:
    per_process = 400
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{fresh_schema}"')
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    dsn = search_path_dsn(postgres_dsn, fresh_schema)
    # All four start at once on an empty schema: the migration races too.
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), dsn, str(w), str(per_process), backend],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w, backend in enumerate(["asyncio", "trio", "asyncio", "trio"])
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            f'SELECT correlation_id, count(*), count(DISTINCT id) FROM "{fresh_schema}".logs'
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
        migrations = conn.execute(
            f'SELECT version FROM "{fresh_schema}".relaykit_migrations'
        ).fetchall()
    assert rows == [(str(w), per_process, per_process) for w in range(4)]
    assert migrations == [(version,) for version, _, _ in MIGRATIONS]  # each once


@pytest.mark.anyio
async def test_schema_has_migrations_a_tsvector_of_words_and_gin_index(
    storage: PostgresStorage, postgres_dsn: str, fresh_schema: str
) -> None:
    await storage.write_batch([make_record(0, text="pi is 3.14 in os.path")])
    with psycopg.connect(postgres_dsn) as conn:
        [words] = conn.execute(f'SELECT search::text FROM "{fresh_schema}".logs').fetchone() or [
            None
        ]
        generated = conn.execute(
            "SELECT is_generated FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'logs' AND column_name = 'search'",
            (fresh_schema,),
        ).fetchone()
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'logs_search'",
            (fresh_schema,),
        ).fetchone()
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (fresh_schema,)
            )
        }
    assert {"logs_newest", "logs_deployment", "logs_errors"} <= indexes
    assert "logs_started_at" not in indexes  # logs_newest serves its queries (migration 17)
    assert "logs_model_requested" not in indexes  # dropped by migration 3: no query used it
    # written by the backend since migration 16 (queries.search_vector): the words
    # as every backend splits them, where to_tsvector kept 3.14 and os.path whole
    assert generated == ("NEVER",)
    assert words == "'0' '14' '3' 'be' 'brief' 'in' 'is' 'number' 'os' 'path' 'pi' 'question'"
    assert index is not None
    assert "USING gin (search)" in index[0]


@pytest.mark.anyio
@pytest.mark.parametrize("filters", [{}, {"since": T0, "status": "ok"}])
async def test_a_page_after_a_cursor_reads_the_newest_first_index_and_sorts_nothing(
    storage: PostgresStorage, postgres_dsn: str, fresh_schema: str, filters: dict[str, Any]
) -> None:
    """A page, by cursor or not, walks logs_newest (id in "C" order, as the ORDER BY
    and the cursor's row comparison have it) from its place, and sorts nothing."""
    from relaykit.log_cursor import log_cursor
    from relaykit_postgres.queries import select_records

    records = [make_record(n) for n in range(50)]
    await storage.write_batch(records)
    with psycopg.connect(postgres_dsn, options=f"-c search_path={fresh_schema}") as conn:
        conn.execute("ANALYZE logs")
        conn.execute("SET enable_seqscan = off")  # 50 rows: a scan would win on cost alone
        for query in (
            LogQuery(limit=10, **filters),
            LogQuery(limit=10, before=log_cursor(records[30]), **filters),
        ):
            sql, params = select_records(query)
            plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", params))
            assert "Index Scan Backward using logs_newest" in plan and "Sort" not in plan, plan
            if query.before is not None:  # bounded by the index, not filtered row by row
                [bound] = [line for line in plan.splitlines() if "Index Cond:" in line]
                assert "ROW(started_at, (id)::text) < ROW(" in bound, plan


@pytest.mark.anyio
async def test_nul_characters_are_kept_and_do_not_fail_a_batch(storage: PostgresStorage) -> None:
    # text and jsonb refuse NUL: it is stored escaped (relaykit.storable_text), not
    # replaced by U+FFFD as it was, and reads back as it was
    nul = make_record(0, text="before\x00after", params={"note": "a\x00b", "\x00": "\\u0000"})
    fine = make_record(1)
    await storage.write_batch([nul, fine])
    stored = {r.id: r for r in await storage.query_logs()}
    assert stored == {fine.id: fine, nul.id: nul}
    assert [r.id for r in await storage.query_logs(LogQuery(text="after"))] == [nul.id]


def test_dsn_comes_from_config_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = relaykit.load_config({"storage": {"backend": "postgres", "dsn": "host=db1"}})
    monkeypatch.setenv(DSN_ENV, "host=db2")
    assert dsn_for(config) == "host=db1"
    assert dsn_for(relaykit.load_config({"storage": {"backend": "postgres"}})) == "host=db2"
    monkeypatch.delenv(DSN_ENV)
    with pytest.raises(relaykit.ConfigError, match=DSN_ENV):
        relaykit.Client({"storage": {"backend": "postgres"}})


@pytest.mark.anyio
async def test_the_password_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "pw-" + uuid.uuid4().hex
    dsn = f"postgresql://relaykit:{password}@127.0.0.1:1/nowhere"
    config = relaykit.load_config({"storage": {"backend": "postgres", "dsn": dsn}})
    assert password not in repr(config)
    storage = PostgresStorage(dsn, driver="thread")
    assert password not in repr(storage)
    with pytest.raises(relaykit.RelayError) as info:
        await storage.query_logs()
    await storage.aclose()
    text = f"{info.value} {info.value!r}"
    assert password not in text
    assert "PostgreSQL storage (host=127.0.0.1, port=1, dbname=nowhere, user=relaykit)" in text
    assert "RELAYKIT_POSTGRES_DSN" in text  # the hint


@pytest.mark.anyio
async def test_client_logs_to_postgres(postgres_dsn: str, fresh_schema: str) -> None:
    fake = FakePlugin()
    config = {
        "storage": {"backend": "postgres", "dsn": search_path_dsn(postgres_dsn, fresh_schema)}
    }
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{fresh_schema}"')
    async with relaykit.Client(config, plugins=[fake]) as client:
        assert isinstance(client.storage, PostgresStorage)
        await client.chat("fake/m", "logged in postgres")
        models = await client.models("fake")
    storage = PostgresStorage(search_path_dsn(postgres_dsn, fresh_schema), driver="thread")
    try:
        (record,) = await storage.query_logs(LogQuery(text="postgres"))
        cached = await storage.cached_models("fake")
    finally:
        await storage.aclose()
    assert record.text == "echo: logged in postgres"
    assert cached is not None
    assert list(cached.models) == models


@pytest.mark.anyio
async def test_a_cache_prefix_keeps_two_apps_apart_in_one_database(
    postgres_dsn: str, fresh_schema: str
) -> None:
    # Two applications sharing the database, each with its [cache] prefix (the
    # README's advice for two configurations giving one provider name different
    # endpoints): the prefix was ignored, and the second was served the first's
    # answers and vectors.
    fake = FakePlugin()
    dsn = search_path_dsn(postgres_dsn, fresh_schema)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{fresh_schema}"')
    seen = []
    for prefix in ("app1", "app2", "app1"):  # a fresh client each: from the database
        config = {
            "storage": {"backend": "postgres", "dsn": dsn},
            "cache": {"enabled": True, "prefix": prefix},
        }
        async with relaykit.Client(config, plugins=[fake]) as client:
            fake.script.push(Reply(text=f"{prefix}'s answer"))  # taken by a miss
            answer = await client.chat("fake/m", "q", temperature=0)
            vectors = await client.embed("fake/e", ["text"])
        seen.append((answer.text, answer.cache_hit, vectors.cache_hit))
    assert seen == [
        ("app1's answer", False, False),
        ("app2's answer", False, False),
        ("app1's answer", True, True),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "version",
    [3, 4, 5, 6, 9, 10, 12, 13],
    ids=[
        "before-reasoning",
        "before-reasoning-blocks",
        "before-cache-writes",
        "before-1h-writes",
        "before-web-search",
        "before-search-queries",
        "before-estimated-usage",
        "before-stop-sequence",
    ],
)
async def test_a_schema_from_before_reasoning_is_migrated_and_keeps_its_rows(
    postgres_dsn: str, fresh_schema: str, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    from relaykit.record_rows import COLUMNS, record_to_row
    from relaykit_postgres import schema

    old = make_record(0)
    with psycopg.connect(postgres_dsn, options=f"-c search_path={fresh_schema}") as conn:
        with monkeypatch.context() as m:  # the schema as an older relaykit-postgres left it
            m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:version])
            schema.migrate(conn, fresh_schema)
        v1 = COLUMNS[: COLUMNS.index("response_id") + 1]  # the columns migration 1 made
        conn.execute(
            f'INSERT INTO "{fresh_schema}".logs ({", ".join(v1)})'
            f" VALUES ({', '.join(['%s'] * len(v1))})",
            record_to_row(old)[: len(v1)],
        )
        conn.commit()
    parts = (
        ReasoningPart("Thinking it through", "sig-1", origin="anthropic"),
        ReasoningPart(redacted="EuYBCkQYAiJA", origin="anthropic"),
    )
    new = make_record(
        1,
        reasoning="Thinking it through: 東京.",
        reasoning_parts=parts,
        usage=Usage(
            1000,
            50,
            0,
            cache_write_input_tokens=900,
            cache_write_1h_input_tokens=400,
            web_searches=2,
        ),
        citations=(Citation(url="https://example.org/tides", title="Tides", start=0, end=6),),
        search_queries=("tides today",),
        usage_estimated=True,
        stop_sequence="\n\nHuman:",
    )
    storage = PostgresStorage(postgres_dsn, schema=fresh_schema, driver="thread")
    try:
        await storage.write_batch([new])
        assert await storage.query_logs() == [new, old]  # the old row reads as 0 written
        assert await storage.query_logs(LogQuery(text="tides today")) == [new]  # its queries
        [total] = await storage.usage_totals()
        assert total.usage == new.usage + old.usage
        # the old row reads as the vendor's counts
        assert (total.estimated, total.estimated_cost) == (1, new.cost)
    finally:
        await storage.aclose()
    with psycopg.connect(postgres_dsn) as conn:
        versions = conn.execute(f'SELECT version FROM "{fresh_schema}".relaykit_migrations')
        assert [row[0] for row in versions] == [version for version, _, _ in MIGRATIONS]


@pytest.mark.anyio
async def test_a_vault_update_holds_off_another_pools_vault_writes(
    postgres_dsn: str, fresh_schema: str
) -> None:
    await _vault_update_holds_off_writers(postgres_dsn, fresh_schema, "thread")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # psycopg's asyncio pool
async def test_a_vault_update_holds_off_writers_with_the_asyncio_driver(
    postgres_dsn: str, fresh_schema: str
) -> None:
    await _vault_update_holds_off_writers(postgres_dsn, fresh_schema, "async")


async def _vault_update_holds_off_writers(
    postgres_dsn: str, fresh_schema: str, driver: str
) -> None:
    # Two storages (two pools), as two processes (`keys set` and `keys rotate`) have.
    first = PostgresStorage(postgres_dsn, schema=fresh_schema, driver=driver)  # type: ignore[arg-type]
    second = PostgresStorage(postgres_dsn, schema=fresh_schema, driver=driver)  # type: ignore[arg-type]
    try:
        await check_vault_update_holds_off_writers(first, second)
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.anyio
async def test_text_stored_before_the_escape_rule_reads_the_same(
    postgres_dsn: str, fresh_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before relaykit.storable_text, text was stored as it was: a U+FFFF in it (even
    before hex digits) reads back as written; a vault name, cache key or provider
    holding one is escaped by migration 15, so writing it again replaces its row."""
    from relaykit.record_rows import COLUMNS, record_to_row
    from relaykit.storable_text import decode_text
    from relaykit_postgres import schema

    record = make_record(
        0,
        messages=(Message.user("q\uffff zebra"),),
        text="a\uffffb \uffffd800",
        params={"k\uffff": ["\uffff"]},
    )
    as_stored_then = [decode_text(v) if isinstance(v, str) else v for v in record_to_row(record)]
    with psycopg.connect(postgres_dsn, options=f"-c search_path={fresh_schema}") as conn:
        with monkeypatch.context() as m:  # the schema as relaykit-postgres 14 left it
            m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:14])
            schema.migrate(conn, fresh_schema)
        conn.execute(
            f"INSERT INTO logs ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
            as_stored_then,
        )
        conn.execute("INSERT INTO vault (name, blob) VALUES (%s, %s)", ("n\uffff", b"old"))
        conn.execute("INSERT INTO response_cache VALUES (%s, 2e9, %s)", ("k\uffff", "r\uffff"))
        models = '[{"id": "m\\uffff", "provider": "p\uffff"}]'  # escaped, and not
        conn.execute("INSERT INTO model_cache VALUES (%s, 1.0, %s)", ("p\uffff", models))
        conn.commit()
    storage = PostgresStorage(postgres_dsn, schema=fresh_schema)
    try:
        assert await storage.query_logs(LogQuery(text="zebra")) == [record]
        assert await storage.vault_items() == {"n\uffff": b"old"}
        await storage.vault_put({"n\uffff": b"new"})
        assert await storage.vault_items() == {"n\uffff": b"new"}
        assert await storage.vault_delete("n\uffff") is True
        assert await storage.vault_items() == {}
        assert await storage.cached_response("k\uffff") == (2e9, "r\uffff")
        listing = (ModelInfo("m\uffff", "p\uffff"),)
        assert await storage.cached_models("p\uffff") == CachedModels("p\uffff", 1.0, listing)
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_a_record_too_big_for_an_index_is_refused_not_an_outage(
    storage: PostgresStorage,
) -> None:
    """A conversation id too long for its btree index (SQLSTATE 54000, program limit
    exceeded) is that record's fault: retrying cannot store it, so it must not read
    as an outage, which the call log would retry and then spill, batch and all,
    replaying it every few seconds for ever."""
    import os

    from relaykit.errors import RelayError, StorageUnavailableError

    too_long = make_record(0, conversation_id=os.urandom(8000).hex())
    with pytest.raises(RelayError) as caught:
        await storage.write_batch([make_record(1), too_long])
    assert not isinstance(caught.value, StorageUnavailableError)
    assert not caught.value.retryable
    assert "index row" in str(caught.value)
    assert "server is up" not in str(caught.value)  # it is: what it was sent is the trouble
    await storage.write_batch([make_record(1)])  # the storage is fine
    assert len(await storage.query_logs()) == 1


@pytest.mark.anyio
async def test_rows_indexed_by_the_old_search_column_are_still_found(
    postgres_dsn: str, fresh_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to migration 15 PostgreSQL's parser indexed the text (``3.14``, ``foo/bar``
    and ``bob@example.com`` whole); since 16 the backend indexes the words as every
    backend splits them. Rows stored before keep their index and are found by what it
    holds: their words, and such tokens as written."""
    from relaykit.record_rows import COLUMNS, record_to_row
    from relaykit_postgres import schema

    old = make_record(0, text="pi is 3.14 in foo/bar, ask bob@example.com")
    with psycopg.connect(postgres_dsn, options=f"-c search_path={fresh_schema}") as conn:
        with monkeypatch.context() as m:  # the schema as relaykit-postgres 15 left it
            m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:15])
            schema.migrate(conn, fresh_schema)
        conn.execute(
            f"INSERT INTO logs ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
            record_to_row(old),
        )
        conn.commit()
    new = make_record(1, text="pi is 3.14 in foo/bar, ask bob@example.com")
    storage = PostgresStorage(postgres_dsn, schema=fresh_schema)

    async def found(text: str) -> list[str]:
        return [r.id for r in await storage.query_logs(LogQuery(text=text))]

    try:
        await storage.write_batch([new])
        assert await found("pi ask") == [new.id, old.id]
        assert await found("3.14") == [new.id, old.id]
        assert await found("foo/bar") == [new.id, old.id]
        assert await found("bob@example.com") == [new.id, old.id]
        assert await found("example") == [new.id]  # a word of a token indexed whole
        assert await found("3") == [new.id]
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_records_and_totals_sort_as_in_sqlite_whatever_the_collation(
    storage: PostgresStorage, postgres_dsn: str, fresh_schema: str
) -> None:
    """Most databases are created with a language's collation (``en_US.UTF-8``),
    where ``call-B`` sorts after ``call-a``: ids of records started at once must
    still come in code point order, as SQLite and the reference sort them."""
    from relaykit.testing.storage_contract import SAME_INSTANT_IDS

    await storage.write_batch([make_record(0, id="first")])  # the schema made
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        [collation] = conn.execute(
            "SELECT collname FROM pg_collation WHERE collname IN ('en-x-icu', 'en_US.utf8')"
            " ORDER BY collname LIMIT 1"
        ).fetchone() or ["(none)"]
        assert collation != "(none)", "the server has neither ICU nor the en_US locale"
        for column in ("id", "provider", "model"):  # as a database of that collation has them
            conn.execute(
                f'ALTER TABLE "{fresh_schema}".logs'
                f' ALTER COLUMN {column} TYPE text COLLATE "{collation}"'
            )
        conn.execute(f'DELETE FROM "{fresh_schema}".logs')
    await storage.write_batch([make_record(0, id=i) for i in SAME_INSTANT_IDS])
    pages = [await storage.query_logs(LogQuery(limit=4, offset=o)) for o in range(0, 24, 4)]
    assert [r.id for page in pages for r in page] == sorted(SAME_INSTANT_IDS, reverse=True)
    # and totals list their deployments in code point order, as SQLite's do
    names = [("openai", "gpt4"), ("openai", "gpt-4o"), ("Zed", "m"), ("acme", "M"), ("acme", "m")]
    await storage.write_batch(
        [make_record(1, provider=p, model=m, model_requested=f"{p}/{m}") for p, m in names]
    )
    totals = await storage.usage_totals()
    assert [(t.provider, t.model) for t in totals] == sorted([*names, ("openai", "gpt-4o-mini")])


@pytest.mark.anyio
async def test_a_row_an_older_writer_stores_after_migration_16_is_found(
    storage: PostgresStorage, postgres_dsn: str, fresh_schema: str
) -> None:
    """During a rolling upgrade a process still on relaykit-postgres before migration
    16 writes rows without the search column (it was generated then): they are
    indexed as that process's own rows were, not left unsearchable."""
    from relaykit.record_rows import COLUMNS, record_to_row

    await storage.write_batch([make_record(0)])  # the schema made, migration 16 in
    older = make_record(1, text="written by an older writer, 3.14")
    with psycopg.connect(postgres_dsn, options=f"-c search_path={fresh_schema}") as conn:
        with conn.cursor().copy(f"COPY logs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            copy.write_row(record_to_row(older))
        conn.commit()
    assert [r.id for r in await storage.query_logs(LogQuery(text="older writer"))] == [older.id]
    assert [r.id for r in await storage.query_logs(LogQuery(text="3.14"))] == [older.id]


@pytest.mark.anyio
async def test_a_search_word_too_long_for_a_tsvector_finds_nothing(
    storage: PostgresStorage,
) -> None:
    """A word over 2,047 bytes is in no tsvector, so no record is found by it; the
    query's parser dropped it, and `long-word small` found every record saying
    `small`, none of which says the long word."""
    long_word = "x" * 3000
    await storage.write_batch(
        [make_record(0, text="small talk"), make_record(1, text=f"small {long_word}")]
    )
    assert await storage.query_logs(LogQuery(text=f"{long_word} small")) == []
    assert await storage.query_logs(LogQuery(text=long_word)) == []
    assert len(await storage.query_logs(LogQuery(text="small"))) == 2
    assert await storage.usage_totals(LogQuery(text=f"small {long_word}")) == []


@pytest.mark.anyio
async def test_concurrent_cache_writes_of_shared_keys_never_deadlock(
    postgres_dsn: str, fresh_schema: str
) -> None:
    # Two embed calls whose texts overlap in another order upserted the same rows in
    # opposite orders in two transactions: PostgreSQL found a deadlock (after its
    # deadlock_timeout, a second) in 17 of 20 rounds of 3,000 keys, and the client's
    # guard counted the store failed and left it alone, every lookup a miss meanwhile.
    # "auto": psycopg's async driver under asyncio, the thread driver under trio
    storage = PostgresStorage(postgres_dsn, schema=fresh_schema)
    try:
        for round in range(3):
            entries = [(f"{round}-{i}", 2e9, "v") for i in range(3000)]
            failures: list[str] = []

            async def write(
                batch: list[tuple[str, float, str]], failures: list[str] = failures
            ) -> None:
                try:
                    await storage.cache_responses(batch)
                except Exception as e:
                    failures.append(str(e))

            async with anyio.create_task_group() as tg:
                tg.start_soon(write, entries)
                tg.start_soon(write, entries[::-1])
            assert failures == []
        found = await storage.cached_responses([f"2-{i}" for i in range(3000)])
        assert len(found) == 3000
    finally:
        await storage.aclose()
