"""Kept Responses API answers (``previous_response_id``), shared by every gateway process.

The gateway keeps each response it answers (unless the caller says ``store:
false``) in its own memory (:class:`~relaykit_gateway.response_store.ResponseStore`)
and, when relaykit's shared cache is configured (``[cache] backend`` naming a
plugin's store, such as relaykit-redis's ``"redis"``), in that store too, on the
client's own connection (:attr:`relaykit.Client.cache_store`). So a caller may
continue, fetch or delete a response through any gateway process, or one
restarted:

- reads: memory first, then the store; an entry read from the store stays in
  memory for the rest of its time;
- deletes reach the store: the entry is overwritten (its conversation leaves
  the store), and a tombstone of its own is written, which a process checks
  before it answers from memory (the process that answered a response keeps
  its copy);
- whose, and sealed: each entry is encrypted and authenticated under a key
  derived from the value of its caller's gateway key, bound to its owner (the
  key's name, ``None`` without keys) and response id, and named in the store by
  an HMAC under that key too (see :mod:`relaykit_gateway.sealed_entries`): the
  store holds ciphertext, another key's caller finds nothing, a key whose value
  was replaced misses its old entries, and an entry tampered with is a miss.
  Without gateway keys, entries are sealed under the key vault's master key, or
  (none set) kept in memory alone;
- how long: the memory's TTL from when the response was kept; the store drops
  the entry then;
- how big: a conversation larger than the store takes (relaykit-redis's
  ``max_value_bytes``, 512 KiB unless configured otherwise; images and
  documents count as base64) is not written: it stays in the memory of the
  process that answered it;
- a store that fails never fails a call: the client's guard makes each failure
  a miss or a skipped write, and the memory answers alone.

The storage backend's cache (``[cache] backend = "storage"``, the default) is
not used: kept conversations, documents and all, would land unasked in the
database of the call log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from relaykit import Client, Message
from relaykit.config import BUILT_IN_CACHE_BACKENDS
from relaykit.protocols import CacheStore
from relaykit.serialization import from_json, to_json

from .response_store import ResponseStore, conversation_size
from .sealed_entries import FORMAT, Seal, sealed_size

#: the largest entry written to a store that names no limit of its own (relaykit-redis's
#: default): one such value holds the store's one connection while it travels
MAX_SHARED_BYTES = 512 * 1024
#: what a store adds to an entry's bytes (relaykit-redis: its expiry and a line break)
_STORE_OVERHEAD = 64


@attrs.frozen
class _Entry:
    """A kept response as the store holds it, sealed (``deleted``: a tombstone)."""

    format: int
    owner: str | None
    id: str
    conversation: tuple[Message, ...] = ()
    response: dict[str, Any] | None = None
    deleted: bool = False


def shared_store(client: Client) -> CacheStore | None:
    """The store ``client``'s response cache shares with other processes (a plugin's,
    such as relaykit-redis's), behind the client's guard; ``None`` for memory or the
    storage backend's cache."""
    return (
        client.cache_store if client.config.cache.backend not in BUILT_IN_CACHE_BACKENDS else None
    )


