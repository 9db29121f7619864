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
How a search runs is :mod:`relaykit_sqlite.collection_search`.

Every SQLite call runs in an anyio worker thread on the collection's own
connection (WAL, a busy timeout), so neither asyncio nor trio loops block.
The file holds texts the user chose to store: it is created readable by its
owner only, as the call log is. API keys never reach it: a collection knows
its model's id, never the client's settings. The file itself is
:mod:`relaykit_sqlite.collection_file`; the values and errors are
:mod:`relaykit_sqlite.collection_types` (and are imported from here, as ever).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from relaykit.errors import InvalidRequestError, NotFoundError
from relaykit.storable_text import decode_text, encode_json, encode_text

from .collection_file import (
    DEFAULT_EMBEDDINGS_FILE,
    EmbeddingsFile,
    NoEmbeddingsFile,
    collection_row,
    default_embeddings_path,
)
from .collection_search import VectorSearch
from .collection_types import (
    DEFAULT_BATCH_SIZE,
    CollectionInfo,
    CollectionModelError,
    CollectionNotFoundError,
    EmbedCounts,
    Item,
    SimilarItem,
)
from .vectors import decode, encode

if TYPE_CHECKING:
    from relaykit import Client

    from .vector_matrix import VectorMatrix

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EMBEDDINGS_FILE",
    "DEFAULT_MATRIX_CACHE_BYTES",
    "Collection",
    "CollectionInfo",
    "CollectionModelError",
    "CollectionNotFoundError",
    "EmbedCounts",
    "Item",
    "SimilarItem",
    "content_hash",
    "default_embeddings_path",
    "list_collections",
]

T = TypeVar("T")

#: the memory a collection may keep its vectors in between searches (with numpy):
#: 43,000 vectors of 1,536 dimensions, 170,000 of 384
DEFAULT_MATRIX_CACHE_BYTES = 256 * 2**20

#: ids a look-up names at once: well under SQLite's oldest limit on parameters (999)
_IDS_A_QUERY = 500


def content_hash(text: str) -> bytes:
    """The hash stored with each item, to skip texts embedded before (16 bytes)."""
    # surrogatepass: a lone surrogate is hashed too; other text as it always was
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


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
        return encode_json(json.dumps(dict(metadata), ensure_ascii=False))
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
        self._file = EmbeddingsFile(self.path, busy_timeout)
        self._search = VectorSearch(use_numpy, matrix_cache_bytes)

    @property
    def matrix_bytes(self) -> int:
        """The memory the collection's kept vectors take now, in bytes (0 when none are kept)."""
        matrix = self._matrix
        return 0 if matrix is None else matrix.nbytes

    @property
    def _matrix(self) -> VectorMatrix | None:
        """The vectors kept between searches (see ``matrix_cache_bytes``), if any."""
        return self._search.matrix

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
        self._search.matrix = None

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        return await anyio.to_thread.run_sync(lambda: self._file.call(fn, write=write))

    # -- what is stored ------------------------------------------------------------

    async def info(self) -> CollectionInfo | None:
        """The collection's name, model and item count; ``None`` while it does not exist."""

        def read(conn: sqlite3.Connection) -> CollectionInfo | None:
            found = collection_row(conn, self.name)
            if found is None:
                return None
            (count,) = conn.execute(
                "SELECT count(*) FROM embeddings WHERE collection_id = ?", (found[0],)
            ).fetchone()
            return CollectionInfo(self.name, found[1], count)

        try:
            return await self._call(read)
        except NoEmbeddingsFile:
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
            found = collection_row(conn, self.name)
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
        on_batch: Callable[[EmbedCounts], object] | None = None,
    ) -> EmbedCounts:
        """Embed ``items`` (``(id, text)`` or ``(id, text, metadata)`` tuples) in batches.

        Each batch of ``batch_size`` items skips those whose stored text hashes
        the same, embeds the rest in one ``Client.embed`` call (which splits it
        into the vendor's limits) and commits their vectors in one transaction:
        an interrupted run keeps its finished batches, and running it again
        sends only what is missing. An id given twice keeps its last text.
        ``on_batch`` is called with the counts so far after each batch is
        committed: what a run that then fails has kept.
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
                if on_batch is not None:
                    on_batch(EmbedCounts(embedded, unchanged))
        if batch:
            if model is None:
                model = await self.model()
            done, same = await self._embed_batch(client, model, batch, store)
            embedded, unchanged = embedded + done, unchanged + same
            if on_batch is not None:
                on_batch(EmbedCounts(embedded, unchanged))
        return EmbedCounts(embedded, unchanged)

    async def _embed_batch(
        self,
        client: Client,
        model: str,
        batch: Mapping[str, tuple[str, Mapping[str, Any] | None]],
        store: bool,
    ) -> tuple[int, int]:
        # Ids, texts and metadata are stored as relaykit.storable_text says (a lone
        # surrogate escaped); row[1] stays the text as given, to embed.
        rows = [
            (encode_text(item_id), text, content_hash(text), _metadata_json(item_id, metadata))
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
                        encode_text(text) if store else None,
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
                    (meta, store, encode_text(text), collection_id, item_id)
                    for item_id, text, _, meta in same
                    if meta is not None or store
                ],
            )

        await self._call(write, write=True)
        return len(fresh), len(same)

    async def _hashes(self, ids: list[str]) -> dict[str, bytes]:
        try:
            return await self._call(lambda conn: self._stored_hashes(conn, ids))
        except NoEmbeddingsFile:
            return {}

    def _stored_hashes(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, bytes]:
        found = collection_row(conn, self.name)
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
        found = collection_row(conn, self.name)
        if found is not None:
            if found[1] != model:  # another process created it meanwhile, with another
                raise self._mismatch(found[1], model)
            return found[0]
        cursor = conn.execute(
            "INSERT INTO collections (name, model, created_at) VALUES (?, ?, ?)",
            (encode_text(self.name), encode_text(model), time.time()),
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
            found = collection_row(conn, self.name)
            if found is None:
                raise self._missing()
            row = conn.execute(
                "SELECT embedding FROM embeddings WHERE collection_id = ? AND id = ?",
                (found[0], encode_text(id)),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"collection {self.name!r} has no item {id!r}",
                    hint="embed it first, or pick an id the collection holds",
                )
            return bytes(row[0])

        try:
            blob = await self._call(read)
        except NoEmbeddingsFile:
            raise self._missing() from None
        return await self._nearest(decode(blob), n, exclude=encode_text(id))

    async def _nearest(
        self, vector: Sequence[float], n: int, exclude: str | None
    ) -> list[SimilarItem]:
        await self._search.choose_path()
        try:
            return await self._call(
                lambda conn: self._search.nearest(conn, self.name, vector, n, exclude)
            )
        except NoEmbeddingsFile:
            raise self._missing() from None


async def list_collections(path: str | os.PathLike[str]) -> list[CollectionInfo]:
    """Every collection in the file at ``path``, by name (none when it does not exist)."""
    file = Path(path)

    def read(conn: sqlite3.Connection) -> list[CollectionInfo]:
        rows = conn.execute(
            "SELECT c.name, c.model, (SELECT count(*) FROM embeddings e"
            " WHERE e.collection_id = c.id) FROM collections c ORDER BY c.name"
        ).fetchall()
        return [
            CollectionInfo(decode_text(name), decode_text(model), count)
            for name, model, count in rows
        ]

    opened = EmbeddingsFile(file, 30.0)
    try:
        return await anyio.to_thread.run_sync(opened.call, read)
    except NoEmbeddingsFile:
        return []
    finally:
        await anyio.to_thread.run_sync(opened.close)
