"""Embedding vectors as SQLite blobs, and the nearest ones to a query, in pure Python.

A vector is stored normalised to unit length, as its float32 values,
little-endian (simonw/llm's blob format): 4 bytes a dimension, and the cosine
of two unit vectors is their dot product. The search runs on the distance
instead: for unit vectors ``cos = 1 - d**2 / 2``, and :func:`math.dist`
computes ``d`` in C over a tuple of floats, about four times faster than
``sum(map(mul, a, b))`` (and than 3.12's ``math.sumprod``, which sums in
extended precision); unpacking each blob with one :class:`struct.Struct` call
is the rest of the cost. On a little-endian machine blobs are unpacked in the
native byte order (``@``): CPython copies each float then, instead of decoding
it byte by byte, which makes the search about 8% faster.
``bench/similarity.py`` measures it; :mod:`relaykit_sqlite.vector_matrix` is
the faster path when numpy is installed.
"""

from __future__ import annotations

import heapq
import math
import struct
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TypeVar

K = TypeVar("K")


@lru_cache(maxsize=16)
def _layout(dimensions: int) -> struct.Struct:
    return struct.Struct(f"<{dimensions}f")


@lru_cache(maxsize=16)
def _reader(dimensions: int) -> struct.Struct:
    """What unpacks a stored blob: the same floats as :func:`_layout`, faster."""
    # '@' floats are plain copies; '<' ones go through the portable decoder.
    # Only floats are packed, so native alignment adds no padding.
    return struct.Struct(f"@{dimensions}f" if sys.byteorder == "little" else f"<{dimensions}f")


def unit(vector: Sequence[float]) -> tuple[float, ...]:
    """``vector`` scaled to length 1 (a zero vector stays zero: it matches nothing)."""
    norm = math.hypot(*vector)
    if norm == 0.0:
        return tuple(0.0 for _ in vector)
    return tuple(value / norm for value in vector)


def encode(vector: Sequence[float]) -> bytes:
    """The blob for ``vector``: normalised, float32, little-endian."""
    return _layout(len(vector)).pack(*unit(vector))


def decode(blob: bytes) -> tuple[float, ...]:
    """The vector a blob from :func:`encode` holds."""
    return _reader(len(blob) // 4).unpack(blob)


def probe(query: Sequence[float]) -> tuple[float, ...]:
    """``query`` as the search compares it: unit length, rounded to float32 as stored."""
    return decode(encode(query))


def distance(query: tuple[float, ...], blob: bytes) -> float:
    """The distance from ``query`` (a :func:`probe`) to the vector in ``blob``.

    Both search paths score their answers with it, so their scores are the
    same floats.
    """
    return math.dist(query, _reader(len(query)).unpack(blob))


def cosine(distance: float) -> float:
    """The cosine similarity of two unit vectors ``distance`` apart."""
    return 1.0 - distance * distance / 2.0


def nearest(
    query: Sequence[float], rows: Iterable[tuple[K, bytes]], n: int
) -> list[tuple[float, K]]:
    """The ``n`` rows whose blobs lie nearest ``query``, nearest first, as ``(cosine, key)``.

    ``rows`` is streamed (a SQLite cursor): only ``n`` candidates are kept at
    once. Every blob must have as many dimensions as ``query``
    (:class:`ValueError` otherwise).
    """
    point = probe(query)  # float32, as the stored ones
    size = len(point) * 4
    unpack = _reader(len(point)).unpack
    dist = math.dist

    def distances() -> Iterable[tuple[float, int, K]]:
        for index, (key, blob) in enumerate(rows):
            if len(blob) != size:
                raise mismatch(len(blob) // 4, len(point))
            # the index breaks ties, so keys are never compared
            yield dist(point, unpack(blob)), index, key

    best = heapq.nsmallest(n, distances()) if n > 0 else []
    return [(cosine(distance), key) for distance, _, key in best]


def mismatch(stored: int, query: int) -> ValueError:
    """The error for a stored vector of ``stored`` dimensions and a query of ``query``."""
    return ValueError(f"a stored vector has {stored} dimensions, the query {query}")
