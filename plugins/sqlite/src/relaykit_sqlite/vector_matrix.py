"""The nearest vectors with numpy: one matrix-vector product instead of a Python loop.

Imported only when a search runs and numpy is installed (``pip install
'relaykit-sqlite[numpy]'``); :mod:`relaykit_sqlite.vectors` is the pure-Python
path, and the answers of both are the same: same items, same order, the same
score floats.

The blobs are copied into one ``(rows, dimensions)`` float32 matrix (no
per-float work), and ``M q - |v|**2 / 2`` ranks the rows as the pure path's
distance does (``d**2 = |q|**2 + |v|**2 - 2 q.v``; it is ``1 - d**2 / 2`` for
the unit vectors relaykit stores, and stays right for a zero vector or any
other blob another program wrote). float32 sums are a little off, so
:func:`numpy.argpartition` picks the top ``n`` and every row within a proven
rounding bound of them; those few are scored again with the pure path's own
:func:`~relaykit_sqlite.vectors.distance` and ranked as it ranks them
(distance, then scan order). A collection too large to keep in memory is
read and scored ``CHUNK_ROWS`` rows at a time.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .vectors import cosine, distance, encode, mismatch, probe

K = TypeVar("K")

#: rows scored at once when a collection's matrix is not kept (~25 MB of 1,536-dim vectors)
CHUNK_ROWS = 4096

#: float32's unit roundoff
_U = 2.0**-24

#: bytes a row takes besides its floats: its rowid (int64) and half its squared norm (float32)
ROW_OVERHEAD = 12

Floats = npt.NDArray[np.float32]


class VectorMatrix:
    """A collection's vectors as one float32 matrix, in the search's scan order.

    :param matrix: the vectors, one row each.
    :param rowids: each row's SQLite rowid.
    :param key: what the matrix was read at (the collection's id, creation
        time and version): it is stale once they differ.
    """

    def __init__(self, matrix: Floats, rowids: npt.NDArray[np.int64], key: object) -> None:
        self.matrix = matrix
        self.rowids = rowids
        self.key = key
        self._half_norms = _half_norms(matrix)

    @classmethod
    def read(
        cls, rows: Iterable[tuple[int, bytes]], count: int, dimensions: int, key: object
    ) -> VectorMatrix:
        """The matrix of ``count`` ``(rowid, blob)`` rows of ``dimensions`` each
        (:class:`ValueError` for a blob of another size)."""
        matrix = np.empty((count, dimensions), dtype="<f4")
        rowids = np.empty(count, dtype=np.int64)
        filled = _copy(rows, matrix, rowids)
        return cls(matrix[:filled], rowids[:filled], key)

    @property
    def nbytes(self) -> int:
        """The memory the matrix holds, in bytes (its floats, rowids and norms)."""
        return self.matrix.nbytes + self.rowids.nbytes + self._half_norms.nbytes

    @property
    def dimensions(self) -> int:
        """The vectors' dimensions."""
        return int(self.matrix.shape[1])

    def nearest(
        self, query: Sequence[float], n: int, exclude: int | None = None
    ) -> list[tuple[float, int]]:
        """The ``n`` rows nearest ``query``, nearest first, as ``(cosine, rowid)``;
        ``exclude`` is a rowid left out."""
        if len(self.rowids) == 0 or n <= 0:
            return []
        if len(query) != self.dimensions:
            raise mismatch(self.dimensions, len(query))
        left_out = None
        if exclude is not None:
            found = np.flatnonzero(self.rowids == exclude)
            left_out = int(found[0]) if len(found) else None
        best = _Query(query).nearest(self.matrix, self._half_norms, n, left_out)
        return [(cosine(d), int(self.rowids[i])) for d, i in best]


