"""The SQLite file embedding collections live in: one connection, used by one
worker thread at a time, safe across ``fork()``.

Apart from :mod:`relaykit_sqlite.collection` because it knows nothing of
embeddings: how the file is created (owner-only, its schema migrated), how a
call runs in one transaction with one error type, and what a forked child
may do with the parent's connection. The collection and
:func:`~relaykit_sqlite.collection.list_collections` both open it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from relaykit.config import user_config_dir
from relaykit.errors import RelayError
from relaykit.fork_safety import after_fork_in_child, leave_to_parent
from relaykit.sqlite_fork import using_sqlite
from relaykit.storable_text import decode_text, encode_text

from .error_hints import fix_for
from .schema import EMBEDDINGS_MIGRATIONS, migrate

T = TypeVar("T")

#: the file name in the user config dir (beside the call log's ``logs.db``)
DEFAULT_EMBEDDINGS_FILE = "embeddings.db"


def default_embeddings_path() -> Path:
    """``embeddings.db`` in the user config dir, beside the call log's default ``logs.db``."""
    return user_config_dir() / DEFAULT_EMBEDDINGS_FILE


class NoEmbeddingsFile(Exception):
    """A read found no embeddings file (reads never create one)."""


class EmbeddingsFile:
    """One connection to an embeddings file, used by one worker thread at a time."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False
        after_fork_in_child(self, EmbeddingsFile._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: leave the parent's connection alone and open one of our own.

        SQLite forbids using or closing a connection across a fork. Forked while a
        thread of the parent was inside SQLite (here or in any relaykit SQLite user),
        the child is refused SQLite altogether (:mod:`relaykit.sqlite_fork`).
        """
        leave_to_parent(self._conn)
        self._conn = None
        self._lock = threading.Lock()

    def _open(self, write: bool) -> sqlite3.Connection:
        if self._closed:
            raise RelayError(f"the collection's file {self.path} is closed", hint="open it again")
        if self._conn is None and not write and not self.path.exists():
            raise NoEmbeddingsFile
        if self._conn is None:
            # Texts may be stored here: only the owner may read them (SQLite
            # gives the -wal and -shm files the database file's permissions).
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, check_same_thread=False)
            try:
                conn.execute("PRAGMA synchronous=NORMAL")
                migrate(conn, EMBEDDINGS_MIGRATIONS, "relaykit_embeddings_migrations")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """``fn(connection)``, in one transaction (``BEGIN IMMEDIATE`` for a write).

        Only a write creates the file: a read of a missing one raises :class:`NoEmbeddingsFile`.
        """
        with self._lock, using_sqlite(self.path, "writing" if write else "reading"):
            try:
                conn = self._open(write)
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # some errors (disk full) end it themselves
                        conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as e:
                # One error type for callers (and one line for the CLI), with the file named.
                raise RelayError(
                    f"embeddings file {self.path}: {e}",
                    hint=fix_for(e, "pick another path (-d PATH)"),
                ) from e
            return result

    def close(self) -> None:
        """Close the connection (if open); later calls raise. Idempotent."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            with using_sqlite(self.path, "closing"):
                conn.close()


def collection_row(conn: sqlite3.Connection, name: str) -> tuple[int, str] | None:
    """The ``(row id, model)`` of the collection ``name``, or ``None`` while it does not exist."""
    # Names and models are stored as relaykit.storable_text says (a lone surrogate escaped).
    row = conn.execute(
        "SELECT id, model FROM collections WHERE name = ?", (encode_text(name),)
    ).fetchone()
    return None if row is None else (row[0], decode_text(row[1]))
