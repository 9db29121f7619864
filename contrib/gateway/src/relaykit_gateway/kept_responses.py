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
- whose: an entry's key hashes its owner (the gateway key's name, ``None``
  without keys) with the response id, and the entry names both: another key's
  caller finds nothing;
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

import hashlib
import time
from collections.abc import Callable
from typing import Any

import attrs

from relaykit import Client, Message
from relaykit.cache_store import BUILT_IN
from relaykit.protocols import CacheStore
from relaykit.serialization import from_json, to_json

from .response_store import ResponseStore, conversation_size

#: the entry format written (another number: an entry of another gateway version, a miss)
FORMAT = 1
#: the largest entry written to a store that names no limit of its own (relaykit-redis's
#: default): one such value holds the store's one connection while it travels
MAX_SHARED_BYTES = 512 * 1024
#: what a store adds to an entry's bytes (relaykit-redis: its expiry and a line break)
_STORE_OVERHEAD = 64


@attrs.frozen
class _Entry:
    """A kept response as the store holds it (``deleted``: a tombstone)."""

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
    return client.cache_store if client.config.cache.backend not in BUILT_IN else None


class KeptResponses:
    """Kept responses in ``memory`` and, when given, the ``shared`` store (see the module).

    ``max_shared_bytes``: the largest entry written to the store (default: the
    store's ``max_value_bytes`` where it says one, else :data:`MAX_SHARED_BYTES`).
    """

    def __init__(
        self,
        memory: ResponseStore,
        shared: CacheStore | None = None,
        *,
        max_shared_bytes: int | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.memory = memory
        self.shared = shared
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
        if self.shared is None:
            return
        # past the limit in characters alone: not encoded to find out (its JSON is larger)
        if conversation_size(conversation) + _STORE_OVERHEAD <= self.max_shared_bytes:
            text = to_json(_Entry(FORMAT, owner, response_id, conversation, response))
            if len(text.encode()) + _STORE_OVERHEAD <= self.max_shared_bytes:
                expires = self._wall_clock() + self.memory.ttl
                await self.shared.cache_response(_key("kept", owner, response_id), expires, text)
                return
        self.memory_only += 1

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
        if self.shared is None:
            return
        tombstone = to_json(_Entry(FORMAT, owner, response_id, deleted=True))
        expires = self._wall_clock() + self.memory.ttl  # as long as any copy may live
        await self.shared.cache_responses(
            [
                (_key("kept", owner, response_id), expires, tombstone),
                (_key("deleted", owner, response_id), expires, tombstone),
            ]
        )

    async def _find(
        self, owner: str | None, response_id: str
    ) -> tuple[tuple[Message, ...], dict[str, Any] | None] | None:
        found = self.memory.entry(owner, response_id)
        if self.shared is None:
            return found
        deleted = _key("deleted", owner, response_id)
        now = self._wall_clock()
        if found is not None:
            tombstone = await self.shared.cached_response(deleted)
            if tombstone is not None and tombstone[0] > now:  # deleted through another process
                self.memory.delete(owner, response_id)
                return None
            return found
        kept = _key("kept", owner, response_id)
        rows = await self.shared.cached_responses([kept, deleted])
        row = rows.get(kept)
        if row is None or row[0] <= now or (deleted in rows and rows[deleted][0] > now):
            return None
        entry = _decoded(row[1], owner, response_id)
        if entry is None:
            return None
        self.memory.put(owner, response_id, entry.conversation, entry.response, ttl=row[0] - now)
        return entry.conversation, entry.response


def _key(kind: str, owner: str | None, response_id: str) -> str:
    """The store's key (a hex SHA-256, as the store's keys are) of a response's entry
    (``kept``) or tombstone (``deleted``): apart from the client's cached answers, and
    from every other owner's."""
    who = "none" if owner is None else f"key={owner}"
    text = f"relaykit-gateway {kind} response\x00{who}\x00{response_id}"
    return hashlib.sha256(text.encode()).hexdigest()


def _decoded(text: str, owner: str | None, response_id: str) -> _Entry | None:
    """The live entry ``text`` holds for ``owner``'s ``response_id``; ``None`` for a
    tombstone, another format, or anything else."""
    try:
        entry = from_json(text, _Entry)
    except Exception:  # written by something else, or another version: a miss
        return None
    if entry.format != FORMAT or entry.deleted or (entry.owner, entry.id) != (owner, response_id):
        return None
    return entry