def nearest_in_chunks(
    query: Sequence[float], rows: Iterable[tuple[K, bytes]], n: int
) -> list[tuple[float, K]]:
    """:func:`relaykit_sqlite.vectors.nearest` with numpy, ``CHUNK_ROWS`` rows at a time:
    the same answers, for a collection whose matrix is not kept."""
    if n <= 0:
        return []
    search = _Query(query)
    rows = iter(rows)
    # One buffer for every chunk: a fresh 25 MB one each time costs more in
    # page faults than the arithmetic.
    buffer = np.empty((CHUNK_ROWS, len(query)), dtype="<f4")
    keys: list[K] = []
    best: list[tuple[float, int, K]] = []
    start = 0
    while filled := _copy(rows, buffer, keys):
        matrix = buffer[:filled]
        found = search.nearest(matrix, _half_norms(matrix), n, None)
        # The chunk's own top n holds every row of the overall top n it has.
        best = heapq.nsmallest(n, [*best, *((d, start + i, keys[i]) for d, i in found)])
        start += filled
        keys.clear()
    return [(cosine(d), key) for d, _, key in best]


def _copy(
    rows: Iterable[tuple[Any, bytes]], matrix: Floats, keys: npt.NDArray[np.int64] | list[Any]
) -> int:
    """Copy blobs from ``rows`` into ``matrix``'s rows (and their keys into
    ``keys``) until it is full or ``rows`` ends; return how many.

    Each blob goes straight into place and is dropped: no list of blobs, no
    joined copy of them.
    """
    capacity, dimensions = matrix.shape
    size = dimensions * 4
    into = matrix.data.cast("B")
    append = keys.append if isinstance(keys, list) else None
    filled = 0
    for key, blob in islice(rows, capacity):
        if len(blob) != size:
            raise mismatch(len(blob) // 4, dimensions)
        into[filled * size : (filled + 1) * size] = blob
        if append is None:
            keys[filled] = key
        else:
            append(key)
        filled += 1
    return int(filled)


def _half_norms(matrix: Floats) -> Floats:
    squares: Floats = np.einsum("ij,ij->i", matrix, matrix)
    return squares * np.float32(0.5)


class _Query:
    """A query as both paths see it: the pure path's float tuple, and as float32."""

    def __init__(self, query: Sequence[float]) -> None:
        self.point = probe(query)
        self.floats = np.frombuffer(encode(query), dtype="<f4")

    def nearest(
        self, matrix: Floats, half_norms: Floats, n: int, exclude: int | None
    ) -> list[tuple[float, int]]:
        """The ``n`` rows of ``matrix`` nearest the query as ``(distance, row)``,
        ranked as :func:`relaykit_sqlite.vectors.nearest` ranks them."""
        # einsum, not `@`: BLAS hands a matrix-vector product to its thread
        # pool, and waking that after an idle moment cost more than the
        # product itself on a busy 2-core machine (10k x 1,536: 6-10 ms against
        # einsum's 4.5; chunks read between products, twice as long), besides
        # oversubscribing cores under many worker processes. einsum runs SIMD
        # loops on the calling thread.
        products: Floats = np.einsum("ij,j->i", matrix, self.floats)
        scores = products - half_norms  # higher is nearer
        rows = len(scores)
        if exclude is not None:
            scores[exclude] = -np.inf
        if n < rows:
            top = np.argpartition(scores, rows - n)[rows - n :]
            candidates = np.flatnonzero(scores >= scores[top].min() - _margin(matrix, half_norms))
        else:
            candidates = np.arange(rows)
        # Usually n rows and a few more; every row only when they all tie
        # (copies of one text), which costs what the pure path does.
        point = self.point
        ranked = sorted(
            (distance(point, matrix[i].tobytes()), i) for i in candidates.tolist() if i != exclude
        )
        return ranked[:n]


def _margin(matrix: Floats, half_norms: Floats) -> float:
    """How far apart two rows' float32 scores may be and still be in either order exactly.

    Any float32 dot product of ``d`` terms is within ``g = d u / (1 - d u)``
    times ``|q| |v|`` of the exact one (whatever order it is summed in), and the
    half squared norm within ``g |v|**2 / 2``; a score is off by at most their
    sum plus one rounding of the subtraction, and two scores by twice that.
    Doubled again for the norms themselves being float32 sums.
    """
    dimensions = int(matrix.shape[1])
    gamma = (dimensions + 1) * _U / (1 - (dimensions + 1) * _U)
    largest = math.sqrt(2.0 * float(half_norms.max())) if len(half_norms) else 0.0
    largest = max(largest, 1.0)  # the query's norm is 1
    return 4.0 * (gamma + _U) * (largest + largest * largest / 2.0) + 1e-12
