"""An in-memory :class:`~relaykit.protocols.Storage`: the reference backend.

It passes :class:`~relaykit.testing.storage_contract.StorageContract` and is
handy in tests of code that reads logs, keys or model listings::

    storage = MemoryStorage()
    async with relaykit.Client({"storage": {"backend": "memory"}},
                               plugins=[storage.plugin()]) as client:
        ...
    assert storage.records
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import MAX_PREC, Context, Decimal
from typing import Any

from .._hookimpl import hookimpl
from ..protocols import (
    CachedModels,
    CallRecord,
    LogQuery,
    UsageTotal,
    call_metadata,
    metadata_text,
)
from ..response import Usage
from ..storable_text import encode_text


class _MemoryStoragePlugin:
    def __init__(self, storage: MemoryStorage, backend: str) -> None:
        self.__name__ = f"memory-storage-{backend}"
        self._storage = storage
        self._backend = backend

    @hookimpl
    def relaykit_storage(self, name: str, config: Any) -> MemoryStorage | None:
        return self._storage if name == self._backend else None


def _stored_order(item: tuple[tuple[date, str, str, tuple[bool, str]], Any]) -> Any:
    day, provider, model, (grouped, value) = item[0]
    return day, encode_text(provider), encode_text(model), grouped, encode_text(value)


def _listed_order(record: CallRecord) -> tuple[float, str]:
    # The id as SQL backends store and compare it (relaykit.storable_text: a NUL
    # or a lone surrogate is an escape), so ties sort the same on every backend.
    return record.started_at, encode_text(record.id)


class MemoryStorage:
    """Keeps everything in dicts; nothing survives the process."""

    def __init__(self) -> None:
        self.records: dict[str, CallRecord] = {}
        self.blobs: dict[str, bytes] = {}
        self.models: dict[str, CachedModels] = {}
        self.responses: dict[str, tuple[float, str]] = {}
        self.batches = 0
        self.closed = False

    def plugin(self, name: str = "memory") -> object:
        """A plugin answering ``relaykit_storage`` for backend ``name`` with this storage."""
        return _MemoryStoragePlugin(self, name)

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        """Keep ``records`` (the first record of each id wins)."""
        self.batches += 1
        for record in records:
            self.records.setdefault(record.id, record)

    def _selected(self, query: LogQuery) -> list[CallRecord]:
        chosen = [r for r in self.records.values() if query.matches(r)]
        chosen.sort(key=_listed_order, reverse=True)
        return chosen

    async def query_logs(self, query: LogQuery = LogQuery()) -> list[CallRecord]:
        """The records ``query`` selects, newest first (after its cursor, if any)."""
        chosen = self._selected(query)
        position = query.position()
        if position is not None:
            started_at, record_id = position
            after = (started_at, encode_text(record_id))
            chosen = [r for r in chosen if _listed_order(r) < after]
        return chosen[query.offset : query.offset + query.limit]

    async def usage_totals(self, query: LogQuery = LogQuery()) -> list[UsageTotal]:
        """Totals per UTC day, provider and model."""
        groups: dict[tuple[date, str, str, tuple[bool, str]], list[CallRecord]] = {}
        for r in self._selected(query):
            # floored: fromtimestamp rounds to the microsecond, into the next day
            day = datetime.fromtimestamp(math.floor(r.started_at), UTC).date()
            value = metadata_text(call_metadata(r).get(query.group_by)) if query.group_by else None
            # calls without the value sort first, as SQL's NULLS FIRST
            group = (value is not None, value or "")
            groups.setdefault((day, r.provider, r.model, group), []).append(r)
        out = []
        # In the order SQL backends sort stored text: a NUL is stored escaped
        # (relaykit.storable_text), after every other character, not before.
        for (day, provider, model, (grouped, value)), records in sorted(
            groups.items(), key=_stored_order
        ):
            usage = Usage()
            for r in records:
                if not r.cache_hit:  # the provider processed none of a hit's usage
                    usage = usage + r.usage
            costs = [r.cost for r in records if r.cost is not None]
            estimated = [r for r in records if r.usage_estimated]
            estimated_costs = [r.cost for r in estimated if r.cost is not None]
            out.append(
                UsageTotal(
                    day=day,
                    provider=provider,
                    model=model,
                    calls=len(records),
                    errors=sum(1 for r in records if not r.ok),
                    usage=usage,
                    cost=_exact_sum(costs),
                    group=value if grouped else None,
                    estimated=len(estimated),
                    estimated_cost=_exact_sum(estimated_costs),
                    cache_hits=sum(1 for r in records if r.cache_hit),
                )
            )
        return out

    async def prune(self, older_than: datetime) -> int:
        """Forget records started before ``older_than``."""
        cutoff = older_than.timestamp()
        old = [k for k, r in self.records.items() if r.started_at < cutoff]
        for k in old:
            del self.records[k]
        return len(old)

    async def vault_put(self, blobs: Mapping[str, bytes]) -> None:
        """Store blobs by name."""
        self.blobs.update({k: bytes(v) for k, v in blobs.items()})

    async def vault_items(self) -> dict[str, bytes]:
        """Every blob by name."""
        return dict(self.blobs)

    async def vault_update(self, change: Callable[[dict[str, bytes]], Mapping[str, bytes]]) -> None:
        """Store what ``change(blobs)`` returns; nothing awaits between the read and the write."""
        self.blobs.update({k: bytes(v) for k, v in change(dict(self.blobs)).items()})

    async def vault_delete(self, name: str) -> bool:
        """Delete one blob."""
        return self.blobs.pop(name, None) is not None

    async def cached_models(self, provider: str) -> CachedModels | None:
        """The stored listing of ``provider``."""
        return self.models.get(provider)

    async def cache_models(self, entry: CachedModels) -> None:
        """Store a listing."""
        self.models[entry.provider] = entry

    def peek_cached_models(self, provider: str) -> CachedModels | None:
        """The stored listing of ``provider`` (memory is all there is here)."""
        return self.models.get(provider)

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        """``(expires_at, response JSON)`` stored under ``key``."""
        return self.responses.get(key)

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        """Store a cached response."""
        self.responses[key] = (expires_at, response)

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        """``{key: (expires_at, response JSON)}`` for those of ``keys`` stored."""
        return {key: self.responses[key] for key in keys if key in self.responses}

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        """Store several cached responses."""
        for key, expires_at, response in entries:
            self.responses[key] = (expires_at, response)

    async def aclose(self) -> None:
        """Mark closed (the data stays readable, for assertions)."""
        self.closed = True


#: adds decimals without rounding (the default context keeps 28 digits)
_EXACT = Context(prec=MAX_PREC)


def _exact_sum(values: Sequence[Decimal]) -> Decimal | None:
    """The exact sum of ``values``, as SQL's ``sum`` of a numeric column: ``None`` for none."""
    if not values:
        return None
    total = Decimal(0)
    for value in values:
        total = _EXACT.add(total, value)
    return total
