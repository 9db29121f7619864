"""The SQLite schema, as numbered migrations recorded in ``relaykit_migrations``.

Each migration runs once per database, inside one ``BEGIN IMMEDIATE``
transaction together with its row in ``relaykit_migrations``, so processes
opening the same file at once take turns and a crash leaves no half-applied
schema. Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from relaykit.record_rows import COLUMNS

from .queries import register_functions

if TYPE_CHECKING:
    from sqlite_utils import Database

#: the columns of ``logs`` as migration 1 created them; later ones add their own
_V1_COLUMNS = COLUMNS[: COLUMNS.index("response_id") + 1]


def _v1_logs_vault_models(db: Database) -> None:
    text, real, integer = str, float, int
    types: dict[str, type] = {name: text for name in _V1_COLUMNS}
    types.update(
        {
            "started_at": real,
            "finished_at": real,
            "latency": real,
            "time_to_first_token": real,
            "streamed": integer,
            "ok": integer,
            "input_tokens": integer,
            "output_tokens": integer,
            "cached_input_tokens": integer,
            "reasoning_tokens": integer,
            "attempts": integer,
            "http_status": integer,
            "cache_hit": integer,
        }
    )
    logs = db.table("logs")
    logs.create(
        types,
        pk="id",
        not_null={"id", "started_at", "provider", "model", "model_requested", "ok"},
        column_order=list(_V1_COLUMNS),
    )
    # The filters `relaykit logs` offers: time range, deployment, alias, errors.
    logs.create_index(["started_at"], index_name="logs_started_at")
    logs.create_index(["provider", "model", "started_at"], index_name="logs_deployment")
    logs.create_index(["model_requested", "started_at"], index_name="logs_model_requested")
    db.execute("CREATE INDEX logs_errors ON logs (started_at) WHERE NOT ok")  # errors are rare
    # The writer indexes new rows itself, one INSERT ... SELECT per transaction
    # (per-row insert triggers cost three times as much); deletes (prune) keep
    # the index in step through a trigger.
    logs.enable_fts(["prompt", "response"], fts_version="FTS5")
    db.execute(
        "CREATE TRIGGER logs_ad AFTER DELETE ON logs BEGIN"
        " INSERT INTO logs_fts (logs_fts, rowid, prompt, response)"
        " VALUES ('delete', old.rowid, old.prompt, old.response); END"
    )
    db.table("vault").create({"name": text, "blob": bytes, "updated_at": real}, pk="name")
    db.table("model_cache").create(
        {"provider": text, "fetched_at": real, "models": text}, pk="provider"
    )


def _v2_response_cache(db: Database) -> None:
    db.table("response_cache").create({"key": str, "expires_at": float, "response": str}, pk="key")
    db.table("response_cache").create_index(["expires_at"], index_name="response_cache_expiry")


def _v3_drop_unused_index(db: Database) -> None:
    # The --model filter is `model_requested = ? OR model = ? OR ...`: with no
    # index on `model` SQLite cannot use this one for it (it walks
    # logs_started_at instead), yet every insert paid for it.
    db.execute("DROP INDEX IF EXISTS logs_model_requested")


def _v4_reasoning(db: Database) -> None:
    # A constant default: SQLite adds the column without rewriting a row.
    db.execute("ALTER TABLE logs ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''")


def _v5_reasoning_parts(db: Database) -> None:
    # The response's reasoning blocks as JSON, signatures and redacted data with them.
    db.execute("ALTER TABLE logs ADD COLUMN reasoning_parts TEXT NOT NULL DEFAULT '[]'")


def _v6_cache_write_tokens(db: Database) -> None:
    # Prompt tokens written to the provider's cache; 0 for rows logged before.
    db.execute("ALTER TABLE logs ADD COLUMN cache_write_input_tokens INTEGER NOT NULL DEFAULT 0")


def _v7_cache_write_1h_tokens(db: Database) -> None:
    # Of those writes, the ones to a one-hour cache (priced apart); 0 for rows logged before.
    db.execute("ALTER TABLE logs ADD COLUMN cache_write_1h_input_tokens INTEGER NOT NULL DEFAULT 0")


def _v8_shared_messages(db: Database) -> None:
    # A chat resends its whole history every call, and each row stored (and
    # indexed) every message whole: ten 60-turn chats of ~1 MB of prose made
    # an 87.5 MB file and cost the writer ~10 ms a record. Now each long
    # message is stored once, here, and rows name it by key
    # (relaykit.record_rows.RowEncoder.shared). `refs` counts the logs rows
    # that name a message (once however often a row names it: `IN` makes the
    # trigger's decrement simple): the writer adds a batch's rows, and
    # deleting a row takes it away and drops the messages no row names any
    # more. A rowid table, not WITHOUT ROWID: bodies run to many KB, and
    # those belong out of the key's b-tree.
    db.execute(
        "CREATE TABLE shared_messages"
        " (key TEXT PRIMARY KEY, body TEXT NOT NULL, refs INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TRIGGER logs_shared_ad AFTER DELETE ON logs BEGIN"
        " UPDATE shared_messages SET refs = refs - 1"
        "  WHERE key IN (SELECT value FROM json_each(old.messages) WHERE type = 'text');"
        " DELETE FROM shared_messages WHERE refs <= 0"
        "  AND key IN (SELECT value FROM json_each(old.messages) WHERE type = 'text');"
        " END"
    )


def _v9_conversations(db: Database) -> None:
    # `relaykit logs --conversation` and `relaykit chat --continue` read one
    # conversation's calls, newest first. Partial: most calls have no
    # conversation id, and those cost no index entry.
    db.execute(
        "CREATE INDEX logs_conversation ON logs (conversation_id, started_at)"
        " WHERE conversation_id IS NOT NULL"
    )


def _v10_web_search(db: Database) -> None:
    # The searches a web-searching answer was billed (0 for rows logged before)
    # and the pages it cited, as JSON. The citations' titles and URLs are
    # searched through the prompt column (relaykit.record_rows): no FTS change.
    db.execute("ALTER TABLE logs ADD COLUMN web_searches INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE logs ADD COLUMN citations TEXT NOT NULL DEFAULT '[]'")


def _v11_search_queries(db: Database) -> None:
    # What the model searched the web for, as a JSON array ('[]' for rows logged
    # before). Searched through the prompt column, as the citations are: no FTS change.
    db.execute("ALTER TABLE logs ADD COLUMN search_queries TEXT NOT NULL DEFAULT '[]'")


def _v12_fallbacks(db: Database) -> None:
    # The targets given up on before the one that answered (0 for rows logged
    # before: they were not kept, so a route's fallbacks read as none).
    db.execute("ALTER TABLE logs ADD COLUMN fallbacks INTEGER NOT NULL DEFAULT 0")


def _v13_usage_estimated(db: Database) -> None:
    # 1 when the usage and cost are relaykit's estimate of what the vendor billed
    # (a call cut off mid-call, a stream ended before the vendor's usage came);
    # 0 for rows logged before, which were not marked.
    db.execute("ALTER TABLE logs ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0")


def _v14_stop_sequence(db: Database) -> None:
    # The stop sequence the answer stopped on, redacted (where the vendor names
    # it); NULL for rows logged before, which did not keep it. Not searched.
    db.execute("ALTER TABLE logs ADD COLUMN stop_sequence TEXT")


def _v15_storable_keys(db: Database) -> None:
    # Text is stored by relaykit.storable_text's rule now, where U+FFFF only
    # ever opens or closes an escape. A name stored before with a U+FFFF in it
    # would read back the same, but writing that name again would make a second
    # row (the name now escaped) beside it: so the keyed tables' U+FFFF are
    # escaped here (they are small). Call records are read as they were
    # written and never rewritten: a scan of every row is not worth it for a
    # noncharacter, which reads back wrong only in an escape's exact shape.
    escaped = "replace({0}, char(65535), char(65535) || 'ffff' || char(65535))"
    for table, columns in (
        ("vault", ("name",)),
        ("model_cache", ("provider", "models")),
        ("response_cache", ("key", "response")),
    ):
        db.execute(
            f"UPDATE {table} SET "
            + ", ".join(f"{c} = {escaped.format(c)}" for c in columns)
            + " WHERE "
            + " OR ".join(f"instr({c}, char(65535))" for c in columns)
        )


def _v16_search_words(db: Database) -> None:
    # The index held FTS5's own words of the prompt and response, which are not
    # the other backends' (relaykit_sqlite.queries.search_text): it is built
    # again from each row's search words, which FTS5 must take as they are (no
    # accents dropped). Contentless: its text is not the logs table's any more.
    # Every relaykit connection has search_text (register_functions), which the
    # delete trigger calls; this one may be a caller's plain connection.
    register_functions(db.conn)
    db.execute("DROP TRIGGER logs_ad")
    db.execute("DROP TABLE logs_fts")
    db.execute(
        "CREATE VIRTUAL TABLE logs_fts USING fts5"
        "(prompt, response, content='', tokenize='unicode61 remove_diacritics 0')"
    )
    db.execute(
        "INSERT INTO logs_fts (rowid, prompt, response)"
        " SELECT rowid, search_text(prompt), search_text(response) FROM logs"
    )
    db.execute(
        "CREATE TRIGGER logs_ad AFTER DELETE ON logs BEGIN"
        " INSERT INTO logs_fts (logs_fts, rowid, prompt, response)"
        " VALUES ('delete', old.rowid, search_text(old.prompt), search_text(old.response)); END"
    )


def _v17_newest_first_index(db: Database) -> None:
    # query_logs lists started_at DESC, id DESC and a page cursor continues at
    # (started_at, id) < (?, ?): an index in that order reads a page's rows and
    # no more, where logs_started_at sorted each second's ties in a temporary
    # B-tree. It serves every started_at range too (prune, --since), so the
    # old index goes: one index to write per row, not two.
    db.execute("CREATE INDEX logs_newest ON logs (started_at, id)")
    db.execute("DROP INDEX logs_started_at")


MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (1, "logs with full-text search, vault, model cache", _v1_logs_vault_models),
    (2, "response cache", _v2_response_cache),
    (3, "drop the unused index logs_model_requested", _v3_drop_unused_index),
    (4, "the model's reasoning text", _v4_reasoning),
    (5, "the model's reasoning blocks", _v5_reasoning_parts),
    (6, "prompt-cache write tokens", _v6_cache_write_tokens),
    (7, "one-hour prompt-cache write tokens", _v7_cache_write_1h_tokens),
    (8, "long messages stored once", _v8_shared_messages),
    (9, "an index of conversations", _v9_conversations),
    (10, "web searches and citations", _v10_web_search),
    (11, "web search queries", _v11_search_queries),
    (12, "fallbacks", _v12_fallbacks),
    (13, "estimated usage", _v13_usage_estimated),
    (14, "the stop sequence met", _v14_stop_sequence),
    (15, "U+FFFF escaped in vault, model and response cache keys", _v15_storable_keys),
    (16, "full-text index of the search words every backend uses", _v16_search_words),
    (17, "an index in the order records are listed", _v17_newest_first_index),
]


def _e1_collections(db: Database) -> None:
    # A separate file from the call log (embeddings.db, as simonw/llm keeps
    # one): vectors are big, and pruning logs must never touch them.
    # `embeddings` is a rowid table: its ~6 KB blobs belong out of the key's
    # b-tree. A search reads a collection's rows through the UNIQUE index, in
    # id order.
    db.execute(
        "CREATE TABLE collections (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " model TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE embeddings (collection_id INTEGER NOT NULL REFERENCES collections (id),"
        " id TEXT NOT NULL, embedding BLOB NOT NULL, content TEXT, content_hash BLOB NOT NULL,"
        " metadata TEXT, updated_at REAL NOT NULL, UNIQUE (collection_id, id))"
    )


def _e2_collection_versions(db: Database) -> None:
    # A search with numpy keeps a collection's vectors in memory as one matrix
    # (relaykit_sqlite.vector_matrix); `version` tells it when that copy is
    # stale. Triggers bump it, not the code writing, so a write by any process
    # or any release of relaykit counts. Only what the matrix holds counts: the
    # vectors, and the ids (their order is the search's order for ties);
    # content and metadata are read per answer. Row counts and max(rowid)
    # would miss an upsert replacing a vector in place.
    db.execute("ALTER TABLE collections ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "CREATE TRIGGER embeddings_version_ai AFTER INSERT ON embeddings BEGIN"
        " UPDATE collections SET version = version + 1 WHERE id = new.collection_id; END"
    )
    db.execute(
        "CREATE TRIGGER embeddings_version_au AFTER UPDATE OF embedding, id, collection_id"
        " ON embeddings BEGIN UPDATE collections SET version = version + 1"
        " WHERE id IN (old.collection_id, new.collection_id); END"
    )
    db.execute(
        "CREATE TRIGGER embeddings_version_ad AFTER DELETE ON embeddings BEGIN"
        " UPDATE collections SET version = version + 1 WHERE id = old.collection_id; END"
    )


def _e3_storable_keys(db: Database) -> None:
    # As _v15_storable_keys, for what names a collection or an item: written
    # again, a name or id holding U+FFFF stored before would make a second row.
    # Stored texts and metadata are read as they were written.
    escaped = "replace({0}, char(65535), char(65535) || 'ffff' || char(65535))"
    for table, column in (("collections", "name"), ("collections", "model"), ("embeddings", "id")):
        db.execute(
            f"UPDATE {table} SET {column} = {escaped.format(column)}"
            f" WHERE instr({column}, char(65535))"
        )


#: the migrations of an embeddings file (:mod:`relaykit_sqlite.collection_file`), recorded
#: in ``relaykit_embeddings_migrations``
EMBEDDINGS_MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (1, "collections and their embeddings", _e1_collections),
    (2, "collection versions", _e2_collection_versions),
    (3, "U+FFFF escaped in collection names, models and item ids", _e3_storable_keys),
]


#: how long opening waits for another connection that is switching a new file to WAL
WAL_SWITCH_SECONDS = 30.0


def use_wal(
    conn: sqlite3.Connection,
    seconds: float = WAL_SWITCH_SECONDS,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Put the database in WAL mode (persistent), if another connection has not already.

    Switching needs the file to itself, and SQLite answers "database is locked"
    at once rather than through the busy handler, so two processes opening a
    new file together would have one of them fail: it is tried again until
    ``seconds`` have passed, or ``stop`` is set. A file already in WAL mode
    (every open after the first) needs no switch.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")  # outside any transaction
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            if stop is not None and stop.is_set():  # (its storage is closing)
                raise
            time.sleep(0.005)


def migrate(
    conn: sqlite3.Connection,
    migrations: list[tuple[int, str, Callable[[Database], None]]] = MIGRATIONS,
    table: str = "relaykit_migrations",
    *,
    stop: threading.Event | None = None,
) -> list[int]:
    """Bring the database up to date with ``migrations`` (the call log's by
    default), recorded in ``table``; return the versions applied now. ``stop``,
    once set, ends the wait to switch to WAL (:func:`use_wal`).

    Each schema records its versions in its own table, so an embeddings file
    and a call log could even share one file without their numbers colliding.
    """
    use_wal(conn, stop=stop)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        done = {row[0] for row in conn.execute(f"SELECT version FROM {table}")}
        pending = [migration for migration in migrations if migration[0] not in done]
        applied = []
        if pending:
            # Imported only when there is a schema to build: sqlite-utils imports
            # pandas and numpy whenever they are installed (0.4 s here), which
            # every client opening an up-to-date database paid before its first
            # record, and every `relaykit prompt` before its answer.
            from sqlite_utils import Database

            db = Database(conn, execute_plugins=False)
        for version, name, apply in pending:
            apply(db)
            conn.execute(
                f"INSERT INTO {table} (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, time.time()),
            )
            applied.append(version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied
