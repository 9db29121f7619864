"""Embedding collections: named sets of vectors from one model, in a SQLite file.

What simonw/llm's ``embeddings.db`` holds, with one async implementation: a
:class:`Collection` embeds texts through a :class:`relaykit.Client`, stores
each vector (unit length, float32; see :mod:`relaykit_sqlite.vectors`) under
an id with a hash of its text, optionally the text itself and JSON metadata,
and answers nearest-neighbour searches by cosine similarity. Re-embedding a
text whose hash is stored already sends nothing.

A search ranks every stored vector. With numpy installed (``pip install
'relaykit-sqlite[numpy]'``) it is one matrix-vector product over the
collection's vectors, kept in memory between searches up to
``matrix_cache_bytes`` (:mod:`relaykit_sqlite.vector_matrix`); without, a
pure-Python scan (:mod:`relaykit_sqlite.vectors`). Both give the same answers.

Every SQLite call runs in an anyio worker thread on the collection's own
connection (WAL, a busy timeout), so neither asyncio nor trio loops block.
The file holds texts the user chose to store: it is created readable by its
owner only, as the call log is. API keys never reach it: a collection knows
its model's id, never the client's settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from relaykit.config import user_config_dir
from relaykit.errors import InvalidRequestError, NotFoundError, RelayError
from relaykit.fork_safety import after_fork_in_child, leave_to_parent

from .schema import EMBEDDINGS_MIGRATIONS, migrate
from .vectors import decode, encode, nearest

if TYPE_CHECKING:
    from relaykit import Client

    from .vector_matrix import VectorMatrix

T = TypeVar("T")

#: the file name in the user config dir (beside the call log's ``logs.db``)
DEFAULT_EMBEDDINGS_FILE = "embeddings.db"

#: texts sent to ``Client.embed`` at once by :meth:`Collection.embed_many` (as in simonw/llm)
DEFAULT_BATCH_SIZE = 100

#: the memory a collection may keep its vectors in between searches (with numpy):
#: 43,000 vectors of 1,536 dimensions, 170,000 of 384
DEFAULT_MATRIX_CACHE_BYTES = 256 * 2**20

#: ids a look-up names at once: well under SQLite's oldest limit on parameters (999)
_IDS_A_QUERY = 500

#: what :meth:`Collection.embed_many` takes: ``(id, text)`` or ``(id, text, metadata)``
Item = tuple[str, str] | tuple[str, str, Mapping[str, Any] | None]


def default_embeddings_path() -> Path:
    """``embeddings.db`` in the user config dir, beside the call log's default ``logs.db``."""
    return user_config_dir() / DEFAULT_EMBEDDINGS_FILE


class CollectionModelError(InvalidRequestError):
    """A collection was asked to use another model than the one its vectors came from.

    Vectors from two models live in two spaces: comparing them gives noise,
    so a collection keeps the model it was created with.
    """


class CollectionNotFoundError(NotFoundError):
    """No collection of that name is stored in the file."""


@attrs.frozen
class SimilarItem:
    """One answer of a similarity search.

    :param id: the item's id in its collection.
    :param score: the cosine similarity to the query, -1 to 1 (1: same direction).
    :param content: the text, if it was stored (``store=True``), else ``None``.
    :param metadata: the JSON metadata stored with it, or ``None``.
    """

    id: str
    score: float
    content: str | None
    metadata: Mapping[str, Any] | None


@attrs.frozen
class CollectionInfo:
    """A stored collection: its name, its model and how many items it holds."""

    name: str
    model: str
    count: int


@attrs.frozen
class EmbedCounts:
    """What :meth:`Collection.embed_many` did: items embedded, and items skipped
    because their text was stored already (their hash unchanged)."""

    embedded: int
    unchanged: int


