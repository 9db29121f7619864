"""The embeddings cache: one vector per text, so a batch that repeats texts pays only for new ones.

An embedding depends on the deployment that made it and on the text alone
(with the request's ``dimensions``, ``input_type`` and ``extra``), never on
the other texts of its batch. So unlike the chat cache, which keys a whole
answer, this one keys each text: re-indexing a corpus with a few changed
documents sends only those. A vector is kept under the deployment that made
it (``provider/model``): vectors of two models live in different spaces and
must never be mixed in one answer (see :mod:`relaykit.embedding_call`, which
looks a route's other deployments up when its first lacks a text).

Vectors are held as packed doubles (``array('d')``, 8 bytes a number against
~32 for a tuple of floats), in memory within a byte budget, least recently
used first out, and in storage when the configured backend keeps the chat
cache (relaykit-sqlite and relaykit-postgres do), shared by every process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .embeddings import EmbeddingRequest, Vector
from .routing import Target

log = logging.getLogger("relaykit.cache")

#: names the key's layout, so keys never match those of another one
_KEY_FORMAT = "relaykit-embedding-1"

#: what the in-memory part holds at most: ~2,600 vectors of 1,536 numbers
MEMORY_BYTES = 32 * 1024 * 1024
#: what each vector kept in memory counts besides its numbers: about the bytes its
#: key, its entry and the objects holding them take. By its numbers alone, a vector of
#: a few dimensions (``dimensions=1`` is a valid request) counted 4 bytes, and millions
#: of them, each holding a hundred times that, fitted in the bound.
ENTRY_BYTES = 384


def embedding_key(target: Target, request: EmbeddingRequest, text: str) -> str:
    """The hex SHA-256 that ``text``'s vector from ``target`` is kept under."""
    form = json.dumps(
        [
            _KEY_FORMAT,
            target.provider,
            target.model,
            request.dimensions,
            request.input_type,
            request.extra,
            text,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=repr,  # extra is the caller's: anything it holds makes some key
    )
    # surrogatepass: a lone surrogate, which the request body sends escaped, is keyed
    # too (see response_cache._json_canonical), not refused
    return hashlib.sha256(form.encode("utf-8", "surrogatepass")).hexdigest()


def _pack(vector: Vector) -> bytes:
    return array("d", vector).tobytes()


def _unpack(data: bytes) -> Vector:
    numbers = array("d")
    numbers.frombytes(data)
    return tuple(numbers)


class EmbeddingCache:
    """Vectors by :func:`embedding_key`, in memory and, when given, in ``storage``.

    ``storage`` is a backend with ``cached_response(key)`` and
    ``cache_response(key, expires_at, text)``, the chat cache's methods: a
    vector is stored there as a small JSON text. When it also has
    ``cached_responses(keys)`` and ``cache_responses(entries)``, a call's texts
    take one round trip each way instead of one each.
    """

    def __init__(
        self,
        storage: object | None = None,
        *,
        max_bytes: int = MEMORY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage: Any = storage
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get_many(self, keys: Sequence[str]) -> list[Vector | None]:
        """The vector kept under each of ``keys``, ``None`` where none is (or it expired)."""
        found: list[Vector | None] = []
        elsewhere: list[int] = []  # where memory had nothing: storage may
        now = self._clock()
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                found.append(_unpack(entry[1]))
                continue
            if entry is not None:
                self._forget(key)
            found.append(None)
            elsewhere.append(len(found) - 1)
        if elsewhere and self._storage is not None:
            rows = await self._stored([keys[i] for i in elsewhere])
            for i in elsewhere:
                row = rows.get(keys[i])
                if row is not None:
                    found[i] = self._from_row(keys[i], row)
        return found

    async def _stored(self, keys: list[str]) -> dict[str, tuple[float, str]]:
        """The storage's rows for ``keys``: at once where it can, else one by one."""
        many = getattr(self._storage, "cached_responses", None)
        if many is not None:
            rows: dict[str, tuple[float, str]] = await many(keys)
            return rows
        rows = {}
        for key in keys:
            row = await self._storage.cached_response(key)
            if row is not None:
                rows[key] = row
        return rows

    def _from_row(self, key: str, row: tuple[float, str]) -> Vector | None:
        expires_at, text = row
        remaining = expires_at - self._wall_clock()
        if remaining <= 0:
            return None
        try:
            data = base64.b64decode(json.loads(text)["embedding"], validate=True)
            if not data:  # no model answers with no numbers: an empty vector was a hit
                raise ValueError("an empty vector")
            vector = _unpack(data)
        except Exception as e:  # not a vector this version can read: a miss, not a failed call
            log.warning(
                "a cached vector could not be read (%s); asking the provider", type(e).__name__
            )
            return None
        self._remember(key, data, remaining)
        return vector

    async def put_many(self, items: Sequence[tuple[str, Vector]], ttl: float) -> None:
        """Keep each ``(key, vector)`` for ``ttl`` seconds."""
        entries: list[tuple[str, float, str]] = []
        expires_at = self._wall_clock() + ttl
        for key, vector in items:
            data = _pack(vector)
            self._remember(key, data, ttl)
            if self._storage is not None:
                text = json.dumps({"embedding": base64.b64encode(data).decode()})
                entries.append((key, expires_at, text))
        if not entries:
            return
        many = getattr(self._storage, "cache_responses", None)
        if many is not None:
            await many(entries)
            return
        for entry in entries:
            await self._storage.cache_response(*entry)

    def _remember(self, key: str, data: bytes, ttl: float) -> None:
        if len(data) + ENTRY_BYTES > self._max_bytes:
            return
        self._forget(key)
        self._entries[key] = (self._clock() + ttl, data)
        self._bytes += len(data) + ENTRY_BYTES
        while self._bytes > self._max_bytes:
            _, (_, old) = self._entries.popitem(last=False)
            self._bytes -= len(old) + ENTRY_BYTES

    def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1]) + ENTRY_BYTES

    def __len__(self) -> int:
        return len(self._entries)
