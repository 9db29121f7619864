"""The Message Batches API, as :class:`~relaykit_anthropic.testing.AnthropicMock` serves it.

Following the API reference: ``POST /v1/messages/batches`` takes 1 to 100,000
``requests``, each a ``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$`` (unique
in the batch) and ``params`` (a Messages body; checked when the request runs,
so a bad one is an ``errored`` result), and answers a ``message_batch`` in
``in_progress``. ``GET /v1/messages/batches/{id}`` runs the requests the first
time it is asked (each through the mock's own ``/v1/messages``, taking the
script's next reply) and answers ``ended`` with its ``results_url``;
``POST .../{id}/cancel`` answers ``canceling`` (``cancel_initiated_at`` set),
then ``ended`` with every request ``canceled``. ``GET .../{id}/results`` serves
JSONL in small chunks, one line per request: ``succeeded`` with the
``message``, ``errored`` with the error body, or ``canceled``.
``GET /v1/messages/batches`` lists them newest first, a page of ``limit`` (1 to
1,000) after ``after_id`` or before ``before_id``.

``mock.hold_batches = True`` keeps batches in progress; the batch endpoints
take their faults from ``mock.batch_script``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from relaykit.testing.loopback import Response

CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CHUNK = 64
#: the largest batch body taken (256 MB); a larger one is a 413 ``request_too_large``
MAX_BODY_BYTES = 256_000_000


@attrs.define
class MockMessageBatch:
    """One batch: its requests, and once run, one result line each."""

    id: str
    requests: list[dict[str, Any]]
    created_at: datetime
    processing_status: str = "in_progress"
    results: list[dict[str, Any]] = attrs.field(factory=list)
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None

    def render(self, base_url: str) -> dict[str, Any]:
        """The ``message_batch`` object."""
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for line in self.results:
            counts[line["result"]["type"]] += 1
        counts["processing"] = len(self.requests) - len(self.results)
        ended = self.processing_status == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": counts,
            "ended_at": _rfc3339(self.ended_at),
            "created_at": _rfc3339(self.created_at),
            "expires_at": _rfc3339(self.created_at + timedelta(days=1)),
            "archived_at": None,
            "cancel_initiated_at": _rfc3339(self.cancel_initiated_at),
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


class MessageBatchStore:
    """The batches one mock holds."""

    def __init__(self) -> None:
        self.batches: dict[str, MockMessageBatch] = {}
        self.hold = False

    def create(self, body: Any, base_url: str) -> Response:
        """``POST /v1/messages/batches``."""
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not 1 <= len(requests) <= 100_000:
            return _error(400, "requests: List should have between 1 and 100000 items")
        seen: set[str] = set()
        for i, request in enumerate(requests):
            custom_id = request.get("custom_id") if isinstance(request, dict) else None
            if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
                pattern = "^[a-zA-Z0-9_-]{1,64}$"
                return _error(
                    400, f"requests.{i}.custom_id: String should match pattern '{pattern}'"
                )
            if custom_id in seen:
                return _error(400, f"Duplicate custom_id '{custom_id}' in requests")
            seen.add(custom_id)
            if not isinstance(request.get("params"), dict):
                return _error(400, f"requests.{i}.params: Field required")
        batch = MockMessageBatch(
            f"msgbatch_mock{len(self.batches) + 1:06d}", requests, datetime.now(UTC)
        )
        self.batches[batch.id] = batch
        return Response.json(batch.render(base_url))

    def list(self, query: dict[str, str], base_url: str) -> Response:
        """``GET /v1/messages/batches?limit=&after_id=&before_id=``: newest first, a page
        of ``limit`` (1 to 1,000, default 20) after (older than) ``after_id`` or before
        (newer than) ``before_id``."""
        try:
            limit = int(query.get("limit") or 20)
        except ValueError:
            return _error(400, "limit: Input should be a valid integer")
        if not 1 <= limit <= 1000:
            return _error(400, "limit: Input should be between 1 and 1000")
        after, before = query.get("after_id"), query.get("before_id")
        if after and before:
            return _error(400, "Only one of before_id and after_id may be given")
        newest = list(reversed(self.batches.values()))
        ids = [b.id for b in newest]
        if after:
            newest = newest[ids.index(after) + 1 :] if after in ids else []
            page, more = newest[:limit], len(newest) > limit
        elif before:
            newer = newest[: ids.index(before)] if before in ids else []
            page, more = newer[-limit:], len(newer) > limit
        else:
            page, more = newest[:limit], len(newest) > limit
        return Response.json(
            {
                "data": [b.render(base_url) for b in page],
                "has_more": more,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
            }
        )

    async def get(
        self, batch_id: str, base_url: str, run: Callable[[dict[str, Any]], Awaitable[Response]]
    ) -> Response:
        """``GET /v1/messages/batches/{id}``: run the batch the first time (``run(params)``
        answers one request), then describe it."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"Message batch {batch_id} not found", "not_found_error")
        if batch.processing_status == "canceling":
            batch.results = [
                {"custom_id": r["custom_id"], "result": {"type": "canceled"}}
                for r in batch.requests
            ]
            batch.processing_status, batch.ended_at = "ended", datetime.now(UTC)
        elif batch.processing_status == "in_progress" and not self.hold:
            for request in batch.requests:
                answer = await run(request["params"])
                assert isinstance(answer.body, bytes)
                data = json.loads(answer.body)
                result = (
                    {"type": "succeeded", "message": data}
                    if answer.status < 400
                    else {"type": "errored", "error": data}
                )
                batch.results.append({"custom_id": request["custom_id"], "result": result})
            batch.processing_status, batch.ended_at = "ended", datetime.now(UTC)
        return Response.json(batch.render(base_url))

    def cancel(self, batch_id: str, base_url: str) -> Response:
        """``POST /v1/messages/batches/{id}/cancel``."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"Message batch {batch_id} not found", "not_found_error")
        if batch.processing_status == "in_progress":
            batch.processing_status = "canceling"
            batch.cancel_initiated_at = datetime.now(UTC)
        return Response.json(batch.render(base_url))

    def results(self, batch_id: str) -> Response:
        """``GET /v1/messages/batches/{id}/results``: JSONL, a few bytes at a time."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"Message batch {batch_id} not found", "not_found_error")
        if batch.processing_status != "ended":
            return _error(400, f"Message batch {batch_id} has not ended yet; results unavailable")
        data = b"".join(json.dumps(line).encode() + b"\n" for line in batch.results)
        return Response(200, {"content-type": "application/x-jsonl"}, _chunks(data))


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def _rfc3339(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"}
    return Response.json(body, status)