def content_hash(text: str) -> bytes:
    """The hash stored with each item, to skip texts embedded before (16 bytes)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class _NoFile(Exception):
    """A read found no embeddings file (reads never create one)."""


class _File:
    """One connection to an embeddings file, used by one worker thread at a time."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._forked_mid_use = False
        after_fork_in_child(self, _File._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: leave the parent's connection alone and open one of our own.

        SQLite forbids using or closing a connection across a fork. A lock held at
        the fork means a parent thread was inside SQLite: its lock state cannot
        be trusted here, so the file is refused (as relaykit-sqlite's storage does).
        """
        self._forked_mid_use = self._lock.locked()
        leave_to_parent(self._conn)
        self._conn = None
        self._lock = threading.Lock()

    def _open(self, write: bool) -> sqlite3.Connection:
        if self._closed:
            raise RelayError(f"the collection's file {self.path} is closed", hint="open it again")
        if self._forked_mid_use:
            raise RelayError(
                f"the collection's file {self.path} was forked while the parent process was"
                " using it: SQLite's locks cannot be trusted in this process",
                hint="fork while no embedding or search is running, or open the Collection"
                " in each child process",
            )
        if self._conn is None and not write and not self.path.exists():
            raise _NoFile
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

        Only a write creates the file: a read of a missing one raises :class:`_NoFile`.
        """
        with self._lock:
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
                    hint="check the file's permissions and free disk space, or pick another path",
                ) from e
            return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _collection_row(conn: sqlite3.Connection, name: str) -> tuple[int, str] | None:
    row = conn.execute("SELECT id, model FROM collections WHERE name = ?", (name,)).fetchone()
    return None if row is None else (row[0], row[1])


def _load_numpy_path(wanted: bool | None) -> ModuleType | None:
    """:mod:`relaykit_sqlite.vector_matrix` if numpy is to be used and can be; else ``None``."""
    if wanted is False:
        return None
    try:
        # Here, not at import: numpy takes ~0.1 s to import, which only a search should pay.
        from . import vector_matrix
    except ImportError as e:
        if not (e.name or "").startswith("numpy"):
            raise
        if wanted:
            raise RelayError(
                f"use_numpy=True, but numpy cannot be imported: {e}",
                hint="pip install 'relaykit-sqlite[numpy]', or pass use_numpy=None",
            ) from e
        return None
    return vector_matrix


def _metadata_json(item_id: str, metadata: Mapping[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError(
            f"the metadata of {item_id!r} is a {type(metadata).__name__}, not a mapping",
            param="metadata",
            hint='pass a dict, such as {"source": "faq.md"}',
        )
    try:
        return json.dumps(dict(metadata), ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise InvalidRequestError(
            f"the metadata of {item_id!r} is not JSON: {e}",
            param="metadata",
            hint="use strings, numbers, booleans, None, lists and dicts",
        ) from e


def _check_text(item_id: object, text: object) -> None:
    if not isinstance(item_id, str) or not item_id:
        raise InvalidRequestError(
            f"an item's id is {item_id!r}", param="id", hint="give every item a non-empty str id"
        )
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError(
            f"item {item_id!r} has no text to embed",
            param="text",
            hint="leave items without text out, or give them some",
        )


def _similar(row: tuple[str, str | None, str | None], score: float) -> SimilarItem:
    item_id, content, metadata = row
    return SimilarItem(
        id=item_id,
        score=score,
        content=content,
        metadata=None if metadata is None else json.loads(metadata),
    )


class Collection:
    """A named set of embeddings from one model, in a SQLite file.

    Opening does no I/O: the file is created (and its schema migrated) on
    first use. A collection is created by its first embedding, with ``model``;
    after that it remembers its model, and a ``model`` given here must be the
    same one (:class:`CollectionModelError` otherwise). Close it with
    :meth:`aclose`, or use it as an async context manager::

        faq = Collection(path, "faq", "openai/text-embedding-3-small")
        async with relaykit.Client() as client, faq:
            await faq.embed_many(client, [("reset", "How do I reset my password?")])
            best = await faq.similar(client, "forgot my password", n=3)

    :param path: the SQLite file (:func:`default_embeddings_path` is relaykit's
        default); its directory is created if missing.
    :param name: the collection's name.
    :param model: the embedding model (``provider/model`` or an alias); needed
        to create the collection, optional once it exists.
    :param busy_timeout: seconds to wait for another process's write lock.
    :param use_numpy: search with numpy: ``None`` (the default) when it can be
        imported, ``True`` always (an error without it), ``False`` never (the
        pure-Python scan).
    :param matrix_cache_bytes: with numpy, the memory the collection's vectors
        may be kept in between searches, so a search reads nothing from the
        file until the collection changes (:data:`DEFAULT_MATRIX_CACHE_BYTES`:
        256 MiB; 0 keeps nothing). A larger collection is read for each search.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        name: str,
        model: str | None = None,
        *,
        busy_timeout: float = 30.0,
        use_numpy: bool | None = None,
        matrix_cache_bytes: int = DEFAULT_MATRIX_CACHE_BYTES,
    ) -> None:
        if not name:
            raise InvalidRequestError(
                "a collection needs a name", param="name", hint="pass a name such as 'docs'"
            )
        if matrix_cache_bytes < 0:
            raise InvalidRequestError(
                f"matrix_cache_bytes is {matrix_cache_bytes}",
                param="matrix_cache_bytes",
                hint="pass 0 to keep nothing, or the bytes the vectors may take",
            )
        self.path = Path(path)
        self.name = name
        self._model = model
        self._file = _File(self.path, busy_timeout)
        self._use_numpy = use_numpy
        self._matrix_cache_bytes = matrix_cache_bytes
        # Replaced inside self._file.call, under its lock (and dropped by aclose).
        self._matrix: VectorMatrix | None = None
        self._numpy_path: tuple[ModuleType | None] | None = None  # None until looked up

    @property
    def matrix_bytes(self) -> int:
        """The memory the collection's kept vectors take now, in bytes (0 when none are kept)."""
        matrix = self._matrix
        return 0 if matrix is None else matrix.nbytes

    def __repr__(self) -> str:
        return f"Collection({str(self.path)!r}, {self.name!r})"

    async def __aenter__(self) -> Collection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the collection's connection and drop its kept vectors. Idempotent."""
        await anyio.to_thread.run_sync(self._file.close)
        self._matrix = None

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        return await anyio.to_thread.run_sync(lambda: self._file.call(fn, write=write))

    # -- what is stored ------------------------------------------------------------

    async def info(self) -> CollectionInfo | None:
        """The collection's name, model and item count; ``None`` while it does not exist."""

        def read(conn: sqlite3.Connection) -> CollectionInfo | None:
            found = _collection_row(conn, self.name)
            if found is None:
                return None
            (count,) = conn.execute(
                "SELECT count(*) FROM embeddings WHERE collection_id = ?", (found[0],)
            ).fetchone()
            return CollectionInfo(self.name, found[1], count)

        try:
            return await self._call(read)
        except _NoFile:
            return None

    async def exists(self) -> bool:
        """Whether the collection has been created (by a first embedding)."""
        return await self.info() is not None

    async def model(self) -> str:
        """The model the collection's vectors come from (:meth:`embed` creates it with
        the one given when it does not exist yet)."""
        found = await self.info()
        return self._checked_model(None if found is None else found.model)

    async def count(self) -> int:
        """How many items the collection holds (0 while it does not exist)."""
        found = await self.info()
        return 0 if found is None else found.count

    async def delete(self) -> bool:
        """Delete the collection and all its items; return whether it existed."""
        if await self.info() is None:
            return False  # and no file is created to say so

        def write(conn: sqlite3.Connection) -> bool:
            found = _collection_row(conn, self.name)
            if found is None:
                return False
            conn.execute("DELETE FROM embeddings WHERE collection_id = ?", (found[0],))
            conn.execute("DELETE FROM collections WHERE id = ?", (found[0],))
            return True

        return await self._call(write, write=True)

    def _missing(self) -> CollectionNotFoundError:
        return CollectionNotFoundError(
            f"no collection named {self.name!r} in {self.path}",
            hint="embed something into it with a model to create it;"
            " `relaykit collections list` shows those there are",
        )

    def _mismatch(self, stored: str, wanted: str) -> CollectionModelError:
        return CollectionModelError(
            f"collection {self.name!r} holds vectors from {stored}, not {wanted}",
            param="model",
            hint=f"use model {stored} for it, or a new collection for {wanted}",
        )

    def _checked_model(self, stored: str | None) -> str:
        """The model to embed with, given the stored one; the typed errors otherwise."""
        if stored is None:
            if self._model is None:
                raise self._missing()
            return self._model
        if self._model is not None and self._model != stored:
            raise self._mismatch(stored, self._model)
        return stored

    # -- embedding -------------------------------------------------------------------

    async def embed(
        self,
        client: Client,
        id: str,
        text: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        store: bool = False,
    ) -> bool:
        """Embed ``text`` and store its vector under ``id`` (replacing what was there).

        Return ``False``, sending nothing, when ``id``'s stored text hashes the
        same (``metadata``, and with ``store`` the text, are still updated).
        ``store`` keeps the text (:attr:`SimilarItem.content`); ``metadata``
        (a JSON-able mapping) is kept as given, or left as it was when ``None``.
        """
        counts = await self.embed_many(client, [(id, text, metadata)], store=store)
        return counts.embedded == 1

    async def embed_many(
        self,
        client: Client,
        items: Iterable[Item],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        store: bool = False,
    ) -> EmbedCounts:
        """Embed ``items`` (``(id, text)`` or ``(id, text, metadata)`` tuples) in batches.

        Each batch of ``batch_size`` items skips those whose stored text hashes
        the same, embeds the rest in one ``Client.embed`` call (which splits it
        into the vendor's limits) and commits their vectors in one transaction:
        an interrupted run keeps its finished batches, and running it again
        sends only what is missing. An id given twice keeps its last text.
        """
        if batch_size < 1:
            raise InvalidRequestError(
                f"batch_size is {batch_size}", param="batch_size", hint="pass 1 or more"
            )
        embedded = unchanged = 0
        batch: dict[str, tuple[str, Mapping[str, Any] | None]] = {}
        model: str | None = None
        for item in items:
            item_id, text = item[0], item[1]
            metadata = item[2] if len(item) > 2 else None
            _check_text(item_id, text)
            batch.pop(item_id, None)  # a repeat moves to the end, as its last text
            batch[item_id] = (text, metadata)
            if len(batch) >= batch_size:
                if model is None:
                    model = await self.model()
                done, same = await self._embed_batch(client, model, batch, store)
                embedded, unchanged, batch = embedded + done, unchanged + same, {}
        if batch:
            if model is None:
                model = await self.model()
            done, same = await self._embed_batch(client, model, batch, store)
            embedded, unchanged = embedded + done, unchanged + same
        return EmbedCounts(embedded, unchanged)

    async def _embed_batch(
        self,
        client: Client,
        model: str,
        batch: Mapping[str, tuple[str, Mapping[str, Any] | None]],
        store: bool,
    ) -> tuple[int, int]:
        rows = [
            (item_id, text, content_hash(text), _metadata_json(item_id, metadata))
            for item_id, (text, metadata) in batch.items()
        ]
        stored = await self._hashes([row[0] for row in rows])
        fresh = [row for row in rows if stored.get(row[0]) != row[2]]
        same = [row for row in rows if stored.get(row[0]) == row[2]]
        vectors: Sequence[Sequence[float]] = ()
        if fresh:
            response = await client.embed(model, [row[1] for row in fresh], input_type="document")
            vectors = response.vectors
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            collection_id = self._create(conn, model)
            conn.executemany(
                "INSERT INTO embeddings (collection_id, id, embedding, content, content_hash,"
                " metadata, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (collection_id, id) DO UPDATE SET embedding = excluded.embedding,"
                " content = excluded.content, content_hash = excluded.content_hash,"
                " metadata = coalesce(excluded.metadata, metadata),"
                " updated_at = excluded.updated_at",
                [
                    (
                        collection_id,
                        item_id,
                        encode(vector),
                        text if store else None,
                        digest,
                        meta,
                        now,
                    )
                    for (item_id, text, digest, meta), vector in zip(fresh, vectors, strict=True)
                ],
            )
            # Unchanged texts cost no call, but what came with them is still news.
            conn.executemany(
                "UPDATE embeddings SET metadata = coalesce(?, metadata),"
                " content = CASE WHEN ? THEN ? ELSE content END"
                " WHERE collection_id = ? AND id = ?",
                [
                    (meta, store, text, collection_id, item_id)
                    for item_id, text, _, meta in same
                    if meta is not None or store
                ],
            )

        await self._call(write, write=True)
        return len(fresh), len(same)

    async def _hashes(self, ids: list[str]) -> dict[str, bytes]:
        try:
            return await self._call(lambda conn: self._stored_hashes(conn, ids))
        except _NoFile:
            return {}

    def _stored_hashes(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, bytes]:
        found = _collection_row(conn, self.name)
        if found is None:
            return {}
        hashes: dict[str, bytes] = {}
        for start in range(0, len(ids), _IDS_A_QUERY):
            chunk = ids[start : start + _IDS_A_QUERY]
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT id, content_hash FROM embeddings"
                f" WHERE collection_id = ? AND id IN ({marks})"
            )
            hashes.update(conn.execute(sql, (found[0], *chunk)).fetchall())
        return hashes

    def _create(self, conn: sqlite3.Connection, model: str) -> int:
        """The collection's row id, creating it with ``model``; inside the write
        transaction, so two processes creating it at once agree on its model."""
        found = _collection_row(conn, self.name)
        if found is not None:
            if found[1] != model:  # another process created it meanwhile, with another
                raise self._mismatch(found[1], model)
            return found[0]
        cursor = conn.execute(
            "INSERT INTO collections (name, model, created_at) VALUES (?, ?, ?)",
            (self.name, model, time.time()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    # -- searching -------------------------------------------------------------------

    async def similar(self, client: Client, text: str, n: int = 10) -> list[SimilarItem]:
        """The ``n`` items most similar to ``text`` (embedded with the collection's
        model), most similar first."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequestError(
                "no text to search for", param="text", hint="pass the text to compare with"
            )
        found = await self.info()  # refuses a missing collection before any call
        if found is None:
            raise self._missing()
        model = self._checked_model(found.model)
        response = await client.embed(model, [text], input_type="query")
        (vector,) = response.vectors
        return await self._nearest(vector, n, exclude=None)

    async def similar_by_id(self, id: str, n: int = 10) -> list[SimilarItem]:
        """The ``n`` items most similar to the stored item ``id`` (itself left out),
        most similar first; no model call."""

        def read(conn: sqlite3.Connection) -> bytes:
            found = _collection_row(conn, self.name)
            if found is None:
                raise self._missing()
            row = conn.execute(
                "SELECT embedding FROM embeddings WHERE collection_id = ? AND id = ?",
                (found[0], id),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"collection {self.name!r} has no item {id!r}",
                    hint="embed it first, or pick an id the collection holds",
                )
            return bytes(row[0])

        try:
            blob = await self._call(read)
        except _NoFile:
            raise self._missing() from None
        return await self._nearest(decode(blob), n, exclude=id)

    async def _nearest(
        self, vector: Sequence[float], n: int, exclude: str | None
    ) -> list[SimilarItem]:
        if self._numpy_path is None:
            # A thread: the first import of numpy reads files for ~0.1 s.
            found = await anyio.to_thread.run_sync(_load_numpy_path, self._use_numpy)
            self._numpy_path = (found,)
        (fast,) = self._numpy_path

        def read(conn: sqlite3.Connection) -> list[SimilarItem]:
            row = conn.execute(
                "SELECT id, created_at, version FROM collections WHERE name = ?", (self.name,)
            ).fetchone()
            if row is None:
                self._matrix = None
                return []
            collection_id = row[0]
            try:
                if fast is None:
                    best = nearest(vector, self._scan(conn, collection_id, exclude), n)
                else:
                    best = self._nearest_numpy(fast, conn, tuple(row), vector, n, exclude)
            except ValueError as e:
                raise CollectionModelError(
                    f"collection {self.name!r}: {e}",
                    param="model",
                    hint="embed the query with the collection's model and dimensions",
                ) from e
            out = []
            for score, rowid in best:
                found = conn.execute(
                    "SELECT id, content, metadata FROM embeddings WHERE rowid = ?", (rowid,)
                ).fetchone()
                out.append(_similar(found, score))
            return out

        try:
            return await self._call(read)
        except _NoFile:
            raise self._missing() from None

    def _scan(
        self, conn: sqlite3.Connection, collection_id: int, exclude: str | None
    ) -> sqlite3.Cursor:
        """The collection's ``(rowid, blob)`` rows, in id order: the order that
        breaks ties, on both search paths. The UNIQUE (collection_id, id) index
        gives it without a sort."""
        if exclude is None:
            return conn.execute(
                "SELECT rowid, embedding FROM embeddings WHERE collection_id = ? ORDER BY id",
                (collection_id,),
            )
        return conn.execute(
            "SELECT rowid, embedding FROM embeddings WHERE collection_id = ? AND id != ?"
            " ORDER BY id",
            (collection_id, exclude),
        )

    def _nearest_numpy(
        self,
        fast: ModuleType,
        conn: sqlite3.Connection,
        key: tuple[int, float, int],
        vector: Sequence[float],
        n: int,
        exclude: str | None,
    ) -> list[tuple[float, int]]:
        """The pure path's ``nearest`` with numpy: over the kept matrix when it is
        current (``key``: the collection's id, creation time and version) or fits
        ``matrix_cache_bytes``, else reading the file a chunk at a time."""
        collection_id = key[0]
        matrix = self._matrix
        if matrix is None or matrix.key != key:
            self._matrix = matrix = None  # a stale one is dropped before reading another
            (count,) = conn.execute(
                "SELECT count(*) FROM embeddings WHERE collection_id = ?", (collection_id,)
            ).fetchone()
            needed = count * (len(vector) * 4 + fast.ROW_OVERHEAD)
            if needed > self._matrix_cache_bytes:
                return list(
                    fast.nearest_in_chunks(vector, self._scan(conn, collection_id, exclude), n)
                )
            matrix = fast.VectorMatrix.read(
                self._scan(conn, collection_id, None), count, len(vector), key
            )
            self._matrix = matrix
        left_out = None
        if exclude is not None:
            found = conn.execute(
                "SELECT rowid FROM embeddings WHERE collection_id = ? AND id = ?",
                (collection_id, exclude),
            ).fetchone()
            left_out = None if found is None else found[0]
        return list(matrix.nearest(vector, n, left_out))


async def list_collections(path: str | os.PathLike[str]) -> list[CollectionInfo]:
    """Every collection in the file at ``path``, by name (none when it does not exist)."""
    file = Path(path)

    def read(conn: sqlite3.Connection) -> list[CollectionInfo]:
        rows = conn.execute(
            "SELECT c.name, c.model, (SELECT count(*) FROM embeddings e"
            " WHERE e.collection_id = c.id) FROM collections c ORDER BY c.name"
        ).fetchall()
        return [CollectionInfo(name, model, count) for name, model, count in rows]

    opened = _File(file, 30.0)
    try:
        return await anyio.to_thread.run_sync(opened.call, read)
    except _NoFile:
        return []
    finally:
        await anyio.to_thread.run_sync(opened.close)
