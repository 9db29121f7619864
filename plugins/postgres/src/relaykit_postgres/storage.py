""":class:`PostgresStorage`: call logs, usage totals, key vault and model cache in PostgreSQL.

A batch is one COPY into ``logs`` in one transaction (or, when it holds a
record stored before, a COPY into a staging table and ``INSERT ... ON
CONFLICT (id) DO NOTHING``): it is durable when ``write_batch`` returns, a
retried batch is not stored twice, and any number of processes can write at
once (ids are UUIDs; nothing is read back to write). Full-text search uses a
``tsvector`` column of each row's words (split as every backend splits them,
:func:`~relaykit_postgres.queries.search_vector`) with a GIN index. The schema is migrated on
first use (see :mod:`relaykit_postgres.schema`).

A chat resends its history every call, so each long message is stored once,
in ``shared_messages`` with a count of the rows that refer to it
(:meth:`relaykit.record_rows.RowEncoder.shared`): a batch adds its inserted
rows' references in its own transaction, :meth:`PostgresStorage.prune` takes
the deleted rows' away and drops the messages left with none, and a read
takes rows and messages from one snapshot.

Connections: ``driver="thread"`` uses psycopg's sync pool from anyio worker
threads (asyncio and trio); ``driver="async"`` psycopg's asyncio pool;
``"auto"`` (the default) picks the async pool under asyncio and threads
otherwise. To keep the tables in their own schema, pass ``schema=`` or put
``options=-csearch_path=NAME`` in the DSN.

The pool hands out idle connections without a round trip to test them, so
after a server restart (a failover, ``idle_session_timeout``) each idle one
fails when next used. Reads and the small idempotent writes (vault, model and
response caches) then test the pool's idle connections, dropping the dead
ones, and run once more (:meth:`PostgresStorage._run`): the caller sees no
error, and a healthy pool pays nothing. ``write_batch`` does not: the call
log retries it (and counts the failure in the storage metrics).

Response-cache lookups waiting together are one query, and cache writes one
transaction (:mod:`relaykit_postgres.cache_batches`): a burst of cached calls
costs a few round trips, not one (and one pooled connection) per call.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any, Literal, TypeVar

import anyio
import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict

from relaykit.errors import ConfigError, RelayError, StorageUnavailableError
from relaykit.fork_safety import after_fork_in_child, leave_to_parent
from relaykit.protocols import CachedModels, CallRecord, LogQuery, UsageTotal
from relaykit.record_rows import row_to_record
from relaykit.response import ModelInfo
from relaykit.serialization import converter
from relaykit.storable_text import decode_json, decode_text, encode_json, encode_text

from .cache_batches import Batches
from .drivers import FINISH_WAIT, AsyncDriver, Driver, ThreadDriver, connect_sync
from .queries import (
    COPY_NEW_RECORDS,
    COPY_STAGED_RECORDS,
    CREATE_STAGING,
    DELETE_OLD_RECORDS,
    INSERT_STAGED_RECORDS,
    PRUNE_CHUNK,
    batch_for,
    select_records,
    select_totals,
    total_from_row,
)
from .schema import migrate
from .shared_messages import add_references, drop_references, read_shared

DriverName = Literal["auto", "thread", "async"]
T = TypeVar("T")
log = logging.getLogger("relaykit.postgres")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _vault_rows(blobs: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    return [(encode_text(name), bytes(blob)) for name, blob in blobs.items()]


def _vault_blobs(rows: Sequence[Sequence[Any]]) -> dict[str, bytes]:
    return {decode_text(name): bytes(blob) for name, blob in rows}


class PostgresStorage:
    """The PostgreSQL storage backend.

    Every text is stored as :mod:`relaykit.storable_text` says (NUL, which
    ``text`` and ``jsonb`` refuse, and lone surrogates escaped) and read back as it was.

    :param dsn: a libpq connection string or URL (``postgresql://user@host/db``).
    :param schema: create the tables in this schema (created if missing)
        instead of the first one on the search path.
    :param driver: ``"thread"``, ``"async"`` (asyncio only) or ``"auto"``.
    :param min_size: connections the pool keeps open.
    :param max_size: connections the pool opens at most.
    """

    #: seconds between two sweeps of expired response-cache rows, each run by a
    #: cache write (the first write of a storage object sweeps)
    CACHE_SWEEP_INTERVAL = 60.0

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        driver: DriverName = "auto",
        min_size: int = 1,
        max_size: int = 8,
    ) -> None:
        if schema is not None and not _IDENTIFIER.fullmatch(schema):
            raise ConfigError(f"{schema!r} is not a plain PostgreSQL schema name")
        try:
            where = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as e:
            raise ConfigError(f"invalid PostgreSQL connection string: {_scrub(e, dsn)}") from None
        # What messages may show: never the password (or the DSN, which may hold one).
        self._where = ", ".join(
            f"{k}={where[k]}" for k in ("host", "port", "dbname", "user") if where.get(k)
        ) + (f", schema={schema}" if schema else "")
        self._dsn = dsn
        self._schema = schema
        self._spill_target = _spill_target(where, schema)
        self._kwargs: dict[str, Any] = {"options": f"-c search_path={schema}"} if schema else {}
        self._driver_name = driver
        self._sizes = (min_size, max_size)
        self._driver: Driver | None = None
        self._open_lock: anyio.Lock | None = None
        self._closed = False
        # The model listings this object has read or written, for peek_cached_models.
        self._models_seen: dict[str, CachedModels] = {}
        #: response-cache lookups and writes waiting together, run together
        self._lookups = Batches(self._look_up)
        self._writes = Batches(self._store)
        #: (monotonic) when a cache write next sweeps expired rows: the first at once
        self._cache_sweep_at = 0.0
        after_fork_in_child(self, PostgresStorage._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: open a pool of its own on first use.

        The parent's pooled connections are its sockets: a statement from the
        child on one would interleave with the parent's on the same stream (the
        server drops the connection). The pool's threads, or the event loop its
        async pool runs in, do not exist here either. Left unclosed: closing
        would end the parent's sessions.
        """
        leave_to_parent(self._driver)
        self._driver = None
        self._lookups.forget()
        self._writes.forget()
        self._open_lock = None

    def __repr__(self) -> str:
        return f"PostgresStorage({self._where})"

    @property
    def spill_target(self) -> str:
        """This database, for the call log's spill file: host, port, dbname, user, schema.

        Never the password (nor other DSN options: a rotated password or a new
        ``sslmode`` is still the same database).
        """
        return self._spill_target

    # -- plumbing ------------------------------------------------------------------

    def _pick_driver(self) -> Driver:
        name = self._driver_name
        if name == "auto":
            import sniffio

            name = "async" if sniffio.current_async_library() == "asyncio" else "thread"
        if name == "async":
            return AsyncDriver(self._dsn, self._kwargs, *self._sizes)
        if name == "thread":
            return ThreadDriver(self._dsn, self._kwargs, *self._sizes)
        raise ConfigError(
            f"unknown PostgreSQL driver {name!r}", hint="use 'thread', 'async' or 'auto'"
        )

    def _migrate(self) -> None:
        with connect_sync(self._dsn, self._kwargs) as conn:
            migrate(conn, self._schema)

    async def _ready(self) -> Driver:
        if self._driver is not None:
            return self._driver
        if self._open_lock is None:
            self._open_lock = anyio.Lock()
        async with self._open_lock:
            if self._closed:
                raise RelayError(f"{self!r} is closed", hint="use a new relaykit.Client")
            if self._driver is None:
                await anyio.to_thread.run_sync(self._migrate)
                driver = self._pick_driver()
                try:
                    await driver.open()
                except BaseException:
                    # Cancelled or failed once its pool had opened (part of) its
                    # connections and threads: nothing else holds it to close them.
                    # (its own error is not the one to report)
                    with anyio.CancelScope(shield=True), suppress(Exception):
                        await driver.close()
                    raise
                self._driver = driver
        return self._driver

    @asynccontextmanager
    async def _using(self) -> AsyncIterator[Driver]:
        try:
            yield await self._ready()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as e:
            # One error type for callers (and one line for the CLI), never the DSN.
            # OperationalError is the connection's or the server's trouble (refused,
            # dropped, the server shutting down, a pool timeout, a serialization
            # failure or deadlock): the call log retries it. Others (bad data, a
            # constraint) are a record's, and retrying cannot help; so is class 54,
            # an OperationalError to psycopg: a program limit a record exceeds (a
            # value too long for its index), which no retry will ever store.
            transient = isinstance(e, psycopg.OperationalError) and not _too_big(e)
            raise (StorageUnavailableError if transient else RelayError)(
                f"PostgreSQL storage ({self._where}): {_scrub(e, self._dsn)}",
                hint="check that the server is up and [storage] dsn / RELAYKIT_POSTGRES_DSN"
                if transient
                else "the server answered and refused this: retrying will not help",
            ) from None

    async def _run(self, work: Callable[[Driver], Awaitable[T]]) -> T:
        """``work(driver)``; once more if it failed on a connection the server had ended.

        The pool does not test a connection before handing it out (that would
        cost a round trip per use), so after a server restart every idle
        connection fails once. The retry first has the pool test its idle
        connections, so it runs on a live one (or a new one), not the next
        dead one. Only for idempotent work: a dropped connection may have
        committed before it went.
        """
        async with self._using() as db:
            try:
                return await work(db)
            except psycopg.OperationalError as e:
                if not _connection_ended(e):
                    raise
                log.info(
                    "PostgreSQL storage (%s): a pooled connection had ended (%s); retrying",
                    self._where,
                    _scrub(e, self._dsn),
                )
                await db.check()
            return await work(db)

    # -- call records ----------------------------------------------------------------

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        """Insert ``records`` in one transaction; duplicates (by id) are skipped."""
        if not records:
            return
        # Serialising is CPU work: keep it off the event loop, whichever driver.
        batch = await anyio.to_thread.run_sync(batch_for, list(records))
        async with self._using() as db:
            try:
                async with db.transaction() as tx:
                    await tx.copy(COPY_NEW_RECORDS, batch.rows)
                    await add_references(tx, batch.references())
            except psycopg.errors.UniqueViolation:
                async with db.transaction() as tx:
                    await tx.execute(CREATE_STAGING)
                    await tx.copy(COPY_STAGED_RECORDS, batch.rows)
                    inserted = {row_id for (row_id,) in await tx.fetch(INSERT_STAGED_RECORDS)}
                    await add_references(tx, batch.references(inserted))

    async def query_logs(self, query: LogQuery = LogQuery()) -> list[CallRecord]:
        """The records ``query`` selects, newest first."""
        sql, params = select_records(query)

        async def read(db: Driver) -> list[CallRecord]:
            async with db.transaction() as tx:
                # One snapshot for both SELECTs: a prune committing between them
                # could otherwise drop a message that the rows refer to.
                await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                rows = await tx.fetch(sql, params)
                shared = await read_shared(tx, rows)
            return [row_to_record(row, shared) for row in rows]

        return await self._run(read)

    async def usage_totals(self, query: LogQuery = LogQuery()) -> list[UsageTotal]:
        """Tokens and exact (numeric) cost per UTC day and deployment."""
        sql, params = select_totals(query)
        rows = await self._run(lambda db: db.fetch(sql, params))
        return [total_from_row(row) for row in rows]

    async def prune(self, older_than: datetime) -> int:
        """Delete records started before ``older_than``, and the messages only they referred to.

        Returns the number of records deleted. It goes a chunk of records per
        transaction: when it is interrupted, the chunks done stay done.
        """
        deleted = 0
        async with self._using() as db:
            while True:
                async with db.transaction() as tx:
                    gone = await tx.fetch(DELETE_OLD_RECORDS, (older_than.timestamp(), PRUNE_CHUNK))
                    await drop_references(tx, Counter(k for (keys,) in gone for k in keys))
                deleted += len(gone)
                if len(gone) < PRUNE_CHUNK:
                    return deleted

    # -- key vault -----------------------------------------------------------------

    async def vault_put(self, blobs: Mapping[str, bytes]) -> None:
        """Store blobs by name in one transaction."""
        rows = _vault_rows(blobs)
        if not rows:
            return
        await self._run(
            lambda db: db.execute_many(
                "INSERT INTO vault (name, blob) VALUES (%s, %s) ON CONFLICT (name)"
                " DO UPDATE SET blob = EXCLUDED.blob, updated_at = now()",
                rows,
            )
        )

    async def vault_items(self) -> dict[str, bytes]:
        """Every blob by name."""
        rows = await self._run(lambda db: db.fetch("SELECT name, blob FROM vault"))
        return _vault_blobs(rows)

    async def vault_update(self, change: Callable[[dict[str, bytes]], Mapping[str, bytes]]) -> None:
        """Store what ``change(blobs)`` returns, read and written in one transaction.

        The transaction first locks the vault table against other writers
        (``SHARE ROW EXCLUSIVE`` conflicts with itself and with the row locks
        of inserts and deletes; reads go on), so every vault write, from any
        process or host, comes wholly before or after it. Not retried on a
        dropped connection: ``change`` decides on what it read.
        """
        async with self._using() as db, db.transaction() as tx:
            await tx.execute("LOCK TABLE vault IN SHARE ROW EXCLUSIVE MODE")
            rows = await tx.fetch("SELECT name, blob FROM vault")
            blobs = await anyio.to_thread.run_sync(change, _vault_blobs(rows))
            for name, blob in _vault_rows(blobs):
                await tx.execute(
                    "INSERT INTO vault (name, blob) VALUES (%s, %s) ON CONFLICT (name)"
                    " DO UPDATE SET blob = EXCLUDED.blob, updated_at = now()",
                    (name, blob),
                )

    async def vault_delete(self, name: str) -> bool:
        """Delete one blob; return whether it existed."""
        # (Retried too: a delete whose connection ended after its commit then
        # says False, and the blob is gone all the same.)
        deleted = await self._run(
            lambda db: db.execute("DELETE FROM vault WHERE name = %s", (encode_text(name),))
        )
        return deleted > 0

    # -- model cache -----------------------------------------------------------------

    async def cached_models(self, provider: str) -> CachedModels | None:
        """The stored listing of ``provider``, or ``None``."""
        rows = await self._run(
            lambda db: db.fetch(
                "SELECT fetched_at, models::text FROM model_cache WHERE provider = %s",
                (encode_text(provider),),
            )
        )
        if not rows:
            return None
        fetched_at, models = rows[0]
        listing = converter.structure(decode_json(models), tuple[ModelInfo, ...])
        return self._seen(CachedModels(provider, fetched_at, listing))

    async def cache_models(self, entry: CachedModels) -> None:
        """Store (replace) a provider's listing."""
        data = encode_json(json.dumps(converter.unstructure(entry.models), ensure_ascii=False))
        await self._run(
            lambda db: db.execute(
                "INSERT INTO model_cache (provider, fetched_at, models) VALUES (%s, %s, %s)"
                " ON CONFLICT (provider) DO UPDATE"
                " SET fetched_at = EXCLUDED.fetched_at, models = EXCLUDED.models",
                (encode_text(entry.provider), entry.fetched_at, data),
            )
        )
        self._seen(entry)

    def peek_cached_models(self, provider: str) -> CachedModels | None:
        """The listing of ``provider`` this object last read or wrote, without any I/O.

        It may be older than the stored one (another process may have stored
        a newer listing since); ``None`` when this object has seen none.
        The model catalog serves it without a round trip while it is fresh,
        and reads the database otherwise.
        """
        return self._models_seen.get(provider)

    def _seen(self, entry: CachedModels) -> CachedModels:
        known = self._models_seen.get(entry.provider)
        if known is None or known.fetched_at <= entry.fetched_at:
            self._models_seen[entry.provider] = entry
        return entry

    # -- response cache ---------------------------------------------------------------

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        """``(expires_at, response JSON)`` stored under ``key``, or ``None``.

        Lookups waiting together are one query (:mod:`relaykit_postgres.cache_batches`)."""
        found = await self._lookups.submit([key])
        return found.get(key)

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        """Store (replace) a cached response; expired entries are dropped on the way,
        at most every :attr:`CACHE_SWEEP_INTERVAL` seconds.

        Writes waiting together are one transaction (:mod:`relaykit_postgres.cache_batches`)."""
        await self._writes.submit([(key, expires_at, response)])

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        """``{key: (expires_at, response JSON)}`` for those of ``keys`` stored, in one
        round trip (an embeddings call looks up each of its texts), shared with the
        lookups waiting alongside."""
        if not keys:
            return {}
        return await self._lookups.submit(list(keys))

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        """Store (replace) each ``(key, expires_at, response JSON)`` in one transaction
        (shared with the writes waiting alongside); expired entries are dropped on the
        way, at most every :attr:`CACHE_SWEEP_INTERVAL` seconds. A key given twice
        keeps its last."""
        if not entries:
            return
        await self._writes.submit(list(entries))

    async def _look_up(self, requests: list[Sequence[str]]) -> list[dict[str, tuple[float, str]]]:
        """One query for every key of ``requests``: each request's rows."""
        encoded = {key: encode_text(key) for keys in requests for key in keys}
        rows = await self._run(
            lambda db: db.fetch(
                "SELECT key, expires_at, response FROM response_cache WHERE key = ANY(%b::text[])",
                (list(set(encoded.values())),),
            )
        )
        found = {key: (expires_at, response) for key, expires_at, response in rows}
        answers = []
        for keys in requests:
            mine = {}
            for key in keys:
                row = found.get(encoded[key])
                if row is not None:
                    mine[key] = (row[0], decode_text(row[1]))
            answers.append(mine)
        return answers

    async def _store(self, requests: list[Sequence[tuple[str, float, str]]]) -> list[None]:
        """Every entry of ``requests`` in one transaction (a key given twice keeps its
        last, in the order the requests came)."""
        latest = {
            encode_text(key): (expires_at, encode_text(response))
            for entries in requests
            for key, expires_at, response in entries
        }
        # In key order: two writes of overlapping keys (two embed calls sharing texts,
        # two flights, two processes) lock their rows in one order, never each waiting
        # on the other (a deadlock, PostgreSQL's error after deadlock_timeout: 17 of
        # 20 rounds of 3,000 keys).
        latest = dict(sorted(latest.items()))
        columns = (
            list(latest),
            [expires_at for expires_at, _ in latest.values()],
            [response for _, response in latest.values()],
        )

        # Expired rows go at most every CACHE_SWEEP_INTERVAL: a DELETE in every
        # write was one more round trip per flight, with nothing expired mostly.
        # One left until then is never served (the client checks expires_at).
        now = time.monotonic()
        sweep = now >= self._cache_sweep_at
        if sweep:
            self._cache_sweep_at = now + self.CACHE_SWEEP_INTERVAL
        expired_by = time.time()

        async def write(db: Driver) -> None:
            async with db.transaction() as tx:
                if sweep:
                    await tx.execute(
                        "DELETE FROM response_cache WHERE expires_at <= %s", (expired_by,)
                    )
                await tx.execute(
                    "INSERT INTO response_cache (key, expires_at, response)"
                    " SELECT * FROM unnest(%b::text[], %b::float8[], %b::text[])"
                    " ON CONFLICT (key) DO UPDATE"
                    " SET expires_at = EXCLUDED.expires_at, response = EXCLUDED.response",
                    columns,
                )

        await self._run(write)
        return [None] * len(requests)

    # -- lifecycle -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pool. Idempotent."""
        self._closed = True
        # Cache writes queued or in flight go in first (their callers wait for them),
        # bounded as a transaction's end is: a stalled server must not hold the close.
        with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_WAIT):
            await self._writes.drain()
        driver, self._driver = self._driver, None
        if driver is not None:
            with anyio.CancelScope(shield=True):
                await driver.close()


