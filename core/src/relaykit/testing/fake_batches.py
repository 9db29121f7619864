"""The fake provider's batches: kept in memory, answered from the script.

A batch is ``in_progress`` when submitted; the first look at it (``get_batch``)
runs every item through the fake's ``chat`` in order, each taking the script's
next reply (a failure scripted for an item is that item's error), and ends it.
A cancel before then cancels every item; the list pages through them newest
first. The store belongs to the
:class:`~relaykit.testing.FakePlugin`, so a second client finds a batch by id,
as a process reading results a day later would.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import attrs

from ..batches import Batch, BatchResult, not_run
from ..errors import NotFoundError, RelayError
from ..request import ChatRequest
from ..response import ChatResponse


@attrs.define
class FakeBatch:
    """One fake batch: its requests, and once run, its results."""

    id: str
    model: str
    requests: list[tuple[str, ChatRequest]]
    created_at: float
    status: str = "in_progress"
    results: list[BatchResult] = attrs.field(factory=list)
    ended_at: float | None = None


class FakeBatches:
    """The batches of every fake provider of one plugin, by id."""

    def __init__(self) -> None:
        self.batches: dict[str, FakeBatch] = {}
        #: whether a look at a batch runs it (``False``: batches stay in progress)
        self.run_on_look = True
        #: how many pages of the list were read
        self.pages = 0
        #: errors the next submits fail with, one each, in order (a 500's after
        #: keeping the batch, as a vendor that acted then failed; any other's before)
        self.submit_failures: list[RelayError] = []

    def submit(self, provider: str, requests: Sequence[tuple[str, ChatRequest]]) -> Batch:
        """Keep ``requests`` as a new batch, in progress (or fail with the next of
        :attr:`submit_failures`)."""
        failure = self.submit_failures.pop(0) if self.submit_failures else None
        if failure is not None and failure.status != 500:
            raise failure
        batch = FakeBatch(
            f"fakebatch_{len(self.batches) + 1:04d}",
            requests[0][1].model,
            list(requests),
            time.time(),
        )
        self.batches[batch.id] = batch
        if failure is not None:
            raise failure
        return self.describe(provider, batch)

    async def get(
        self, provider: str, vendor_id: str, chat: Callable[[ChatRequest], Awaitable[ChatResponse]]
    ) -> Batch:
        """The batch, run first if this is the first look at it."""
        batch = self._find(provider, vendor_id)
        if batch.status == "in_progress" and self.run_on_look:
            for custom_id, request in batch.requests:
                try:
                    batch.results.append(BatchResult(custom_id, await chat(request)))
                except RelayError as error:
                    batch.results.append(BatchResult(custom_id, error=error))
            batch.status, batch.ended_at = "ended", time.time()
        return self.describe(provider, batch)

    def cancel(self, provider: str, vendor_id: str) -> Batch:
        """Cancel the batch: every item not run yet fails as cancelled."""
        batch = self._find(provider, vendor_id)
        if batch.status == "in_progress":
            batch.results = [
                BatchResult(cid, error=not_run("cancelled", provider=provider, model=batch.model))
                for cid, _ in batch.requests
            ]
            batch.status, batch.ended_at = "cancelled", time.time()
        return self.describe(provider, batch)

    async def list(self, provider: str, limit: int) -> AsyncIterator[Batch]:
        """Every batch, newest first, in pages of ``limit`` (each page a look at the
        store as it then is, as a vendor's list is)."""
        after: str | None = None
        while True:
            newest = list(reversed(self.batches))
            if after is not None:
                newest = newest[newest.index(after) + 1 :]
            page = newest[:limit]
            self.pages += 1
            for vendor_id in page:
                yield self.describe(provider, self.batches[vendor_id])
            if len(newest) <= limit:
                return
            after = page[-1]

    async def results(self, provider: str, vendor_id: str) -> AsyncIterator[BatchResult]:
        """The batch's results, one by one."""
        for result in self._find(provider, vendor_id).results:
            yield result

    def _find(self, provider: str, vendor_id: str) -> FakeBatch:
        batch = self.batches.get(vendor_id)
        if batch is None:
            raise NotFoundError(f"no batch {vendor_id!r}", provider=provider, status=404)
        return batch

    @staticmethod
    def describe(provider: str, batch: FakeBatch) -> Batch:
        """``batch`` as the provider reports it (its vendor id, unqualified)."""
        failed = sum(1 for r in batch.results if not r.ok)
        status: Any = batch.status
        return Batch(
            id=batch.id,
            provider=provider,
            status=status,
            vendor_status=batch.status,
            model=batch.model,
            total=len(batch.requests),
            succeeded=len(batch.results) - failed,
            errored=failed,
            created_at=batch.created_at,
            ended_at=batch.ended_at,
            expires_at=batch.created_at + 86400,
        )
