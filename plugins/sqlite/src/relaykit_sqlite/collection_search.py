"""Rank a collection's stored vectors by cosine similarity to a query vector.

Apart from :mod:`relaykit_sqlite.collection` because a search has its own
choices and state: the numpy path or the pure-Python one, and the matrix of
vectors kept in memory between searches. With numpy installed (``pip install
'relaykit-sqlite[numpy]'``) a search is one matrix-vector product over the
collection's vectors, kept up to ``matrix_cache_bytes``
(:mod:`relaykit_sqlite.vector_matrix`); without, a pure-Python scan
(:mod:`relaykit_sqlite.vectors`). Both give the same answers, in the same
order (ties broken by id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import anyio

from relaykit.errors import RelayError
from relaykit.storable_text import decode_json, decode_text, encode_text

from .collection_types import CollectionModelError, SimilarItem
from .vectors import nearest

if TYPE_CHECKING:
    from .vector_matrix import VectorMatrix


def load_numpy_path(wanted: bool | None) -> ModuleType | None:
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


def similar_item(row: tuple[str, str | None, str | None], score: float) -> SimilarItem:
    """The answer for one stored ``(id, content, metadata)`` row (stored as
    :mod:`relaykit.storable_text` says)."""
    item_id, content, metadata = row
    return SimilarItem(
        id=decode_text(item_id),
        score=score,
        content=None if content is None else decode_text(content),
        metadata=None if metadata is None else decode_json(metadata),
    )


def scan(conn: sqlite3.Connection, collection_id: int, exclude: str | None) -> sqlite3.Cursor:
    """The collection's ``(rowid, blob)`` rows, in id order: the order that
    breaks ties, on both search paths. The UNIQUE (collection_id, id) index
    gives it without a sort. ``exclude`` is an id as stored (:func:`encode_text`)."""
    if exclude is None:
        return conn.execute(
            "SELECT rowid, embedding FROM embeddings WHERE collection_id = ? ORDER BY id",
            (collection_id,),
        )
    return conn.execute(
        "SELECT rowid, embedding FROM embeddings WHERE collection_id = ? AND id != ? ORDER BY id",
        (collection_id, exclude),
    )


class VectorSearch:
    """How one collection is searched, and the vectors it keeps between searches.

    :param use_numpy: as :class:`~relaykit_sqlite.collection.Collection` takes it.
    :param matrix_cache_bytes: the memory kept vectors may take (0: none kept).
    """

    def __init__(self, use_numpy: bool | None, matrix_cache_bytes: int) -> None:
        self._use_numpy = use_numpy
        self._matrix_cache_bytes = matrix_cache_bytes
        #: the kept vectors; replaced inside the file's call, under its lock (and
        #: dropped by the collection's aclose)
        self.matrix: VectorMatrix | None = None
        self._numpy_path: tuple[ModuleType | None] | None = None  # None until looked up

    async def choose_path(self) -> None:
        """Look up once whether searches use numpy (before the first one)."""
        if self._numpy_path is None:
            # A thread: the first import of numpy reads files for ~0.1 s.
            found = await anyio.to_thread.run_sync(load_numpy_path, self._use_numpy)
            self._numpy_path = (found,)

    def nearest(
        self,
        conn: sqlite3.Connection,
        name: str,
        vector: Sequence[float],
        n: int,
        exclude: str | None,
    ) -> list[SimilarItem]:
        """The ``n`` items of collection ``name`` nearest ``vector``, ``exclude`` left
        out; in the file's worker thread, after :meth:`choose_path`."""
        assert self._numpy_path is not None
        (fast,) = self._numpy_path
        row = conn.execute(
            "SELECT id, created_at, version FROM collections WHERE name = ?", (encode_text(name),)
        ).fetchone()
        if row is None:
            self.matrix = None
            return []
        collection_id = row[0]
        try:
            if fast is None:
                best = nearest(vector, scan(conn, collection_id, exclude), n)
            else:
                best = self._nearest_numpy(fast, conn, tuple(row), vector, n, exclude)
        except ValueError as e:
            raise CollectionModelError(
                f"collection {name!r}: {e}",
                param="model",
                hint="embed the query with the collection's model and dimensions",
            ) from e
        out = []
        for score, rowid in best:
            found = conn.execute(
                "SELECT id, content, metadata FROM embeddings WHERE rowid = ?", (rowid,)
            ).fetchone()
            out.append(similar_item(found, score))
        return out

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
        matrix = self.matrix
        if matrix is None or matrix.key != key:
            self.matrix = matrix = None  # a stale one is dropped before reading another
            (count,) = conn.execute(
                "SELECT count(*) FROM embeddings WHERE collection_id = ?", (collection_id,)
            ).fetchone()
            needed = count * (len(vector) * 4 + fast.ROW_OVERHEAD)
            if needed > self._matrix_cache_bytes:
                return list(fast.nearest_in_chunks(vector, scan(conn, collection_id, exclude), n))
            matrix = fast.VectorMatrix.read(
                scan(conn, collection_id, None), count, len(vector), key
            )
            self.matrix = matrix
        left_out = None
        if exclude is not None:
            found = conn.execute(
                "SELECT rowid FROM embeddings WHERE collection_id = ? AND id = ?",
                (collection_id, exclude),
            ).fetchone()
            left_out = None if found is None else found[0]
        return list(matrix.nearest(vector, n, left_out))