def _too_big(error: psycopg.Error) -> bool:
    """Whether ``error`` is SQLSTATE class 54, program limit exceeded (``index row
    requires 16024 bytes, maximum size is 8191``): what was sent, not the server."""
    return (error.sqlstate or "").startswith("54")


#: psycopg_pool's own errors: the pool's state, not a connection the server ended
_POOL_ERRORS = (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg_pool.TooManyRequests)


def _connection_ended(error: psycopg.OperationalError) -> bool:
    """Whether ``error`` says the connection itself is gone (so another may work).

    No SQLSTATE: libpq lost the socket ("server closed the connection
    unexpectedly"); class 08: a connection exception; 57P: the server ended
    the session (shutdown, crash, ``pg_terminate_backend``,
    ``idle_session_timeout``). Not a query cancelled (57014), a deadlock or a
    serialization failure: retrying those at once is not this retry's job.
    """
    if isinstance(error, _POOL_ERRORS):
        return False
    state = error.sqlstate
    return state is None or state.startswith(("08", "57P"))


#: libpq's environment variables for what a DSN leaves out (as a connection would use them)
_PG_ENV = {"host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER"}


def _spill_target(where: Mapping[str, Any], schema: str | None) -> str:
    """Which database and schema ``where`` (a parsed DSN) names, without secrets."""
    found = {key: str(where.get(key) or os.environ.get(env, "")) for key, env in _PG_ENV.items()}
    found["port"] = found["port"] or "5432"
    found["dbname"] = found["dbname"] or found["user"]  # (libpq's default)
    parts = [f"{key}={value}" for key, value in found.items() if value]
    return "\n".join(["postgres", " ".join(parts), f"schema={schema or ''}"])


def _scrub(error: BaseException, dsn: str) -> str:
    """The first line of ``error``'s message, without the DSN or its password in it."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    for secret in (dsn, password):
        if secret:
            text = text.replace(str(secret), "***")
    return text
