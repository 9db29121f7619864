""":class:`SQLiteStorage`: the embedded default backend.

How it writes. ``write_batch`` hands its records, from an anyio worker
thread, to the one writer thread (:mod:`relaykit_sqlite.writer`) through a
bounded queue, and returns once they are committed. The writer commits every
batch waiting in the queue in one transaction, indexing the new rows for
full-text search in one statement; WAL checkpoints run on a thread of their
own (:mod:`relaykit_sqlite.checkpoint`). The database runs in WAL mode
with ``synchronous=NORMAL``: a committed transaction survives the process
being killed (it is in the WAL, in the OS page cache); a power cut may lose
the last transactions, never corrupt the file.

What a SIGKILL loses. Exactly the records not yet committed. Between a call
finishing and its record's commit the record sits in, at most: the client's
call-log queue (``[storage] queue_size``, 10,000 by default) and the batch the
call log is writing (``[storage] batch_size``, 2,000). ``write_batch`` waits for
the commit, so the writer's own queue holds at most one batch per writing
client. So a kill loses at most ``queue_size + batch_size`` records per client
(under steady load, usually one batch), and what survives is whole: every
committed record with its full-text index entry, in call order.

Reads run in anyio worker threads on their own connections (a small pool),
so WAL readers never wait for the writer and the event loop never blocks.
The exception is a response-cache look-up: one primary-key ``SELECT``, far
cheaper than the thread hop around it, runs on the event loop's thread, timed,
and goes back to threads for a while when one had to wait for the disk
(:mod:`relaykit_sqlite.loop_reads` says why that is safe).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio

from relaykit.errors import RelayError, StorageUnavailableError
from relaykit.fork_safety import after_fork_in_child, leave_to_parent
from relaykit.protocols import CachedModels, CallRecord, LogQuery, UsageTotal
from relaykit.record_rows import MESSAGES, message_keys, row_to_record
from relaykit.response import ModelInfo
from relaykit.serialization import converter
from relaykit.sqlite_fork import using_sqlite
from relaykit.storable_text import decode_json, decode_text, encode_json, encode_text

from .checkpoint import Checkpointer
from .error_hints import fix_for
from .loop_reads import NOT_READ, LoopReads, here
from .queries import (
    SELECT_SHARED,
    register_functions,
    select_records,
    select_totals,
    total_from_row,
)
from .schema import migrate
from .writer import LOCK_SLICE, Writer, locked

T = TypeVar("T")

log = logging.getLogger("relaykit.sqlite")

#: bytes per database page, for new files
PAGE_SIZE = 16384

#: rows ``prune`` deletes per transaction, so record writes interleave with a big prune
PRUNE_CHUNK = 5000


#: keys a look-up names at once: well under SQLite's oldest limit on parameters (999)
_KEYS_A_QUERY = 500


#: SQLite's primary result codes for trouble with the file, not with what is
#: written: another process holds the lock past the busy timeout (BUSY, LOCKED),
#: the disk fails or is full (IOERR, FULL), the file cannot be opened (CANTOPEN)
_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN")


def _unavailable(error: BaseException) -> bool:
    """Whether ``error`` is the file's trouble, which waiting may cure, not a record's."""
    if isinstance(error, OSError):
        return True  # creating the file or its directory: the disk, not a record
    name = getattr(error, "sqlite_errorname", None) or ""  # e.g. SQLITE_IOERR_WRITE
    if name:
        return name.startswith(_UNAVAILABLE)
    # Some errors carry no code (older SQLite, or raised by the module itself).
    text = str(error).lower()
    return "database is locked" in text or "disk i/o error" in text


def _select_response(conn: sqlite3.Connection, key: str) -> list[tuple[float, str]]:
    # fetchall, not fetchone: it finishes the statement, ending its read transaction
    return conn.execute(
        "SELECT expires_at, response FROM response_cache WHERE key = ?", (encode_text(key),)
    ).fetchall()


_UPSERT_VAULT = (
    "INSERT INTO vault (name, blob, updated_at) VALUES (?, ?, ?) ON CONFLICT (name)"
    " DO UPDATE SET blob = excluded.blob, updated_at = excluded.updated_at"
)


def _vault_blobs(rows: list[Any]) -> dict[str, bytes]:
    # A row edited by hand may hold TEXT or NULL: hand the vault bytes either
    # way, so it reports the entry as damaged instead of failing here.
    return {
        decode_text(name): blob.encode() if isinstance(blob, str) else bytes(blob or b"")
        for name, blob in rows
    }


def _vault_rows(blobs: Mapping[str, bytes], now: float) -> list[tuple[str, bytes, float]]:
    return [(encode_text(name), bytes(blob), now) for name, blob in blobs.items()]


class SQLiteStorage:
    """Call logs, usage totals, key vault and model cache in one SQLite file.

    Every text is stored as :mod:`relaykit.storable_text` says (lone
    surrogates, which UTF-8 cannot encode, escaped) and read back as it was.

    :param path: the database file; its directory is created if missing.
    :param max_queued: batches that may wait for the writer before callers block.
    :param busy_timeout: seconds to wait for another process's write lock.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, max_queued: int = 64, busy_timeout: float = 30.0
    ) -> None:
        self.path = Path(path)
        self._max_queued = max_queued
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._writer: Writer | None = None
        self._idle_readers: list[sqlite3.Connection] = []
        self._loop_reads = LoopReads(self.path)
        self._closed = False
        #: set as the close begins, before it waits for ``_lock``: an open waiting for
        #: another process's lock (holding ``_lock``) stops waiting then
        self._closing = threading.Event()
        # The model listings this object has read or written, for peek_cached_models.
        self._models_seen: dict[str, CachedModels] = {}
        after_fork_in_child(self, SQLiteStorage._forget_parent)

    def __repr__(self) -> str:
        return f"SQLiteStorage({str(self.path)!r})"

    @property
    def spill_target(self) -> str:
        """This database, for the call log's spill file: the backend and its absolute path
        (no secret to leave out: the call log hashes it into the file's name)."""
        return f"sqlite\n{self.path.expanduser().absolute()}"

    # -- plumbing ------------------------------------------------------------------

    def _forget_parent(self) -> None:
        """In a forked child: drop the parent's writer, queue and connections.

        The child starts its own writer and connections on first use. What the
        parent had queued stays the parent's to write (it still does), so no
        record is written twice. Forked while a thread of the parent was inside
        SQLite (this storage's or any other relaykit SQLite user's), the child
        cannot use SQLite at all: every use then raises a
        :class:`~relaykit.RelayError` that says so, rather than hang
        (:mod:`relaykit.sqlite_fork`: every SQLite call here runs in its ``using_sqlite``).
        """
        self._lock = threading.Lock()  # a parent's thread may have held it at fork
        writer, self._writer = self._writer, None
        # Never used nor closed here (garbage collection would close them): SQLite
        # forbids both across a fork. Closing one may clean up files under the
        # parent, and one a parent's thread was using holds its mutex for good.
        if writer is not None:
            leave_to_parent(*writer.connections_in_child())
        leave_to_parent(*self._idle_readers, *self._loop_reads.connections_in_child())
        self._idle_readers = []

    def _connect(self, busy_timeout: float | None = None) -> sqlite3.Connection:
        """A connection that waits ``busy_timeout`` (default: the storage's) for a lock."""
        timeout = self._busy_timeout if busy_timeout is None else busy_timeout
        conn = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at commit against crashes, in WAL
            register_functions(conn)
        except BaseException:
            # the first statement is where a file that is not a database fails: the
            # connection (and its descriptor on the file) would stay open until collected
            conn.close()
            raise
        return conn

    def _create_private_file(self) -> None:
        # Logs hold prompts and answers: only the owner may read them. SQLite
        # gives the -wal and -shm files the database file's permissions.
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    def _ready_writer(self) -> Writer:
        """Open and migrate the database on first use; return the writer."""
        with self._lock:
            if self._closed:
                raise RelayError(f"{self!r} is closed", hint="use a new relaykit.Client")
            if self._writer is None:
                with using_sqlite(self.path, "opening"):  # (refused first in such a child)
                    self._writer = self._open_writer()
            return self._writer

    def _open_writer(self) -> Writer:
        self._create_private_file()
        conn = self._open_migrated()
        try:
            self._preload_model_cache(conn)
        except BaseException:
            conn.close()
            raise
        return Writer(
            conn,
            path=self.path,
            max_queued=self._max_queued,
            checkpointer=Checkpointer(self._connect, self.path),
            busy_timeout=self._busy_timeout,
        )

    def _open_migrated(self) -> sqlite3.Connection:
        """The writer's connection, the file's pages sized (a new file) and migrated:
        another process's lock is waited for in slices (as the writer does), up to
        the busy timeout, but no longer once the close has begun.

        Up to the busy timeout is right for a call: another process may be making or
        migrating the same file (two workers starting together), which takes a
        moment. But the open holds ``_lock``, which the close takes: SQLite's own
        busy wait, which nothing cuts short, held the client's close for all of it
        (30 s), past the call log's ``close_timeout``, which had given the write up
        (and spilled its records, for the next client to replay).
        """
        deadline = time.monotonic() + self._busy_timeout
        while True:
            conn = None
            try:
                # each statement, the connection's first included, waits one slice
                conn = self._connect(LOCK_SLICE)
                # Only a new, empty file takes it (an existing one keeps its
                # own): 16 KiB pages cost the writer ~25% less CPU per record
                # than SQLite's 4 KiB (see docs/benchmarks-storage.md).
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
                migrate(conn, stop=self._closing)
                # from here the writer waits in slices (WAL), or whole (see Writer)
                conn.execute(f"PRAGMA busy_timeout={round(self._busy_timeout * 1000)}")
                return conn
            except sqlite3.OperationalError as e:
                if conn is not None:
                    conn.close()
                if not locked(e) or time.monotonic() >= deadline or self._closing.is_set():
                    raise
            except BaseException:
                if conn is not None:
                    conn.close()
                raise

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        self._ready_writer()
        with using_sqlite(self.path, "reading"):
            with self._lock:
                conn = self._idle_readers.pop() if self._idle_readers else None
            try:
                if conn is None:
                    conn = self._connect()
                return fn(conn, *args)
            finally:
                with self._lock:
                    if conn is not None:
                        if self._closed:
                            conn.close()
                        else:
                            self._idle_readers.append(conn)

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except (sqlite3.Error, OSError) as e:  # OSError: creating the file or its directory
            # One error type for callers (and one line for the CLI), with the file named;
            # the call log retries what waiting can cure (see _unavailable).
            kind = StorageUnavailableError if _unavailable(e) else RelayError
            raise kind(
                f"SQLite storage {self.path}: {e}",
                hint=fix_for(
                    e,
                    "set [storage] path to another file",
                    f"raise [storage] busy_timeout (now {self._busy_timeout:g} s)",
                ),
            ) from e

    async def _in_thread(self, fn: Callable[..., T], *args: Any, abandon: bool = False) -> T:
        # abandon: a cancelled caller stops waiting, the thread finishes alone (see
        # _cache_thread); otherwise a cancellation waits for the thread.
        return await anyio.to_thread.run_sync(self._guarded, fn, *args, abandon_on_cancel=abandon)

    async def _cache_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`_in_thread` for the response cache, which the client bounds by ``[cache]
        timeout``: a write waiting for another process's lock (up to the busy timeout,
        30 s) must not hold the call that made it. Cancelled, the caller leaves at once;
        the write still lands (or fails) later."""
        return await self._in_thread(fn, *args, abandon=True)

    async def _reading(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._in_thread(self._read, fn, *args)

    async def _reading_on_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """A read cheap enough for the event loop: run there when it can, else in a thread.

        The thread path also opens this thread's loop connection (after the
        first read has created and migrated the file), so opening never
        happens on the loop and the next read can stay there.
        """
        result = self._loop_reads.read(fn, *args)
        if result is not NOT_READ:
            return result
        where = here()

        def read_and_open() -> T:
            found = self._read(fn, *args)
            # Only a shortcut for later reads: failing to open it must not fail this one.
            with contextlib.suppress(sqlite3.Error):
                self._loop_reads.open(where)
            return found

        return await self._cache_thread(read_and_open)

    async def _writing(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a transaction of its own on the writer thread (given up as
        :meth:`_until_given_up` says when cancelled)."""
        return await self._until_given_up(lambda given_up: self._ready_writer().run(fn, given_up))

    async def _caching(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        """A response-cache write: in one transaction with those queued with it
        (:meth:`Writer.run_shared`), its caller bounded as :meth:`_cache_thread`'s."""
        await self._until_given_up(lambda given_up: self._ready_writer().run_shared(fn, given_up))

    async def _until_given_up(self, submit: Callable[[threading.Event], T]) -> T:
        """Run ``submit(given_up)`` in a thread; cancelled, leave at once and set ``given_up``.

        The job may still run (it waits for another process's lock, as before),
        but not past :meth:`aclose`: left waiting then, it held the client's close
        (``close_timeout``) for the whole busy timeout.
        """
        given_up = threading.Event()
        try:
            return await self._in_thread(submit, given_up, abandon=True)
        except anyio.get_cancelled_exc_class():
            given_up.set()
            raise

    # -- call records ----------------------------------------------------------------

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        """Commit ``records`` (through the writer thread); waits while its queue is full.

        Cancelled, it leaves at once: the records may still be committed (by id,
        once), but closing no longer waits for another process's lock for them,
        so the call log's ``close_timeout`` is kept to.
        """
        if records:
            batch = list(records)
            await self._until_given_up(lambda given_up: self._ready_writer().write(batch, given_up))

    async def query_logs(self, query: LogQuery = LogQuery()) -> list[CallRecord]:
        """The records ``query`` selects, newest first."""
        sql, params = select_records(query)

        def read(conn: sqlite3.Connection) -> list[CallRecord]:
            # One read transaction: a prune between the two SELECTs could
            # otherwise drop a message that the rows refer to.
            conn.execute("BEGIN")
            try:
                rows = conn.execute(sql, params).fetchall()
                keys = {key for row in rows for key in message_keys(row[MESSAGES])}
                shared = (
                    dict(conn.execute(SELECT_SHARED, (json.dumps(sorted(keys)),)).fetchall())
                    if keys
                    else {}
                )
            finally:
                # a failed read may have ended the transaction itself (an I/O error)
                if conn.in_transaction:
                    conn.execute("COMMIT")
            return [row_to_record(row, shared) for row in rows]

        return await self._reading(read)

    async def usage_totals(self, query: LogQuery = LogQuery()) -> list[UsageTotal]:
        """Tokens and exact cost per UTC day and deployment."""
        sql, params = select_totals(query)
        rows = await self._reading(lambda conn: conn.execute(sql, params).fetchall())
        return [total_from_row(row) for row in rows]

    async def prune(self, older_than: datetime) -> int:
        """Delete records started before ``older_than``, a few thousand per transaction."""
        cutoff = older_than.timestamp()

        def chunk(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM logs WHERE rowid IN "
                "(SELECT rowid FROM logs WHERE started_at < ? LIMIT ?)",
                (cutoff, PRUNE_CHUNK),
            ).rowcount

        total = 0
        while True:
            deleted = await self._writing(chunk)
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    # -- key vault -----------------------------------------------------------------

    async def vault_put(self, blobs: Mapping[str, bytes]) -> None:
        """Store blobs by name in one transaction."""
        rows = _vault_rows(blobs, time.time())
        await self._writing(lambda conn: conn.executemany(_UPSERT_VAULT, rows))

    async def vault_items(self) -> dict[str, bytes]:
        """Every blob by name."""
        rows = await self._reading(
            lambda conn: conn.execute("SELECT name, blob FROM vault").fetchall()
        )
        return _vault_blobs(rows)

    async def vault_update(self, change: Callable[[dict[str, bytes]], Mapping[str, bytes]]) -> None:
        """Store what ``change(blobs)`` returns, read and written in one ``BEGIN IMMEDIATE``
        transaction (which another process's vault write waits for, up to ``busy_timeout``)."""

        def update(conn: sqlite3.Connection) -> None:
            blobs = _vault_blobs(conn.execute("SELECT name, blob FROM vault").fetchall())
            conn.executemany(_UPSERT_VAULT, _vault_rows(change(blobs), time.time()))

        await self._writing(update)

    async def vault_delete(self, name: str) -> bool:
        """Delete one blob; return whether it existed."""
        deleted: int = await self._writing(
            lambda conn: (
                conn.execute("DELETE FROM vault WHERE name = ?", (encode_text(name),)).rowcount
            )
        )
        return deleted > 0

    # -- model cache -----------------------------------------------------------------

    async def cached_models(self, provider: str) -> CachedModels | None:
        """The stored listing of ``provider``, or ``None``.

        Reads every provider's listing at once (the table holds one row per
        provider) and keeps them for :meth:`peek_cached_models`: listing every
        provider in a new process then costs one read, not one per provider.
        """
        return (await self._reading(self._read_model_cache)).get(provider)

    def _preload_model_cache(self, conn: sqlite3.Connection) -> None:
        # Small, and read by the first models() of most processes: with it in
        # memory that call needs no worker-thread hop. Only an optimisation, so
        # a listing that cannot be decoded must not stop the database opening.
        try:
            self._read_model_cache(conn)
        except Exception:
            log.warning("could not read the stored model listings of %s", self.path, exc_info=True)

    def _read_model_cache(self, conn: sqlite3.Connection) -> dict[str, CachedModels]:
        """Every stored listing (decoding only those that changed), remembered for peeking."""
        out = {}
        for stored_name, fetched_at, data in conn.execute(
            "SELECT provider, fetched_at, models FROM model_cache"
        ):
            name = decode_text(stored_name)
            entry = self._models_seen.get(name)
            if entry is None or entry.fetched_at != fetched_at:
                models = converter.structure(decode_json(data), tuple[ModelInfo, ...])
                entry = self._seen(CachedModels(name, fetched_at, models))
            out[name] = entry
        return out

    async def cache_models(self, entry: CachedModels) -> None:
        """Store (replace) a provider's listing."""
        data = encode_json(json.dumps(converter.unstructure(entry.models), ensure_ascii=False))
        await self._writing(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO model_cache (provider, fetched_at, models)"
                " VALUES (?, ?, ?)",
                (encode_text(entry.provider), entry.fetched_at, data),
            )
        )
        self._seen(entry)

    def peek_cached_models(self, provider: str) -> CachedModels | None:
        """The listing of ``provider`` this object last read or wrote, without any I/O.

        It may be older than the stored one (another process may have stored
        a newer listing since); ``None`` when this object has seen none.
        The model catalog serves it without a worker-thread hop while it is
        fresh, and reads the database otherwise.
        """
        return self._models_seen.get(provider)

    def _seen(self, entry: CachedModels) -> CachedModels:
        known = self._models_seen.get(entry.provider)
        if known is None or known.fetched_at <= entry.fetched_at:
            self._models_seen[entry.provider] = entry
        return entry

    # -- response cache ---------------------------------------------------------------

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        """``(expires_at, response JSON)`` stored under ``key``, or ``None``."""
        rows = await self._reading_on_loop(_select_response, key)
        return (rows[0][0], decode_text(rows[0][1])) if rows else None

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        """Store (replace) a cached response; expired entries are dropped on the way."""
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM response_cache WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO response_cache (key, expires_at, response)"
                " VALUES (?, ?, ?)",
                (encode_text(key), expires_at, encode_text(response)),
            )

        await self._caching(write)

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        """``{key: (expires_at, response JSON)}`` for those of ``keys`` stored, read
        at once (an embeddings call looks up each of its texts)."""
        wanted = list(dict.fromkeys(encode_text(key) for key in keys))

        def read(conn: sqlite3.Connection) -> dict[str, tuple[float, str]]:
            found: dict[str, tuple[float, str]] = {}
            for start in range(0, len(wanted), _KEYS_A_QUERY):
                chunk = wanted[start : start + _KEYS_A_QUERY]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, expires_at, response FROM response_cache WHERE key IN ({marks})"
                for key, expires_at, response in conn.execute(sql, chunk):
                    found[decode_text(key)] = (expires_at, decode_text(response))
            return found

        return await self._cache_thread(self._read, read) if wanted else {}

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        """Store (replace) each ``(key, expires_at, response JSON)`` in one transaction;
        expired entries are dropped on the way."""
        if not entries:
            return
        now = time.time()
        rows = [(encode_text(key), at, encode_text(response)) for key, at, response in entries]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM response_cache WHERE expires_at <= ?", (now,))
            conn.executemany(
                "INSERT OR REPLACE INTO response_cache (key, expires_at, response)"
                " VALUES (?, ?, ?)",
                rows,
            )

        await self._caching(write)

    # -- lifecycle -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Commit everything queued, stop the writer, close every connection. Idempotent."""
        await anyio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        self._closing.set()  # an open waiting for the lock stops (it holds _lock)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer, self._writer = self._writer, None
            readers, self._idle_readers = self._idle_readers, []
        self._loop_reads.close()
        if writer is not None:
            writer.close()
        if readers:
            with using_sqlite(self.path, "closing"):
                for conn in readers:
                    conn.close()
