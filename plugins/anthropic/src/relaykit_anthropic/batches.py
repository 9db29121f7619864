"""Anthropic's Message Batches API, for :class:`~relaykit_anthropic.provider.AnthropicProvider`.

``POST /v1/messages/batches`` takes ``{"requests": [{"custom_id", "params"}]}``,
each ``params`` the body a single Messages call would send (the plugin's own
builder). ``GET /v1/messages/batches/{id}`` describes the batch
(``processing_status``: ``in_progress``, ``canceling``, ``ended``;
``request_counts`` of ``processing``, ``succeeded``, ``errored``, ``canceled``
and ``expired``; RFC 3339 times); ``POST .../{id}/cancel`` cancels it. Once it
ended, its ``results_url`` serves JSONL, one line per request in no set order:
``{"custom_id", "result": {"type": "succeeded", "message"}}``, or ``errored``
with the API's error body, or ``canceled``, or ``expired``. It is read line by
line as it arrives; a line of the wrong shape that names its ``custom_id`` is that
item's malformed answer (the other lines are read all the same), one that names
none ends the read, a malformed answer. ``GET /v1/messages/batches?limit=&after_id=``
lists the batches, newest first (``{"data", "has_more", "first_id", "last_id"}``; a
batch names no model).

Refused before sending, as the API would refuse them: a ``custom_id`` outside
``^[a-zA-Z0-9_-]{1,64}$``, more than 100,000 requests, a body over 256 MB.
An ended batch whose cancel was asked for is ``cancelled``; one some of whose
requests expired, ``expired``.

A create is never sent twice (no idempotency key is documented for it, and a batch
has no metadata to find it again by): one that failed after it may have reached the
API is an error saying the batch may exist and how to look for it (the core's:
``client.batches``, which lists them).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from relaykit import (
    Batch,
    BatchResult,
    ChatRequest,
    InvalidRequestError,
    json_decode,
    json_encode,
)
from relaykit.batches import epoch_seconds, jsonl_results, listed_batches, not_run
from relaykit.http import api_url
from relaykit.http_errors import error_from_http
from relaykit_claude_models import error_status, hint_thinking

from . import wire

if TYPE_CHECKING:
    from relaykit.batches import BatchStatus
    from relaykit.http import HttpClient, HttpResponse

#: what the API documents of a message batch and a result line, to name the place one
#: of the wrong shape does not fit (a list of them: :func:`relaykit.batches.listed_batches`)
_BATCH_SHAPE = {
    "id": str,
    "processing_status": str,
    "results_url": str,
    "request_counts": {
        k: int for k in ("processing", "succeeded", "errored", "canceled", "expired")
    },
}
_RESULT_SHAPE = {"custom_id": str, "result": {"type": str, "message": {}, "error": {}}}

MAX_REQUESTS = 100_000
#: the most batches one page of the list holds (its ``limit``: 1 to 1,000)
MAX_PAGE = 1000
#: "256 MB", read as the smaller, decimal megabytes (refused before sending, not after)
MAX_BYTES = 256_000_000
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


#: the Message Batches API's path under the base URL
_BATCHES = "v1/messages/batches"


class MessageBatches:
    """One provider's batch calls: its base URL (without ``/v1``), headers and name."""

    def __init__(
        self, http: HttpClient, base_url: str, headers: Mapping[str, str], name: str
    ) -> None:
        self._http = http
        self._base = base_url
        self._headers = headers
        self._name = name

    async def submit(
        self,
        requests: Sequence[tuple[str, ChatRequest]],
        body: Callable[[ChatRequest], dict[str, Any]],
    ) -> Batch:
        """Check ``requests`` against the API's limits, then create the batch."""
        model = requests[0][1].model
        for i, (custom_id, _) in enumerate(requests):
            if not CUSTOM_ID.fullmatch(custom_id):
                raise InvalidRequestError(
                    f"items[{i}]'s custom_id {custom_id!r} is not one Anthropic takes",
                    provider=self._name,
                    model=model,
                    param=f"items[{i}].custom_id",
                    hint="use 1 to 64 letters, digits, '_' or '-' (^[a-zA-Z0-9_-]{1,64}$)",
                )
        if len(requests) > MAX_REQUESTS:
            raise InvalidRequestError(
                f"a batch of {len(requests):,} requests is over Anthropic's limit of"
                f" {MAX_REQUESTS:,}",
                provider=self._name,
                model=model,
                param="items",
                hint=f"split the items into batches of at most {MAX_REQUESTS:,}",
            )
        content = json_encode.dumps(
            {
                "requests": [
                    {"custom_id": custom_id, "params": body(request)}
                    for custom_id, request in requests
                ]
            }
        )
        if len(content) > MAX_BYTES:
            raise InvalidRequestError(
                # in bytes: near the limit, megabytes rounded would read as under it
                f"the batch is {len(content):,} bytes, over Anthropic's limit of"
                f" {MAX_BYTES:,} bytes ({MAX_BYTES / 1e6:,.0f} MB)",
                provider=self._name,
                model=model,
                param="items",
                hint="split the items into smaller batches",
            )
        r = await self._send(api_url(self._base, _BATCHES), model, content)
        return self._batch(json_decode.loads(r.content), model)

    async def get(self, vendor_id: str) -> Batch:
        """``GET /v1/messages/batches/{id}``."""
        r = await self._send(api_url(self._base, f"{_BATCHES}/{vendor_id}"), None)
        return self._batch(json_decode.loads(r.content), None)

    async def cancel(self, vendor_id: str) -> Batch:
        """``POST /v1/messages/batches/{id}/cancel``."""
        r = await self._send(api_url(self._base, f"{_BATCHES}/{vendor_id}/cancel"), None, b"")
        return self._batch(json_decode.loads(r.content), None)

    def list(self, limit: int) -> AsyncIterator[Batch]:
        """``GET /v1/messages/batches?limit=&after_id=``, newest first, page after page as
        they are read (each page at most ``limit`` and the API's 1,000)."""
        size = max(1, min(limit, MAX_PAGE))

        async def page(after: str | None) -> bytes:
            query = f"limit={size}" + (f"&after_id={quote(after, safe='')}" if after else "")
            return (await self._send(api_url(self._base, f"{_BATCHES}?{query}"), None)).content

        return listed_batches(page, partial(self._batch, model=None))

    def results(self, batch: Batch) -> AsyncIterator[BatchResult]:
        """The lines at the batch's ``results_url``, each as a result."""
        return jsonl_results(
            self._http,
            batch.result_files,
            partial(self._result, model=batch.model),
            headers=self._headers,
            provider=self._name,
            model=batch.model,
            shape=_RESULT_SHAPE,
        )

    def _result(self, custom_id: str, line: Mapping[str, Any], model: str | None) -> BatchResult:
        """One line of the results (one of the wrong shape raises: see
        :func:`~relaykit.batches.jsonl_results`)."""
        result = line.get("result") or {}
        kind = result.get("type")
        if kind == "succeeded":
            return BatchResult(custom_id, wire.response(result["message"]))
        if kind in ("canceled", "expired"):
            reason: Any = "cancelled" if kind == "canceled" else "expired"
            return BatchResult(custom_id, error=not_run(reason, provider=self._name, model=model))
        body = result.get("error") or {}
        inner = body.get("error")
        kind = (inner if isinstance(inner, Mapping) else body).get("type")
        status = error_status(kind)
        error = error_from_http(
            status, {}, json_encode.dumps(body), provider=self._name, model=model
        )
        # Claude refusing a turn's thinking says how to send it back, as in a chat.
        return BatchResult(custom_id, error=hint_thinking(error))

    def _batch(self, data: Mapping[str, Any], model: str | None) -> Batch:
        """A :class:`~relaykit.Batch` from a ``message_batch`` object."""
        try:
            return self._read_batch(data, model)
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a message batch", e, data, _BATCH_SHAPE) from e

    def _read_batch(self, data: Mapping[str, Any], model: str | None) -> Batch:
        vendor_status = str(data.get("processing_status") or "")
        counts = data.get("request_counts") or {}

        def count(key: str) -> int:
            return json_decode.count(counts.get(key) or 0, f"request_counts.{key}")

        status: BatchStatus = "in_progress"
        if vendor_status == "canceling":
            status = "cancelling"
        elif vendor_status == "ended":
            status = (
                "cancelled"
                if data.get("cancel_initiated_at")
                else "expired"
                if count("expired")
                else "ended"
            )
        results_url = data.get("results_url")
        if results_url is not None and not isinstance(results_url, str):
            raise TypeError(f"results_url is {type(results_url).__name__}, not text")
        batch_id = data["id"]
        if not isinstance(batch_id, str):
            raise TypeError(f"id is {type(batch_id).__name__}, not text")
        if not batch_id:
            raise KeyError("id")  # no batch without its id
        return Batch(
            id=batch_id,
            provider=self._name,
            status=status,
            vendor_status=vendor_status,
            model=model,
            total=sum(
                count(k) for k in ("processing", "succeeded", "errored", "canceled", "expired")
            ),
            succeeded=count("succeeded"),
            errored=count("errored") + count("canceled") + count("expired"),
            created_at=epoch_seconds(data.get("created_at"), "created_at"),
            ended_at=epoch_seconds(data.get("ended_at"), "ended_at"),
            expires_at=epoch_seconds(data.get("expires_at"), "expires_at"),
            result_files=(results_url,) if results_url else (),
        )

    async def _send(self, url: str, model: str | None, body: bytes | None = None) -> HttpResponse:
        """A GET (no ``body``) or a POST; an error status typed as a chat's is (the
        core types transport failures around every batch call)."""
        if body is None:
            r = await self._http.get(url, headers=self._headers)
        else:
            r = await self._http.post(url, content=body, headers=self._headers)
        if r.status_code >= 400:
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=self._name, model=model
            )
        return r