class KeptResponses:
    """Kept responses in ``memory`` and, when given, the ``shared`` store (see the module).

    ``seals``: each owner's :class:`~relaykit_gateway.sealed_entries.Seal`
    (:func:`~relaykit_gateway.sealed_entries.seals`); an owner without one keeps
    its responses in memory alone. ``max_shared_bytes``: the largest entry
    written to the store (default: the store's ``max_value_bytes`` where it says
    one, else :data:`MAX_SHARED_BYTES`).
    """

    def __init__(
        self,
        memory: ResponseStore,
        shared: CacheStore | None = None,
        *,
        seals: Mapping[str | None, Seal] | None = None,
        max_shared_bytes: int | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.memory = memory
        self.shared = shared
        self._seals: Mapping[str | None, Seal] = {} if seals is None else seals
        if max_shared_bytes is None:
            # the client's guard keeps the plugin's store as .store; relaykit-redis's
            # says how large a value it takes (it skips larger ones, silently)
            inner = getattr(shared, "store", shared)
            max_shared_bytes = getattr(inner, "max_value_bytes", MAX_SHARED_BYTES)
        self.max_shared_bytes: int = max_shared_bytes
        self._wall_clock = wall_clock
        #: responses too large for the store, kept in memory alone
        self.memory_only = 0

    async def put(
        self,
        owner: str | None,
        response_id: str,
        conversation: tuple[Message, ...],
        response: dict[str, Any] | None,
    ) -> None:
        """Keep ``conversation`` (ending with the answer) and the ``response`` object as
        ``owner``'s ``response_id``: in memory, and in the store if it fits."""
        self.memory.put(owner, response_id, conversation, response)
        seal = self._seals.get(owner)
        if self.shared is None or seal is None:
            return
        # past the limit in characters alone: not encoded to find out (its JSON is larger)
        if sealed_size(conversation_size(conversation)) + _STORE_OVERHEAD <= self.max_shared_bytes:
            plain = to_json(_Entry(FORMAT, owner, response_id, conversation, response)).encode()
            if sealed_size(len(plain)) + _STORE_OVERHEAD <= self.max_shared_bytes:
                text = seal.seal(plain, "kept", owner, response_id)
                expires = self._wall_clock() + self.memory.ttl
                key = seal.store_key("kept", owner, response_id)
                await self.shared.cache_response(key, expires, text)
                return
        self.memory_only += 1

    def shares(self, owner: str | None) -> bool:
        """Whether ``owner``'s responses go to the shared store (else: memory alone)."""
        return self.shared is not None and owner in self._seals

    async def get(self, owner: str | None, response_id: str) -> tuple[Message, ...] | None:
        """The conversation ``owner``'s ``response_id`` ended, or ``None`` if unknown,
        expired, deleted or another owner's."""
        found = await self._find(owner, response_id)
        return None if found is None else found[0]

    async def response(self, owner: str | None, response_id: str) -> dict[str, Any] | None:
        """The response object ``owner``'s ``response_id`` was, if still kept."""
        found = await self._find(owner, response_id)
        return None if found is None else found[1]

    async def delete(self, owner: str | None, response_id: str) -> None:
        """Forget ``owner``'s ``response_id``, in every process that shares the store."""
        self.memory.delete(owner, response_id)
        seal = self._seals.get(owner)
        if self.shared is None or seal is None:
            return
        tombstone = to_json(_Entry(FORMAT, owner, response_id, deleted=True)).encode()
        expires = self._wall_clock() + self.memory.ttl  # as long as any copy may live
        await self.shared.cache_responses(
            [
                (
                    seal.store_key(kind, owner, response_id),
                    expires,
                    seal.seal(tombstone, kind, owner, response_id),
                )
                for kind in ("kept", "deleted")
            ]
        )

    async def _find(
        self, owner: str | None, response_id: str
    ) -> tuple[tuple[Message, ...], dict[str, Any] | None] | None:
        found = self.memory.entry(owner, response_id)
        seal = self._seals.get(owner)
        if self.shared is None or seal is None:
            return found
        deleted = seal.store_key("deleted", owner, response_id)
        now = self._wall_clock()
        if found is not None:
            row = await self.shared.cached_response(deleted)
            if _opened(row, now, seal, "deleted", owner, response_id) is not None:
                self.memory.delete(owner, response_id)  # deleted through another process
                return None
            return found
        kept = seal.store_key("kept", owner, response_id)
        rows = await self.shared.cached_responses([kept, deleted])
        if _opened(rows.get(deleted), now, seal, "deleted", owner, response_id) is not None:
            return None
        entry = _opened(rows.get(kept), now, seal, "kept", owner, response_id)
        if entry is None or entry.deleted:
            return None
        expires = rows[kept][0]
        self.memory.put(owner, response_id, entry.conversation, entry.response, ttl=expires - now)
        return entry.conversation, entry.response


def _opened(
    row: tuple[float, str] | None,
    now: float,
    seal: Seal,
    kind: str,
    owner: str | None,
    response_id: str,
) -> _Entry | None:
    """The entry (or tombstone) ``row`` seals as ``owner``'s ``response_id`` of ``kind``,
    if it has not expired; ``None`` for anything else."""
    if row is None or row[0] <= now:
        return None
    plain = seal.open(row[1], kind, owner, response_id)
    if plain is None:
        return None
    try:
        entry = from_json(plain.decode(), _Entry)
    except Exception:  # sealed by a gateway of another version: a miss
        return None
    if entry.format != FORMAT or (entry.owner, entry.id) != (owner, response_id):
        return None
    return entry
